//! The `langfuse` format: one observation of type `GENERATION`, either a row of the ClickHouse
//! `observations` table (`packages/shared/clickhouse/migrations`, snake_case: `start_time` as
//! `YYYY-MM-DD HH:MM:SS.fff` UTC, `provided_model_name`, `input`/`output` as JSON text,
//! `usage_details` / `cost_details` maps, `level`, `status_message`) or an item of the public API
//! `GET /api/public/observations` (camelCase: `startTime` RFC 3339, `model`, `usageDetails`,
//! `costDetails`, `latency` and `timeToFirstToken` in seconds). A page `{"data": [...]}` of that
//! API is read item by item (`formats::parse_value`).
//!
//! Observations carry no user: the tenant is the trace's `userId`, joined into a ClickHouse
//! export as `user_id`, or evalgate's metadata keys in the observation's (or the joined trace's
//! `trace_metadata`) metadata.

use serde_json::{Map, Value};

use super::ParseContext;
use super::doc::{ARM, Doc, FLAG, ROLLOUT, Spec};
use super::mapped::{CoreSpecs, Mapped, metadata};
use super::reject::{Record, Reject, RejectKind};
use super::time::millis_between;

const SOURCE: &str = "langfuse";

const LOCATIONS: &[&str] = &["metadata", "metadata.requester_metadata", "trace_metadata"];
const EMBEDDED: &[&str] = &[
    "input",
    "output",
    "metadata",
    "trace_metadata",
    "usage_details",
    "cost_details",
];

const ID: Spec = Spec {
    field: "observation id",
    meta_keys: &[],
    native: &["id"],
    how: "Langfuse writes `id` on every observation",
};
const START: Spec = Spec {
    field: "start time",
    meta_keys: &[],
    native: &["startTime", "start_time"],
    how: "Langfuse writes it on every observation",
};
const END: Spec = Spec::native("end time", &["endTime", "end_time"]);
const FIRST_TOKEN: Spec = Spec::native(
    "completion start time",
    &["completionStartTime", "completion_start_time"],
);
const TENANT: Spec = Spec {
    field: "tenant",
    meta_keys: &["evalgate_tenant", "tenant_id"],
    native: &["userId", "user_id", "trace_user_id"],
    how: "set the trace's `userId` (join `traces.user_id AS user_id` into a ClickHouse export) \
          or metadata key `evalgate_tenant`",
};
const MODEL: Spec = Spec {
    field: "model",
    meta_keys: &[],
    native: &["model", "provided_model_name"],
    how: "pass `model` on the generation",
};
const INPUT: Spec = Spec {
    field: "input",
    meta_keys: &[],
    native: &["input"],
    how: "log the generation's `input` (the messages)",
};
const OUTPUT: Spec = Spec::native("output", &["output"]);
const PROMPT_TOKENS: Spec = Spec::native(
    "input tokens",
    &[
        "usageDetails.input",
        "usage_details.input",
        "usage.input",
        "usageDetails.prompt_tokens",
        "usage_details.prompt_tokens",
        "usage.promptTokens",
    ],
);
const COMPLETION_TOKENS: Spec = Spec::native(
    "output tokens",
    &[
        "usageDetails.output",
        "usage_details.output",
        "usage.output",
        "usageDetails.completion_tokens",
        "usage_details.completion_tokens",
        "usage.completionTokens",
    ],
);
const COST: Spec = Spec::native(
    "cost",
    &[
        "costDetails.total",
        "cost_details.total",
        "total_cost",
        "calculatedTotalCost",
        "totalPrice",
    ],
);
const LATENCY_SECONDS: Spec = Spec::native("latency", &["latency"]);
const TTFT_SECONDS: Spec = Spec::native("time to first token", &["timeToFirstToken"]);
const TYPE: Spec = Spec::native("type", &["type"]);
const LEVEL: Spec = Spec::native("level", &["level"]);
const STATUS_MESSAGE: Spec = Spec::native("status message", &["statusMessage", "status_message"]);
const DELETED: Spec = Spec::native("deleted", &["is_deleted"]);
const TRACE: Spec = Spec::native("trace", &["traceId", "trace_id"]);

const ARM_HINT: &str = "metadata key `evalgate_arm` on the generation or its trace";

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

/// Parses one Langfuse observation.
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let doc = Doc::new(SOURCE, object, LOCATIONS, EMBEDDED, ctx.limits);
    check_generation(&doc)?;
    let ts = doc.required_time(&START)?;
    let end_opt = doc.time(&END)?;
    let first_token_opt = doc.time(&FIRST_TOKEN)?;
    let latency_ms = match end_opt {
        Some(end) => millis_between(ts, end),
        None => doc.number(&LATENCY_SECONDS)?.map(|secs| secs * 1000.0),
    };
    // a completion start at (or after) the end is no first-token time: integrations such as
    // LiteLLM's write the end time there for responses that did not stream
    let ttft_ms = match first_token_opt {
        Some(first) if end_opt.is_some_and(|end| first >= end) => None,
        Some(first) => millis_between(ts, first),
        None => doc.number(&TTFT_SECONDS)?.map(|secs| secs * 1000.0),
    };
    let error = match doc.string(&LEVEL)?.as_deref() {
        Some(level) if level.eq_ignore_ascii_case("error") => Some(
            doc.string(&STATUS_MESSAGE)?
                .unwrap_or_else(|| "langfuse observation level ERROR".to_string()),
        ),
        _ => None,
    };
    let mut mapped = Mapped::core(&doc, &CORE, ts, error)?;
    mapped.latency_ms = latency_ms;
    mapped.ttft_ms = ttft_ms;
    mapped.prompt_tokens = doc.count(&PROMPT_TOKENS)?;
    mapped.completion_tokens = doc.count(&COMPLETION_TOKENS)?;
    mapped.cost_usd = doc.number(&COST)?;
    mapped.metadata = metadata(
        SOURCE,
        &[
            ("flag", doc.string(&FLAG)?),
            ("trace_id", doc.string(&TRACE)?),
        ],
    );
    let request = mapped.finish(&doc, ctx, ARM_HINT)?;
    Ok(Record::Request(Box::new(request)))
}

/// Only live generations are LLM requests.
fn check_generation(doc: &Doc) -> Result<(), Reject> {
    let kind = doc.string(&TYPE)?;
    if let Some(kind) = kind.filter(|kind| !kind.eq_ignore_ascii_case("generation")) {
        return Err(doc.reject(
            RejectKind::WrongType,
            format_args!(
                "`type` is `{kind}`, not GENERATION; export generations only (`type = \
                 'GENERATION'`, or `?type=GENERATION` on the API)"
            ),
        ));
    }
    if doc.count(&DELETED)?.unwrap_or(0) != 0 {
        return Err(doc.reject(
            RejectKind::WrongType,
            "`is_deleted` is 1: the observation was deleted; export with `FINAL` and \
             `is_deleted = 0`",
        ));
    }
    Ok(())
}
