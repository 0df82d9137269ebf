//! Numeric bounds: word count, char length, completion tokens, latency and cost.
//! Telemetry the request did not log makes the rule unscorable, never a pass.

use super::Finding;
use crate::domain::Request;

/// Inclusive bounds; at least one side is set (checked at load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Smallest allowed count.
    pub min: Option<usize>,
    /// Largest allowed count.
    pub max: Option<usize>,
}

impl Bounds {
    fn check(&self, what: &str, count: usize) -> Finding {
        if let Some(min) = self.min
            && count < min
        {
            return Finding::decided(false, format!("{what} {count} is below the minimum {min}"));
        }
        if let Some(max) = self.max
            && count > max
        {
            return Finding::decided(false, format!("{what} {count} is above the maximum {max}"));
        }
        Finding::decided(
            true,
            format!("{what} {count} is within {}", self.describe()),
        )
    }

    /// `[min, max]` with `-` for an open side.
    pub fn describe(&self) -> String {
        let side =
            |bound: Option<usize>| bound.map_or_else(|| "-".to_string(), |value| value.to_string());
        format!("[{}, {}]", side(self.min), side(self.max))
    }
}

/// `word-count`: words are maximal runs of non-whitespace.
pub fn word_count(bounds: &Bounds, output: &str) -> Finding {
    bounds.check("word count", output.split_whitespace().count())
}

/// `char-length`: UTF-16 code units, JavaScript's `output.length` (an emoji is 2).
pub fn char_length(bounds: &Bounds, output: &str) -> Finding {
    bounds.check("char length", super::levenshtein::utf16_len(output))
}

/// `max-completion-tokens`.
pub fn completion_tokens(max: i64, request: &Request) -> Finding {
    match request.completion_tokens {
        None => Finding::Undecidable("the request has no completion_tokens logged".to_string()),
        Some(tokens) => Finding::decided(
            tokens <= max,
            format!("{tokens} completion tokens against a maximum of {max}"),
        ),
    }
}

/// `latency`.
pub fn latency(max_ms: f64, request: &Request) -> Finding {
    match request.latency_ms {
        Some(latency) if latency.is_finite() => Finding::decided(
            latency <= max_ms,
            format!("latency {latency} ms against a maximum of {max_ms} ms"),
        ),
        _ => Finding::Undecidable("the request has no latency_ms logged".to_string()),
    }
}

/// `cost`.
pub fn cost(max_usd: f64, request: &Request) -> Finding {
    match request.cost_usd {
        Some(cost) if cost.is_finite() => Finding::decided(
            cost <= max_usd,
            format!("cost ${cost} against a maximum of ${max_usd}"),
        ),
        _ => Finding::Undecidable("the request has no cost_usd logged".to_string()),
    }
}
