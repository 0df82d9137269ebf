//! Unit tests of the JSONL line parser: every accepted shape and every reject reason.

use chrono::TimeZone;

use super::*;

const LIMITS: ParseLimits = ParseLimits {
    max_field_bytes: 1024,
};

fn parse(line: &str) -> Result<Record, Reject> {
    parse_line(line.as_bytes(), &LIMITS)
}

fn parse_request(line: &str) -> Request {
    match parse(line) {
        Ok(Record::Request(request)) => *request,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn reject_kind(line: &str) -> RejectKind {
    match parse(line) {
        Err(reject) => reject.kind,
        Ok(record) => panic!("expected a reject, got {record:?}"),
    }
}

const FLAT: &str = r#"{"request_id":"req-0001","ts":"2026-11-26T06:00:00Z","tenant_id":"tenant-42","model":"support-bot@v42","arm":"canary","rollout_id":"r1","input_json":[{"role":"user","content":"How do I reset my password?"}],"output_text":"Go to Settings > Security.","status":"ok","latency_ms":812,"prompt_tokens":21,"completion_tokens":11,"cost_usd":0.000135}"#;

#[test]
fn a_flat_row_with_integration_aliases_parses() {
    let request = parse_request(FLAT);
    assert_eq!(request.request_id, "req-0001");
    assert_eq!(
        request.ts,
        Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap()
    );
    assert_eq!(request.arm, Arm::Canary);
    assert_eq!(request.rollout_id.as_deref(), Some("r1"));
    assert_eq!(
        request.input,
        r#"[{"content":"How do I reset my password?","role":"user"}]"#
    );
    assert_eq!(request.output, "Go to Settings > Security.");
    assert_eq!(request.status, RequestStatus::Ok);
    assert_eq!(request.latency_ms, Some(812.0));
    assert_eq!(request.prompt_tokens, Some(21));
    assert_eq!(request.completion_tokens, Some(11));
    assert_eq!(request.cost_usd, Some(0.000135));
    assert_eq!(request.metadata, serde_json::json!({}));
}

#[test]
fn input_may_be_a_string_and_metadata_a_json_string() {
    let request = parse_request(
        r#"{"request_id":"a","ts":"2026-11-26T07:00:00.123456789+02:00","tenant_id":"t","model":"m","arm":"baseline","input":"plain question","output":"answer","metadata_json":"{\"k\":1}"}"#,
    );
    assert_eq!(request.input, "plain question");
    assert_eq!(request.metadata, serde_json::json!({"k": 1}));
    assert_eq!(
        request.ts,
        Utc.with_ymd_and_hms(2026, 11, 26, 5, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456)
    );
}

#[test]
fn a_serialised_request_parses_back_to_itself() {
    let request = parse_request(FLAT);
    let again = parse_request(&request_line(&request));
    assert_eq!(again, request);
}

#[test]
fn a_raw_openai_record_maps_messages_content_usage_and_model() {
    let request = parse_request(
        r#"{"request_id":"raw-1","ts":"2026-11-26T06:00:00Z","tenant_id":"t1","arm":"canary",
            "request":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]},
            "response":{"id":"chatcmpl-1","model":"gpt-4o-mini-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hello"}}],
                        "usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}}"#
            .replace('\n', " ")
            .as_str(),
    );
    assert_eq!(request.model, "gpt-4o-mini");
    assert_eq!(request.input, r#"[{"content":"hi","role":"user"}]"#);
    assert_eq!(request.output, "hello");
    assert_eq!(request.prompt_tokens, Some(5));
    assert_eq!(request.completion_tokens, Some(2));
    assert_eq!(request.status, RequestStatus::Ok);
}

#[test]
fn a_raw_record_takes_tenant_arm_and_time_from_the_bodies() {
    let request = parse_request(
        r#"{"custom_id":"batch-7","request":{"model":"m","user":"tenant-9","metadata":{"arm":"baseline"},"messages":[]},"response":{"body":{"created":1795687200,"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}}}"#,
    );
    assert_eq!(request.request_id, "batch-7");
    assert_eq!(request.tenant_id, "tenant-9");
    assert_eq!(request.arm, Arm::Baseline);
    assert_eq!(request.output, "ok");
    assert_eq!(
        request.ts,
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
    );
}

