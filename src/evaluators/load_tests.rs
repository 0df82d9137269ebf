//! Tests of suite loading: shapes, defaults and diagnostics with their `line:col`.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::evaluators::suite::{AssertionKind, PassRule};

fn judges() -> BTreeSet<String> {
    ["fast".to_string(), "strict".to_string()]
        .into_iter()
        .collect()
}

fn load(text: &str) -> Result<Suite, Vec<Diagnostic>> {
    load_suite_text(Path::new("evals/t.yaml"), text, &judges())
}

fn errors(text: &str) -> Vec<String> {
    load(text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_valid_suite_loads_with_ids_defaults_and_hashes() {
    let suite = load(
        "name: support\ndescription: d\nassert:\n  - type: icontains\n    value: order\n  - type: not-is-refusal\n    metric: no_refusal\n    gate: false\n    weight: 2\n",
    )
    .unwrap();
    assert_eq!(suite.name, "support");
    assert_eq!(suite.pass_rule, PassRule::AllGating);
    assert_eq!(suite.assertions[0].id, "icontains#0");
    assert!(suite.assertions[0].gating);
    assert_eq!(suite.assertions[1].id, "no_refusal");
    assert!(suite.assertions[1].negate);
    assert!(!suite.assertions[1].gating);
    assert_eq!(suite.assertions[1].weight, 2.0);
    assert_eq!(suite.assertions[0].definition_hash.len(), 16);
    assert_ne!(
        suite.assertions[0].definition_hash,
        suite.assertions[1].definition_hash
    );
}

#[test]
fn the_definition_hash_ignores_key_order_metric_and_weight_but_not_the_value() {
    let a = load("name: s\nassert:\n  - type: contains\n    value: x\n    metric: m\n").unwrap();
    let b = load("name: s\nassert:\n  - weight: 3\n    value: x\n    type: contains\n").unwrap();
    let c = load("name: s\nassert:\n  - type: contains\n    value: y\n").unwrap();
    assert_eq!(
        a.assertions[0].definition_hash,
        b.assertions[0].definition_hash
    );
    assert_ne!(
        a.assertions[0].definition_hash,
        c.assertions[0].definition_hash
    );
}

#[test]
fn an_unknown_key_is_reported_at_its_line_and_column() {
    let found = errors("name: s\nassert:\n  - type: contains\n    value: x\n    valeu: y\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("evals/t.yaml:5:5: "), "{found:?}");
    assert!(found[0].contains("valeu"), "{found:?}");
}

#[test]
fn an_unknown_top_level_key_is_reported_at_its_line() {
    let found = errors("name: s\nthreshhold: 0.5\nassert:\n  - type: is-refusal\n");
    assert!(found[0].starts_with("evals/t.yaml:2:1: "), "{found:?}");
}

#[test]
fn an_unknown_type_is_reported_at_the_type_value() {
    let found = errors("name: s\nassert:\n  - type: is-jsno\n");
    assert_eq!(
        found,
        vec!["evals/t.yaml:3:11: unknown assertion type `is-jsno`"]
    );
}

#[test]
fn a_bad_regex_is_reported_at_its_value() {
    let found = errors("name: s\nassert:\n  - type: regex\n    value: \"a(b\"\n");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("evals/t.yaml:4:12: invalid regex"),
        "{found:?}"
    );
}

#[test]
fn an_invalid_inline_schema_is_reported_at_the_schema() {
    let found = errors("name: s\nassert:\n  - type: is-json\n    schema:\n      type: 12\n");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("evals/t.yaml:5:7: invalid json schema"),
        "{found:?}"
    );
}

#[test]
fn an_unknown_judge_is_reported_at_the_judge_name() {
    let found = errors(
        "name: s\nassert:\n  - type: llm-rubric\n    judge: gpt\n    rubric: is it polite\n",
    );
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("evals/t.yaml:4:12: unknown judge `gpt` (known: fast, strict)"),
        "{found:?}"
    );
}

#[test]
fn an_unknown_template_variable_is_reported() {
    let found = errors(
        "name: s\nassert:\n  - type: llm-rubric\n    judge: fast\n    rubric: \"compare {{output}} with {{expected}}\"\n",
    );
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("evals/t.yaml:5:13: unknown template variable `{{expected}}`"),
        "{found:?}"
    );
    let found = errors("name: s\nassert:\n  - type: contains\n    value: \"{{refrence}}\"\n");
    assert!(found[0].contains("unknown template variable"), "{found:?}");
}

