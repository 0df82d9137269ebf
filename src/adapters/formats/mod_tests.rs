//! Unit tests of the format layer: names, detection, the line checks, feedback in every format,
//! the evalgate and LiteLLM mappings and arm placement (`sources_tests.rs` has the other
//! sources; the fixtures under `fixtures/formats/` cover every file through the binary).

use serde_json::{Value, json};

use super::test_support::*;
use super::*;
use crate::domain::{Arm, RequestStatus};

fn litellm_payload() -> Value {
    json!({
        "id": "chatcmpl-1", "call_type": "acompletion", "status": "success",
        "startTime": 1795672800.25, "endTime": 1795672801.062, "completionStartTime": 1795672800.5,
        "model": "openai/support-bot-v42", "model_group": "support-bot@v42",
        "end_user": "acme", "response_cost": 0.00021, "prompt_tokens": 12, "completion_tokens": 7,
        "metadata": {"requester_metadata": {"evalgate_arm": "canary", "evalgate_rollout_id": "r1",
                                            "evalgate_flag": "support-bot"}},
        "messages": [{"role": "user", "content": "How do I reset my password?"}],
        "response": {"choices": [{"message": {"role": "assistant", "content": "Settings > Security."}}]}
    })
}

#[test]
fn format_names_round_trip_and_unknown_names_are_none() {
    for format in Format::ALL {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert_eq!(
            serde_json::to_value(format).unwrap(),
            json!(format.as_str())
        );
    }
    assert_eq!(Format::parse("LiteLLM"), Some(Format::Litellm));
    assert_eq!(Format::parse("splunk"), None);
}

