//! Push ingest through `router(state)`: `POST /v1/ingest` in LiteLLM's three generic-logger
//! shapes (json_array, ndjson, single) and plain JSONL, gzip bodies, the body limit, the ingest
//! token, reject reporting that keeps the good rows, idempotent retries, and the OTLP/HTTP
//! receiver `POST /v1/traces` in protobuf and JSON. On both store backends.

use crate::common;
use evalgate::domain::rollout::PhaseName;

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use evalgate::adapters::http::{AdminToken, AppState, PushIngest, SchedulerHeartbeat, router};
use evalgate::adapters::jsonl::ParseLimits;
use evalgate::adapters::otlp;
use evalgate::adapters::store::Store;
use evalgate::clock::ManualClock;
use evalgate::domain::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "push-s3cret";

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .unwrap()
}

fn state(store: Store, max_body_bytes: usize) -> AppState {
    AppState {
        store,
        clock: Arc::new(ManualClock::new(now())),
        heartbeat: SchedulerHeartbeat::default(),
        admin_token: None,
        controls: None,
        ingest: Some(Arc::new(PushIngest {
            token: AdminToken::new(TOKEN).unwrap(),
            limits: ParseLimits {
                max_field_bytes: 64 * 1024,
            },
            max_body_bytes,
            batch_size: 7,
        })),
        web: None,
    }
}

fn row(id: &str, arm: &str) -> Value {
    json!({
        "request_id": id,
        "ts": "2026-11-26T06:00:00Z",
        "tenant_id": format!("tenant-{id}"),
        "arm": arm,
        "model": "support-bot@v42",
        "input": [{"role": "user", "content": "hi"}],
        "output": "hello",
    })
}

fn ndjson(rows: &[Value]) -> String {
    rows.iter().map(|row| format!("{row}\n")).collect()
}

fn push(uri: &str, body: impl Into<Body>, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(uri).header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body.into()).unwrap()
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

async fn stored(store: &Store) -> u64 {
    store.count_requests().await.unwrap()
}

