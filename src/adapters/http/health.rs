//! `/metrics`, `/healthz` (the process answers) and `/readyz` (the store answers and the
//! scheduler loop is alive).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// The Prometheus text exposition.
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

/// Always 200 while the process serves HTTP.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// 200 when the store is reachable and the scheduler loop is alive, else 503 with which failed.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store_ok = state.store.ping().await;
    let scheduler_ok = state.heartbeat.is_alive(state.clock.now());
    let status = if store_ok && scheduler_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "store": if store_ok { "ok" } else { "unreachable" },
        "scheduler": if scheduler_ok { "alive" } else { "stalled" },
    });
    (status, Json(body))
}
