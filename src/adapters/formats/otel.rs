//! The `otel` format: one OTLP/JSON `ExportTraceServiceRequest` per line (what the collector's
//! file exporter writes) → one request per GenAI inference span, by the OpenTelemetry GenAI
//! semantic conventions: `gen_ai.operation.name` `chat` / `text_completion` /
//! `generate_content` (or, without an operation name, any `gen_ai.request.model` /
//! `gen_ai.response.model` / `gen_ai.system` / `gen_ai.provider.name`). Other spans (HTTP,
//! embeddings, tools, agents) yield no record and are not rejects.
//!
//! Content comes from `gen_ai.input.messages` / `gen_ai.output.messages` (JSON text or
//! structured values), the older indexed `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`
//! attributes, or the span events `gen_ai.content.prompt` / `gen_ai.content.completion`
//! (attributes `gen_ai.prompt` / `gen_ai.completion`). Attributes are looked up on the span,
//! then on its resource. Times are epoch nanoseconds (`startTimeUnixNano`, string or integer);
//! status code `ERROR` makes an error row.

use serde_json::{Map, Value};

use super::ParseContext;
use super::content::decode_embedded;
use super::doc::{Doc, Spec};
use super::mapped::{CoreSpecs, Mapped, metadata};
use super::reject::{Record, Reject, RejectKind};
use super::time::{millis_between, parse_epoch_nanos};

const SOURCE: &str = "otel";

/// The semantic conventions' inference operations, and the call types LiteLLM's `otel`
/// callback writes there by default (`acompletion`, …).
const INFERENCE_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "acompletion",
    "completion",
    "atext_completion",
];
const GENAI_MARKERS: &[&str] = &[
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.provider.name",
];
/// Attributes that may hold JSON as text.
const CONTENT_KEYS: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.content.prompt",
    "gen_ai.content.completion",
];
/// Synthetic keys for the indexed attributes, named as reasons show them.
const INDEXED_PROMPT: &str = "gen_ai.prompt.N.content";
const INDEXED_COMPLETION: &str = "gen_ai.completion.N.content";

const ID: Spec = Spec {
    field: "request id",
    meta_keys: &[],
    // `gen_ai.response.id` is what LiteLLM's generic logger calls `id` (the call id on a
    // failure), so one request has one id whichever path logged it.
    native: &[
        "evalgate.request_id",
        "gen_ai.response.id",
        "litellm.call_id",
        "spanId",
    ],
    how: "OTLP spans carry `spanId`",
};
const TENANT: Spec = Spec {
    field: "tenant",
    meta_keys: &[],
    native: &[
        "evalgate.tenant",
        "evalgate_tenant",
        "litellm.metadata.evalgate_tenant",
        "tenant_id",
        "tenant.id",
        "gen_ai.request.user",
        "user.id",
        "enduser.id",
        "llm.user",
        "metadata.user_api_key_end_user_id",
    ],
    how: "set span or resource attribute `evalgate.tenant` (or `user.id`)",
};
// LiteLLM's `otel` callback writes request metadata keys listed in its
// `baggage_metadata_keys` as `litellm.metadata.<key>` (integrations/litellm/loop/config.otel.yaml).
const ARM: Spec = Spec::native(
    "arm",
    &[
        "evalgate.arm",
        "evalgate_arm",
        "litellm.metadata.evalgate_arm",
        "arm",
    ],
);
const ROLLOUT: Spec = Spec::native(
    "rollout",
    &[
        "evalgate.rollout_id",
        "evalgate_rollout_id",
        "litellm.metadata.evalgate_rollout_id",
        "rollout_id",
    ],
);
const FLAG: Spec = Spec::native(
    "flag",
    &[
        "evalgate.flag",
        "evalgate_flag",
        "litellm.metadata.evalgate_flag",
    ],
);
const MODEL: Spec = Spec {
    field: "model",
    meta_keys: &[],
    // LiteLLM's `gen_ai.request.model` is the deployment; the served model group (what a
    // rollout names) is `litellm.model_group`.
    native: &[
        "litellm.model_group",
        "gen_ai.request.model",
        "gen_ai.response.model",
    ],
    how: "set `gen_ai.request.model` on the span",
};
const INPUT: Spec = Spec {
    field: "input",
    meta_keys: &[],
    native: &[
        "gen_ai.input.messages",
        "gen_ai.prompt",
        INDEXED_PROMPT,
        "gen_ai.content.prompt",
    ],
    how: "the instrumentation records no content by default: enable it (e.g. \
          OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true); `gen_ai.content.prompt` is \
          the span event of that name",
};
const OUTPUT: Spec = Spec::native(
    "output",
    &[
        "gen_ai.output.messages",
        "gen_ai.completion",
        INDEXED_COMPLETION,
        "gen_ai.content.completion",
    ],
);
const PROMPT_TOKENS: Spec = Spec::native(
    "input tokens",
    &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
);
const COMPLETION_TOKENS: Spec = Spec::native(
    "output tokens",
    &[
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
    ],
);
const TTFT_SECONDS: Spec = Spec::native(
    "time to first token",
    &["gen_ai.server.time_to_first_token"],
);
/// Not a semantic-convention attribute; LiteLLM writes it.
const COST: Spec = Spec::native("cost", &["gen_ai.cost.total_cost"]);
const ERROR_TYPE: Spec = Spec::native("error type", &["error.type"]);

