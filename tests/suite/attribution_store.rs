//! Rollout attribution in the store, on SQLite and on PostgreSQL: a row without a `rollout_id`
//! belongs to a rollout by the model it served on its arm at or after the rollout's start; a row
//! with a `rollout_id` belongs to that rollout only (whatever its model). Every read that selects
//! a rollout's requests follows the rule (window candidates, telemetry and feedback, history
//! pages, the review's reads); the window's rows no active rollout claims are counted by model
//! and rollout id; and a flag names the rollout that owns it.
#![allow(clippy::unwrap_used)] // test bodies are plain async fns, outside #[test]

use chrono::{Duration, TimeZone};
use evalgate::adapters::store::{HistoryFilter, NewRollout, StateUpdate, Store};
use evalgate::domain::rollout::PhaseName;
use evalgate::domain::rollout::{Plan, RolloutState};
use evalgate::domain::{Arm, FeedbackEvent, FeedbackKind, Outcome, Request, Score, Timestamp};
use evalgate::logic::attribution::{RolloutTargets, belongs_to};
use evalgate::logic::unattributed::UnattributedGroup;

/// The window every test reads: `[from, from + 15 min)`.
fn from() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn to() -> Timestamp {
    from() + Duration::minutes(15)
}

/// Rollout r1 (bot@v41 → bot@v42), started five minutes into the window.
fn r1() -> RolloutTargets {
    RolloutTargets {
        rollout_id: "r1".to_string(),
        baseline_model: "bot@v41".to_string(),
        canary_model: "bot@v42".to_string(),
        started_at: from() + Duration::minutes(5),
    }
}

fn row(id: &str, minute: i64, arm: Arm, model: &str, rollout_id: Option<&str>) -> Request {
    Request {
        ts: from() + Duration::minutes(minute),
        tenant_id: format!("tenant-{id}"),
        model: model.to_string(),
        rollout_id: rollout_id.map(str::to_string),
        input: serde_json::json!([{"role": "user", "content": format!("question {id}")}])
            .to_string(),
        output: format!("answer {id}"),
        latency_ms: Some(100.0),
        prompt_tokens: Some(5),
        completion_tokens: Some(7),
        cost_usd: Some(0.001),
        metadata: serde_json::json!({}),
        ..crate::common::request(id, arm)
    }
}

/// One row per case of the rule, named by whether it is r1's.
fn cases() -> Vec<Request> {
    vec![
        // no rollout_id: the model on the arm, at or after the start
        row("in-untagged-canary", 6, Arm::Canary, "bot@v42", None),
        row("in-untagged-baseline", 7, Arm::Baseline, "bot@v41", None),
        row("in-untagged-at-start", 5, Arm::Canary, "bot@v42", None),
        row("out-before-start", 4, Arm::Canary, "bot@v42", None),
        row("out-other-model", 8, Arm::Canary, "bot@v40", None),
        row("out-wrong-arm", 8, Arm::Baseline, "bot@v42", None),
        row("out-model-differs-in-case", 8, Arm::Canary, "BOT@v42", None),
        // a rollout_id wins over the model
        row("out-foreign-id", 9, Arm::Canary, "bot@v42", Some("r-old")),
        row("in-own-id-other-model", 9, Arm::Canary, "gpt-x", Some("r1")),
        row(
            "in-own-id-before-start",
            1,
            Arm::Baseline,
            "bot@v41",
            Some("r1"),
        ),
    ]
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn expected(arm_opt: Option<Arm>) -> Vec<String> {
    let ids = cases()
        .into_iter()
        .filter(|request| arm_opt.is_none_or(|arm| request.arm == arm))
        .filter(|request| request.request_id.starts_with("in-"))
        .map(|request| request.request_id)
        .collect();
    sorted(ids)
}

async fn window_reads_attribute_rows_by_model_arm_and_time_and_the_id_wins(store: Store) {
    let rows = cases();
    for request in &rows {
        let named_in = request.request_id.starts_with("in-");
        assert_eq!(
            belongs_to(request, &r1()),
            named_in,
            "{}",
            request.request_id
        );
    }
    store.insert_requests(&rows).await.unwrap();
    let feedback: Vec<FeedbackEvent> = rows
        .iter()
        .map(|request| FeedbackEvent {
            request_id: request.request_id.clone(),
            at: to() + Duration::hours(1),
            kind: FeedbackKind::Thumbs,
            value: 1.0,
        })
        .collect();
    store.insert_feedback(&feedback).await.unwrap();
    let owner = r1();
    for arm in Arm::ALL {
        let candidates = store
            .window_candidates(Some(&owner), arm, from(), to())
            .await
            .unwrap();
        let ids = sorted(candidates.into_iter().map(|c| c.request_id).collect());
        assert_eq!(ids, expected(Some(arm)), "{arm} candidates");
        let telemetry = store
            .window_telemetry(Some(&owner), arm, from(), to())
            .await
            .unwrap();
        let ids = sorted(telemetry.into_iter().map(|t| t.request_id).collect());
        assert_eq!(ids, expected(Some(arm)), "{arm} telemetry");
        let events = store
            .feedback_for_window(Some(&owner), arm, from(), to())
            .await
            .unwrap();
        let ids = sorted(events.into_iter().map(|e| e.request_id).collect());
        assert_eq!(ids, expected(Some(arm)), "{arm} feedback");
    }
    let all = store
        .window_candidates(None, Arm::Canary, from(), to())
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "without a rollout every canary row is read");
}
contract_test!(
    window_attribution,
    window_reads_attribute_rows_by_model_arm_and_time_and_the_id_wins
);

