//! The JSONL log format of evalgate's own contract: writes rows out (`evalgate synth`) and, for
//! callers that only read evalgate's format, parses one line. The parsers of every format live
//! in `adapters::formats`; this file re-exports their record and reject types.

use serde_json::Value;

pub use super::formats::evalgate::parse_timestamp;
pub use super::formats::{ParseLimits, Record, Reject, RejectKind};

use super::formats::{self, Format, ParseContext};
use crate::domain::{FeedbackEvent, Request};
use crate::logic::attribution::ModelArms;

#[cfg(test)]
use crate::domain::{Arm, FeedbackKind, RequestStatus};
#[cfg(test)]
use chrono::Utc;

/// Parses one line (without its newline) of evalgate's format; a row without an arm is
/// rejected, since no rollout is known here (ingest places such rows by their served model).
pub fn parse_line(bytes: &[u8], limits: &ParseLimits) -> Result<Record, Reject> {
    let arms = ModelArms::default();
    let ctx = ParseContext {
        limits: *limits,
        arms: &arms,
    };
    let parsed = formats::parse_line(Some(Format::Evalgate), bytes, &ctx);
    match parsed.records.into_iter().next() {
        Some(result) => result,
        None => Err(Reject::new(
            RejectKind::NotAnObject,
            "the line holds no record",
        )),
    }
}

/// The flat contract row for `request`, as one JSON line (no newline).
pub fn request_line(request: &Request) -> String {
    serde_json::to_string(request).unwrap_or_default()
}

/// The feedback row for `event`, as one JSON line (no newline).
pub fn feedback_line(event: &FeedbackEvent) -> String {
    let line: Value = serde_json::json!({
        "type": "feedback",
        "request_id": event.request_id,
        "kind": event.kind.as_str(),
        "value": event.value,
        "at": event.at,
    });
    line.to_string()
}

#[cfg(test)]
#[path = "jsonl_tests.rs"]
mod tests;