const ARM_HINT: &str = "span or resource attribute `evalgate.arm`";

/// The fields read the same way in every source, from this source's paths.
const CORE: CoreSpecs = CoreSpecs {
    id: &ID,
    tenant: &TENANT,
    arm: &ARM,
    model: &MODEL,
    rollout: &ROLLOUT,
    input: &INPUT,
    output: &OUTPUT,
};

/// Every GenAI span of one ExportTraceServiceRequest, in document order.
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Vec<Result<Record, Reject>> {
    let Some(Value::Array(resource_spans)) = object.get("resourceSpans") else {
        let reject = Reject::new(
            RejectKind::MissingField,
            "otel: no `resourceSpans` array: expected one OTLP/JSON ExportTraceServiceRequest \
             per line",
        );
        return vec![Err(reject)];
    };
    let mut records = Vec::new();
    for resource_span in resource_spans {
        let resource = attributes(
            resource_span
                .get("resource")
                .and_then(|r| r.get("attributes")),
        );
        let scopes = resource_span
            .get("scopeSpans")
            .or_else(|| resource_span.get("instrumentationLibrarySpans"))
            .and_then(Value::as_array);
        for scope in scopes.into_iter().flatten() {
            let spans = scope.get("spans").and_then(Value::as_array);
            for span in spans.into_iter().flatten() {
                if let Some(result) = parse_span(span, &resource, ctx) {
                    records.push(result);
                }
            }
        }
    }
    records
}

/// One span → None when it is not a GenAI inference span.
fn parse_span(
    span: &Value,
    resource: &Map<String, Value>,
    ctx: &ParseContext,
) -> Option<Result<Record, Reject>> {
    let own = attributes(span.get("attributes"));
    if !is_inference(&own) {
        return None;
    }
    let mut flat = resource.clone();
    flat.extend(own);
    add_span_fields(&mut flat, span);
    for key in CONTENT_KEYS {
        if let Some(value) = flat.get_mut(*key) {
            decode_embedded(value, 0);
        }
    }
    let doc = Doc::flat(SOURCE, flat, ctx.limits);
    Some(map_span(&doc, span, ctx).map(|request| Record::Request(Box::new(request))))
}

fn is_inference(own: &Map<String, Value>) -> bool {
    match own.get("gen_ai.operation.name").and_then(Value::as_str) {
        Some(operation) => INFERENCE_OPERATIONS.contains(&operation),
        None => GENAI_MARKERS.iter().any(|key| own.contains_key(*key)),
    }
}

fn map_span(doc: &Doc, span: &Value, ctx: &ParseContext) -> Result<crate::domain::Request, Reject> {
    let ts = span_time(doc, span, "startTimeUnixNano")?.ok_or_else(|| {
        doc.reject(
            RejectKind::MissingField,
            "no `startTimeUnixNano` on the span",
        )
    })?;
    let end_opt = span_time(doc, span, "endTimeUnixNano")?;
    let error = error_text(doc, span)?;
    let mut mapped = Mapped::core(doc, &CORE, ts, error)?;
    mapped.latency_ms = end_opt.and_then(|end| millis_between(ts, end));
    mapped.ttft_ms = doc.number(&TTFT_SECONDS)?.map(|secs| secs * 1000.0);
    mapped.prompt_tokens = doc.count(&PROMPT_TOKENS)?;
    mapped.completion_tokens = doc.count(&COMPLETION_TOKENS)?;
    mapped.cost_usd = doc.number(&COST)?;
    mapped.metadata = metadata(
        SOURCE,
        &[
            ("flag", doc.string(&FLAG)?),
            ("trace_id", text_field(span, "traceId")),
            ("span_id", text_field(span, "spanId")),
        ],
    );
    mapped.finish(doc, ctx, ARM_HINT)
}

