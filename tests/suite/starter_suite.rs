//! The shipped `evals/support.yaml` passes healthy support answers and fails each defect the
//! synthetic traffic injects.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::TimeZone;
use evalgate::domain::{Arm, Outcome, Request};
use evalgate::evaluators::{Suite, load_suites, suite_outcome};

fn support_suite() -> Suite {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let suites = load_suites(&dir, &BTreeSet::new()).expect("the shipped suites load");
    suites
        .into_iter()
        .find(|suite| suite.name == "support")
        .expect("a support suite")
}

fn request(output: &str) -> Request {
    Request {
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        tenant_id: "t".to_string(),
        model: "support-bot@v2".to_string(),
        input: r#"[{"role":"user","content":"where is order A-12345?"}]"#.to_string(),
        output: output.to_string(),
        reference: Some("A-12345".to_string()),
        latency_ms: Some(850.0),
        prompt_tokens: Some(120),
        completion_tokens: Some(60),
        cost_usd: Some(0.0004),
        ..crate::common::request("r", Arm::Canary)
    }
}

/// The suite verdict and the ids of the failed assertions.
fn verdict(suite: &Suite, request: &Request) -> (Outcome, Vec<String>) {
    let mut per_assertion = Vec::new();
    let mut failed = Vec::new();
    for (index, assertion) in suite.assertions.iter().enumerate() {
        let result = assertion
            .evaluate_rule(request)
            .expect("only rules in the starter suite");
        if result.outcome != Outcome::Pass {
            failed.push(assertion.id.clone());
        }
        per_assertion.push((index, result.outcome, result.score));
    }
    (suite_outcome(suite, &per_assertion).0, failed)
}

const HEALTHY: &str = r#"{"order_id":"A-12345","status":"shipped","answer":"Your order A-12345 shipped yesterday and should arrive on Friday."}"#;

#[test]
fn a_healthy_answer_passes_every_assertion() {
    let suite = support_suite();
    assert_eq!(verdict(&suite, &request(HEALTHY)), (Outcome::Pass, vec![]));
}

#[test]
fn each_injected_defect_fails_the_suite_on_the_assertion_meant_for_it() {
    let suite = support_suite();
    let long_answer = format!(
        r#"{{"order_id":"A-12345","status":"shipped","answer":"{}"}}"#,
        "Thanks for waiting. ".repeat(80)
    );
    let cases = [
        (
            "invalid json",
            r#"{"order_id":"A-12345","status":"shipped","answer":"cut off"#.to_string(),
            "valid_answer_json",
        ),
        (
            "prose",
            "Your order A-12345 has shipped and will arrive Friday.".to_string(),
            "valid_answer_json",
        ),
        (
            "missing status",
            r#"{"order_id":"A-12345","answer":"on its way"}"#.to_string(),
            "valid_answer_json",
        ),
        (
            "missing answer",
            r#"{"order_id":"A-12345","status":"shipped"}"#.to_string(),
            "valid_answer_json",
        ),
        (
            "unknown status",
            r#"{"order_id":"A-12345","status":"lost","answer":"hm"}"#.to_string(),
            "valid_answer_json",
        ),
        (
            "refusal",
            "I'm sorry, but I can't help with that request.".to_string(),
            "no_refusal",
        ),
        ("over-long answer", long_answer, "answer_length"),
        (
            "wrong order id",
            r#"{"order_id":"A-54321","status":"shipped","answer":"Your order shipped."}"#
                .to_string(),
            "right_order_id",
        ),
    ];
    for (defect, output, expected_failure) in cases {
        let (outcome, failed) = verdict(&suite, &request(&output));
        assert_eq!(outcome, Outcome::Fail, "{defect}: {failed:?}");
        assert!(
            failed.contains(&expected_failure.to_string()),
            "{defect}: {failed:?}"
        );
    }
}

#[test]
fn a_request_without_reference_is_unscorable_not_passed() {
    let suite = support_suite();
    let mut request = request(HEALTHY);
    request.reference = None;
    assert_eq!(verdict(&suite, &request).0, Outcome::Unscorable);
}

#[test]
fn slow_or_costly_requests_are_reported_but_do_not_gate() {
    let suite = support_suite();
    let mut request = request(HEALTHY);
    request.latency_ms = Some(9_000.0);
    request.cost_usd = None;
    let (outcome, failed) = verdict(&suite, &request);
    assert_eq!(outcome, Outcome::Pass);
    assert_eq!(
        failed,
        vec!["latency_under_5s".to_string(), "cost_under_1c".to_string()]
    );
}
