//! `/metrics`, `/healthz` (the process answers) and `/readyz` (the store answers within
//! [`READY_STORE_TIMEOUT`] and the scheduler loop is alive; the body also lists rollouts whose
//! ticks are failing).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;

/// How long `/readyz` waits for the store (a probe with a 1-2 s timeout must get an answer).
pub const READY_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

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
    let store_ok = state.store.ping_within(READY_STORE_TIMEOUT).await;
    let scheduler_ok = state.heartbeat.is_alive(state.clock.now());
    let status = if store_ok && scheduler_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Failing rollouts do not make the process unready (it still serves flags and the API);
    // they are listed here, in `evalgate_rollout_failed_windows` and in `rollout status`.
    let failing: Vec<serde_json::Value> = if store_ok {
        let listed =
            tokio::time::timeout(READY_STORE_TIMEOUT, state.store.list_active_rollouts()).await;
        match listed {
            Ok(Ok(rows)) => rows
                .into_iter()
                .filter(|row| row.failed_windows > 0)
                .map(|row| {
                    serde_json::json!({
                        "rollout_id": row.id,
                        "failed_windows": row.failed_windows,
                        "last_error": row.last_tick_error,
                    })
                })
                .collect(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "store": if store_ok { "ok" } else { "unreachable" },
        "scheduler": if scheduler_ok { "alive" } else { "stalled" },
        "ticks": if failing.is_empty() { "ok" } else { "failing" },
        "failing_rollouts": failing,
    });
    (status, Json(body))
}
