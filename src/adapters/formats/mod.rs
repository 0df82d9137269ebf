//! The log formats `evalgate ingest` (and the HTTP push endpoint) read: evalgate's own contract
//! and what common gateways and tracers write — LiteLLM (spend-log rows and callback payloads),
//! Langfuse observations, Helicone requests, OpenTelemetry GenAI spans (OTLP/JSON) and OpenAI
//! batch output / stored completions. Each source file maps its documented fields onto the
//! contract row and rejects what it cannot map with a reason naming the source's field and how
//! to supply it; [`detect`] tells the formats apart for `--format auto`.
//!
//! No I/O: callers hand in bytes or a parsed document and the rollouts' [`ModelArms`], which
//! places a row that carries no arm by its served model.

mod content;
mod doc;
pub mod evalgate;
mod helicone;
mod langfuse;
mod litellm;
mod mapped;
mod openai;
mod otel;
mod record_checks;
pub mod reject;
pub mod time;

use serde::Serialize;
use serde_json::{Map, Value};

pub use record_checks::check_record;
pub use reject::{ParseLimits, Record, Reject, RejectKind};

use crate::logic::attribution::ModelArms;

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// evalgate's own contract (README "Log contract").
    Evalgate,
    /// LiteLLM: a `LiteLLM_SpendLogs` row or a `StandardLoggingPayload`.
    Litellm,
    /// Langfuse: an observation (ClickHouse export row or public API item, or an API page).
    Langfuse,
    /// Helicone: an export / API request, or a `request_response_rmt` row.
    Helicone,
    /// OpenTelemetry: one OTLP/JSON `ExportTraceServiceRequest`, one request per GenAI span.
    Otel,
    /// OpenAI: a batch output line or a stored chat completion (or a list of them).
    Openai,
}

impl Format {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [Format; 6] = [
        Format::Evalgate,
        Format::Litellm,
        Format::Langfuse,
        Format::Helicone,
        Format::Otel,
        Format::Openai,
    ];

    /// The format named `name` (as `--format` spells it).
    pub fn parse(name: &str) -> Option<Format> {
        let name = name.trim();
        Format::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name))
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evalgate => "evalgate",
            Format::Litellm => "litellm",
            Format::Langfuse => "langfuse",
            Format::Helicone => "helicone",
            Format::Otel => "otel",
            Format::Openai => "openai",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What parsing needs besides the document.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// Field size limits.
    pub limits: ParseLimits,
    /// The rollouts' served models, to place rows that carry no arm.
    pub arms: &'a ModelArms,
}

/// One line's outcome: the format it was read as (None when it could not be told) and its
/// records, each accepted or rejected, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// The format used (the given one, or the detected one).
    pub format_opt: Option<Format>,
    /// The records, in order (an OTLP document without GenAI spans has none).
    pub records: Vec<Result<Record, Reject>>,
}

/// One JSON document of `format` (an object: one JSONL line, one LiteLLM payload, one OTLP
/// ExportTraceServiceRequest) → its records, each accepted or rejected, in order. Outside the
/// evalgate format a JSON array is read element by element (LiteLLM's generic API logger sends
/// `log_format: json_array` batches). A record with a NUL character in a text field
/// (`nul_character`) or an out-of-range measurement is rejected, so both backends load the same
/// rows (`record_checks`).
pub fn parse_value(
    format: Format,
    value: &serde_json::Value,
    ctx: &ParseContext,
) -> Vec<Result<Record, Reject>> {
    parse_value_unchecked(format, value, ctx)
        .into_iter()
        .map(|result| result.and_then(record_checks::check_record))
        .collect()
}

fn parse_value_unchecked(
    format: Format,
    value: &serde_json::Value,
    ctx: &ParseContext,
) -> Vec<Result<Record, Reject>> {
    let object = match value {
        Value::Object(object) => object,
        Value::Array(items) if format != Format::Evalgate => {
            return items
                .iter()
                .flat_map(|item| parse_value_unchecked(format, item, ctx))
                .collect();
        }
        other => return vec![Err(not_an_object(other))],
    };
    let is_feedback = object.get("type").and_then(Value::as_str) == Some("feedback");
    if is_feedback && format != Format::Evalgate {
        return vec![evalgate::feedback(object, ctx)];
    }
    match format {
        Format::Evalgate => vec![evalgate::parse(object, ctx)],
        Format::Litellm => vec![litellm::parse(object, ctx)],
        Format::Langfuse => each_item(object, ctx, langfuse::parse),
        Format::Helicone => vec![helicone::parse(object, ctx)],
        Format::Otel => otel::parse(object, ctx),
        Format::Openai => each_item(object, ctx, openai::parse),
    }
}

