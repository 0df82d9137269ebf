//! Tests pinning promptfoo's semantics on the shared rule types (issue 14): the refusal list,
//! JavaScript regex classes, `JSON.parse` acceptance, the `contains-json` scanner, UTF-16
//! lengths, `file://` values, and one lowercase output per row for the case-insensitive rules.

use std::collections::BTreeSet;
use std::path::Path;

use super::test_request;
use super::tests::{on, outcome, rule};
use crate::domain::Outcome::{Fail, Pass, Unscorable};
use crate::evaluators::load_suite_text;

// See: issue 14 ("cannot help" / "can't help" are refusals to promptfoo; "I can't wait to
// hear…" is not).
#[test]
fn is_refusal_uses_promptfoos_list_by_default_and_evalgates_on_request() {
    let promptfoo = rule("type: is-refusal");
    let explicit = rule("type: is-refusal\nvalue: promptfoo");
    let evalgate = rule("type: is-refusal\nvalue: evalgate");
    let cases = [
        // (text, promptfoo, evalgate)
        ("We cannot help with refunds after 30 days.", Pass, Fail),
        ("Sadly the courier can't help today.", Pass, Fail),
        ("I can't wait to hear how the trip goes!", Fail, Pass),
        (
            "Sorry for the delay, here is your tracking link.",
            Fail,
            Pass,
        ),
        ("This is not appropriate for children under 3.", Pass, Fail),
        ("I cannot assist with that.", Pass, Pass),
        ("", Pass, Pass),
    ];
    for (text, by_promptfoo, by_evalgate) in cases {
        let request = test_request(text);
        assert_eq!(outcome(&promptfoo, &request), by_promptfoo, "{text:?}");
        assert_eq!(outcome(&explicit, &request), by_promptfoo, "{text:?}");
        assert_eq!(outcome(&evalgate, &request), by_evalgate, "{text:?}");
    }
    let text = "name: t\nassert:\n  - type: is-refusal\n    value: strict\n";
    let errors = load_suite_text(Path::new("t.yaml"), text, &BTreeSet::new()).unwrap_err();
    assert!(errors[0].message.contains("`promptfoo`"), "{errors:?}");
}

// See: issue 14 (`\d`, `\w`, `\b` matched Unicode digits and letters).
#[test]
fn regex_classes_are_ascii_like_javascript_unless_the_pattern_asks_for_unicode() {
    assert_eq!(on("type: regex\nvalue: \"^\\\\d+$\"", "٣٤٥"), Fail);
    assert_eq!(on("type: regex\nvalue: \"^\\\\d+$\"", "345"), Pass);
    assert_eq!(on("type: regex\nvalue: \"^\\\\w+$\"", "été"), Fail);
    assert_eq!(on("type: regex\nvalue: \"(?u)^\\\\d+$\"", "٣٤٥"), Pass);
    assert_eq!(on("type: regex\nvalue: \"(?u)^\\\\w+$\"", "été"), Pass);
    let mix = "type: regex\nvalue: \"\\\\b[A-Z]-\\\\d{5}\\\\b\"";
    assert_eq!(on(mix, "order A-12345 shipped"), Pass);
    assert_eq!(
        on(mix, "order A-１２３４５ shipped"),
        Fail,
        "fullwidth digits"
    );
    assert_eq!(
        on(mix, "éA-12345"),
        Pass,
        "é is not a word char: a boundary"
    );
}