fn text_field(span: &Value, key: &str) -> Option<String> {
    span.get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

fn span_time(
    doc: &Doc,
    span: &Value,
    key: &str,
) -> Result<Option<crate::domain::Timestamp>, Reject> {
    let Some(value) = span.get(key).filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    parse_epoch_nanos(value)
        .map(Some)
        .map_err(|what| doc.reject(RejectKind::BadTimestamp, format_args!("`{key}` {what}")))
}

/// Status `ERROR` (code 2, or `STATUS_CODE_ERROR`) → its message, else `error.type`.
fn error_text(doc: &Doc, span: &Value) -> Result<Option<String>, Reject> {
    let status = span.get("status");
    let code = status.and_then(|status| status.get("code"));
    let is_error = match code {
        Some(Value::Number(number)) => number.as_i64() == Some(2),
        Some(Value::String(name)) => name == "STATUS_CODE_ERROR" || name == "2",
        _ => false,
    };
    if !is_error {
        return Ok(None);
    }
    let message = status
        .and_then(|status| status.get("message"))
        .and_then(Value::as_str)
        .filter(|message| !message.trim().is_empty())
        .map(str::to_string);
    let text = match message {
        Some(message) => message,
        None => doc
            .string(&ERROR_TYPE)?
            .unwrap_or_else(|| "span status ERROR".to_string()),
    };
    Ok(Some(text))
}

/// `spanId`, the indexed prompt/completion attributes as message lists, and the content events.
fn add_span_fields(flat: &mut Map<String, Value>, span: &Value) {
    if let Some(span_id) = text_field(span, "spanId") {
        flat.insert("spanId".to_string(), Value::String(span_id));
    }
    if let Some(messages) = indexed_messages(flat, "gen_ai.prompt") {
        flat.insert(INDEXED_PROMPT.to_string(), messages);
    }
    if let Some(messages) = indexed_messages(flat, "gen_ai.completion") {
        flat.insert(INDEXED_COMPLETION.to_string(), messages);
    }
    let events = span.get("events").and_then(Value::as_array);
    for event in events.into_iter().flatten() {
        let name = event
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let attribute = match name {
            "gen_ai.content.prompt" => "gen_ai.prompt",
            "gen_ai.content.completion" => "gen_ai.completion",
            _ => continue,
        };
        let event_attributes = attributes(event.get("attributes"));
        if let Some(value) = event_attributes.get(attribute) {
            flat.insert(name.to_string(), value.clone());
        }
    }
}

/// `PREFIX.0.role`, `PREFIX.0.content`, `PREFIX.1.…` → `[{"role", "content"}, …]`.
fn indexed_messages(flat: &Map<String, Value>, prefix: &str) -> Option<Value> {
    let mut messages = Vec::new();
    for index in 0..1000 {
        let role = flat.get(&format!("{prefix}.{index}.role"));
        let content = flat.get(&format!("{prefix}.{index}.content"));
        if role.is_none() && content.is_none() {
            break;
        }
        let mut message = Map::new();
        if let Some(role) = role {
            message.insert("role".to_string(), role.clone());
        }
        if let Some(content) = content {
            message.insert("content".to_string(), content.clone());
        }
        messages.push(Value::Object(message));
    }
    (!messages.is_empty()).then_some(Value::Array(messages))
}

/// An OTLP `KeyValue` list → a map of plain JSON values.
fn attributes(list_opt: Option<&Value>) -> Map<String, Value> {
    let mut map = Map::new();
    let Some(Value::Array(list)) = list_opt else {
        return map;
    };
    for entry in list {
        let Some(key) = entry.get("key").and_then(Value::as_str) else {
            continue;
        };
        let value = entry.get("value").map(any_value).unwrap_or(Value::Null);
        map.insert(key.to_string(), value);
    }
    map
}

/// An OTLP `AnyValue` → JSON (`intValue` as a number when it fits, `kvlistValue` as an object).
fn any_value(value: &Value) -> Value {
    let Value::Object(variant) = value else {
        return Value::Null;
    };
    if let Some(int) = variant.get("intValue") {
        return match int {
            Value::String(text) => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| int.clone()),
            other => other.clone(),
        };
    }
    if let Some(Value::Object(array)) = variant.get("arrayValue") {
        let items = array.get("values").and_then(Value::as_array);
        return Value::Array(items.into_iter().flatten().map(any_value).collect());
    }
    if let Some(Value::Object(kvlist)) = variant.get("kvlistValue") {
        return Value::Object(attributes(kvlist.get("values")));
    }
    for key in ["stringValue", "boolValue", "doubleValue", "bytesValue"] {
        if let Some(inner) = variant.get(key) {
            return inner.clone();
        }
    }
    Value::Null
}
