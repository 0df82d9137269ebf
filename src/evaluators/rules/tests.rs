//! Tests for every rule type, its `not-` form and the edge cases (empty, huge, odd unicode,
//! JSON inside prose, missing telemetry).

use std::collections::BTreeSet;
use std::path::Path;

use super::test_request;
use crate::domain::{Outcome, Request};
use crate::evaluators::{Assertion, load_suite_text};

/// Compiles one assertion written as YAML lines (indented under `- `).
pub(super) fn rule(body: &str) -> Assertion {
    let text = format!("name: t\nassert:\n  - {}\n", body.replace('\n', "\n    "));
    let suite = load_suite_text(Path::new("t.yaml"), &text, &BTreeSet::new())
        .unwrap_or_else(|errors| panic!("{body}: {errors:?}"));
    suite.assertions.into_iter().next().unwrap()
}

pub(super) fn outcome(assertion: &Assertion, request: &Request) -> Outcome {
    assertion.evaluate_rule(request).unwrap().outcome
}

pub(super) fn on(body: &str, output: &str) -> Outcome {
    outcome(&rule(body), &test_request(output))
}

use Outcome::{Fail, Pass, Unscorable};

#[test]
fn equals_compares_exact_text_and_json_values() {
    assert_eq!(on("type: equals\nvalue: Hello", "Hello"), Pass);
    assert_eq!(on("type: equals\nvalue: Hello", "hello"), Fail);
    assert_eq!(on("type: not-equals\nvalue: Hello", "hello"), Pass);
    assert_eq!(
        on(
            "type: equals\nvalue: {a: 1, b: [2]}",
            r#" {"b":[2],"a":1} "#
        ),
        Pass
    );
    assert_eq!(on("type: equals\nvalue: {a: 1}", "a: 1"), Fail);
    assert_eq!(on("type: equals\nvalue: \"42\"", "42"), Pass);
}

#[test]
fn contains_is_case_sensitive_and_icontains_folds_unicode_case() {
    assert_eq!(
        on("type: contains\nvalue: Order", "your order shipped"),
        Fail
    );
    assert_eq!(
        on("type: icontains\nvalue: ORDER", "your Order shipped"),
        Pass
    );
    assert_eq!(on("type: icontains\nvalue: STRASSE", "die straße"), Fail);
    assert_eq!(on("type: icontains\nvalue: ÉTÉ", "un été chaud"), Pass);
    assert_eq!(on("type: icontains\nvalue: ΣΟΦΊΑ", "η σοφία"), Pass);
    assert_eq!(
        on("type: not-icontains\nvalue: refund", "No REFUND possible"),
        Fail
    );
    assert_eq!(on("type: not-icontains\nvalue: refund", "shipped"), Pass);
    assert_eq!(on("type: not-contains\nvalue: x", ""), Pass);
    assert_eq!(on("type: contains\nvalue: x", ""), Fail);
}

#[test]
fn contains_any_and_all_take_lists_or_comma_separated_strings() {
    assert_eq!(on("type: contains-any\nvalue: [a, zz]", "abc"), Pass);
    assert_eq!(on("type: contains-any\nvalue: \"yy, zz\"", "abc"), Fail);
    assert_eq!(on("type: contains-all\nvalue: [a, b]", "abc"), Pass);
    assert_eq!(on("type: contains-all\nvalue: [a, z]", "abc"), Fail);
    assert_eq!(
        on(
            "type: icontains-any\nvalue: [SHIPPED, DELIVERED]",
            "it was delivered"
        ),
        Pass
    );
    assert_eq!(
        on(
            "type: icontains-all\nvalue: [ORDER, SHIPPED]",
            "order shipped"
        ),
        Pass
    );
    assert_eq!(
        on(
            "type: not-icontains-any\nvalue: [lawyer, sue]",
            "we will SUE"
        ),
        Fail
    );
    assert_eq!(on("type: not-contains-all\nvalue: [a, z]", "abc"), Pass);
    let reason = rule("type: contains-all\nvalue: [a, z]")
        .evaluate_rule(&test_request("abc"))
        .unwrap()
        .reason;
    assert!(
        reason.contains("\"a\"") && reason.contains("not \"z\""),
        "{reason}"
    );
}

