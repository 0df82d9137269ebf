//! The result of one evaluator on one request: pass, fail or unscorable, never a default.

use serde::{Deserialize, Serialize};

/// Three-valued outcome. Unscorable (judge timeout, unparseable reply, budget spent) is never
/// counted as a pass or as a fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The response met the assertion.
    Pass,
    /// The response did not meet the assertion.
    Fail,
    /// No verdict could be reached; the reason says why.
    Unscorable,
}

impl Outcome {
    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Unscorable => "unscorable",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "pass" => Some(Outcome::Pass),
            "fail" => Some(Outcome::Fail),
            "unscorable" => Some(Outcome::Unscorable),
            _ => None,
        }
    }
}

/// One evaluator's verdict on one request, as `eval_scores` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The scored request.
    pub request_id: String,
    /// The evaluator's name (`suite/assertion` or the suite's own name for the suite verdict).
    pub evaluator: String,
    /// Hash of the evaluator definition, its judge model and prompt.
    pub evaluator_version: String,
    /// Pass, fail or unscorable.
    pub outcome: Outcome,
    /// A score in [0, 1] where the evaluator has one.
    pub score: Option<f64>,
    /// Why: the failing check, the judge's reason, or why it was unscorable.
    pub reason: String,
    /// Time spent scoring, in milliseconds.
    pub latency_ms: f64,
    /// Judge prompt tokens (0 for rule assertions).
    pub prompt_tokens: i64,
    /// Judge completion tokens (0 for rule assertions).
    pub completion_tokens: i64,
    /// Judge cost in US dollars (0 for rule assertions).
    pub cost_usd: f64,
}

/// A [`Score`] that borrows its request id, evaluator name and version (the same fields in the
/// same order, so it serialises to the same JSON): what `evals run` renders for every assertion
/// of every row without copying those strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRef<'a> {
    /// The scored request.
    pub request_id: &'a str,
    /// The evaluator's name.
    pub evaluator: &'a str,
    /// The evaluator's version.
    pub evaluator_version: &'a str,
    /// Pass, fail or unscorable.
    pub outcome: Outcome,
    /// A score in [0, 1] where the evaluator has one.
    pub score: Option<f64>,
    /// Why.
    pub reason: String,
    /// Time spent scoring, in milliseconds.
    pub latency_ms: f64,
    /// Judge prompt tokens (0 for rule assertions).
    pub prompt_tokens: i64,
    /// Judge completion tokens (0 for rule assertions).
    pub completion_tokens: i64,
    /// Judge cost in US dollars (0 for rule assertions).
    pub cost_usd: f64,
}

impl ScoreRef<'_> {
    /// The owned score.
    pub fn into_owned(self) -> Score {
        Score {
            request_id: self.request_id.to_string(),
            evaluator: self.evaluator.to_string(),
            evaluator_version: self.evaluator_version.to_string(),
            outcome: self.outcome,
            score: self.score,
            reason: self.reason,
            latency_ms: self.latency_ms,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
        }
    }
}
