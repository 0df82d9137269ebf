//! The HTTP API of `evalgate serve` (axum): `/metrics`, `/healthz`, `/readyz`, the read-only
//! rollout API, the flag endpoint gateways poll, push ingest (`/v1/ingest`, OTLP `/v1/traces`)
//! behind the ingest token, the mutating rollout controls behind the admin token, and the
//! read-only web view (`/`, [`web`]). [`router`] builds it from an [`AppState`]; tests drive it with `oneshot`.

mod auth;
mod error;
mod health;
mod ingest;
mod rollouts;
mod server;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::routing::{get, post};

use crate::adapters::store::Store;
use crate::clock::Clock;
use crate::domain::Timestamp;

pub use auth::{AdminToken, authorize, authorize_browser};
pub use error::ApiError;
pub use ingest::{PushIngest, PushReject, PushSummary};
pub use rollouts::{
    ControlBody, ControlOutcome, MAX_TEXT_FIELD_BYTES, RolloutControls, RolloutList, RolloutSummary,
};
pub use server::{ServerLimits, serve};
pub use web::{WebAccess, WebPage, WebPages, WebView};

/// A heartbeat loop iteration older than this means the scheduler is not alive.
pub const HEARTBEAT_STALE_SECS: i64 = 60;
/// A single tick may keep the loop busy for at most this long before `/readyz` fails.
pub const TICK_BUSY_MAX_SECS: i64 = 3600;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The clock (the system clock in `serve`, a manual one in tests).
    pub clock: Arc<dyn Clock>,
    /// Shared with the scheduler loop; `/readyz` reads it.
    pub heartbeat: SchedulerHeartbeat,
    /// The admin token of the mutating endpoints; `None` disables them.
    pub admin_token: Option<AdminToken>,
    /// What the mutating endpoints call (the controller in `serve`); `None` disables them.
    pub controls: Option<Arc<dyn RolloutControls>>,
    /// Push ingest (`/v1/ingest`, `/v1/traces`); `None` (no ingest token) disables it.
    pub ingest: Option<Arc<PushIngest>>,
    /// The read-only web view; `None` answers its routes with 404.
    pub web: Option<WebView>,
}

/// Liveness of the scheduler loop: when it last went round, and whether it is busy running a
/// tick (a long tick must not make the process look dead).
#[derive(Debug, Clone, Default)]
pub struct SchedulerHeartbeat {
    inner: Arc<HeartbeatInner>,
}

#[derive(Debug, Default)]
struct HeartbeatInner {
    last_beat_ms: AtomicI64,
    busy_since_ms: AtomicI64,
}

impl SchedulerHeartbeat {
    /// The loop went round at `now`.
    pub fn beat(&self, now: Timestamp) {
        self.inner
            .last_beat_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// A tick started at `now` (`None`: it finished).
    pub fn set_busy(&self, now_opt: Option<Timestamp>) {
        let value = now_opt.map_or(0, |now| now.timestamp_millis());
        self.inner.busy_since_ms.store(value, Ordering::Relaxed);
    }

    /// True when the loop beat recently, or is busy with a tick that started recently.
    pub fn is_alive(&self, now: Timestamp) -> bool {
        let now_ms = now.timestamp_millis();
        let last = self.inner.last_beat_ms.load(Ordering::Relaxed);
        let busy = self.inner.busy_since_ms.load(Ordering::Relaxed);
        let recent_beat = last > 0 && now_ms - last <= HEARTBEAT_STALE_SECS * 1000;
        let recent_busy = busy > 0 && now_ms - busy <= TICK_BUSY_MAX_SECS * 1000;
        recent_beat || recent_busy
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::rollouts))
        .route("/rollouts/{id}", get(web::rollout))
        .route("/rollouts/{id}/review", get(web::review))
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/traces", post(ingest::traces))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/rollouts", get(rollouts::list))
        .route("/api/v1/rollouts/{id}", get(rollouts::detail))
        .route("/api/v1/rollouts/{id}/series", get(rollouts::series))
        .route("/api/v1/rollouts/{id}/{action}", post(rollouts::control))
        .route("/v1/flags/{key}", get(rollouts::flag))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_heartbeat_goes_stale_unless_a_tick_is_running() {
        let heartbeat = SchedulerHeartbeat::default();
        let t0 = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .unwrap();
        assert!(!heartbeat.is_alive(t0), "never beat");
        heartbeat.beat(t0);
        assert!(heartbeat.is_alive(t0 + chrono::Duration::seconds(30)));
        assert!(!heartbeat.is_alive(t0 + chrono::Duration::seconds(120)));
        heartbeat.set_busy(Some(t0 + chrono::Duration::seconds(100)));
        assert!(heartbeat.is_alive(t0 + chrono::Duration::seconds(600)));
        heartbeat.set_busy(None);
        assert!(!heartbeat.is_alive(t0 + chrono::Duration::seconds(600)));
    }
}
