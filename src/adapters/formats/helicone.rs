//! The `helicone` format: one Helicone request, either as the REST API and `npx @helicone/export`
//! write it (`HeliconeRequest`: `request_created_at` as `YYYY-MM-DD HH:MM:SS.sss` UTC,
//! `request_body` / `response_body`, `response_status`, `delay_ms`, `request_user_id`,
//! `request_properties`, `cost` in USD) or as a row of the ClickHouse table
//! `request_response_rmt` (`status`, `latency`, `user_id`, `properties`, bodies as JSON text, and
//! `cost` as integer USD × 1e9, Helicone's `COST_PRECISION_MULTIPLIER`).
//!
//! Which cost unit applies is told by the shape: `costUSD` is USD; a row with the API's
//! `response_status` or `delay_ms` has `cost` in USD (the API divides by 1e9); a table row has
//! the raw integer. evalgate's keys arrive as `Helicone-Property-*` headers, so they are read
//! from `properties` with names compared case-insensitively and `-` read as `_`
//! (`Helicone-Property-Evalgate-Arm: canary` is `evalgate_arm`).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::ParseContext;
use super::doc::{ARM, Doc, FLAG, ROLLOUT, Spec};
use super::mapped::{CoreSpecs, Mapped, metadata};
use super::reject::{Record, Reject, RejectKind};
use super::time::millis_between;

const SOURCE: &str = "helicone";

/// Helicone's `COST_PRECISION_MULTIPLIER`: `request_response_rmt.cost` is USD × 1e9.
const COST_PRECISION_MULTIPLIER: f64 = 1_000_000_000.0;

const LOCATIONS: &[&str] = &["properties", "request_properties"];
const PROPERTY_FIELDS: &[&str] = &["properties", "request_properties"];
const EMBEDDED: &[&str] = &[
    "request_body",
    "response_body",
    "properties",
    "request_properties",
];

const ID: Spec = Spec {
    field: "request id",
    meta_keys: &[],
    native: &["request_id"],
    how: "Helicone writes `request_id` on every request",
};
const START: Spec = Spec {
    field: "start time",
    meta_keys: &[],
    native: &["request_created_at"],
    how: "Helicone writes `request_created_at` on every request",
};
const END: Spec = Spec::native("response time", &["response_created_at"]);
const TENANT: Spec = Spec {
    field: "tenant",
    meta_keys: &["evalgate_tenant", "tenant_id"],
    native: &["user_id", "request_user_id", "request_body.user"],
    how: "send the `Helicone-User-Id` header or `Helicone-Property-Evalgate_tenant`",
};
const MODEL: Spec = Spec {
    field: "model",
    meta_keys: &[],
    native: &[
        "request_model",
        "model",
        "request_body.model",
        "response_model",
        "response_body.model",
    ],
    how: "Helicone writes `model` on every request",
};
const INPUT: Spec = Spec {
    field: "input",
    meta_keys: &[],
    native: &[
        "request_body.messages",
        "request_body.input",
        "request_body.prompt",
    ],
    how: "export with bodies (`npx @helicone/export --include-body`); ClickHouse keeps bodies \
          for 3 months",
};
const OUTPUT: Spec = Spec::native("output", &["response_body"]);
const PROMPT_TOKENS: Spec = Spec::native(
    "prompt tokens",
    &[
        "prompt_tokens",
        "response_body.usage.prompt_tokens",
        "response_body.usage.input_tokens",
    ],
);
const COMPLETION_TOKENS: Spec = Spec::native(
    "completion tokens",
    &[
        "completion_tokens",
        "response_body.usage.completion_tokens",
        "response_body.usage.output_tokens",
    ],
);
const COST_USD: Spec = Spec::native("cost", &["costUSD"]);
const COST: Spec = Spec::native("cost", &["cost"]);
const LATENCY: Spec = Spec::native("latency", &["delay_ms", "latency"]);
/// Milliseconds; the table writes 0 for responses that did not stream.
const TTFT: Spec = Spec::native("time to first token", &["time_to_first_token"]);
const STATUS: Spec = Spec::native("status", &["response_status", "status"]);
const ERROR: Spec = Spec::native(
    "error",
    &[
        "response_body.error.message",
        "response_body.error",
        "response_body.helicone_message",
    ],
);
const PROVIDER: Spec = Spec::native("provider", &["provider"]);

