//! The HTTP API through `router(state)` with `tower::ServiceExt::oneshot`: health and readiness,
//! the metrics endpoint, the read-only rollout API and the bearer-token guard on the controls.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use evalgate::adapters::http::{AdminToken, AppState, SchedulerHeartbeat, router};
use evalgate::adapters::store::Store;
use evalgate::clock::ManualClock;
use evalgate::domain::Timestamp;
use tower::ServiceExt as _;

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .unwrap()
}

fn state(store: Store, token: Option<&str>) -> AppState {
    AppState {
        store,
        clock: Arc::new(ManualClock::new(now())),
        heartbeat: SchedulerHeartbeat::default(),
        admin_token: token.and_then(AdminToken::new),
    }
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn readiness_needs_the_store_and_a_live_scheduler(store: Store) {
    let state = state(store.clone(), None);
    let (status, _) = send(&state, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = send(&state, get("/readyz")).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the scheduler never beat"
    );
    assert_eq!(body["scheduler"], "stalled");
    assert_eq!(body["store"], "ok");

    state.heartbeat.beat(now());
    let (status, body) = send(&state, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    store.close().await;
    let (status, body) = send(&state, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["store"], "unreachable");
}
contract_test!(readiness, readiness_needs_the_store_and_a_live_scheduler);

#[tokio::test]
async fn metrics_are_served_as_prometheus_text() {
    let (_dir, store) = common::sqlite_store().await;
    evalgate::metrics::install().unwrap();
    let response = router(state(store, None))
        .oneshot(get("/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("# TYPE evalgate_pass_ratio gauge"), "{text}");
    assert!(text.contains("evalgate_build_info{version="), "{text}");
}
