//! Keyset-paged history reads cover every scorable request of the range exactly once.

use chrono::{Duration, TimeZone, Utc};
use evalgate::adapters::store::{HistoryFilter, Store};
use evalgate::domain::{Arm, Request, RequestStatus, Timestamp};
use evalgate::logic::attribution::RolloutTargets;

fn request(index: usize, ts: Timestamp) -> Request {
    let arm = if index.is_multiple_of(3) {
        Arm::Canary
    } else {
        Arm::Baseline
    };
    let status = if index % 10 == 9 {
        RequestStatus::Error
    } else {
        RequestStatus::Ok
    };
    Request {
        ts,
        tenant_id: format!("t{}", index % 7),
        model: "m".to_string(),
        rollout_id: Some(if index.is_multiple_of(2) { "r1" } else { "r2" }.to_string()),
        input: "[]".to_string(),
        output: "{}".to_string(),
        status,
        metadata: serde_json::json!({}),
        ..crate::common::request(&format!("h-{index:05}"), arm)
    }
}

async fn pages_cover_the_range_once_with_filters(store: Store) {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    // Several requests share each timestamp so the cursor's tie-break on request_id matters.
    let rows: Vec<Request> = (0..500)
        .map(|i| request(i, start + Duration::seconds((i / 4) as i64)))
        .collect();
    store.insert_requests(&rows).await.unwrap();
    let filter = HistoryFilter {
        from: start + Duration::seconds(10),
        to: start + Duration::seconds(100),
        rollout: Some(RolloutTargets {
            rollout_id: "r1".to_string(),
            baseline_model: "other@v1".to_string(),
            canary_model: "other@v2".to_string(),
            started_at: start,
        }),
        arm: Some(Arm::Baseline),
    };
    let expected: Vec<String> = rows
        .iter()
        .filter(|r| r.ts >= filter.from && r.ts < filter.to)
        .filter(|r| r.rollout_id.as_deref() == Some("r1") && r.arm == Arm::Baseline)
        .filter(|r| r.status == RequestStatus::Ok)
        .map(|r| r.request_id.clone())
        .collect();
    assert_eq!(
        store.count_history(&filter).await.unwrap(),
        expected.len() as u64
    );
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .history_page(&filter, cursor.as_ref(), 7)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|c| c.request_id.clone()));
        cursor = page.last().cloned();
    }
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    assert_eq!(sorted_seen, sorted_expected);
    assert!(!seen.is_empty());
}

contract_test!(history_pages, pages_cover_the_range_once_with_filters);
