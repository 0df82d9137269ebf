//! Unit tests of the Langfuse, Helicone, OpenTelemetry and OpenAI mappings.

use serde_json::json;

use super::test_support::*;
use super::*;
use crate::domain::{Arm, RequestStatus};

#[test]
fn a_langfuse_clickhouse_row_decodes_its_json_text_columns() {
    let row = json!({
        "id": "obs-1", "trace_id": "tr-1", "type": "GENERATION",
        "start_time": "2026-11-26 06:00:00.000", "end_time": "2026-11-26 06:00:00.640",
        "completion_start_time": "2026-11-26 06:00:00.120", "provided_model_name": "support-bot@v41",
        "input": "[{\"role\":\"user\",\"content\":\"hi\"}]", "output": "{\"role\":\"assistant\",\"content\":\"hello\"}",
        "metadata": {"evalgate_tenant": "globex", "evalgate_arm": "baseline"},
        "usage_details": {"input": "5", "output": "2", "total": "7"}, "cost_details": {"total": 0.00002},
        "level": "DEFAULT", "is_deleted": 0
    });
    let request = one_request(Format::Langfuse, &row);
    assert_eq!(request.tenant_id, "globex");
    assert_eq!(request.arm, Arm::Baseline);
    assert_eq!(request.input, r#"[{"content":"hi","role":"user"}]"#);
    assert_eq!(request.output, "hello");
    assert_eq!(
        (request.prompt_tokens, request.completion_tokens),
        (Some(5), Some(2))
    );
    assert_eq!(request.latency_ms, Some(640.0));
    assert_eq!(request.ttft_ms, Some(120.0));
}

#[test]
fn langfuse_spans_are_rejected_and_a_page_is_read_item_by_item() {
    let generation = json!({"id": "o1", "traceId": "t1", "type": "GENERATION",
        "startTime": "2026-11-26T06:00:00.000Z", "model": "support-bot@v42", "input": "q",
        "output": "a", "metadata": {"evalgate_tenant": "t"}, "latency": 1.5, "timeToFirstToken": 0.3});
    let span =
        json!({"id": "o2", "traceId": "t1", "type": "SPAN", "startTime": "2026-11-26T06:00:00Z"});
    let page = json!({"data": [generation, span], "meta": {"page": 1}});
    let records = parse_with(Format::Langfuse, &page, &rollout_arms());
    assert_eq!(records.len(), 2);
    let Ok(Record::Request(request)) = &records[0] else {
        panic!("{records:?}");
    };
    assert_eq!(
        (request.latency_ms, request.ttft_ms),
        (Some(1500.0), Some(300.0))
    );
    assert!(matches!(&records[1], Err(reject) if reject.reason.contains("`type` is `SPAN`")));
}

#[test]
fn helicone_cost_is_usd_in_exports_and_nano_usd_in_the_table() {
    let export = json!({"request_id": "h1", "request_created_at": "2026-11-26 06:00:00.000",
        "request_user_id": "acme", "request_model": "support-bot@v42", "response_status": 200,
        "delay_ms": 700, "cost": 0.00042, "request_properties": {"Evalgate-Arm": "canary"},
        "request_body": {"messages": [{"role": "user", "content": "q"}]},
        "response_body": {"choices": [{"message": {"content": "a"}}]}});
    let request = one_request(Format::Helicone, &export);
    assert_eq!(request.cost_usd, Some(0.00042));
    assert_eq!(request.arm, Arm::Canary, "Helicone-Property-Evalgate-Arm");
    assert_eq!(request.latency_ms, Some(700.0));

    let table_row = json!({"request_id": "h2", "request_created_at": "2026-11-26 06:00:00.000",
        "user_id": "acme", "model": "support-bot@v42", "status": 500, "latency": 90,
        "cost": "420000", "properties": {"evalgate_arm": "canary"},
        "request_body": "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}",
        "response_body": "{\"error\":{\"message\":\"upstream overloaded\"}}"});
    let request = one_request(Format::Helicone, &table_row);
    assert_eq!(request.cost_usd, Some(0.00042));
    assert_eq!(request.status, RequestStatus::Error);
    assert_eq!(request.error.as_deref(), Some("upstream overloaded"));
}

#[test]
fn an_otlp_document_yields_one_request_per_genai_span_and_skips_the_rest() {
    let chat = otlp_span(
        json!([
            attr("gen_ai.operation.name", json!({"stringValue": "chat"})),
            attr(
                "gen_ai.request.model",
                json!({"stringValue": "support-bot@v42"})
            ),
            attr("gen_ai.response.id", json!({"stringValue": "chatcmpl-9"})),
            attr("gen_ai.usage.input_tokens", json!({"intValue": "21"})),
            attr("gen_ai.usage.output_tokens", json!({"intValue": 11})),
            attr(
                "gen_ai.input.messages",
                json!({"stringValue": "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]"})
            ),
            attr(
                "gen_ai.output.messages",
                json!({"stringValue": "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hello\"}],\"finish_reason\":\"stop\"}]"})
            ),
        ]),
        json!(0),
    );
    let http = otlp_span(
        json!([attr("http.request.method", json!({"stringValue": "POST"}))]),
        json!(0),
    );
    let document = json!({"resourceSpans": [{
        "resource": {"attributes": [attr("evalgate.tenant", json!({"stringValue": "initech"}))]},
        "scopeSpans": [{"scope": {"name": "openai"}, "spans": [http, chat]}]}]});
    let records = parse_with(Format::Otel, &document, &rollout_arms());
    assert_eq!(records.len(), 1, "the HTTP span yields nothing");
    let Ok(Record::Request(request)) = &records[0] else {
        panic!("{records:?}");
    };
    assert_eq!(request.request_id, "chatcmpl-9");
    assert_eq!(request.tenant_id, "initech", "from the resource");
    assert_eq!(request.arm, Arm::Canary, "placed by its model");
    assert_eq!(request.input, r#"[{"content":"hi","role":"user"}]"#);
    assert_eq!(request.output, "hello");
    assert_eq!(request.latency_ms, Some(900.0));
    assert_eq!(
        (request.prompt_tokens, request.completion_tokens),
        (Some(21), Some(11))
    );

    let no_genai = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        otlp_span(json!([]), json!(0))]}]}]});
    assert!(parse_with(Format::Otel, &no_genai, &rollout_arms()).is_empty());
}