async fn the_token_guards_push_ingest(store: Store) {
    let body = ndjson(&[row("a", "canary")]);
    let mut disabled = state(store.clone(), 1 << 20);
    disabled.ingest = None;
    let (status, json) = send(&disabled, push("/v1/ingest", body.clone(), Some(TOKEN))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert!(json["error"].as_str().unwrap().contains("ingest_token_env"));

    let state = state(store.clone(), 1 << 20);
    for token in [None, Some("wrong")] {
        let (status, _) = send(&state, push("/v1/ingest", body.clone(), token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = send(&state, push("/v1/traces", "{}", token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(stored(&store).await, 0, "nothing written without the token");
}
contract_test!(token, the_token_guards_push_ingest);

async fn each_generic_logger_shape_loads_and_a_retry_inserts_nothing(store: Store) {
    let state = state(store.clone(), 1 << 20);
    // ndjson: 10 rows (more than one insert batch of 7).
    let rows: Vec<Value> = (0..10).map(|i| row(&format!("nd-{i}"), "canary")).collect();
    let (status, json) = send(
        &state,
        push("/v1/ingest?format=evalgate", ndjson(&rows), Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["read"], 10);
    assert_eq!(json["inserted"], 10);
    assert_eq!(json["format"], "evalgate");

    // json_array
    let array = json!([row("arr-1", "baseline"), row("arr-2", "canary")]).to_string();
    let (status, json) = send(&state, push("/v1/ingest", array.clone(), Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["inserted"], 2, "{json}");

    // single, pretty-printed over several lines
    let single = serde_json::to_string_pretty(&row("single-1", "baseline")).unwrap();
    assert!(single.lines().count() > 3);
    let (status, json) = send(&state, push("/v1/ingest", single, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["inserted"], 1, "{json}");
    assert_eq!(json["rejected"], 0, "{json}");
    assert_eq!(stored(&store).await, 13);

    // the sender retries the array: idempotent on the request id
    let (status, json) = send(&state, push("/v1/ingest", array, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["inserted"], 0);
    assert_eq!(json["duplicates"], 2);
    assert_eq!(stored(&store).await, 13);
}
contract_test!(
    shapes,
    each_generic_logger_shape_loads_and_a_retry_inserts_nothing
);

async fn a_bad_document_is_reported_and_the_good_ones_load(store: Store) {
    let state = state(store.clone(), 1 << 20);
    let mut missing_tenant = row("bad-1", "canary");
    missing_tenant.as_object_mut().unwrap().remove("tenant_id");
    let body = format!(
        "{}\nnot json at all\n{}\n{}\n",
        row("ok-1", "canary"),
        missing_tenant,
        row("ok-2", "baseline")
    );
    let (status, json) = send(
        &state,
        push("/v1/ingest?format=evalgate", body, Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["read"], 4);
    assert_eq!(json["inserted"], 2);
    assert_eq!(json["rejected"], 2);
    let rejects = json["rejects"].as_array().unwrap();
    assert_eq!(rejects[0]["at"], "line 2");
    assert_eq!(rejects[0]["kind"], "not_json");
    assert_eq!(rejects[1]["at"], "line 3");
    assert!(
        rejects[1]["reason"].as_str().unwrap().contains("tenant_id"),
        "{json}"
    );

    // an array item that is wrong is rejected by its position
    let array = json!([row("ok-3", "canary"), {"request_id": 5}]).to_string();
    let (status, json) = send(
        &state,
        push("/v1/ingest?format=evalgate", array, Some(TOKEN)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["rejects"][0]["at"], "item 2");
    assert_eq!(stored(&store).await, 3);

    // a broken array is one clear 400, nothing half-written
    let (status, json) = send(
        &state,
        push(
            "/v1/ingest",
            format!("[{}, {{", row("never", "canary")),
            Some(TOKEN),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"].as_str().unwrap().contains("JSON array"),
        "{json}"
    );
    let (status, json) = send(&state, push("/v1/ingest?format=nope", "", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"].as_str().unwrap().contains("litellm"),
        "{json}"
    );
    assert_eq!(stored(&store).await, 3);
}
contract_test!(rejects, a_bad_document_is_reported_and_the_good_ones_load);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn bodies_are_bounded_before_and_after_gunzip(store: Store) {
    let rows: Vec<Value> = (0..40).map(|i| row(&format!("gz-{i}"), "canary")).collect();
    let body = ndjson(&rows);
    let limit = body.len() - 1;
    let state = state(store.clone(), limit);

    let (status, _) = send(&state, push("/v1/ingest", body.clone(), Some(TOKEN))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // compressed it fits on the wire, but not once inflated
    let compressed = gzip(body.as_bytes());
    assert!(compressed.len() < limit);
    let request = Request::post("/v1/ingest")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-encoding", "gzip")
        .body(Body::from(compressed))
        .unwrap();
    let (status, json) = send(&state, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(json["error"].as_str().unwrap().contains("max_push_bytes"));
    assert_eq!(stored(&store).await, 0);

    // within the limit, gzip loads
    let small = ndjson(&rows[..20]);
    let request = Request::post("/v1/ingest")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-encoding", "gzip")
        .body(Body::from(gzip(small.as_bytes())))
        .unwrap();
    let (status, json) = send(&state, request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["inserted"], 20);

    let request = Request::post("/v1/ingest")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-encoding", "br")
        .body(Body::from(small))
        .unwrap();
    let (status, _) = send(&state, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
contract_test!(limits, bodies_are_bounded_before_and_after_gunzip);

async fn traces_need_a_known_content_type_and_valid_protobuf(store: Store) {
    let state = state(store.clone(), 1 << 20);
    let request = Request::post("/v1/traces")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "text/plain")
        .body(Body::from("hello"))
        .unwrap();
    let (status, _) = send(&state, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let request = Request::post("/v1/traces")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/x-protobuf")
        .body(Body::from(vec![0xff_u8, 0xff, 0xff]))
        .unwrap();
    let (status, json) = send(&state, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].as_str().unwrap().contains("OTLP"), "{json}");

    // an export with no GenAI spans is fine and writes nothing
    let empty = otlp::ExportTraceServiceRequest::default();
    let request = Request::post("/v1/traces")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/x-protobuf")
        .body(Body::from(prost::Message::encode_to_vec(&empty)))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    assert_eq!(stored(&store).await, 0);
}
contract_test!(
    traces_media,
    traces_need_a_known_content_type_and_valid_protobuf
);

fn capture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/formats/otel")
        .join(format!("captured-litellm-1.108.7-{name}"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn traces(body: Vec<u8>, content_type: &str) -> Request<Body> {
    Request::post("/v1/traces")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

/// Real exports of LiteLLM 1.108.7's `otel` callback (fixtures/formats/otel/CAPTURED.md): the
/// call span of each request becomes one row, the proxy's other spans none; a request the proxy
/// rejected before routing (no tenant, no tags) is one rejected span in `partial_success`.
async fn litellm_otlp_exports_load_over_protobuf_and_json(store: Store) {
    let state = state(store.clone(), 1 << 20);
    let response = router(state.clone())
        .oneshot(traces(capture("success.pb"), "application/x-protobuf"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let answer: otlp::ExportTraceServiceResponse = prost::Message::decode(&bytes[..]).unwrap();
    assert_eq!(answer.partial_success, None, "nothing rejected");
    assert_eq!(
        stored(&store).await,
        1,
        "one call span, the other 10 spans skipped"
    );

    let (status, json) = send(&state, traces(capture("failure.json"), "application/json")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json, json!({}), "nothing rejected");
    let (status, _) = send(
        &state,
        traces(capture("success-stream.pb"), "application/x-protobuf"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&store).await, 3);

    let rows = store
        .get_requests(&["725e30cb-07b3-43fa-a2b5-d2db82adb6b4".to_string()])
        .await
        .unwrap();
    let failure = &rows[0];
    assert_eq!(
        failure.model, "support-bot@v41",
        "the model group, not the deployment"
    );
    assert_eq!(failure.arm.as_str(), "baseline");
    assert_eq!(failure.tenant_id, "tenant-0003");
    assert_eq!(failure.rollout_id.as_deref(), Some("r-otel-1"));
    assert_eq!(failure.status.as_str(), "error");

    // the same export again: idempotent
    let (_, json) = send(&state, traces(capture("failure.json"), "application/json")).await;
    assert_eq!(json, json!({}));
    assert_eq!(stored(&store).await, 3);

    let (status, json) = send(&state, traces(capture("rejected.json"), "application/json")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["partialSuccess"]["rejectedSpans"], "1", "{json}");
    let message = json["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("tenant"), "{message}");
    assert_eq!(stored(&store).await, 3);
}
contract_test!(
    litellm_otlp,
    litellm_otlp_exports_load_over_protobuf_and_json
);

/// A wrong token is refused before the body is read: a body over the limit still gets 401.
async fn the_token_is_checked_before_the_body(store: Store) {
    let state = state(store.clone(), 64);
    let big = "x".repeat(10_000);
    let (status, _) = send(&state, push("/v1/ingest", big.clone(), Some("wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&state, push("/v1/ingest", big, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
contract_test!(token_first, the_token_is_checked_before_the_body);

fn new_rollout(created_at: Timestamp) -> evalgate::adapters::store::NewRollout {
    use evalgate::domain::rollout::{Plan, RolloutState};
    let state = RolloutState::new("r-push", "bot", "team", created_at);
    evalgate::adapters::store::NewRollout {
        id: "r-push".to_string(),
        flag_key: "bot".to_string(),
        owner: None,
        webhook: None,
        suite: None,
        baseline_target: "support-bot@v41".to_string(),
        canary_target: "support-bot@v42".to_string(),
        salt: "bot".to_string(),
        always_tenants: vec![],
        never_tenants: vec![],
        plan: serde_json::to_value(Plan::seed_default()).unwrap(),
        state: serde_json::to_value(&state).unwrap(),
        phase: PhaseName::Running,
        created_at,
    }
}

/// An arm-less row is placed by the rollouts stored when it is pushed: rejected (with the hint)
/// before `rollout start` names its model, placed on the canary after.
async fn arm_less_rows_are_placed_by_the_rollouts_at_push_time(store: Store) {
    let state = state(store.clone(), 1 << 20);
    let mut arm_less = row("armless-1", "canary");
    arm_less.as_object_mut().unwrap().remove("arm");
    let (status, json) = send(
        &state,
        push(
            "/v1/ingest?format=evalgate",
            ndjson(&[arm_less.clone()]),
            Some(TOKEN),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["rejected"], 1, "{json}");
    let reason = json["rejects"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("support-bot@v42"), "{reason}");

    let started = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 5, 0, 0).unwrap();
    assert!(store.create_rollout(&new_rollout(started)).await.unwrap());
    let (status, json) = send(
        &state,
        push(
            "/v1/ingest?format=evalgate",
            ndjson(&[arm_less]),
            Some(TOKEN),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["inserted"], 1, "{json}");
    let rows = store
        .get_requests(&["armless-1".to_string()])
        .await
        .unwrap();
    assert_eq!(rows[0].arm.as_str(), "canary");
}
contract_test!(arms, arm_less_rows_are_placed_by_the_rollouts_at_push_time);

#[tokio::test]
async fn pushes_are_counted_on_metrics() {
    evalgate::metrics::install().unwrap();
    let (_dir, store) = common::sqlite_store().await;
    let state = state(store, 1 << 20);
    let body = format!("{}\nnot json\n", row("metric-1", "canary"));
    let (status, _) = send(&state, push("/v1/ingest", body, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK);
    let text = evalgate::metrics::render();
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"))
    };
    assert!(value("evalgate_ingest_rows_total{source=\"push\",outcome=\"inserted\"}") >= 1.0);
    assert!(value("evalgate_ingest_rejected_total{kind=\"not_json\"}") >= 1.0);
}

/// A LiteLLM fallback logs two payloads under one `litellm_call_id` (the failed first attempt,
/// then the answer, real 1.108.7 captures): they are two rows with their own ids, so the first
/// model's error still counts and the answer is kept.
async fn a_litellm_fallback_is_two_rows(store: Store) {
    let state = state(store.clone(), 1 << 20);
    let started = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut rollout = new_rollout(started);
    rollout.canary_target = "fb".to_string();
    rollout.baseline_target = "ok".to_string();
    assert!(store.create_rollout(&rollout).await.unwrap());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats/litellm");
    for name in ["fallback-single-1-failure", "fallback-single-2-success"] {
        let body = std::fs::read(dir.join(format!("captured-1.108.7-{name}.json"))).unwrap();
        let (status, json) =
            send(&state, push("/v1/ingest?format=litellm", body, Some(TOKEN))).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["inserted"], 1, "{name}: {json}");
    }
    let rows = store
        .get_requests(&[
            "0d4ec49e-1771-4d8d-bf56-d9fa53bc6464".to_string(),
            "chatcmpl-f7bd2431-061e-4f40-8196-c0f0ed594233".to_string(),
        ])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let failed = rows.iter().find(|row| row.model == "fb").unwrap();
    let answered = rows.iter().find(|row| row.model == "ok").unwrap();
    assert_eq!(failed.status.as_str(), "error");
    assert_eq!(answered.status.as_str(), "ok");
    assert!(!answered.output.is_empty());
}
contract_test!(fallback, a_litellm_fallback_is_two_rows);
