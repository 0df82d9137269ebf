//! Push ingest: `POST /v1/ingest?format=…` (LiteLLM's generic API logger in its `json_array`,
//! `ndjson` and `single` formats, or JSONL of any source format) and the OTLP/HTTP traces
//! receiver `POST /v1/traces` (protobuf or JSON). Both need the ingest bearer token, take bodies
//! up to `ingest.max_push_bytes` (gzip allowed, bounded after decompression too), map documents
//! with the same `formats` code as file ingest, and answer with what was read, inserted,
//! duplicate and rejected, each reject with its place and reason. Inserts are idempotent on the
//! request id, so a sender's retry of the same batch inserts nothing twice.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AdminToken, ApiError, AppState, auth};
use crate::adapters::formats::{self, Format, ParseContext, ParseLimits, Record, Reject};
use crate::adapters::otlp;
use crate::adapters::store::Store;
use crate::domain::{FeedbackEvent, Request};
use crate::logic::attribution::ModelArms;
use crate::metrics;

/// Rejects listed in a response body; the count covers all of them.
const LISTED_REJECTS: usize = 20;

/// What the push endpoints need; `serve` builds it from `[ingest]` and the ingest token.
#[derive(Debug, Clone)]
pub struct PushIngest {
    /// The bearer token senders present (read from `server.ingest_token_env`).
    pub token: AdminToken,
    /// Field limits, as for file ingest.
    pub limits: ParseLimits,
    /// The largest body, before and after decompression.
    pub max_body_bytes: usize,
    /// Rows per insert transaction.
    pub batch_size: usize,
}

/// `?format=` of `/v1/ingest`.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// A source format, or `auto` (the default).
    #[serde(default)]
    format: Option<String>,
}

/// One rejected document or line, in a response body.
#[derive(Debug, Clone, Serialize)]
pub struct PushReject {
    /// `line N` of an NDJSON body, `item N` of a JSON array (both from 1), or `span N`.
    pub at: String,
    /// The reject label.
    pub kind: &'static str,
    /// Why, naming the field.
    pub reason: String,
}

/// What one push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushSummary {
    /// The format the body was read as.
    pub format: Option<Format>,
    /// Documents (lines, array items, spans) read.
    pub read: u64,
    /// Rows new to the store.
    pub inserted: u64,
    /// Rows already stored (a retried batch).
    pub duplicates: u64,
    /// Requests whose id was already stored with different content (the stored row stays).
    pub conflicts: u64,
    /// Documents rejected.
    pub rejected: u64,
    /// The first rejects.
    pub rejects: Vec<PushReject>,
}

impl PushSummary {
    fn reject(&mut self, at: String, reject: &Reject) {
        self.rejected += 1;
        metrics::record_ingest_reject(reject.kind.as_str());
        if self.rejects.len() < LISTED_REJECTS {
            self.rejects.push(PushReject {
                at,
                kind: reject.kind.as_str(),
                reason: reject.reason.clone(),
            });
        }
    }
}

fn settings(state: &AppState, headers: &HeaderMap) -> Result<Arc<PushIngest>, ApiError> {
    let Some(push) = state.ingest.clone() else {
        return Err(ApiError::DisabledIngest);
    };
    auth::authorize(Some(&push.token), headers)?;
    Ok(push)
}

/// The body (read only after the token was checked), gunzipped when `Content-Encoding: gzip`,
/// refused past the limit either way.
async fn decoded_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit.saturating_add(1), limit))?;
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") => {
            let mut decoded = Vec::new();
            let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::GzDecoder::new(&body[..])
                .take(bound)
                .read_to_end(&mut decoded)
                .map_err(|err| ApiError::BadRequest(format!("gzip body: {err}")))?;
            if decoded.len() > limit {
                return Err(too_large(decoded.len(), limit));
            }
            Ok(Bytes::from(decoded))
        }
        Some(other) => Err(ApiError::UnsupportedMedia(format!(
            "Content-Encoding `{other}`; allowed: gzip, identity"
        ))),
    }
}