#[test]
fn every_problem_in_a_file_is_reported_not_just_the_first() {
    let found = errors(
        "name: s\nassert:\n  - type: regex\n    value: \"(\"\n  - type: bogus\n  - type: contains\n    schema: {}\n",
    );
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(
        found[0].starts_with("evals/t.yaml:4:12: invalid regex"),
        "{found:?}"
    );
    assert!(
        found[1].contains("unknown assertion type `bogus`"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("evals/t.yaml:6:11: `contains` needs a `value`"),
        "{found:?}"
    );
    assert!(
        found[3].starts_with("evals/t.yaml:7:13: `schema` does not apply to `contains`"),
        "{found:?}"
    );
}

#[test]
fn judge_assertions_keep_their_spec_and_default_to_the_only_judge() {
    let suite = load_suite_text(
        Path::new("evals/j.yaml"),
        "name: j\nassert:\n  - type: llm-rubric\n    value: \"is {{output}} polite\"\n    threshold: 0.7\n  - type: llm-pairwise\n    criteria: more helpful\n",
        &["only".to_string()].into_iter().collect(),
    )
    .unwrap();
    match &suite.assertions[0].kind {
        AssertionKind::Rubric(spec) => {
            assert_eq!(spec.judge, "only");
            assert_eq!(spec.rubric, "is {{output}} polite");
        }
        other => panic!("expected a rubric, got {other:?}"),
    }
    assert_eq!(suite.assertions[0].threshold, Some(0.7));
    assert!(matches!(
        suite.assertions[1].kind,
        AssertionKind::Pairwise(_)
    ));
}

#[test]
fn pass_rules_need_consistent_thresholds() {
    let suite =
        load("name: s\npass: weighted\nthreshold: 0.8\nassert:\n  - type: is-refusal\n").unwrap();
    assert_eq!(suite.pass_rule, PassRule::WeightedScore { threshold: 0.8 });
    assert!(
        errors("name: s\npass: weighted\nassert:\n  - type: is-refusal\n")[0]
            .contains("needs a suite `threshold`")
    );
    assert!(
        errors("name: s\nthreshold: 0.5\nassert:\n  - type: is-refusal\n")[0]
            .starts_with("evals/t.yaml:2:12: `threshold` needs `pass: weighted`")
    );
    assert!(
        errors("name: s\npass: most\nassert:\n  - type: is-refusal\n")[0]
            .contains("unknown pass rule `most`")
    );
}

#[test]
fn duplicate_ids_empty_suites_and_all_non_gating_suites_are_rejected() {
    assert!(errors("name: s\nassert:\n  - type: contains\n    value: a\n    metric: m\n  - type: contains\n    value: b\n    metric: m\n")[0].contains("used twice"));
    assert!(errors("name: s\nassert: []\n")[0].contains("no assertions"));
    assert!(
        errors("name: s\nassert:\n  - type: is-refusal\n    gate: false\n")[0]
            .contains("no gating assertion")
    );
}

#[test]
fn yaml_syntax_errors_and_wrong_shapes_carry_a_position() {
    let found = errors("name: s\nassert:\n  - type: contains\n    value: [a\n");
    assert!(found[0].starts_with("evals/t.yaml:"), "{found:?}");
    assert!(!found[0].starts_with("evals/t.yaml:0:0"), "{found:?}");
    let found = errors("name: s\nassert:\n  - type: contains\n    gate: maybe\n");
    assert!(found[0].starts_with("evals/t.yaml:4:"), "{found:?}");
    let found = errors("assert:\n  - type: is-refusal\n");
    assert!(found[0].contains("name"), "{found:?}");
}

#[test]
fn schema_files_resolve_relative_to_the_suite_and_missing_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schemas")).unwrap();
    std::fs::write(
        dir.path().join("schemas/order.json"),
        r#"{"type":"object","required":["id"]}"#,
    )
    .unwrap();
    let file = dir.path().join("s.yaml");
    let ok = "name: s\nassert:\n  - type: is-json\n    schema:\n      file: schemas/order.json\n";
    let suite = load_suite_text(&file, ok, &judges()).unwrap();
    let request = crate::evaluators::rules::test_request(r#"{"id":1}"#);
    assert_eq!(
        suite.assertions[0].evaluate_rule(&request).unwrap().outcome,
        crate::domain::Outcome::Pass
    );
    let missing = "name: s\nassert:\n  - type: is-json\n    value: file://schemas/nope.json\n";
    let found: Vec<String> = load_suite_text(&file, missing, &judges())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        found[0].contains(":4:12: cannot read schema file"),
        "{found:?}"
    );
}

#[test]
fn load_suites_reads_a_directory_and_rejects_duplicate_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "name: same\nassert:\n  - type: is-refusal\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yml"),
        "name: same\nassert:\n  - type: is-refusal\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a suite").unwrap();
    let found = load_suites(dir.path(), &judges()).unwrap_err();
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("already used"));
    std::fs::remove_file(dir.path().join("b.yml")).unwrap();
    assert_eq!(load_suites(dir.path(), &judges()).unwrap().len(), 1);
}

/// A minimal valid entry body for each rule type (exhaustive: a new type needs one here).
fn minimal_entry(rule_type: crate::evaluators::rule_type::RuleType) -> &'static str {
    use crate::evaluators::rule_type::RuleType::*;
    match rule_type {
        Equals | Contains | IContains | StartsWith | Regex => "    value: x\n",
        ContainsAny | ContainsAll | IContainsAny | IContainsAll => "    value: [a, b]\n",
        IsJson | ContainsJson | IsRefusal => "",
        WordCount | CharLength => "    value: {min: 1, max: 9}\n",
        MaxCompletionTokens | Latency | Cost => "    value: 5\n",
        Levenshtein => "    value: x\n    threshold: 2\n",
    }
}

#[test]
fn every_rule_type_and_its_negation_compiles_into_an_assertion() {
    use crate::evaluators::rule_type::RuleType;
    for rule_type in RuleType::ALL {
        for prefix in ["", "not-"] {
            let name = format!("{prefix}{}", rule_type.name());
            let text = format!(
                "name: s\nassert:\n  - type: {name}\n{}",
                minimal_entry(*rule_type)
            );
            let suite = load(&text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(suite.assertions.len(), 1, "{name} was dropped");
            assert_eq!(suite.assertions[0].type_name, name);
            assert!(matches!(suite.assertions[0].kind, AssertionKind::Rule(_)));
        }
    }
}
