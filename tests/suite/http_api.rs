//! The HTTP API through `router(state)` with `tower::ServiceExt::oneshot`: health and readiness,
//! the metrics endpoint, the read-only rollout API and the bearer-token guard on the controls.

use crate::common;
use evalgate::domain::rollout::PhaseName;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use evalgate::adapters::http::{AdminToken, AppState, SchedulerHeartbeat, router};
use evalgate::adapters::store::Store;
use evalgate::clock::ManualClock;
use evalgate::commands::serve::ControllerControls;
use evalgate::config::Config;
use evalgate::context::{Context, Services};
use evalgate::domain::Timestamp;
use tower::ServiceExt as _;

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .unwrap()
}

fn state(store: Store, token: Option<&str>) -> AppState {
    AppState {
        store: store.clone(),
        clock: Arc::new(ManualClock::new(now())),
        heartbeat: SchedulerHeartbeat::default(),
        admin_token: token.and_then(AdminToken::new),
        ingest: None,
        controls: Some(Arc::new(ControllerControls::new(
            Services::new(
                Context::with_config(Config::default(), Arc::new(ManualClock::new(now()))),
                store,
            )
            .expect("services"),
        ))),
        web: None,
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

/// Starts rollout `r1` on flag `checkout` through the real CLI path, against `url`.
async fn start_rollout(url: &str) {
    use clap::Parser as _;
    let cli = evalgate::cli::Cli::parse_from([
        "evalgate",
        "--store",
        url,
        "rollout",
        "start",
        "--id",
        "r1",
        "--flag",
        "checkout",
        "--baseline",
        "bot@v1",
        "--canary",
        "bot@v2",
    ]);
    evalgate::commands::run(cli).await.expect("rollout start");
}

fn post(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post(uri).header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

async fn the_read_api_lists_rollouts_their_evidence_series_and_flags(store: Store, url: String) {
    start_rollout(&url).await;
    let state = state(store.clone(), None);
    let (status, body) = send(&state, get("/api/v1/rollouts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["rollouts"][0]["id"], "r1");
    assert_eq!(body["rollouts"][0]["phase"], "running");
    // The body is the typed list: every field there, with its type.
    let list: evalgate::adapters::http::RolloutList =
        serde_json::from_value(body.clone()).expect("the typed rollout list");
    assert_eq!(list.rollouts[0].phase, PhaseName::Running);
    assert!(list.rollouts[0].active);
    assert_eq!(list.rollouts[0].stage_index, Some(0), "{body}");

    let (status, detail) = send(&state, get("/api/v1/rollouts/r1")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["rollout"]["flag_key"], "checkout");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "start"),
        "{detail}"
    );
    assert!(detail["gate_evidence"].is_array());

    let (status, series) = send(&state, get("/api/v1/rollouts/r1/series")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(series["series"].as_array().unwrap().is_empty());
    // A stored point comes back flat: the window's keys beside the point's.
    let point = evalgate::logic::gates::series::point_from_counts(
        evalgate::domain::Arm::Canary,
        "overall",
        9,
        1,
        2,
    );
    let row = evalgate::adapters::store::PassRateRow {
        window_start: now() - chrono::Duration::minutes(15),
        window_end: now(),
        evaluator_version: "v1".to_string(),
        point,
    };
    store.upsert_pass_rate_series("r1", &[row]).await.unwrap();
    let (_, series) = send(&state, get("/api/v1/rollouts/r1/series")).await;
    assert_eq!(series["rollout_id"], "r1");
    let stored = &series["series"][0];
    let mut keys: Vec<&str> = stored
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "arm",
            "evaluator",
            "evaluator_version",
            "fails",
            "interval_kind",
            "n",
            "passes",
            "rate",
            "unscorable",
            "wilson_high",
            "wilson_low",
            "window_end",
            "window_start"
        ],
        "{stored}"
    );
    assert_eq!(stored["arm"], "canary");
    assert_eq!(stored["n"], 10);
    assert_eq!(stored["passes"], 9);
    assert_eq!(stored["unscorable"], 2);

    let (status, flag) = send(&state, get("/v1/flags/checkout")).await;
    assert_eq!(status, StatusCode::OK, "{flag}");
    assert_eq!(
        flag["basis_points"], detail["state"]["split_bp"],
        "the flag serves the controller's split"
    );
    assert!(flag["generation"].as_u64().unwrap() >= 1);

    assert_eq!(
        send(&state, get("/api/v1/rollouts/nope")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&state, get("/v1/flags/nope")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Runs one `evalgate` command through the real CLI path, against `url`.
async fn cli(url: &str, args: &[&str]) {
    use clap::Parser as _;
    let mut argv = vec!["evalgate", "--store", url];
    argv.extend_from_slice(args);
    let cli = evalgate::cli::Cli::parse_from(argv);
    evalgate::commands::run(cli)
        .await
        .expect("evalgate command");
}

async fn the_flag_names_the_rollout_that_owns_it(store: Store, url: String) {
    start_rollout(&url).await;
    let state = state(store.clone(), None);
    let (status, flag) = send(&state, get("/v1/flags/checkout")).await;
    assert_eq!(status, StatusCode::OK, "{flag}");
    for field in [
        "basis_points",
        "generation",
        "salt",
        "always",
        "never",
        "updated_at",
    ] {
        assert!(!flag[field].is_null(), "{field} is kept: {flag}");
    }
    assert_eq!(flag["rollout_id"], "r1");
    assert_eq!(flag["baseline_model"], "bot@v1");
    assert_eq!(flag["canary_model"], "bot@v2");
    assert_eq!(flag["phase"], "running");

    // Over, the rollout still owns its flag; a new one on the flag takes it over.
    cli(&url, &["rollout", "rollback", "r1", "--reason", "bad"]).await;
    let (_, flag) = send(&state, get("/v1/flags/checkout")).await;
    assert_eq!(flag["rollout_id"], "r1");
    assert_eq!(flag["phase"], "rolled_back");
    assert_eq!(flag["basis_points"], 0);
    cli(
        &url,
        &[
            "rollout",
            "start",
            "--id",
            "r2",
            "--flag",
            "checkout",
            "--baseline",
            "bot@v1",
            "--canary",
            "bot@v3",
        ],
    )
    .await;
    let (_, flag) = send(&state, get("/v1/flags/checkout")).await;
    assert_eq!(flag["rollout_id"], "r2");
    assert_eq!(flag["canary_model"], "bot@v3");
    assert_eq!(flag["phase"], "running");

    // A flag no rollout uses (a drill flag, a split written by hand): null rollout fields.
    let split = evalgate::domain::SplitWrite {
        basis_points: 0,
        salt: "lonely".into(),
        always: vec![],
        never: vec![],
        updated_at: now(),
        updated_by: "ops".into(),
    };
    store.put_split("lonely", &split).await.unwrap();
    let (status, flag) = send(&state, get("/v1/flags/lonely")).await;
    assert_eq!(status, StatusCode::OK, "{flag}");
    assert_eq!(flag["basis_points"], 0);
    for field in ["rollout_id", "baseline_model", "canary_model", "phase"] {
        assert!(flag[field].is_null(), "{field}: {flag}");
    }
}

async fn controls_need_the_bearer_token_and_change_nothing_without_it(store: Store, url: String) {
    start_rollout(&url).await;
    let before = store.get_rollout("r1").await.unwrap().unwrap();
    let events_before = store.list_rollout_events("r1").await.unwrap().len();
    let body = r#"{"actor": "alice", "reason": "canary looks off"}"#;

    let guarded = state(store.clone(), Some("s3cret"));
    for action in ["approve", "halt", "resume", "rollback", "kill"] {
        let uri = format!("/api/v1/rollouts/r1/{action}");
        assert_eq!(
            send(&guarded, post(&uri, None, body)).await.0,
            StatusCode::UNAUTHORIZED,
            "{action}"
        );
        assert_eq!(
            send(&guarded, post(&uri, Some("wrong"), body)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let disabled = state(store.clone(), None);
    assert_eq!(
        send(
            &disabled,
            post("/api/v1/rollouts/r1/kill", Some("s3cret"), body)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let after = store.get_rollout("r1").await.unwrap().unwrap();
    assert_eq!(
        after.version, before.version,
        "a refused request changed the rollout"
    );
    assert_eq!(after.phase, before.phase);
    assert_eq!(
        store.list_rollout_events("r1").await.unwrap().len(),
        events_before
    );

    let (status, _) = send(
        &guarded,
        post(
            "/api/v1/rollouts/r1/halt",
            Some("s3cret"),
            r#"{"actor": "alice"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "halt needs a reason");
    let (status, report) = send(
        &guarded,
        post("/api/v1/rollouts/r1/halt", Some("s3cret"), body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let halted = store.get_rollout("r1").await.unwrap().unwrap();
    assert_eq!(halted.phase, PhaseName::Held);
    let events = store.list_rollout_events("r1").await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.actor == "alice" && e.reason.contains("canary looks off")),
        "{events:?}"
    );
    let (status, conflict) = send(
        &guarded,
        post("/api/v1/rollouts/r1/approve", Some("s3cret"), body),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "approve is not allowed while held"
    );
    let said = conflict["error"].as_str().unwrap_or_default();
    assert!(said.contains("nothing is awaiting approval"), "{conflict}");
    assert_eq!(conflict["report"]["kind"], "rejected", "{conflict}");

    // Free text is bounded, and the answer names the field.
    let events_before_big = store.list_rollout_events("r1").await.unwrap().len();
    let huge = "x".repeat(5000);
    for (field, big_body) in [
        (
            "reason",
            format!(r#"{{"actor": "alice", "reason": "{huge}"}}"#),
        ),
        ("actor", format!(r#"{{"actor": "{huge}", "reason": "r"}}"#)),
    ] {
        let (status, answer) = send(
            &guarded,
            post("/api/v1/rollouts/r1/rollback", Some("s3cret"), &big_body),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
        let said = answer["error"].as_str().unwrap_or_default();
        assert!(said.contains(&format!("`{field}`")), "{answer}");
        assert!(said.contains("4096"), "{answer}");
    }
    assert_eq!(
        store.list_rollout_events("r1").await.unwrap().len(),
        events_before_big,
        "an oversized field changed nothing"
    );

    // A reason on resume (optional there) reaches the audit row (issue 13).
    let (status, report) = send(
        &guarded,
        post(
            "/api/v1/rollouts/r1/resume",
            Some("s3cret"),
            r#"{"actor": "alice", "reason": "false alarm"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let events = store.list_rollout_events("r1").await.unwrap();
    let resume = events.iter().find(|e| e.action == "resume").unwrap();
    assert!(resume.reason.contains("false alarm"), "{resume:?}");
}

mod read_api {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = super::Store::open(&url).await.unwrap();
        super::the_read_api_lists_rollouts_their_evidence_series_and_flags(store, url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some((url, store)) = crate::common::pg_store().await else {
            return;
        };
        super::the_read_api_lists_rollouts_their_evidence_series_and_flags(store, url).await;
    }
}

mod controls {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = super::Store::open(&url).await.unwrap();
        super::controls_need_the_bearer_token_and_change_nothing_without_it(store, url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some((url, store)) = crate::common::pg_store().await else {
            return;
        };
        super::controls_need_the_bearer_token_and_change_nothing_without_it(store, url).await;
    }
}

mod flag_owner {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = super::Store::open(&url).await.unwrap();
        super::the_flag_names_the_rollout_that_owns_it(store, url).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some((url, store)) = crate::common::pg_store().await else {
            return;
        };
        super::the_flag_names_the_rollout_that_owns_it(store, url).await;
    }
}