#[test]
fn detect_tells_every_source_apart() {
    let cases = [
        (
            json!({"request_id": "a", "ts": "2026-11-26T06:00:00Z"}),
            Format::Evalgate,
        ),
        (
            json!({"type": "feedback", "request_id": "a"}),
            Format::Evalgate,
        ),
        (litellm_payload(), Format::Litellm),
        (
            json!({"request_id": "a", "call_type": "acompletion", "startTime": "2026-11-26T06:00:00", "spend": 0.1}),
            Format::Litellm,
        ),
        (
            json!({"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2026-11-26T06:00:00Z"}),
            Format::Langfuse,
        ),
        (
            json!({"id": "o1", "trace_id": "t1", "type": "GENERATION", "start_time": "2026-11-26 06:00:00.000"}),
            Format::Langfuse,
        ),
        (
            json!({"data": [{"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "x"}], "meta": {}}),
            Format::Langfuse,
        ),
        (
            json!({"request_id": "a", "request_created_at": "2026-11-26 06:00:00.000"}),
            Format::Helicone,
        ),
        (json!({"resourceSpans": []}), Format::Otel),
        (
            json!({"id": "batch_req_1", "custom_id": "c1", "response": {"status_code": 200, "body": {}}}),
            Format::Openai,
        ),
        (
            json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": []}),
            Format::Openai,
        ),
        (json!([litellm_payload()]), Format::Litellm),
    ];
    for (value, expected) in cases {
        assert_eq!(detect(&value), Ok(expected), "{value}");
    }
}

#[test]
fn an_unknown_shape_is_rejected_saying_how_to_choose() {
    let reject = detect(&json!({"foo": 1})).unwrap_err();
    assert_eq!(reject.kind, RejectKind::UnknownFormat);
    assert!(reject.reason.contains("--format"), "{}", reject.reason);
    assert_eq!(
        detect(&json!([1, 2])).unwrap_err().kind,
        RejectKind::NotAnObject
    );
}

#[test]
fn parse_line_checks_bytes_and_reports_the_detected_format() {
    let arms = ModelArms::default();
    let ctx = ParseContext {
        limits: LIMITS,
        arms: &arms,
    };
    let bad_utf8 = parse_line(None, b"{\"a\":\"\xff\"}", &ctx);
    assert_eq!(bad_utf8.format_opt, None);
    assert!(
        matches!(&bad_utf8.records[..], [Err(reject)] if reject.kind == RejectKind::InvalidUtf8)
    );
    let not_json = parse_line(Some(Format::Litellm), b"{nope", &ctx);
    assert_eq!(not_json.format_opt, Some(Format::Litellm));
    assert!(matches!(&not_json.records[..], [Err(reject)] if reject.kind == RejectKind::NotJson));
    let line = serde_json::to_vec(&litellm_payload()).unwrap();
    let detected = parse_line(None, &line, &ctx);
    assert_eq!(detected.format_opt, Some(Format::Litellm));
    assert!(matches!(&detected.records[..], [Ok(Record::Request(_))]));
}

#[test]
fn a_litellm_payload_maps_every_contract_field() {
    let request = one_request(Format::Litellm, &litellm_payload());
    assert_eq!(request.request_id, "chatcmpl-1");
    assert_eq!(request.ts, at(6, 0) + chrono::Duration::milliseconds(250));
    assert_eq!(request.tenant_id, "acme");
    assert_eq!(request.arm, Arm::Canary);
    assert_eq!(request.model, "support-bot@v42");
    assert_eq!(request.rollout_id.as_deref(), Some("r1"));
    assert_eq!(
        request.input,
        r#"[{"content":"How do I reset my password?","role":"user"}]"#
    );
    assert_eq!(request.output, "Settings > Security.");
    assert_eq!(request.latency_ms, Some(812.0));
    assert_eq!(request.ttft_ms, Some(250.0));
    assert_eq!(
        (request.prompt_tokens, request.completion_tokens),
        (Some(12), Some(7))
    );
    assert_eq!(request.cost_usd, Some(0.00021));
    assert_eq!(request.status, RequestStatus::Ok);
    assert_eq!(request.metadata["flag"], json!("support-bot"));
    assert_eq!(request.metadata["source"], json!("litellm"));
}

#[test]
fn a_row_without_an_arm_is_placed_by_its_served_model_after_the_rollout_started() {
    let mut payload = litellm_payload();
    payload["metadata"] = json!({});
    let request = one_request(Format::Litellm, &payload);
    assert_eq!(request.arm, Arm::Canary, "support-bot@v42 is r1's canary");

    payload["model_group"] = json!("support-bot@v41");
    assert_eq!(one_request(Format::Litellm, &payload).arm, Arm::Baseline);

    payload["startTime"] = json!(1795665600.0); // 04:00, before r1 started
    let reject = one_reject(Format::Litellm, &payload, &rollout_arms());
    assert_eq!(reject.kind, RejectKind::MissingField);
    assert!(
        reject.reason.starts_with("litellm: no `arm` logged"),
        "{}",
        reject.reason
    );
    assert!(reject.reason.contains("evalgate_arm"), "{}", reject.reason);
}

#[test]
fn the_evalgate_format_places_arm_less_rows_too() {
    let row = json!({"request_id": "e1", "ts": "2026-11-26T06:00:00Z", "tenant_id": "t",
                     "model": "support-bot@v41", "input": "q", "output": "a"});
    assert_eq!(one_request(Format::Evalgate, &row).arm, Arm::Baseline);
    let reject = one_reject(Format::Evalgate, &row, &ModelArms::default());
    assert_eq!(reject.kind, RejectKind::MissingField);
    assert!(
        reject.reason.contains("no rollout has been started"),
        "{}",
        reject.reason
    );
}

#[test]
fn feedback_rows_load_whatever_the_format() {
    let row = json!({"type": "feedback", "request_id": "chatcmpl-1", "kind": "thumbs", "value": 1,
                     "at": "2026-11-26T06:05:00Z"});
    for format in Format::ALL {
        let records = parse_with(format, &row, &ModelArms::default());
        assert!(
            matches!(&records[..], [Ok(Record::Feedback(_))]),
            "{format}: {records:?}"
        );
    }
}

#[test]
fn the_evalgate_format_reads_the_hook_keys_in_metadata() {
    let row = json!({"request_id": "e2", "ts": "2026-11-26T06:00:00Z", "model": "m", "input": "q",
        "metadata": {"evalgate_tenant": "hooli", "evalgate_arm": "canary", "evalgate_rollout_id": "r2"}});
    let request = one_request(Format::Evalgate, &row);
    assert_eq!(
        (request.tenant_id.as_str(), request.arm),
        ("hooli", Arm::Canary)
    );
    assert_eq!(request.rollout_id.as_deref(), Some("r2"));
}