fn too_large(len: usize, limit: usize) -> ApiError {
    ApiError::TooLarge(format!(
        "the body is at least {len} bytes; the limit is {limit} (ingest.max_push_bytes)"
    ))
}

/// Read per push, so a rollout started a moment ago places the next batch's arm-less rows.
async fn model_arms(store: &Store) -> Result<ModelArms, ApiError> {
    Ok(ModelArms::new(store.rollout_targets().await?))
}

/// `POST /v1/ingest?format=…`.
pub async fn ingest(
    State(state): State<AppState>,
    Query(query): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let push = settings(&state, &headers)?;
    let format_opt = match query.format.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(name) => Some(Format::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "format `{name}`; allowed: auto, {}",
                Format::ALL.map(Format::as_str).join(", ")
            ))
        })?),
    };
    let body = decoded_body(&headers, body, push.max_body_bytes).await?;
    let arms = model_arms(&state.store).await?;
    let ctx = ParseContext {
        limits: push.limits,
        arms: &arms,
    };
    let parsed = parse_body(&body, format_opt, &ctx)?;
    let summary = store_records(&state.store, &push, parsed, "push").await?;
    tracing::info!(
        format = summary.format.map(Format::as_str),
        read = summary.read,
        inserted = summary.inserted,
        duplicates = summary.duplicates,
        rejected = summary.rejected,
        "push ingest"
    );
    Ok((StatusCode::OK, axum::Json(summary)).into_response())
}

/// A body split into documents and mapped: each document's place and its records.
struct ParsedBody {
    format: Option<Format>,
    documents: Vec<(String, Vec<Result<Record, Reject>>)>,
}

/// A JSON array (`json_array`) is one document per item; anything else is NDJSON, one document
/// per non-blank line, except a body that is one pretty-printed JSON object (`single`).
fn parse_body(
    body: &[u8],
    format_opt: Option<Format>,
    ctx: &ParseContext,
) -> Result<ParsedBody, ApiError> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    match first {
        None => Ok(ParsedBody {
            format: format_opt,
            documents: Vec::new(),
        }),
        Some(b'[') => parse_array(body, format_opt, ctx),
        Some(_) => Ok(parse_lines(body, format_opt, ctx)),
    }
}

fn parse_array(
    body: &[u8],
    format_opt: Option<Format>,
    ctx: &ParseContext,
) -> Result<ParsedBody, ApiError> {
    let items: Vec<Value> = serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not a JSON array: {err}")))?;
    let mut format = format_opt;
    let mut documents = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = format!("item {}", index + 1);
        let chosen = match format {
            Some(chosen) => chosen,
            None => match formats::detect(item) {
                Ok(detected) => {
                    format = Some(detected);
                    detected
                }
                Err(reject) => {
                    documents.push((at, vec![Err(reject)]));
                    continue;
                }
            },
        };
        documents.push((at, formats::parse_value(chosen, item, ctx)));
    }
    Ok(ParsedBody { format, documents })
}

fn parse_lines(body: &[u8], format_opt: Option<Format>, ctx: &ParseContext) -> ParsedBody {
    let mut format = format_opt;
    let mut documents = Vec::new();
    let lines: Vec<(usize, &[u8])> = body
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    for (index, line) in &lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parsed = formats::parse_line(format, line, ctx);
        if format.is_none() {
            format = parsed.format_opt;
        }
        documents.push((format!("line {}", index + 1), parsed.records));
    }
    let all_failed = documents
        .iter()
        .all(|(_, records)| records.iter().all(Result::is_err));
    if lines.len() > 1 && all_failed {
        // `single` with a pretty-printed object: the lines are fragments of one document.
        if let Ok(value @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
            let chosen = match format_opt {
                Some(chosen) => Some(chosen),
                None => formats::detect(&value).ok(),
            };
            if let Some(chosen) = chosen {
                return ParsedBody {
                    format: Some(chosen),
                    documents: vec![(
                        "item 1".to_string(),
                        formats::parse_value(chosen, &value, ctx),
                    )],
                };
            }
        }
    }
    ParsedBody { format, documents }
}