// See: issue 14 (`1e400` and lone surrogate escapes are JSON to `JSON.parse`).
#[test]
fn json_rules_accept_what_json_parse_accepts() {
    for text in [
        r#"{"n": 1e400}"#,
        r#"{"s": "\ud800"}"#,
        "-1e999",
        r#""\udfff x""#,
    ] {
        assert_eq!(on("type: is-json", text), Pass, "{text}");
        assert_eq!(
            on("type: contains-json", &format!("see {{\"v\": {text}}}")),
            Pass,
            "{text}"
        );
    }
    let schema = "type: is-json\nschema:\n  type: object\n  properties:\n    s: {type: string, maxLength: 1}";
    assert_eq!(on(schema, r#"{"s": "\ud800"}"#), Pass);
    assert_eq!(on("type: is-json", "{\"a\": 1,}"), Fail);
}

// See: issue 14 (an object after a quoted `{` was missed; 256 candidates at most, silently).
#[test]
fn contains_json_finds_an_object_after_a_quoted_brace_and_past_many_candidates() {
    assert_eq!(
        on(
            "type: contains-json",
            r#"Type "{" to start, then send {"a": 1}"#
        ),
        Pass
    );
    let many = format!("{}{{\"status\": \"ok\"}}", "{ not json ".repeat(1_000));
    let schema = "type: contains-json\nvalue:\n  type: object\n  required: [status]";
    assert_eq!(on(schema, &many), Pass);
    let nested = format!("{}x", "{\"a\":".repeat(50_000));
    let result = rule("type: contains-json")
        .evaluate_rule(&test_request(&nested))
        .unwrap();
    assert_eq!(result.outcome, Unscorable, "{}", result.reason);
    assert!(result.reason.contains("linear time"), "{}", result.reason);
}

// See: issue 14 (length counted code points where JavaScript counts UTF-16 units).
#[test]
fn char_length_counts_utf16_units_like_javascript() {
    assert_eq!(on("type: char-length\nvalue: {max: 3}", "héé"), Pass);
    assert_eq!(on("type: char-length\nvalue: {max: 2}", "👍"), Pass);
    assert_eq!(
        on("type: char-length\nvalue: {max: 3}", "👍🏽"),
        Fail,
        "four units"
    );
    assert_eq!(on("type: char-length\nvalue: 4", "👍🏽"), Pass);
}

// See: issue 14 (`value: file://words.txt` was taken as literal text).
#[test]
fn file_values_are_loaded_relative_to_the_suite_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/words.json"),
        r#"["refund", "replacement"]"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("data/greeting.txt"), "  Hello there\n").unwrap();
    std::fs::write(dir.path().join("data/any.yaml"), "- shipped\n- delivered\n").unwrap();
    std::fs::write(dir.path().join("data/script.js"), "module.exports = 1").unwrap();
    let suite_file = dir.path().join("s.yaml");
    let load = |body: &str| {
        let text = format!("name: t\nassert:\n  - {}\n", body.replace('\n', "\n    "));
        load_suite_text(&suite_file, &text, &BTreeSet::new())
    };
    let first = |body: &str| load(body).unwrap().assertions.into_iter().next().unwrap();
    let any = first("type: icontains-any\nvalue: file://data/words.json");
    assert_eq!(outcome(&any, &test_request("a REFUND is on its way")), Pass);
    assert_eq!(outcome(&any, &test_request("nothing")), Fail);
    let equals = first("type: equals\nvalue: file://data/greeting.txt");
    assert_eq!(
        outcome(&equals, &test_request("Hello there")),
        Pass,
        "trimmed"
    );
    let yaml = first("type: contains-all\nvalue: file://data/any.yaml");
    assert_eq!(
        outcome(&yaml, &test_request("shipped, then delivered")),
        Pass
    );
    for (body, expected) in [
        (
            "type: contains\nvalue: file://data/missing.txt",
            "cannot read value file",
        ),
        (
            "type: contains\nvalue: file://data/script.js",
            "unsupported type",
        ),
    ] {
        let errors = load(body).unwrap_err();
        assert!(errors[0].message.contains(expected), "{errors:?}");
    }
    let before = first("type: equals\nvalue: file://data/greeting.txt").definition_hash;
    std::fs::write(dir.path().join("data/greeting.txt"), "Goodbye").unwrap();
    let after = first("type: equals\nvalue: file://data/greeting.txt").definition_hash;
    assert_ne!(before, after, "editing the file re-versions the assertion");
}

#[test]
fn case_insensitive_rules_of_a_row_share_one_lowercase_output() {
    use super::Row;
    let request = test_request("Your ORDER was REFUNDED");
    let row = Row::new(&request);
    let icontains = rule("type: icontains\nvalue: order");
    let not_icontains = rule("type: not-icontains\nvalue: lawsuit");
    let refusal = rule("type: not-is-refusal");
    for assertion in [&icontains, &not_icontains, &refusal] {
        let crate::evaluators::AssertionKind::Rule(check) = &assertion.kind else {
            panic!("a rule");
        };
        assert_eq!(check.evaluate_row(&row).outcome, Pass);
    }
    let first = row.lowered_output().as_ptr();
    assert_eq!(row.lowered_output().as_ptr(), first, "computed once");
}