#[test]
fn an_otlp_error_span_with_indexed_prompt_attributes_is_an_error_row() {
    let span = otlp_span(
        json!([
            attr("gen_ai.system", json!({"stringValue": "openai"})),
            attr(
                "gen_ai.request.model",
                json!({"stringValue": "support-bot@v41"})
            ),
            attr("gen_ai.prompt.0.role", json!({"stringValue": "user"})),
            attr("gen_ai.prompt.0.content", json!({"stringValue": "q"})),
            attr("user.id", json!({"stringValue": "hooli"})),
            attr("error.type", json!({"stringValue": "RateLimitError"})),
        ]),
        json!("STATUS_CODE_ERROR"),
    );
    let document = json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]});
    let records = parse_with(Format::Otel, &document, &rollout_arms());
    let Ok(Record::Request(request)) = &records[0] else {
        panic!("{records:?}");
    };
    assert_eq!(
        request.request_id, "eee19b7ec3c1b174",
        "the span id when no response id"
    );
    assert_eq!(request.status, RequestStatus::Error);
    assert_eq!(request.error.as_deref(), Some("RateLimitError"));
    assert_eq!(request.input, r#"[{"content":"q","role":"user"}]"#);
}

#[test]
fn an_openai_batch_line_needs_its_request_joined() {
    let line = json!({"id": "batch_req_1", "custom_id": "req-7",
        "response": {"status_code": 200, "request_id": "r", "body": {"id": "chatcmpl-7",
            "created": 1795672800, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}}, "error": null});
    let reject = one_reject(Format::Openai, &line, &rollout_arms());
    assert_eq!(reject.kind, RejectKind::MissingField);
    assert!(
        reject.reason.starts_with("openai: no tenant"),
        "{}",
        reject.reason
    );

    let mut joined = line.clone();
    joined["request"] = json!({"custom_id": "req-7", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "support-bot@v42", "user": "acme", "messages": [{"role": "user", "content": "q"}]}});
    let request = one_request(Format::Openai, &joined);
    assert_eq!(request.request_id, "req-7");
    assert_eq!(request.model, "support-bot@v42");
    assert_eq!(request.ts, at(6, 0));
    assert_eq!(request.output, "ok");
}

