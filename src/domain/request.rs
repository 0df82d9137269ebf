//! One logged LLM request as the contract table `requests` holds it (DESIGN.md §3).

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Which side of the rollout served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The current production model/prompt.
    Baseline,
    /// The change being rolled out.
    Canary,
}

impl Arm {
    /// Both arms, baseline first.
    pub const ALL: [Arm; 2] = [Arm::Baseline, Arm::Canary];

    /// The lowercase name stored in the database and printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Baseline => "baseline",
            Arm::Canary => "canary",
        }
    }

    /// Parses `baseline` or `canary` (case-insensitive).
    pub fn parse(text: &str) -> Option<Arm> {
        match text.to_ascii_lowercase().as_str() {
            "baseline" => Some(Arm::Baseline),
            "canary" => Some(Arm::Canary),
            _ => None,
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the gateway returned a response or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// A response was served.
    Ok,
    /// The request failed; `Request::error` says how.
    Error,
}

impl RequestStatus {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Ok => "ok",
            RequestStatus::Error => "error",
        }
    }

    /// Parses `ok` or `error`.
    pub fn parse(text: &str) -> Option<RequestStatus> {
        match text {
            "ok" => Some(RequestStatus::Ok),
            "error" => Some(RequestStatus::Error),
            _ => None,
        }
    }
}

/// One row of the contract table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique id from the gateway; makes re-ingest idempotent.
    pub request_id: String,
    /// Request start.
    pub ts: Timestamp,
    /// Routing key and sampling stratum.
    pub tenant_id: String,
    /// The arm that served the request.
    pub arm: Arm,
    /// The model/prompt version actually served, e.g. `support-bot@v42`.
    pub model: String,
    /// The rollout this request belongs to, when the gateway logs it.
    pub rollout_id: Option<String>,
    /// The request messages (OpenAI `messages` JSON as text, or plain text).
    pub input: String,
    /// The response text (empty for errors).
    pub output: String,
    /// An expected answer, when known.
    pub reference: Option<String>,
    /// `ok` or `error`.
    pub status: RequestStatus,
    /// The error text when `status` is `error`.
    pub error: Option<String>,
    /// End-to-end latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Time to first token in milliseconds (streamed responses), when the gateway logs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Prompt tokens billed.
    pub prompt_tokens: Option<i64>,
    /// Completion tokens billed.
    pub completion_tokens: Option<i64>,
    /// Cost of the request in US dollars.
    pub cost_usd: Option<f64>,
    /// Free-form JSON metadata.
    pub metadata: serde_json::Value,
}
