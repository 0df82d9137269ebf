//! Placeholder for the source formats (replaced by the `formats` branch): the evalgate contract only.

use serde::Serialize;
use serde_json::Value;

pub use crate::adapters::jsonl::{ParseLimits, Record, Reject, RejectKind};
use crate::logic::attribution::ModelArms;

/// A log source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// evalgate's contract.
    Evalgate,
    /// LiteLLM.
    Litellm,
    /// Langfuse.
    Langfuse,
    /// Helicone.
    Helicone,
    /// OTLP/JSON.
    Otel,
    /// OpenAI.
    Openai,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Evalgate,
        Format::Litellm,
        Format::Langfuse,
        Format::Helicone,
        Format::Otel,
        Format::Openai,
    ];

    /// The name.
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

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
    }
}

/// What a parse needs.
pub struct ParseContext<'a> {
    /// Limits.
    pub limits: ParseLimits,
    /// Arms by model.
    pub arms: &'a ModelArms,
}

/// One document.
pub fn parse_value(
    _format: Format,
    value: &Value,
    ctx: &ParseContext,
) -> Vec<Result<Record, Reject>> {
    vec![crate::adapters::jsonl::parse_line(
        value.to_string().as_bytes(),
        &ctx.limits,
    )]
}

/// Detects.
pub fn detect(_value: &Value) -> Result<Format, Reject> {
    Ok(Format::Evalgate)
}

/// One line.
pub struct ParsedLine {
    /// The format used.
    pub format_opt: Option<Format>,
    /// The records.
    pub records: Vec<Result<Record, Reject>>,
}

/// One line.
pub fn parse_line(format_opt: Option<Format>, bytes: &[u8], ctx: &ParseContext) -> ParsedLine {
    ParsedLine {
        format_opt: Some(format_opt.unwrap_or(Format::Evalgate)),
        records: vec![crate::adapters::jsonl::parse_line(bytes, &ctx.limits)],
    }
}