#[test]
fn reference_templates_in_rule_values_need_a_reference() {
    let assertion = rule("type: contains\nvalue: \"{{reference}}\"");
    let mut request = test_request(r#"{"order_id":"A-12345"}"#);
    assert_eq!(outcome(&assertion, &request), Unscorable);
    request.reference = Some("A-12345".to_string());
    assert_eq!(outcome(&assertion, &request), Pass);
    request.reference = Some("A-99999".to_string());
    assert_eq!(outcome(&assertion, &request), Fail);
    let negated = rule("type: not-contains\nvalue: \"{{reference}}\"");
    request.reference = None;
    assert_eq!(
        outcome(&negated, &request),
        Unscorable,
        "negation never turns unscorable into pass"
    );
    let folded = rule("type: icontains\nvalue: \"id {{reference}}\"");
    request.reference = Some("A-1".to_string());
    request.output = "ID a-1".to_string();
    assert_eq!(outcome(&folded, &request), Pass);
}

#[test]
fn starts_with_and_regex_match_like_promptfoo() {
    assert_eq!(on("type: starts-with\nvalue: \"{\"", r#"{"a":1}"#), Pass);
    assert_eq!(on("type: starts-with\nvalue: \"{\"", r#" {"a":1}"#), Fail);
    assert_eq!(on("type: not-starts-with\nvalue: Sorry", "Sure"), Pass);
    assert_eq!(
        on("type: regex\nvalue: \"A-\\\\d{5}\"", "order A-12345 ok"),
        Pass
    );
    assert_eq!(
        on("type: regex\nvalue: \"^A-\\\\d{5}$\"", "order A-12345 ok"),
        Fail
    );
    assert_eq!(
        on("type: not-regex\nvalue: \"(?i)lawsuit\"", "LAWSUIT"),
        Fail
    );
    assert_eq!(on("type: regex\nvalue: \"^$\"", ""), Pass);
}

#[test]
fn is_json_parses_the_whole_output_and_applies_the_schema() {
    let schema = "type: is-json\nschema:\n  type: object\n  required: [order_id, status]\n  properties:\n    status: {enum: [shipped, delivered]}";
    assert_eq!(on(schema, r#"{"order_id":"A-1","status":"shipped"}"#), Pass);
    assert_eq!(on(schema, r#"{"order_id":"A-1","status":"lost"}"#), Fail);
    assert_eq!(on(schema, r#"{"order_id":"A-1"}"#), Fail);
    assert_eq!(
        on(
            schema,
            r#"Here you go: {"order_id":"A-1","status":"shipped"}"#
        ),
        Fail
    );
    assert_eq!(on("type: is-json", "[1, 2]"), Pass);
    assert_eq!(
        on(
            "type: is-json",
            "  {\"a\": {\"b\": {\"c\": [1, {\"d\": null}]}}}\n"
        ),
        Pass
    );
    assert_eq!(on("type: is-json", "{\"a\": 1,}"), Fail);
    assert_eq!(on("type: is-json", ""), Fail);
    assert_eq!(on("type: not-is-json", "plain prose"), Pass);
    let not_schema = schema.replacen("is-json", "not-is-json", 1);
    assert_eq!(
        on(&not_schema, r#"{"order_id":"A-1","status":"lost"}"#),
        Pass
    );
    let reason = rule(schema)
        .evaluate_rule(&test_request(r#"{"order_id":"A-1","status":"lost"}"#))
        .unwrap()
        .reason;
    assert!(reason.contains("/status"), "{reason}");
}

#[test]
fn contains_json_finds_objects_inside_prose_and_code_fences() {
    let schema = "type: contains-json\nvalue:\n  type: object\n  required: [status]";
    assert_eq!(
        on(
            "type: contains-json",
            "Sure! Here it is: {\"a\": 1} hope that helps"
        ),
        Pass
    );
    assert_eq!(
        on(
            "type: contains-json",
            "```json\n{\"a\": {\"nested\": \"}\"}}\n```"
        ),
        Pass
    );
    assert_eq!(on("type: contains-json", "no json {here} at all"), Fail);
    assert_eq!(on("type: contains-json", ""), Fail);
    assert_eq!(
        on(schema, "first {\"x\": 1} then {\"status\": \"ok\"}"),
        Pass
    );
    assert_eq!(on(schema, "only {\"x\": 1}"), Fail);
    assert_eq!(
        on(schema, "broken {not json {\"status\": \"ok\"}} end"),
        Pass
    );
    assert_eq!(on("type: not-contains-json", "just words"), Pass);
    assert_eq!(on("type: contains-json", "unbalanced { {\"a\":1}"), Pass);
}

#[test]
fn word_count_and_char_length_bounds() {
    assert_eq!(
        on("type: word-count\nvalue: {min: 2, max: 3}", "one two three"),
        Pass
    );
    assert_eq!(on("type: word-count\nvalue: {min: 2, max: 3}", "one"), Fail);
    assert_eq!(on("type: word-count\nvalue: 2", " one\ttwo\n"), Pass);
    assert_eq!(on("type: word-count\nthreshold: 1", "one two"), Fail);
    assert_eq!(
        on("type: char-length\nvalue: {max: 3}", "héé"),
        Pass,
        "UTF-16 units, not bytes"
    );
    assert_eq!(on("type: char-length\nvalue: {max: 3}", "héél"), Fail);
    assert_eq!(on("type: char-length\nvalue: {min: 1}", ""), Fail);
    assert_eq!(on("type: not-char-length\nthreshold: 3", "long text"), Pass);
    assert_eq!(
        on("type: char-length\nvalue: {max: 4}", "👍🏽"),
        Pass,
        "two emoji, four UTF-16 units"
    );
}

#[test]
fn telemetry_bounds_are_unscorable_when_nothing_was_logged() {
    let tokens = rule("type: max-completion-tokens\nthreshold: 100");
    let latency = rule("type: latency\nthreshold: 2000");
    let cost = rule("type: cost\nthreshold: 0.01");
    let negated = rule("type: not-latency\nthreshold: 2000");
    let mut request = test_request("x");
    for assertion in [&tokens, &latency, &cost, &negated] {
        assert_eq!(
            outcome(assertion, &request),
            Unscorable,
            "{}",
            assertion.type_name
        );
    }
    request.completion_tokens = Some(100);
    request.latency_ms = Some(2500.0);
    request.cost_usd = Some(0.002);
    assert_eq!(outcome(&tokens, &request), Pass);
    assert_eq!(outcome(&latency, &request), Fail);
    assert_eq!(outcome(&cost, &request), Pass);
    assert_eq!(outcome(&negated, &request), Pass);
    request.completion_tokens = Some(101);
    assert_eq!(outcome(&tokens, &request), Fail);
    request.latency_ms = Some(f64::NAN);
    assert_eq!(outcome(&latency, &request), Unscorable);
}

#[test]
fn levenshtein_measures_distance_to_the_reference_in_utf16_units() {
    let assertion = rule("type: levenshtein\nthreshold: 2");
    let mut request = test_request("kitten");
    assert_eq!(outcome(&assertion, &request), Unscorable);
    request.reference = Some("sitten".to_string());
    assert_eq!(outcome(&assertion, &request), Pass);
    request.reference = Some("sitting".to_string());
    assert_eq!(outcome(&assertion, &request), Fail, "distance 3");
    request.reference = Some("kittén".to_string());
    assert_eq!(
        outcome(&assertion, &request),
        Pass,
        "one UTF-16 unit, two bytes"
    );
    request.reference = Some("kitten🎉".to_string());
    assert_eq!(
        outcome(&assertion, &request),
        Pass,
        "an emoji is two UTF-16 units"
    );
    request.reference = Some("kitten🎉🎉".to_string());
    assert_eq!(
        outcome(&assertion, &request),
        Fail,
        "four UTF-16 units, like promptfoo"
    );
    assert_eq!(
        on("type: levenshtein\nvalue: hello", "hallo"),
        Pass,
        "default threshold 5"
    );
    assert_eq!(
        on("type: not-levenshtein\nvalue: hello\nthreshold: 0", "hallo"),
        Pass
    );
}

#[test]
fn is_refusal_detects_prefixes_and_phrases_and_counts_empty_output() {
    let refusal = rule("type: is-refusal");
    let not_refusal = rule("type: not-is-refusal");
    for text in [
        "I'm sorry, but I can't help with that request.",
        "I’m sorry, but I can’t help with that request.",
        "  SORRY, I cannot do that",
        "As an AI language model, I have no opinions",
        "Unfortunately I cannot assist with that.",
        "",
        "   \n",
    ] {
        assert_eq!(outcome(&refusal, &test_request(text)), Pass, "{text:?}");
        assert_eq!(outcome(&not_refusal, &test_request(text)), Fail, "{text:?}");
    }
    for text in [
        r#"{"order_id":"A-12345","status":"shipped","answer":"Your order is on its way."}"#,
        "Sorry for the delay is not how this starts: your order shipped.",
        "As an airline partner we ship fast",
        "We're sorry for the delay; your order shipped today.",
    ] {
        assert_eq!(outcome(&refusal, &test_request(text)), Fail, "{text:?}");
    }
}

#[test]
fn huge_outputs_are_scored_without_blowing_up() {
    let huge = format!("{{\"answer\": \"{}\"}}", "word ".repeat(200_000));
    assert!(huge.len() > 1_000_000);
    assert_eq!(on("type: is-json", &huge), Pass);
    assert_eq!(on("type: char-length\nvalue: {max: 1200}", &huge), Fail);
    assert_eq!(on("type: icontains\nvalue: WORD", &huge), Pass);
    assert_eq!(on("type: not-is-refusal", &huge), Pass);
    assert_eq!(on("type: levenshtein\nvalue: short", &huge), Fail);
    let braces = "{".repeat(1_000_000);
    assert_eq!(on("type: contains-json", &braces), Fail);
}

#[test]
fn replacement_characters_from_invalid_utf8_are_plain_text() {
    let mangled = String::from_utf8_lossy(b"order \xff\xfe A-12345 \xc3(").into_owned();
    assert!(mangled.contains('\u{FFFD}'));
    assert_eq!(on("type: contains\nvalue: A-12345", &mangled), Pass);
    assert_eq!(on("type: is-json", &mangled), Fail);
    assert_eq!(on("type: icontains\nvalue: ORDER", &mangled), Pass);
    assert_eq!(on("type: contains\nvalue: \"\u{FFFD}\"", &mangled), Pass);
    assert_eq!(on("type: char-length\nvalue: {max: 22}", &mangled), Pass);
}

#[test]
fn rule_results_score_one_for_pass_and_zero_otherwise() {
    let assertion = rule("type: contains\nvalue: a");
    let pass = assertion.evaluate_rule(&test_request("a")).unwrap();
    let fail = assertion.evaluate_rule(&test_request("b")).unwrap();
    assert_eq!((pass.score, fail.score), (1.0, 0.0));
    let negated = rule("type: not-contains\nvalue: a")
        .evaluate_rule(&test_request("a"))
        .unwrap();
    assert_eq!(negated.score, 0.0);
    assert!(
        negated.reason.starts_with("negated check failed"),
        "{}",
        negated.reason
    );
}

/// `quote` as it was written first: `{:?}` of the first 60 characters plus `…`.
fn quote_by_debug(text: &str) -> String {
    let mut shown: String = text.chars().take(60).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[test]
fn quote_escapes_as_debug_does() {
    for text in [
        "",
        "plain",
        "it's \"quoted\" \\ back",
        "tab\there\nnew\r\0nul \u{7f} \u{1b}[31m",
        "combining \u{301} e\u{301} zero\u{200b}width \u{ad}",
        "a…",
        &"é".repeat(60),
        &"é".repeat(61),
        &"x".repeat(200),
    ] {
        assert_eq!(super::quote(text), quote_by_debug(text), "{text:?}");
    }
}

proptest::proptest! {
    #[test]
    fn quote_escapes_as_debug_does_on_any_text(text in "(\\PC|\\pC|[ -~]){0,80}") {
        proptest::prop_assert_eq!(super::quote(&text), quote_by_debug(&text));
    }
}