/// Inserts the accepted records in batches and counts everything.
async fn store_records(
    store: &Store,
    push: &PushIngest,
    parsed: ParsedBody,
    source: &'static str,
) -> Result<PushSummary, ApiError> {
    let mut summary = PushSummary {
        format: parsed.format,
        ..PushSummary::default()
    };
    let mut requests: Vec<Request> = Vec::new();
    let mut feedback: Vec<FeedbackEvent> = Vec::new();
    for (at, records) in parsed.documents {
        let several = records.len() > 1;
        for (index, record) in records.into_iter().enumerate() {
            summary.read += 1;
            match record {
                Ok(Record::Request(request)) => requests.push(*request),
                Ok(Record::Feedback(event)) => feedback.push(event),
                Err(reject) => {
                    let place = match several {
                        true => format!("{at}, record {}", index + 1),
                        false => at.clone(),
                    };
                    summary.reject(place, &reject);
                }
            }
        }
    }
    for batch in requests.chunks(push.batch_size.max(1)) {
        let report = store.insert_requests(batch).await?;
        summary.inserted += report.inserted;
        summary.duplicates += report.duplicates;
        summary.conflicts += report.conflicts;
    }
    for batch in feedback.chunks(push.batch_size.max(1)) {
        let report = store.insert_feedback(batch).await?;
        summary.inserted += report.inserted;
        summary.duplicates += report.duplicates;
    }
    metrics::record_ingest_rows(
        source,
        summary.inserted,
        summary.duplicates,
        summary.conflicts,
    );
    Ok(summary)
}

/// `POST /v1/traces`: an OTLP/HTTP `ExportTraceServiceRequest`, protobuf
/// (`application/x-protobuf`) or JSON (`application/json`); answered in the same encoding with
/// `partial_success` counting the GenAI spans that could not be mapped.
pub async fn traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let push = settings(&state, &headers)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let protobuf = match content_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => true,
        "application/json" => false,
        other => {
            return Err(ApiError::UnsupportedMedia(format!(
                "Content-Type `{other}`; allowed: application/x-protobuf, application/json"
            )));
        }
    };
    let body = decoded_body(&headers, body, push.max_body_bytes).await?;
    let document = match protobuf {
        true => {
            let request = otlp::decode_request(&body).map_err(|err| {
                ApiError::BadRequest(format!("not an OTLP ExportTraceServiceRequest: {err}"))
            })?;
            otlp::request_to_json(&request)
        }
        false => serde_json::from_slice::<Value>(&body)
            .map_err(|err| ApiError::BadRequest(format!("not OTLP/JSON: {err}")))?,
    };
    let arms = model_arms(&state.store).await?;
    let ctx = ParseContext {
        limits: push.limits,
        arms: &arms,
    };
    let records = formats::parse_value(Format::Otel, &document, &ctx);
    let documents = records
        .into_iter()
        .enumerate()
        .map(|(index, record)| (format!("span {}", index + 1), vec![record]))
        .collect();
    let parsed = ParsedBody {
        format: Some(Format::Otel),
        documents,
    };
    let summary = store_records(&state.store, &push, parsed, "otlp").await?;
    tracing::info!(
        read = summary.read,
        inserted = summary.inserted,
        duplicates = summary.duplicates,
        rejected = summary.rejected,
        "otlp traces"
    );
    let message = summary
        .rejects
        .iter()
        .map(|reject| format!("{}: {}", reject.at, reject.reason))
        .collect::<Vec<String>>()
        .join("; ");
    let response = match protobuf {
        true => {
            let bytes = otlp::encode_response(summary.rejected, &message);
            let mut response = (StatusCode::OK, bytes).into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            response
        }
        false => (
            StatusCode::OK,
            axum::Json(otlp::response_json(summary.rejected, &message)),
        )
            .into_response(),
    };
    Ok(response)
}
