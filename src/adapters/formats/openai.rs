//! The `openai` format: a Batch API output line (`{"id", "custom_id", "response": {"status_code",
//! "request_id", "body": chat.completion}, "error"}`) or a stored chat completion, an item of
//! `GET /v1/chat/completions` (`chat.completion` with `metadata`; a list page `{"data": [...]}`
//! is read item by item). Neither carries the request: join the batch input line with the same
//! `custom_id` as `request` (its `body` holds `model`, `messages`, `user`, `metadata`), and put a
//! stored completion's `GET /v1/chat/completions/{id}/messages` list under `messages`.
//!
//! OpenAI logs no tenant and no arm of its own: they come from the request's `user` and
//! `metadata` (evalgate's keys), or from `tenant_id` / `arm` added to the line.

use serde_json::{Map, Value};

use super::ParseContext;
use super::doc::{Doc, FLAG, Spec};
use super::mapped::{CoreSpecs, Mapped, metadata};
use super::reject::{Record, Reject};

const SOURCE: &str = "openai";

const LOCATIONS: &[&str] = &[
    "metadata",
    "request.body.metadata",
    "request.metadata",
    "response.body.metadata",
];

const ID: Spec = Spec {
    field: "request id",
    meta_keys: &[],
    native: &["custom_id", "id"],
    how: "batch lines carry `custom_id`, stored completions `id`",
};
const TS: Spec = Spec {
    field: "time",
    meta_keys: &[],
    native: &["ts", "response.body.created", "created"],
    how: "a failed batch line has no `created`: add `ts` to the line",
};
const TENANT: Spec = Spec {
    field: "tenant",
    meta_keys: &["evalgate_tenant", "tenant_id"],
    native: &[
        "tenant_id",
        "request.body.user",
        "request.user",
        "input_user",
        "user",
    ],
    how: "set `user` or metadata key `evalgate_tenant` on the request (joined as `request`; \
          stored completions keep `metadata`), or add `tenant_id` to the line",
};
const ARM: Spec = Spec {
    field: "arm",
    meta_keys: &["evalgate_arm", "arm"],
    native: &["arm"],
    how: "",
};
const ROLLOUT: Spec = Spec {
    field: "rollout",
    meta_keys: &["evalgate_rollout_id", "rollout_id"],
    native: &["rollout_id"],
    how: "",
};
const MODEL: Spec = Spec {
    field: "model",
    meta_keys: &[],
    native: &[
        "request.body.model",
        "request.model",
        "response.body.model",
        "model",
    ],
    how: "join the batch input line as `request`",
};
const INPUT: Spec = Spec {
    field: "input",
    meta_keys: &[],
    native: &[
        "messages",
        "input_messages",
        "request.body.messages",
        "request.messages",
    ],
    how: "a batch output line does not carry the request: join the batch input line with the \
          same `custom_id` as `request`; for a stored completion put \
          `GET /v1/chat/completions/{id}/messages` under `messages`",
};
const OUTPUT: Spec = Spec::native("output", &["response.body", "choices.0.message"]);
const PROMPT_TOKENS: Spec = Spec::native(
    "prompt tokens",
    &["response.body.usage.prompt_tokens", "usage.prompt_tokens"],
);
const COMPLETION_TOKENS: Spec = Spec::native(
    "completion tokens",
    &[
        "response.body.usage.completion_tokens",
        "usage.completion_tokens",
    ],
);
const STATUS_CODE: Spec = Spec::native("status code", &["response.status_code"]);
const ERROR: Spec = Spec::native(
    "error",
    &["error.message", "error", "response.body.error.message"],
);
const BATCH: Spec = Spec::native("batch request", &["id"]);

const ARM_HINT: &str = "metadata key `evalgate_arm` on the request, or `arm` on the line";

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

/// Parses one batch output line or stored chat completion.
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let listed_opt = listed_messages(object);
    let line = listed_opt.as_ref().unwrap_or(object);
    let doc = Doc::new(SOURCE, line, LOCATIONS, &[], ctx.limits);
    let ts = doc.required_time(&TS)?;
    let error = error_text(&doc)?;
    let mut mapped = Mapped::core(&doc, &CORE, ts, error)?;
    mapped.latency_ms = None;
    mapped.ttft_ms = None;
    mapped.prompt_tokens = doc.count(&PROMPT_TOKENS)?;
    mapped.completion_tokens = doc.count(&COMPLETION_TOKENS)?;
    mapped.cost_usd = None;
    mapped.metadata = metadata(
        SOURCE,
        &[
            ("flag", doc.string(&FLAG)?),
            ("openai_id", doc.string(&BATCH)?),
        ],
    );
    let request = mapped.finish(&doc, ctx, ARM_HINT)?;
    Ok(Record::Request(Box::new(request)))
}

/// A `messages` list page (`{"object": "list", "data": [{"id", "role", "content"}]}`) → the
/// plain `[{"role", "content"}]` list.
fn listed_messages(object: &Map<String, Value>) -> Option<Map<String, Value>> {
    let Some(Value::Array(items)) = object.get("messages").and_then(|page| page.get("data")) else {
        return None;
    };
    let mut messages = Vec::with_capacity(items.len());
    for item in items {
        let mut message = Map::new();
        for key in ["role", "content", "name", "tool_calls", "tool_call_id"] {
            if let Some(value) = item.get(key).filter(|value| !value.is_null()) {
                message.insert(key.to_string(), value.clone());
            }
        }
        messages.push(Value::Object(message));
    }
    let mut owned = object.clone();
    owned.insert("messages".to_string(), Value::Array(messages));
    Some(owned)
}

/// `error` set, or a non-2xx `response.status_code`.
fn error_text(doc: &Doc) -> Result<Option<String>, Reject> {
    let text_opt = match doc.string(&ERROR) {
        Ok(text_opt) => text_opt,
        Err(_) => doc.get("error").map(Value::to_string),
    };
    if let Some(text) = text_opt {
        return Ok(Some(text));
    }
    let Some(code) = doc.count(&STATUS_CODE)? else {
        return Ok(None);
    };
    if !(200..300).contains(&code) {
        return Ok(Some(format!("HTTP {code}")));
    }
    Ok(None)
}
