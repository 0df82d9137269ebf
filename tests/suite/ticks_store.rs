//! The tick key and the scoring queue behave the same on SQLite and PostgreSQL.

use chrono::{Duration, TimeZone, Utc};
use evalgate::adapters::store::{Store, TickClaim, TickKey, TickStart, TickStatus};
use evalgate::domain::Timestamp;

fn key(minute: u32) -> TickKey {
    TickKey {
        rollout_id: "r1".to_string(),
        window_start: Utc.with_ymd_and_hms(2026, 11, 1, 10, minute, 0).unwrap(),
    }
}

fn start(window_end: Timestamp, at: Timestamp, seed: u64, worker: &str) -> TickStart<'_> {
    TickStart {
        window_end,
        tick_at: at,
        started_at: at,
        stage_index: 0,
        pairing_seed: seed,
        worker,
    }
}

async fn a_tick_is_fresh_then_resumed_then_done(store: Store) {
    let tick = key(0);
    let end = tick.window_start + Duration::minutes(15);
    let at = end + Duration::minutes(5);
    let first = store
        .begin_tick(&tick, &start(end, at, u64::MAX - 3, "w1"))
        .await
        .unwrap();
    assert_eq!(first, TickClaim::Fresh);
    let again = store
        .begin_tick(&tick, &start(end, at, u64::MAX - 3, "w2"))
        .await
        .unwrap();
    assert!(matches!(
        again,
        TickClaim::Resume {
            status: TickStatus::Running,
            attempts: 2,
            ..
        }
    ));
    let report = serde_json::json!({"decision": "extend"});
    store
        .mark_tick(&tick, TickStatus::Done, &report, Some(at))
        .await
        .unwrap();
    let done = store
        .begin_tick(&tick, &start(end, at, 1, "w3"))
        .await
        .unwrap();
    assert_eq!(
        done,
        TickClaim::Done {
            report: Some(report)
        }
    );
    assert_eq!(store.last_done_tick(Some("r1")).await.unwrap(), Some(at));
    assert_eq!(store.last_done_tick(Some("other")).await.unwrap(), None);
    assert_eq!(store.count_done_ticks("r1").await.unwrap(), 1);
}

async fn queued_work_is_claimed_once_and_stale_claims_are_retaken(store: Store) {
    let tick = key(15);
    let ids: Vec<String> = (0..10).map(|i| format!("req-{i}")).collect();
    store.enqueue_scoring(&tick, "support", &ids).await.unwrap();
    store.enqueue_scoring(&tick, "support", &ids).await.unwrap();
    let now = tick.window_start + Duration::minutes(30);
    let long_ago = now - Duration::hours(1);
    let first = store.claim_scoring("a", now, long_ago, 6).await.unwrap();
    let second = store.claim_scoring("b", now, long_ago, 6).await.unwrap();
    assert_eq!(first.len(), 6);
    assert_eq!(second.len(), 4);
    let mut all: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|item| item.request_id.clone())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 10, "every item claimed exactly once");
    store.complete_scoring(&first).await.unwrap();
    assert_eq!(store.open_scoring(&tick).await.unwrap(), 4);
    // b died holding its claims: once they are stale, another worker takes them over.
    let later = now + Duration::minutes(10);
    let retaken = store
        .claim_scoring("c", later, now + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(retaken.len(), 4);
    store.complete_scoring(&retaken).await.unwrap();
    assert_eq!(store.open_scoring(&tick).await.unwrap(), 0);
    let by_worker = store.scoring_by_worker(&tick).await.unwrap();
    let total: i64 = by_worker.iter().map(|(_, count)| count).sum();
    assert_eq!(total, 10);
}

contract_test!(tick_lifecycle, a_tick_is_fresh_then_resumed_then_done);
contract_test!(
    scoring_queue,
    queued_work_is_claimed_once_and_stale_claims_are_retaken
);