async fn history_pages_follow_the_same_rule(store: Store) {
    store.insert_requests(&cases()).await.unwrap();
    for arm_opt in [None, Some(Arm::Canary)] {
        let filter = HistoryFilter {
            from: from() - Duration::hours(1),
            to: to(),
            rollout: Some(r1()),
            arm: arm_opt,
        };
        let want = expected(arm_opt);
        assert_eq!(
            store.count_history(&filter).await.unwrap(),
            want.len() as u64
        );
        let page = store.history_page(&filter, None, 100).await.unwrap();
        let ids = sorted(page.into_iter().map(|c| c.request_id).collect());
        assert_eq!(ids, want, "{arm_opt:?}");
    }
}
contract_test!(history_attribution, history_pages_follow_the_same_rule);

fn failed(request_id: &str) -> Score {
    Score {
        request_id: request_id.to_string(),
        evaluator: "support/no_refusal".to_string(),
        evaluator_version: "v1".to_string(),
        outcome: Outcome::Fail,
        score: None,
        reason: "refused".to_string(),
        latency_ms: 0.0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0.0,
    }
}

async fn the_review_reads_only_the_rollouts_requests(store: Store) {
    let rows = cases();
    store.insert_requests(&rows).await.unwrap();
    let scores: Vec<Score> = rows.iter().map(|r| failed(&r.request_id)).collect();
    store.insert_scores(&scores, to()).await.unwrap();
    let failures = store.failed_canary_scores(&r1(), 100).await.unwrap();
    let ids = sorted(failures.into_iter().map(|f| f.request_id).collect());
    assert_eq!(ids, expected(Some(Arm::Canary)));
    let baseline = store.recent_baseline_responses(&r1(), 100).await.unwrap();
    let ids = sorted(baseline.into_iter().map(|b| b.request_id).collect());
    assert_eq!(ids, expected(Some(Arm::Baseline)));
}
contract_test!(
    review_attribution,
    the_review_reads_only_the_rollouts_requests
);

fn group(model: &str, rollout_id: Option<&str>, count: u64) -> UnattributedGroup {
    UnattributedGroup {
        model: model.to_string(),
        rollout_id: rollout_id.map(str::to_string),
        count,
    }
}