#[test]
fn an_error_object_makes_an_error_row() {
    let request = parse_request(
        r#"{"request_id":"e1","ts":"2026-11-26T06:00:00Z","tenant_id":"t","arm":"canary","request":{"model":"m","messages":[]},"error":{"code":"rate_limit","message":"too many requests"}}"#,
    );
    assert_eq!(request.status, RequestStatus::Error);
    assert_eq!(request.error.as_deref(), Some("too many requests"));
    assert_eq!(request.output, "");
}

#[test]
fn feedback_rows_parse_with_and_without_a_type() {
    let typed = parse(
        r#"{"type":"feedback","request_id":"r1","kind":"thumbs","value":-1,"at":"2026-11-26T06:10:00Z"}"#,
    );
    let Ok(Record::Feedback(event)) = typed else {
        panic!("expected feedback, got {typed:?}");
    };
    assert_eq!(event.kind, FeedbackKind::Thumbs);
    assert_eq!(event.value, -1.0);

    let untyped = parse(r#"{"request_id":"r1","kind":"regenerate","at":"2026-11-26T06:10:00Z"}"#);
    let Ok(Record::Feedback(event)) = untyped else {
        panic!("expected feedback, got {untyped:?}");
    };
    assert_eq!(event.kind, FeedbackKind::Regenerated);
    assert_eq!(event.value, 1.0);
}

#[test]
fn a_serialised_feedback_event_parses_back_to_itself() {
    let event = FeedbackEvent {
        request_id: "r1".to_string(),
        at: Utc.with_ymd_and_hms(2026, 11, 26, 6, 10, 0).unwrap(),
        kind: FeedbackKind::SessionLength,
        value: 7.0,
    };
    assert_eq!(
        parse(&feedback_line(&event)),
        Ok(Record::Feedback(event.clone()))
    );
}

#[test]
fn bad_feedback_is_rejected_with_the_rule() {
    let unknown_kind =
        r#"{"type":"feedback","request_id":"r1","kind":"clapped","at":"2026-11-26T06:10:00Z"}"#;
    assert_eq!(reject_kind(unknown_kind), RejectKind::BadFeedback);
    let thumbs_without_value =
        r#"{"type":"feedback","request_id":"r1","kind":"thumbs","at":"2026-11-26T06:10:00Z"}"#;
    assert_eq!(reject_kind(thumbs_without_value), RejectKind::BadFeedback);
    let missing_at = r#"{"type":"feedback","request_id":"r1","kind":"thumbs","value":1}"#;
    assert_eq!(reject_kind(missing_at), RejectKind::MissingField);
}

#[test]
fn invalid_utf8_is_rejected_with_its_position() {
    let reject = parse_line(b"{\"request_id\":\"\xff\"}", &LIMITS).unwrap_err();
    assert_eq!(reject.kind, RejectKind::InvalidUtf8);
    assert!(reject.reason.contains("byte 15"), "{}", reject.reason);
}

#[test]
fn non_json_and_non_objects_are_rejected() {
    assert_eq!(reject_kind("not json at all"), RejectKind::NotJson);
    assert_eq!(reject_kind(r#"{"request_id": "#), RejectKind::NotJson);
    assert_eq!(reject_kind("[1, 2, 3]"), RejectKind::NotAnObject);
    assert_eq!(reject_kind("42"), RejectKind::NotAnObject);
}

#[test]
fn missing_or_empty_required_fields_are_named() {
    let no_id = FLAT.replace(r#""request_id":"req-0001","#, "");
    let reject = parse(&no_id).unwrap_err();
    assert_eq!(reject.kind, RejectKind::MissingField);
    assert!(reject.reason.contains("request_id"), "{}", reject.reason);

    let empty_id = FLAT.replace("req-0001", "  ");
    assert_eq!(reject_kind(&empty_id), RejectKind::MissingField);

    for field in [
        r#""tenant_id":"tenant-42","#,
        r#""model":"support-bot@v42","#,
    ] {
        let line = FLAT.replace(field, "");
        assert_eq!(reject_kind(&line), RejectKind::MissingField, "{line}");
    }
    let no_ts = FLAT.replace(r#""ts":"2026-11-26T06:00:00Z","#, "");
    assert_eq!(reject_kind(&no_ts), RejectKind::MissingField);
    let no_arm = FLAT.replace(r#""arm":"canary","#, "");
    assert_eq!(reject_kind(&no_arm), RejectKind::MissingField);
    let no_input = FLAT.replace(
        r#""input_json":[{"role":"user","content":"How do I reset my password?"}],"#,
        "",
    );
    assert_eq!(reject_kind(&no_input), RejectKind::MissingField);
}

#[test]
fn wrong_types_are_rejected_with_the_field_and_the_type() {
    let cases = [
        (
            r#""latency_ms":812"#,
            r#""latency_ms":"fast""#,
            "latency_ms",
        ),
        (
            r#""prompt_tokens":21"#,
            r#""prompt_tokens":2.5"#,
            "prompt_tokens",
        ),
        (r#""cost_usd":0.000135"#, r#""cost_usd":-1"#, "cost_usd"),
        (
            r#""request_id":"req-0001""#,
            r#""request_id":17"#,
            "request_id",
        ),
        (
            r#""output_text":"Go to Settings > Security.""#,
            r#""output_text":[1]"#,
            "output",
        ),
        (
            r#""status":"ok""#,
            r#""status":"ok","metadata":[1]"#,
            "metadata",
        ),
        (
            r#""status":"ok""#,
            r#""status":"ok","type":"audit""#,
            "type",
        ),
    ];
    for (from, to, field) in cases {
        let line = FLAT.replace(from, to);
        let reject = parse(&line).unwrap_err();
        assert_eq!(reject.kind, RejectKind::WrongType, "{line}");
        assert!(reject.reason.contains(field), "{}", reject.reason);
    }
}

#[test]
fn bad_timestamps_are_rejected() {
    for bad in [
        r#""ts":"yesterday""#,
        r#""ts":"2026-11-26T06:00:00""#,
        r#""ts":"2026-13-26T06:00:00Z""#,
        r#""ts":1795687200"#,
    ] {
        let line = FLAT.replace(r#""ts":"2026-11-26T06:00:00Z""#, bad);
        assert_eq!(reject_kind(&line), RejectKind::BadTimestamp, "{line}");
    }
}

#[test]
fn bad_arm_and_status_are_rejected_with_what_is_allowed() {
    let arm = parse(&FLAT.replace(r#""arm":"canary""#, r#""arm":"blue""#)).unwrap_err();
    assert_eq!(arm.kind, RejectKind::BadArm);
    assert!(arm.reason.contains("baseline, canary"), "{}", arm.reason);
    let status = parse(&FLAT.replace(r#""status":"ok""#, r#""status":"200""#)).unwrap_err();
    assert_eq!(status.kind, RejectKind::BadStatus);
    assert!(status.reason.contains("ok, error"), "{}", status.reason);
}

#[test]
fn a_field_over_the_limit_is_rejected_and_one_at_the_limit_is_kept() {
    let at_limit = "x".repeat(LIMITS.max_field_bytes);
    let over = "x".repeat(LIMITS.max_field_bytes + 1);
    let kept = FLAT.replace("Go to Settings > Security.", &at_limit);
    assert_eq!(parse_request(&kept).output.len(), LIMITS.max_field_bytes);
    let line = FLAT.replace("Go to Settings > Security.", &over);
    let reject = parse(&line).unwrap_err();
    assert_eq!(reject.kind, RejectKind::FieldTooLarge);
    assert!(reject.reason.contains("output_text"), "{}", reject.reason);
    assert!(reject.reason.contains("1025 bytes"), "{}", reject.reason);
}
