//! The 50% review on both backends: failed canary responses with every evaluator's reason, next
//! to the most similar baseline response (same tenant first), and the status' latest verdicts.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use evalgate::domain::rollout::PhaseName;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use evalgate::adapters::flags::{FlagSinks, TableSink};
use evalgate::adapters::store::{NewRollout, Store};
use evalgate::commands::rollout_review::{build_review, render_markdown};
use evalgate::domain::rollout::{Plan, RolloutState};
use evalgate::domain::{Arm, Outcome, Request, Score};
use evalgate::worker::controller::LoadedRollout;

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::minutes(minutes)
}

fn request(id: &str, arm: Arm, tenant: &str, prompt: &str, output: &str, minute: i64) -> Request {
    let model = match arm {
        Arm::Baseline => "bot@v41",
        Arm::Canary => "bot@v42",
    };
    Request {
        ts: t(minute),
        tenant_id: tenant.to_string(),
        model: model.to_string(),
        rollout_id: Some("bot".to_string()),
        input: serde_json::json!([{"role": "user", "content": prompt}]).to_string(),
        output: output.to_string(),
        latency_ms: Some(100.0),
        prompt_tokens: Some(10),
        completion_tokens: Some(10),
        cost_usd: Some(0.001),
        metadata: serde_json::json!({}),
        ..crate::common::request(id, arm)
    }
}

fn score(request_id: &str, evaluator: &str, outcome: Outcome, reason: &str) -> Score {
    Score {
        request_id: request_id.to_string(),
        evaluator: evaluator.to_string(),
        evaluator_version: "v1".to_string(),
        outcome,
        score: None,
        reason: reason.to_string(),
        latency_ms: 0.0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0.0,
    }
}

async fn seed(store: &Store) -> LoadedRollout {
    let state = RolloutState::new("bot", "bot", "team", t(0));
    let rollout = NewRollout {
        id: "bot".into(),
        flag_key: "bot".into(),
        owner: Some("team".into()),
        webhook: None,
        suite: None,
        baseline_target: "bot@v41".into(),
        canary_target: "bot@v42".into(),
        salt: "bot".into(),
        always_tenants: vec![],
        never_tenants: vec![],
        plan: serde_json::to_value(Plan::seed_default()).unwrap(),
        state: serde_json::to_value(&state).unwrap(),
        phase: PhaseName::Pending,
        created_at: t(0),
    };
    store.create_rollout(&rollout).await.unwrap();
    let requests = vec![
        request(
            "c1",
            Arm::Canary,
            "acme",
            "where is my refund",
            "I cannot help.",
            10,
        ),
        request(
            "c2",
            Arm::Canary,
            "zeta",
            "reset my password",
            "Click reset.",
            11,
        ),
        request(
            "b1",
            Arm::Baseline,
            "other",
            "where is my refund exactly",
            "B-other",
            5,
        ),
        request("b2", Arm::Baseline, "acme", "invoice copy", "B-acme", 6),
        request(
            "b3",
            Arm::Baseline,
            "nobody",
            "password reset help",
            "B-pw",
            7,
        ),
    ];
    store.insert_requests(&requests).await.unwrap();
    let scores = vec![
        score(
            "c1",
            "no_refusal",
            Outcome::Fail,
            "the reply refuses a refund question",
        ),
        score("c1", "helpful", Outcome::Fail, "rubric 2/5: no next step"),
        score("c2", "no_refusal", Outcome::Pass, "ok"),
        score(
            "b1",
            "no_refusal",
            Outcome::Fail,
            "baseline failures are not listed",
        ),
    ];
    store.insert_scores(&scores, t(20)).await.unwrap();
    LoadedRollout::load(store, "bot").await.unwrap()
}

async fn review_pairs_failed_canary_responses_with_similar_baseline_ones(store: Store) {
    let rollout = seed(&store).await;
    let sinks = FlagSinks::new(
        vec![Arc::new(TableSink::new(store.clone()))],
        0,
        Duration::from_millis(1),
    );
    let review = build_review(&store, &sinks, &rollout, t(30)).await.unwrap();
    assert_eq!(review.note, None);
    assert_eq!(review.pairs.len(), 1, "only c1 failed on the canary");
    let pair = &review.pairs[0];
    assert_eq!(pair.canary.request_id, "c1");
    assert_eq!(pair.canary.prompt, "where is my refund");
    let mut evaluators: Vec<&str> = pair.failures.iter().map(|f| f.evaluator.as_str()).collect();
    evaluators.sort_unstable();
    assert_eq!(evaluators, vec!["helpful", "no_refusal"]);
    let baseline = pair.baseline.as_ref().unwrap();
    assert_eq!(baseline.request_id, "b2", "the same tenant comes first");
    assert!(
        pair.matched_by
            .as_deref()
            .unwrap()
            .starts_with("same tenant")
    );

    let markdown = render_markdown(&review);
    assert!(
        markdown.contains("## Failed canary responses (1)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("the reply refuses a refund question"),
        "{markdown}"
    );
    assert!(markdown.contains("> I cannot help."), "{markdown}");
    assert!(markdown.contains("> B-acme"), "{markdown}");
    assert!(!markdown.contains("baseline failures are not listed"));
}

contract_test!(
    review_side_by_side,
    review_pairs_failed_canary_responses_with_similar_baseline_ones
);