async fn rows_no_claimant_owns_are_counted_by_model_and_rollout_id(store: Store) {
    let mut rows = cases();
    rows.push(row("foreign-2", 10, Arm::Canary, "bot@v40", Some("r-old")));
    rows.push(row("foreign-3", 11, Arm::Canary, "bot@v40", Some("r-old")));
    rows.push(row("r2-untagged", 11, Arm::Canary, "other@v2", None));
    store.insert_requests(&rows).await.unwrap();
    let mut groups = store
        .unattributed_in_window(&[r1()], Arm::Canary, from(), to())
        .await
        .unwrap();
    groups.sort_by(|a, b| (&a.model, &a.rollout_id).cmp(&(&b.model, &b.rollout_id)));
    assert_eq!(
        groups,
        vec![
            group("BOT@v42", None, 1),
            group("bot@v40", None, 1),
            group("bot@v40", Some("r-old"), 2),
            group("bot@v42", None, 1),
            group("bot@v42", Some("r-old"), 1),
            group("other@v2", None, 1),
        ]
    );
    // Another active rollout's traffic is not unattributed.
    let r2 = RolloutTargets {
        rollout_id: "r2".to_string(),
        baseline_model: "other@v1".to_string(),
        canary_model: "other@v2".to_string(),
        started_at: from(),
    };
    let with_r2 = store
        .unattributed_in_window(&[r1(), r2], Arm::Canary, from(), to())
        .await
        .unwrap();
    assert!(with_r2.iter().all(|g| g.model != "other@v2"), "{with_r2:?}");
    let total: u64 = with_r2.iter().map(|g| g.count).sum();
    assert_eq!(total, 6);
    let baseline = store
        .unattributed_in_window(&[r1()], Arm::Baseline, from(), to())
        .await
        .unwrap();
    assert_eq!(baseline, vec![group("bot@v42", None, 1)]);
}
contract_test!(
    unattributed_counts,
    rows_no_claimant_owns_are_counted_by_model_and_rollout_id
);

fn rollout(id: &str, flag: &str, created_at: Timestamp) -> NewRollout {
    let state = RolloutState::new(id, flag, "team", created_at);
    NewRollout {
        id: id.to_string(),
        flag_key: flag.to_string(),
        owner: None,
        webhook: None,
        suite: None,
        baseline_target: format!("{id}@base"),
        canary_target: format!("{id}@canary"),
        salt: flag.to_string(),
        always_tenants: vec![],
        never_tenants: vec![],
        plan: serde_json::to_value(Plan::seed_default()).unwrap(),
        state: serde_json::to_value(&state).unwrap(),
        phase: PhaseName::Running,
        created_at,
    }
}

async fn end(store: &Store, id: &str, at: Timestamp) {
    let row = store.get_rollout(id).await.unwrap().unwrap();
    let update = StateUpdate {
        expected_version: row.version,
        state: row.state.clone(),
        phase: PhaseName::RolledBack,
        active: false,
        wake_at: None,
        last_reason: "test".to_string(),
        last_evidence: serde_json::json!([]),
        at,
    };
    assert!(store.update_rollout_state(id, &update, &[]).await.unwrap());
}

async fn a_flag_is_owned_by_its_active_rollout_else_the_newest(store: Store) {
    assert_eq!(store.flag_owner("checkout").await.unwrap(), None);
    store
        .create_rollout(&rollout("old", "checkout", from()))
        .await
        .unwrap();
    store
        .create_rollout(&rollout("newer", "checkout", from() + Duration::hours(1)))
        .await
        .unwrap();
    store
        .create_rollout(&rollout("elsewhere", "search", from() + Duration::hours(2)))
        .await
        .unwrap();
    end(&store, "newer", to()).await;
    let owner = store.flag_owner("checkout").await.unwrap().unwrap();
    assert_eq!(owner.id, "old", "the active rollout owns the flag");
    assert_eq!(owner.baseline_target, "old@base");
    assert_eq!(owner.canary_target, "old@canary");
    assert_eq!(owner.phase, PhaseName::Running);
    end(&store, "old", to()).await;
    let owner = store.flag_owner("checkout").await.unwrap().unwrap();
    assert_eq!(owner.id, "newer", "none active: the newest");
    assert_eq!(owner.phase, PhaseName::RolledBack);
}
contract_test!(
    flag_owner,
    a_flag_is_owned_by_its_active_rollout_else_the_newest
);