#[test]
fn plain_arm_tenant_and_rollout_keys_are_read_as_well_as_evalgates() {
    let row = json!({"id": "o9", "traceId": "t9", "type": "GENERATION",
        "startTime": "2026-11-26T06:00:00Z", "model": "support-bot@v42", "input": "q", "output": "a",
        "metadata": {"arm": "baseline", "tenant_id": "stark", "rollout_id": "r7"}});
    let request = one_request(Format::Langfuse, &row);
    assert_eq!(
        request.arm,
        Arm::Baseline,
        "a logged arm wins over the served model"
    );
    assert_eq!(request.tenant_id, "stark");
    assert_eq!(request.rollout_id.as_deref(), Some("r7"));
}

#[test]
fn otel_reads_evalgate_ids_plain_prompt_attributes_and_skips_tools_and_agents() {
    let chat = otlp_span(
        json!([
            attr(
                "gen_ai.operation.name",
                json!({"stringValue": "text_completion"})
            ),
            attr(
                "gen_ai.request.model",
                json!({"stringValue": "support-bot@v41"})
            ),
            attr("evalgate.request_id", json!({"stringValue": "req-42"})),
            attr("tenant_id", json!({"stringValue": "globex"})),
            attr("evalgate.rollout_id", json!({"stringValue": "r1"})),
            attr("gen_ai.prompt", json!({"stringValue": "Translate: hello"})),
            attr("gen_ai.completion", json!({"stringValue": "bonjour"})),
            attr(
                "gen_ai.server.time_to_first_token",
                json!({"doubleValue": 0.25})
            ),
        ]),
        json!(1),
    );
    let mut spans = vec![chat];
    for operation in ["execute_tool", "invoke_agent", "embeddings"] {
        spans.push(otlp_span(
            json!([
                attr("gen_ai.operation.name", json!({"stringValue": operation})),
                attr(
                    "gen_ai.request.model",
                    json!({"stringValue": "support-bot@v41"})
                ),
            ]),
            json!(0),
        ));
    }
    let document = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    let records = parse_with(Format::Otel, &document, &rollout_arms());
    assert_eq!(records.len(), 1, "{records:?}");
    let Ok(Record::Request(request)) = &records[0] else {
        panic!("{records:?}");
    };
    assert_eq!(request.request_id, "req-42");
    assert_eq!(
        (request.tenant_id.as_str(), request.arm),
        ("globex", Arm::Baseline)
    );
    assert_eq!(request.rollout_id.as_deref(), Some("r1"));
    assert_eq!(
        (request.input.as_str(), request.output.as_str()),
        ("Translate: hello", "bonjour")
    );
    assert_eq!(request.ttft_ms, Some(250.0));
}

#[test]
fn an_openai_line_may_carry_tenant_arm_and_time_itself() {
    let line = json!({"id": "chatcmpl-5", "object": "chat.completion", "created": 1795672800,
        "model": "gpt-4o-mini", "tenant_id": "umbrella", "arm": "canary", "ts": "2026-11-26T06:30:00Z",
        "messages": [{"role": "user", "content": "q"}],
        "choices": [{"message": {"role": "assistant", "content": "a"}}]});
    let request = one_request(Format::Openai, &line);
    assert_eq!(
        (request.tenant_id.as_str(), request.arm),
        ("umbrella", Arm::Canary)
    );
    assert_eq!(
        request.ts,
        at(6, 30),
        "`ts` on the line wins over `created`"
    );
    assert_eq!(request.output, "a");
}

#[test]
fn a_langfuse_completion_start_at_the_end_is_no_first_token_time() {
    let row = json!({"id": "o3", "traceId": "t3", "type": "GENERATION",
        "startTime": "2026-11-26T06:00:00.000Z", "endTime": "2026-11-26T06:00:00.700Z",
        "completionStartTime": "2026-11-26T06:00:00.700Z", "model": "support-bot@v42",
        "input": "q", "output": "a", "metadata": {"evalgate_tenant": "t"}});
    let request = one_request(Format::Langfuse, &row);
    assert_eq!((request.latency_ms, request.ttft_ms), (Some(700.0), None));
}