/// A list page (`{"data": [...]}`: Langfuse `GET /api/public/observations`, OpenAI `GET
/// /v1/chat/completions`) → one record per item; any other object → one record.
fn each_item(
    object: &Map<String, Value>,
    ctx: &ParseContext,
    parse_one: fn(&Map<String, Value>, &ParseContext) -> Result<Record, Reject>,
) -> Vec<Result<Record, Reject>> {
    let Some(Value::Array(items)) = object.get("data") else {
        return vec![parse_one(object, ctx)];
    };
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(inner) => records.push(parse_one(inner, ctx)),
            other => records.push(Err(not_an_object(other))),
        }
    }
    records
}

fn not_an_object(value: &Value) -> Reject {
    Reject::new(
        RejectKind::NotAnObject,
        format!("expected a json object, got {}", reject::type_name(value)),
    )
}

/// Which format a document is (for `--format auto`); a reject saying why none matched.
pub fn detect(value: &serde_json::Value) -> Result<Format, Reject> {
    let object = match value {
        Value::Object(object) => object,
        Value::Array(items) => {
            return match items.first().map(detect) {
                Some(Ok(Format::Evalgate)) | None => Err(not_an_object(value)),
                Some(detected) => detected,
            };
        }
        other => return Err(not_an_object(other)),
    };
    let has = |key: &str| object.contains_key(key);
    if has("resourceSpans") {
        return Ok(Format::Otel);
    }
    if let Some(Value::String(kind)) = object.get("type")
        && (kind == "feedback" || kind == "request")
    {
        return Ok(Format::Evalgate);
    }
    if let Some(Value::Array(items)) = object.get("data")
        && let Some(first) = items.first()
    {
        return detect(first);
    }
    if has("request_created_at") || has("helicone_user") {
        return Ok(Format::Helicone);
    }
    let langfuse = (has("traceId") || has("trace_id"))
        && (has("startTime") || has("start_time"))
        && (has("type") || has("provided_model_name") || has("usageDetails"))
        && !has("call_type");
    if langfuse {
        return Ok(Format::Langfuse);
    }
    if has("call_type") || has("response_cost") || (has("spend") && has("startTime")) {
        return Ok(Format::Litellm);
    }
    let evalgate_marker = ["ts", "tenant_id", "input", "input_json", "arm", "kind"];
    if evalgate_marker.iter().any(|key| has(key)) {
        return Ok(Format::Evalgate);
    }
    let batch_output = has("custom_id")
        && object
            .get("response")
            .and_then(|inner| inner.get("status_code"))
            .is_some();
    let chat_completion = object.get("object").and_then(Value::as_str) == Some("chat.completion");
    if batch_output || chat_completion {
        return Ok(Format::Openai);
    }
    if (has("request_id") || has("custom_id")) && (has("request") || has("response")) {
        return Ok(Format::Evalgate);
    }
    Err(Reject::new(
        RejectKind::UnknownFormat,
        "cannot tell which format this line is: it has none of the marker fields \
         (evalgate `ts`/`tenant_id`/`input`, LiteLLM `call_type`/`response_cost`, Langfuse \
         `traceId`+`startTime`+`type`, Helicone `request_created_at`, OTLP `resourceSpans`, \
         OpenAI `custom_id`+`response.status_code` or `\"object\": \"chat.completion\"`); \
         pass --format",
    ))
}

/// One line's bytes: utf-8 + json checks, then detect when `format_opt` is None, then
/// parse_value.
pub fn parse_line(format_opt: Option<Format>, bytes: &[u8], ctx: &ParseContext) -> ParsedLine {
    let failed = |reject: Reject| ParsedLine {
        format_opt,
        records: vec![Err(reject)],
    };
    // simdutf8 validates ~10× faster than std on non-ASCII text (a third of `evals run`'s
    // parse time); std is asked again only to say where a bad line goes wrong.
    let text = match simdutf8::basic::from_utf8(bytes).or_else(|_| std::str::from_utf8(bytes)) {
        Ok(text) => text,
        Err(err) => {
            return failed(Reject::new(
                RejectKind::InvalidUtf8,
                format!("invalid utf-8 at byte {}", err.valid_up_to()),
            ));
        }
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) if text.starts_with('\u{feff}') => {
            return failed(Reject::new(
                RejectKind::NotJson,
                format!(
                    "not json: the line starts with a UTF-8 byte-order mark (U+FEFF), accepted \
                     only at the start of a file; remove it ({err})"
                ),
            ));
        }
        Err(err) => return failed(Reject::new(RejectKind::NotJson, format!("not json: {err}"))),
    };
    let format = match format_opt {
        Some(format) => format,
        None => match detect(&value) {
            Ok(format) => format,
            Err(reject) => return failed(reject),
        },
    };
    ParsedLine {
        format_opt: Some(format),
        records: parse_value(format, &value, ctx),
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;

#[cfg(test)]
mod sources_tests;
