//! The store contract for `requests` and `feedback`, run on SQLite and on PostgreSQL: idempotent
//! inserts that count duplicates, full-row round trips, and the per-arm window reads (half-open
//! windows, arm and rollout filters) that sampling, telemetry and feedback gates rely on.
#![allow(clippy::unwrap_used)] // test bodies are plain async fns, outside #[test]

use chrono::{Duration, TimeZone};
use evalgate::adapters::store::{InsertReport, Store};
use evalgate::domain::{Arm, FeedbackEvent, FeedbackKind, Request, RequestStatus, Timestamp};
use evalgate::logic::attribution::{RolloutTargets, belongs_to};
use evalgate::logic::sampling::{self, SamplePlan};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn base_time() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 11, 0, 0)
        .single()
        .expect("valid time")
}

/// Rollout `id` serving support-bot@v41 (baseline) and support-bot@v42 (canary) since a day
/// before `base_time`.
fn targets(id: &str) -> RolloutTargets {
    RolloutTargets {
        rollout_id: id.to_string(),
        baseline_model: "support-bot@v41".to_string(),
        canary_model: "support-bot@v42".to_string(),
        started_at: base_time() - Duration::days(1),
    }
}

fn request(id: &str, ts: Timestamp, arm: Arm) -> Request {
    Request {
        ts,
        tenant_id: "tenant-1".to_string(),
        model: "support-bot@v42".to_string(),
        rollout_id: Some("r1".to_string()),
        input: r#"[{"role":"user","content":"hi"}]"#.to_string(),
        output: "hello".to_string(),
        latency_ms: Some(812.5),
        prompt_tokens: Some(21),
        completion_tokens: Some(11),
        cost_usd: Some(0.000135),
        metadata: serde_json::json!({}),
        ..crate::common::request(id, arm)
    }
}

fn feedback(id: &str, kind: FeedbackKind, at: Timestamp, value: f64) -> FeedbackEvent {
    FeedbackEvent {
        request_id: id.to_string(),
        at,
        kind,
        value,
    }
}

async fn inserting_twice_adds_nothing_and_counts_duplicates(store: Store) {
    let rows: Vec<Request> = (0..3)
        .map(|index| request(&format!("r{index}"), base_time(), Arm::Baseline))
        .collect();
    let first = store.insert_requests(&rows).await.unwrap();
    assert_eq!(
        first,
        InsertReport {
            inserted: 3,
            duplicates: 0,
            conflicts: 0
        }
    );
    let mut again = rows.clone();
    again.push(request("r3", base_time(), Arm::Canary));
    again.push(request("r3", base_time(), Arm::Canary));
    let second = store.insert_requests(&again).await.unwrap();
    assert_eq!(
        second,
        InsertReport {
            inserted: 1,
            duplicates: 4,
            conflicts: 0
        }
    );
    assert_eq!(store.count_requests().await.unwrap(), 4);
    let empty = store.insert_requests(&[]).await.unwrap();
    assert_eq!(empty, InsertReport::default());
}
contract_test!(
    insert_is_idempotent,
    inserting_twice_adds_nothing_and_counts_duplicates
);

async fn batches_larger_than_one_statement_load_completely(store: Store) {
    let rows: Vec<Request> = (0..1234)
        .map(|index| {
            request(
                &format!("big-{index:05}"),
                base_time() + Duration::milliseconds(index),
                Arm::Canary,
            )
        })
        .collect();
    let report = store.insert_requests(&rows).await.unwrap();
    assert_eq!(report.inserted, 1234);
    assert_eq!(store.count_requests().await.unwrap(), 1234);
    let again = store.insert_requests(&rows).await.unwrap();
    assert_eq!(again.duplicates, 1234);
}
contract_test!(
    large_batches,
    batches_larger_than_one_statement_load_completely
);

async fn rows_round_trip_in_the_order_asked(store: Store) {
    let mut full = request(
        "full",
        base_time() + Duration::microseconds(123_456),
        Arm::Canary,
    );
    full.reference = Some("expected".to_string());
    full.status = RequestStatus::Error;
    full.error = Some("upstream timeout".to_string());
    full.output = String::new();
    full.metadata = serde_json::json!({"region": "eu", "tags": [1, 2]});
    full.ttft_ms = Some(212.5);
    let mut sparse = request("sparse", base_time(), Arm::Baseline);
    sparse.rollout_id = None;
    sparse.latency_ms = None;
    sparse.prompt_tokens = None;
    sparse.completion_tokens = None;
    sparse.cost_usd = None;
    store
        .insert_requests(&[full.clone(), sparse.clone()])
        .await
        .unwrap();
    let ids = vec![
        "sparse".to_string(),
        "missing".to_string(),
        "full".to_string(),
    ];
    let got = store.get_requests(&ids).await.unwrap();
    assert_eq!(got, vec![sparse, full]);
    assert!(store.get_requests(&[]).await.unwrap().is_empty());
}
contract_test!(round_trip, rows_round_trip_in_the_order_asked);

