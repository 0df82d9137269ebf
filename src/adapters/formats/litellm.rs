//! The `litellm` format: a `LiteLLM_SpendLogs` row (`row_to_json` of `litellm/proxy/schema.prisma`
//! `model LiteLLM_SpendLogs`: `startTime` is `timestamp(3)` without an offset, read as UTC) or a
//! `StandardLoggingPayload` (`litellm/types/utils.py`, what callbacks and the generic API logger
//! send: `id`, `startTime` as float epoch seconds). Both share the field names this file reads.
//!
//! evalgate's metadata keys are looked for where LiteLLM keeps request metadata: the chat
//! request's `metadata` becomes `metadata.requester_metadata` in callback payloads and
//! `proxy_server_request.metadata` in spend logs; `metadata.spend_logs_metadata` is what a
//! request (or hook) asks to be written to spend logs; `metadata.user_api_key_metadata` /
//! `user_api_key_auth_metadata` is the virtual key's own metadata.

use serde_json::{Map, Value};

use super::ParseContext;
use super::doc::{ARM, Doc, FLAG, ROLLOUT, Spec};
use super::mapped::{CoreSpecs, Mapped, metadata};
use super::reject::{Record, Reject, RejectKind};
use super::time::millis_between;
use crate::domain::Timestamp;

const SOURCE: &str = "litellm";

const LOCATIONS: &[&str] = &[
    "metadata.requester_metadata",
    "metadata.spend_logs_metadata",
    "proxy_server_request.metadata",
    "metadata.user_api_key_metadata",
    "metadata.user_api_key_auth_metadata",
    "metadata",
];
const EMBEDDED: &[&str] = &[
    "metadata",
    "messages",
    "response",
    "proxy_server_request",
    "error_information",
];

const ID: Spec = Spec {
    field: "request id",
    meta_keys: &[],
    native: &["request_id", "id", "litellm_call_id"],
    how: "LiteLLM writes `request_id` in LiteLLM_SpendLogs and `id` in callback payloads",
};
const START: Spec = Spec {
    field: "start time",
    meta_keys: &[],
    native: &["startTime"],
    how: "LiteLLM writes `startTime` on every call",
};
const END: Spec = Spec::native("end time", &["endTime"]);
const FIRST_TOKEN: Spec = Spec::native("first token time", &["completionStartTime"]);
const TENANT: Spec = Spec {
    field: "tenant",
    meta_keys: &["evalgate_tenant", "tenant_id"],
    native: &[
        "end_user",
        "metadata.user_api_key_end_user_id",
        "proxy_server_request.user",
        "user",
        "metadata.user_api_key_user_id",
    ],
    how: "pass `user` in the chat request or metadata key `evalgate_tenant`",
};
const MODEL: Spec = Spec {
    field: "model",
    meta_keys: &[],
    native: &["model_group", "model", "hidden_params.litellm_model_name"],
    how: "LiteLLM writes the public model name as `model_group` and the deployment's as `model`",
};
const INPUT: Spec = Spec {
    field: "input",
    meta_keys: &[],
    native: &["messages", "proxy_server_request.messages"],
    how: "LiteLLM stores `messages` in LiteLLM_SpendLogs only with \
          `general_settings.store_prompts_in_spend_logs: true`, and callbacks carry them unless \
          `litellm.turn_off_message_logging` is set",
};
const OUTPUT: Spec = Spec::native("output", &["response"]);
const PROMPT_TOKENS: Spec = Spec::native(
    "prompt tokens",
    &["prompt_tokens", "response.usage.prompt_tokens"],
);
const COMPLETION_TOKENS: Spec = Spec::native(
    "completion tokens",
    &["completion_tokens", "response.usage.completion_tokens"],
);
const COST: Spec = Spec::native("cost", &["response_cost", "spend"]);
const LATENCY: Spec = Spec::native("latency", &["request_duration_ms"]);
const STATUS: Spec = Spec::native("status", &["status", "status_fields.llm_api_status"]);
const ERROR: Spec = Spec::native(
    "error",
    &[
        "error_str",
        "error_information.error_message",
        "metadata.error_information.error_message",
        "error_information.error_class",
        "metadata.error_information.error_class",
    ],
);
const CALL_TYPE: Spec = Spec::native("call type", &["call_type"]);
const TRACE: Spec = Spec::native("trace", &["trace_id"]);
const SESSION: Spec = Spec::native("session", &["session_id"]);

