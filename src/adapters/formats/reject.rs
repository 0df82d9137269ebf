//! What parsing one document yields: an accepted [`Record`] (a request row or a feedback event)
//! or a [`Reject`] with a bounded kind and a reason naming the field, plus the [`ParseLimits`]
//! every source respects. Shared by every format; `adapters::jsonl` re-exports these names.

use serde_json::Value;

use crate::domain::{FeedbackEvent, Request};

/// One accepted record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A request row.
    Request(Box<Request>),
    /// A feedback event.
    Feedback(FeedbackEvent),
}

/// Why a line (or one record of it) was rejected, as a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// The line is longer than `ingest.max_line_bytes`.
    LineTooLong,
    /// The line is not JSON.
    NotJson,
    /// The line is JSON but not an object.
    NotAnObject,
    /// `--format auto` could not tell which source wrote the line.
    UnknownFormat,
    /// A required field is absent, null or empty.
    MissingField,
    /// A field has the wrong JSON type or an invalid value.
    WrongType,
    /// A timestamp is not in a form the source writes.
    BadTimestamp,
    /// `arm` is not baseline or canary.
    BadArm,
    /// `status` is not ok or error.
    BadStatus,
    /// A feedback `kind` is unknown or its `value` does not fit it.
    BadFeedback,
    /// A field is larger than `ingest.max_field_bytes`.
    FieldTooLarge,
    /// A text field holds a NUL character (`\u0000`), which PostgreSQL cannot store.
    NulCharacter,
}

impl RejectKind {
    /// The snake_case label written to the rejects file and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::InvalidUtf8 => "invalid_utf8",
            RejectKind::LineTooLong => "line_too_long",
            RejectKind::NotJson => "not_json",
            RejectKind::NotAnObject => "not_an_object",
            RejectKind::UnknownFormat => "unknown_format",
            RejectKind::MissingField => "missing_field",
            RejectKind::WrongType => "wrong_type",
            RejectKind::BadTimestamp => "bad_timestamp",
            RejectKind::BadArm => "bad_arm",
            RejectKind::BadStatus => "bad_status",
            RejectKind::BadFeedback => "bad_feedback",
            RejectKind::FieldTooLarge => "field_too_large",
            RejectKind::NulCharacter => "nul_character",
        }
    }
}

/// A rejected record's kind and a human reason naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Reject {
    /// The bounded label.
    pub kind: RejectKind,
    /// What is wrong, naming the field and what is allowed.
    pub reason: String,
}

impl Reject {
    /// A reject of `kind` because of `reason`.
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Reject {
        Reject {
            kind,
            reason: reason.into(),
        }
    }
}

/// Limits a record must respect.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// The largest text field (input, output, reference, error, metadata, ids) in bytes.
    pub max_field_bytes: usize,
}

/// The JSON type of `value`, with its article, for reasons.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