async fn feedback_is_idempotent_on_request_kind_and_time(store: Store) {
    let at = base_time() + Duration::minutes(7);
    let events = vec![
        feedback("r1", FeedbackKind::Thumbs, at, -1.0),
        feedback("r1", FeedbackKind::Regenerated, at, 1.0),
        feedback("r1", FeedbackKind::Thumbs, at + Duration::seconds(1), 1.0),
    ];
    let first = store.insert_feedback(&events).await.unwrap();
    assert_eq!(first.inserted, 3);
    let second = store.insert_feedback(&events).await.unwrap();
    assert_eq!(
        second,
        InsertReport {
            inserted: 0,
            duplicates: 3,
            conflicts: 0
        }
    );
    assert_eq!(store.count_feedback().await.unwrap(), 3);
}
contract_test!(
    feedback_idempotent,
    feedback_is_idempotent_on_request_kind_and_time
);

async fn windows_are_half_open_and_filter_arm_and_rollout(store: Store) {
    let from = base_time();
    let to = base_time() + Duration::minutes(15);
    let mut rows = vec![
        request("at-from", from, Arm::Canary),
        request("just-before", from - Duration::milliseconds(1), Arm::Canary),
        request("just-inside", to - Duration::milliseconds(1), Arm::Canary),
        request("at-to", to, Arm::Canary),
        request("other-arm", from + Duration::minutes(1), Arm::Baseline),
    ];
    let mut other_rollout = request("other-rollout", from + Duration::minutes(2), Arm::Canary);
    other_rollout.rollout_id = Some("r2".to_string());
    rows.push(other_rollout);
    let mut failed = request("failed", from + Duration::minutes(3), Arm::Canary);
    failed.status = RequestStatus::Error;
    failed.tenant_id = "tenant-9".to_string();
    rows.push(failed);
    store.insert_requests(&rows).await.unwrap();

    let mut all = ids_of(store.window_candidates(None, Arm::Canary, from, to).await);
    all.sort();
    assert_eq!(all, ["at-from", "failed", "just-inside", "other-rollout"]);

    let mut r1 = ids_of(
        store
            .window_candidates(Some(&targets("r1")), Arm::Canary, from, to)
            .await,
    );
    r1.sort();
    assert_eq!(r1, ["at-from", "failed", "just-inside"]);

    let candidates = store
        .window_candidates(Some(&targets("r1")), Arm::Canary, from, to)
        .await
        .unwrap();
    let failed_row = candidates
        .iter()
        .find(|row| row.request_id == "failed")
        .unwrap();
    assert!(failed_row.is_error);
    assert_eq!(failed_row.tenant_id, "tenant-9");
    assert!(candidates.iter().all(|row| row.arm == Arm::Canary));

    let baseline = ids_of(store.window_candidates(None, Arm::Baseline, from, to).await);
    assert_eq!(baseline, ["other-arm"]);
}
contract_test!(
    window_bounds,
    windows_are_half_open_and_filter_arm_and_rollout
);

fn ids_of(
    result: Result<Vec<sampling::Candidate>, evalgate::adapters::store::StoreError>,
) -> Vec<String> {
    result
        .unwrap()
        .into_iter()
        .map(|row| row.request_id)
        .collect()
}

async fn random_windows_return_exactly_the_rows_inside(store: Store) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // r1 starts an hour into the history, so untagged rows before it are not its traffic.
    let mut r1 = targets("r1");
    r1.started_at = base_time() + Duration::hours(1);
    let models = ["support-bot@v41", "support-bot@v42", "support-bot@v40"];
    let logged_ids = [Some("r1"), Some("r-old"), None, None];
    let mut rows = Vec::new();
    for index in 0..600 {
        let offset_ms = rng.random_range(0..(3 * 3600 * 1000));
        let arm = if rng.random_bool(0.3) {
            Arm::Canary
        } else {
            Arm::Baseline
        };
        let mut row = request(
            &format!("q{index}"),
            base_time() + Duration::milliseconds(offset_ms),
            arm,
        );
        row.model = models[rng.random_range(0..models.len())].to_string();
        row.rollout_id = logged_ids[rng.random_range(0..logged_ids.len())].map(str::to_string);
        rows.push(row);
    }
    store.insert_requests(&rows).await.unwrap();
    for _ in 0..20 {
        let from = base_time() + Duration::milliseconds(rng.random_range(0..(3 * 3600 * 1000)));
        let to = from + Duration::minutes(rng.random_range(1..60));
        for arm in Arm::ALL {
            for owner_opt in [None, Some(&r1)] {
                let mut got = ids_of(store.window_candidates(owner_opt, arm, from, to).await);
                got.sort();
                let mut want: Vec<String> = rows
                    .iter()
                    .filter(|row| row.arm == arm && row.ts >= from && row.ts < to)
                    .filter(|row| owner_opt.is_none_or(|owner| belongs_to(row, owner)))
                    .map(|row| row.request_id.clone())
                    .collect();
                want.sort();
                let label = owner_opt.map(|owner| &owner.rollout_id);
                assert_eq!(got, want, "window {from}..{to} {arm} {label:?}");
                let telemetry = store
                    .window_telemetry(owner_opt, arm, from, to)
                    .await
                    .unwrap();
                let mut telemetry_ids: Vec<String> =
                    telemetry.into_iter().map(|row| row.request_id).collect();
                telemetry_ids.sort();
                assert_eq!(telemetry_ids, want);
            }
        }
    }
}
contract_test!(
    random_windows,
    random_windows_return_exactly_the_rows_inside
);