/// Call types whose rows are chat or text completions.
const COMPLETION_CALLS: &[&str] = &[
    "completion",
    "acompletion",
    "text_completion",
    "atext_completion",
    "anthropic_messages",
    "aanthropic_messages",
    "responses",
    "aresponses",
];

const ARM_HINT: &str = "metadata key `evalgate_arm` (the chat request's `metadata`, kept as \
     `metadata.requester_metadata.evalgate_arm`, or `metadata.spend_logs_metadata.evalgate_arm`)";

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

/// Parses one LiteLLM spend-log row or callback payload.
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let doc = Doc::new(SOURCE, object, LOCATIONS, EMBEDDED, ctx.limits);
    let call_type = doc.string(&CALL_TYPE)?;
    if let Some(kind) = &call_type
        && !COMPLETION_CALLS.contains(&kind.as_str())
    {
        return Err(doc.reject(
            RejectKind::WrongType,
            format_args!(
                "`call_type` is `{kind}`, not a completion; evalgate scores chat and text \
                 completions (select call_type IN ('completion', 'acompletion'))"
            ),
        ));
    }
    let ts = doc.required_time(&START)?;
    let end_opt = doc.time(&END)?;
    let first_token_opt = doc.time(&FIRST_TOKEN)?;
    let error = error_text(&doc)?;
    let latency_ms = match doc.number(&LATENCY)? {
        Some(latency) => Some(latency),
        None => end_opt.and_then(|end| millis_between(ts, end)),
    };
    let ttft_ms = time_to_first_token(ts, first_token_opt, end_opt, error.is_some());
    let mut mapped = Mapped::core(&doc, &CORE, ts, error)?;
    mapped.ttft_ms = ttft_ms;
    mapped.latency_ms = latency_ms;
    mapped.prompt_tokens = doc.count(&PROMPT_TOKENS)?;
    mapped.completion_tokens = doc.count(&COMPLETION_TOKENS)?;
    mapped.cost_usd = doc.number(&COST)?;
    mapped.metadata = metadata(
        SOURCE,
        &[
            ("flag", doc.string(&FLAG)?),
            ("trace_id", doc.string(&TRACE)?),
            ("session_id", doc.string(&SESSION)?),
            ("call_type", call_type),
        ],
    );
    let request = mapped.finish(&doc, ctx, ARM_HINT)?;
    Ok(Record::Request(Box::new(request)))
}

/// `completionStartTime − startTime` of a streamed success: LiteLLM writes `endTime` as the
/// completion start of responses that did not stream, which is no first-token time.
fn time_to_first_token(
    start: Timestamp,
    first_opt: Option<Timestamp>,
    end_opt: Option<Timestamp>,
    failed: bool,
) -> Option<f64> {
    let first = first_opt?;
    if failed || end_opt.is_some_and(|end| first >= end) {
        return None;
    }
    millis_between(start, first)
}

/// The error of a failed call: `status: failure` (with `error_str` or `error_information`), or
/// an error text logged without a status.
fn error_text(doc: &Doc) -> Result<Option<String>, Reject> {
    let status = doc.string(&STATUS)?;
    let text_opt = doc.string(&ERROR)?;
    match status.as_deref() {
        Some("failure") => {
            Ok(Some(text_opt.unwrap_or_else(|| {
                "litellm call failed (status failure)".to_string()
            })))
        }
        Some("success") => Ok(None),
        Some(other) => Err(doc.reject(
            RejectKind::BadStatus,
            format_args!("`status` is `{other}`; LiteLLM writes success or failure"),
        )),
        None => Ok(text_opt),
    }
}