const ARM_HINT: &str = "the `Helicone-Property-Evalgate_arm` header (property `evalgate_arm`)";

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

/// Parses one Helicone request.
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let normalized = normalize_properties(object);
    let doc = Doc::new(SOURCE, &normalized, LOCATIONS, EMBEDDED, ctx.limits);
    let ts = doc.required_time(&START)?;
    let latency_ms = match doc.number(&LATENCY)? {
        Some(latency) => Some(latency),
        None => doc.time(&END)?.and_then(|end| millis_between(ts, end)),
    };
    let error = error_text(&doc)?;
    let mut mapped = Mapped::core(&doc, &CORE, ts, error)?;
    mapped.latency_ms = latency_ms;
    mapped.ttft_ms = doc.number(&TTFT)?.filter(|ttft| *ttft > 0.0);
    mapped.prompt_tokens = doc.count(&PROMPT_TOKENS)?;
    mapped.completion_tokens = doc.count(&COMPLETION_TOKENS)?;
    mapped.cost_usd = cost_usd(&doc, object)?;
    mapped.metadata = metadata(
        SOURCE,
        &[
            ("flag", doc.string(&FLAG)?),
            ("provider", doc.string(&PROVIDER)?),
        ],
    );
    let request = mapped.finish(&doc, ctx, ARM_HINT)?;
    Ok(Record::Request(Box::new(request)))
}

/// Property names as evalgate looks them up: lowercase, `-` as `_`.
fn normalize_properties(object: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    let needs = PROPERTY_FIELDS
        .iter()
        .any(|field| match object.get(*field) {
            Some(Value::Object(properties)) => properties.keys().any(|key| normalized(key) != *key),
            _ => false,
        });
    if !needs {
        return Cow::Borrowed(object);
    }
    let mut owned = object.clone();
    for field in PROPERTY_FIELDS {
        if let Some(Value::Object(properties)) = owned.get_mut(*field) {
            let renamed: Map<String, Value> = std::mem::take(properties)
                .into_iter()
                .map(|(key, value)| (normalized(&key), value))
                .collect();
            *properties = renamed;
        }
    }
    Cow::Owned(owned)
}

fn normalized(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// The cost in USD: `costUSD`, else `cost` in USD on API rows and USD × 1e9 on table rows.
fn cost_usd(doc: &Doc, object: &Map<String, Value>) -> Result<Option<f64>, Reject> {
    if let Some(cost) = doc.number(&COST_USD)? {
        return Ok(Some(cost));
    }
    let Some(cost) = doc.number(&COST)? else {
        return Ok(None);
    };
    let is_api_row = object.contains_key("response_status") || object.contains_key("delay_ms");
    if is_api_row {
        return Ok(Some(cost));
    }
    Ok(Some(cost / COST_PRECISION_MULTIPLIER))
}

/// A non-2xx HTTP status is an error; its text is the provider's error message when the
/// response body holds one.
fn error_text(doc: &Doc) -> Result<Option<String>, Reject> {
    let Some(status) = doc.string(&STATUS)? else {
        return Ok(None);
    };
    let Ok(code) = status.parse::<i64>() else {
        let name = doc
            .lookup(&STATUS)
            .map(|(name, _)| name)
            .unwrap_or_default();
        return Err(doc.reject(
            RejectKind::BadStatus,
            format_args!("`{name}` is `{status}`; Helicone writes the HTTP status code"),
        ));
    };
    if (200..300).contains(&code) {
        return Ok(None);
    }
    let text = match doc.string(&ERROR) {
        Ok(Some(text)) => text,
        _ => match code {
            code if code < 0 => format!("no response (Helicone status {code})"),
            code => format!("HTTP {code}"),
        },
    };
    Ok(Some(text))
}