async fn telemetry_covers_every_request_including_errors(store: Store) {
    let from = base_time();
    let to = from + Duration::minutes(15);
    let ok = request("ok", from + Duration::minutes(1), Arm::Canary);
    let mut failed = request("failed", from + Duration::minutes(2), Arm::Canary);
    failed.status = RequestStatus::Error;
    failed.latency_ms = Some(30_000.0);
    failed.cost_usd = None;
    failed.completion_tokens = None;
    store.insert_requests(&[ok, failed]).await.unwrap();
    let rows = store
        .window_telemetry(Some(&targets("r1")), Arm::Canary, from, to)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].request_id, "ok");
    assert_eq!(rows[0].status, RequestStatus::Ok);
    assert_eq!(rows[0].latency_ms, Some(812.5));
    assert_eq!(rows[0].cost_usd, Some(0.000135));
    assert_eq!(rows[0].completion_tokens, Some(11));
    assert_eq!(rows[1].request_id, "failed");
    assert_eq!(rows[1].status, RequestStatus::Error);
    assert_eq!(rows[1].latency_ms, Some(30_000.0));
    assert_eq!(rows[1].cost_usd, None);
    assert_eq!(rows[1].tenant_id, "tenant-1");
}
contract_test!(telemetry, telemetry_covers_every_request_including_errors);

async fn feedback_follows_the_requests_of_the_window(store: Store) {
    let from = base_time();
    let to = from + Duration::minutes(15);
    store
        .insert_requests(&[
            request("inside", from + Duration::minutes(1), Arm::Canary),
            request("outside", to + Duration::minutes(1), Arm::Canary),
            request("baseline", from + Duration::minutes(1), Arm::Baseline),
        ])
        .await
        .unwrap();
    let late = to + Duration::hours(2);
    store
        .insert_feedback(&[
            feedback("inside", FeedbackKind::Thumbs, late, -1.0),
            feedback("inside", FeedbackKind::Escalated, late, 1.0),
            feedback("outside", FeedbackKind::Thumbs, from, 1.0),
            feedback("baseline", FeedbackKind::Refunded, from, 1.0),
        ])
        .await
        .unwrap();
    let events = store
        .feedback_for_window(None, Arm::Canary, from, to)
        .await
        .unwrap();
    assert_eq!(
        events,
        vec![
            feedback("inside", FeedbackKind::Escalated, late, 1.0),
            feedback("inside", FeedbackKind::Thumbs, late, -1.0),
        ]
    );
    let other_rollout = store
        .feedback_for_window(Some(&targets("r9")), Arm::Canary, from, to)
        .await
        .unwrap();
    assert!(other_rollout.is_empty());
    let baseline = store
        .feedback_for_window(Some(&targets("r1")), Arm::Baseline, from, to)
        .await
        .unwrap();
    assert_eq!(baseline.len(), 1);
    assert_eq!(baseline[0].kind, FeedbackKind::Refunded);
}
contract_test!(feedback_window, feedback_follows_the_requests_of_the_window);

async fn sampling_from_the_store_is_repeatable_and_capped(store: Store) {
    let mut rows = Vec::new();
    for index in 0..300 {
        let mut row = request(
            &format!("s{index}"),
            base_time() + Duration::seconds(index),
            Arm::Canary,
        );
        row.tenant_id = format!("tenant-{}", index % 7);
        if index % 10 == 0 {
            row.status = RequestStatus::Error;
        }
        rows.push(row);
    }
    store.insert_requests(&rows).await.unwrap();
    let (from, to) = (base_time(), base_time() + Duration::minutes(15));
    let plan = SamplePlan {
        n_per_arm: 20,
        baseline_multiplier: 1,
        per_tenant_cap: 2,
        seed: 5,
    };
    let key = sampling::tick_key(Some("r1"), from);
    let first_candidates = store
        .window_candidates(Some(&targets("r1")), Arm::Canary, from, to)
        .await
        .unwrap();
    let first = sampling::sample(&plan, &key, &first_candidates);
    let second_candidates = store
        .window_candidates(Some(&targets("r1")), Arm::Canary, from, to)
        .await
        .unwrap();
    let second = sampling::sample(&plan, &key, &second_candidates);
    assert_eq!(first, second);
    assert_eq!(first.available, 300);
    assert_eq!(first.excluded_errors, 30);
    assert_eq!(first.eligible, 14);
    assert_eq!(first.selected.len(), 14);
    assert_eq!(first.shortfall, 6);
    let chosen = store.get_requests(&first.selected).await.unwrap();
    assert_eq!(chosen.len(), 14);
    assert!(chosen.iter().all(|row| row.status == RequestStatus::Ok));
    assert!(chosen.iter().all(|row| row.ts >= from && row.ts < to));
}
contract_test!(
    store_sampling,
    sampling_from_the_store_is_repeatable_and_capped
);
