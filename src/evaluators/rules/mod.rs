//! Rule assertions: compiled once at suite load, evaluated per request without I/O.
//!
//! [`RuleCheck::evaluate`] returns the FINAL result: the `not-` prefix is already applied.
//! Missing data (no latency, no reference, …) is `Unscorable` with a reason, never a pass,
//! and negation never turns an unscorable into a pass.
//!
//! [`RuleCheck::evaluate_row`] takes a [`Row`], which computes the lowercase form of the
//! output at most once for all the case-insensitive rules of a suite (`icontains*`,
//! `is-refusal`), so a suite with several of them folds each output in one pass.

pub mod bounds;
pub mod fold;
pub mod js_regex;
pub mod json;
pub mod json_scan;
pub mod levenshtein;
pub mod refusal;
pub mod refusal_promptfoo;
pub mod text;

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::domain::{Outcome, Request};

pub use bounds::Bounds;
pub use json::Schema;
pub use refusal::RefusalList;
pub use text::{ContainsMode, Needle};

/// The result of one rule on one request. Scores are 1 (pass) or 0 (fail or unscorable).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    /// Pass, fail or unscorable.
    pub outcome: Outcome,
    /// 1.0 for pass, 0.0 otherwise.
    pub score: f64,
    /// What was found, or why no verdict could be reached.
    pub reason: String,
}

impl RuleResult {
    /// An unscorable result with its reason.
    pub fn unscorable(reason: impl Into<String>) -> RuleResult {
        RuleResult {
            outcome: Outcome::Unscorable,
            score: 0.0,
            reason: reason.into(),
        }
    }
}

/// What a rule found before `not-` is applied: whether the property holds and a description
/// of the fact ("output contains \"refund\""), or that the rule cannot be decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The property was decided.
    Decided {
        /// Whether the property (without `not-`) holds.
        holds: bool,
        /// The fact, phrased so it reads right for both outcomes.
        detail: String,
    },
    /// The property cannot be decided on this request.
    Undecidable(String),
}

impl Finding {
    fn decided(holds: bool, detail: impl Into<String>) -> Finding {
        Finding::Decided {
            holds,
            detail: detail.into(),
        }
    }
}

/// One compiled rule assertion: the check and whether it was written with `not-`.
#[derive(Debug, Clone)]
pub struct RuleCheck {
    /// The `not-` prefix: the check passes when the property does NOT hold.
    pub negate: bool,
    /// The compiled check.
    pub kind: RuleKind,
}

/// Every rule family, with its values compiled.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// `equals`: the whole output equals the text, or (object/array value) parses to equal JSON.
    Equals(text::Expected),
    /// `contains`, `icontains`, `contains-any|all`, `icontains-any|all`.
    Contains {
        /// The substrings (templated or literal).
        needles: Vec<Needle>,
        /// One, any or all of them.
        mode: ContainsMode,
        /// `i`-variants fold case.
        case_insensitive: bool,
    },
    /// `starts-with`: the output begins with the text.
    StartsWith(crate::evaluators::template::Template),
    /// `regex`: the pattern matches somewhere in the output (JavaScript's ASCII `\d \w \b`
    /// and whitespace `\s` unless the pattern starts with `(?u)`; see [`js_regex`]).
    Regex(regex::Regex),
    /// `is-json`: the whole output parses as JSON (and matches the schema, if any).
    IsJson(Option<Schema>),
    /// `contains-json`: some JSON object inside the output parses (and matches the schema).
    ContainsJson(Option<Schema>),
    /// `word-count`: whitespace-separated words within bounds.
    WordCount(Bounds),
    /// `char-length`: UTF-16 code units (JavaScript's `length`) within bounds.
    CharLength(Bounds),
    /// `max-completion-tokens`: `completion_tokens` at most this many.
    MaxCompletionTokens(i64),
    /// `latency`: `latency_ms` at most this many milliseconds.
    Latency(f64),
    /// `cost`: `cost_usd` at most this many dollars.
    Cost(f64),
    /// `levenshtein`: edit distance (in UTF-16 units) to the expected text at most `max_distance`.
    Levenshtein {
        /// The expected text, `{{reference}}` by default.
        expected: crate::evaluators::template::Template,
        /// The largest distance that passes.
        max_distance: usize,
    },
    /// `is-refusal`: the output is a refusal (or empty) by the chosen list.
    IsRefusal(RefusalList),
}

/// One request being scored, with what several rules share computed at most once.
#[derive(Debug)]
pub struct Row<'a> {
    /// The request.
    pub request: &'a Request,
    lowered: OnceCell<Cow<'a, str>>,
}

impl<'a> Row<'a> {
    /// A row over `request`; nothing is computed yet.
    pub fn new(request: &'a Request) -> Row<'a> {
        Row {
            request,
            lowered: OnceCell::new(),
        }
    }

    /// The output lowercased (Unicode rules), computed on first use.
    pub fn lowered_output(&self) -> &str {
        self.lowered
            .get_or_init(|| fold::lowercase(&self.request.output))
    }
}

impl RuleCheck {
    /// Evaluates the rule on one request, with `not-` applied.
    pub fn evaluate(&self, request: &Request) -> RuleResult {
        self.evaluate_row(&Row::new(request))
    }

    /// Evaluates the rule on a row (sharing its lowercase output with other rules).
    pub fn evaluate_row(&self, row: &Row<'_>) -> RuleResult {
        let request = row.request;
        let finding = match &self.kind {
            RuleKind::Equals(expected) => text::equals(expected, request),
            RuleKind::Contains {
                needles,
                mode,
                case_insensitive,
            } => {
                let haystack = if *case_insensitive {
                    row.lowered_output()
                } else {
                    request.output.as_str()
                };
                text::contains(needles, *mode, *case_insensitive, haystack, request)
            }
            RuleKind::StartsWith(prefix) => text::starts_with(prefix, request),
            RuleKind::Regex(regex) => text::regex_match(regex, &request.output),
            RuleKind::IsJson(schema) => json::is_json(schema.as_ref(), &request.output),
            RuleKind::ContainsJson(schema) => json::contains_json(schema.as_ref(), &request.output),
            RuleKind::WordCount(bounds) => bounds::word_count(bounds, &request.output),
            RuleKind::CharLength(bounds) => bounds::char_length(bounds, &request.output),
            RuleKind::MaxCompletionTokens(max) => bounds::completion_tokens(*max, request),
            RuleKind::Latency(max) => bounds::latency(*max, request),
            RuleKind::Cost(max) => bounds::cost(*max, request),
            RuleKind::Levenshtein {
                expected,
                max_distance,
            } => text::levenshtein(expected, *max_distance, request),
            RuleKind::IsRefusal(list) => {
                refusal::is_refusal(*list, &request.output, row.lowered_output())
            }
        };
        self.finish(finding)
    }

    fn finish(&self, finding: Finding) -> RuleResult {
        match finding {
            Finding::Undecidable(reason) => RuleResult::unscorable(reason),
            Finding::Decided { holds, detail } => {
                let pass = holds != self.negate;
                let reason = if pass || !self.negate {
                    detail
                } else {
                    format!("negated check failed: {detail}")
                };
                RuleResult {
                    outcome: if pass { Outcome::Pass } else { Outcome::Fail },
                    score: if pass { 1.0 } else { 0.0 },
                    reason,
                }
            }
        }
    }
}

/// Shortens user text quoted in a reason so a 1 MB output never lands in a log line: the
/// first 60 characters (`…` when there were more) quoted and escaped as `{:?}` does, written
/// straight into one string (printable ASCII copied as it is).
pub(crate) fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let end = text
        .char_indices()
        .nth(MAX_CHARS)
        .map_or(text.len(), |(at, _)| at);
    let shown = &text[..end];
    let mut out = String::with_capacity(shown.len() + 8);
    out.push('"');
    let mut run_start = 0;
    for (at, ch) in shown.char_indices() {
        if (' '..='~').contains(&ch) && ch != '"' && ch != '\\' {
            continue;
        }
        out.push_str(&shown[run_start..at]);
        out.extend(ch.escape_debug());
        run_start = at + ch.len_utf8();
    }
    out.push_str(&shown[run_start..]);
    if end < text.len() {
        out.push('…');
    }
    out.push('"');
    out
}

/// A request with only an output, for tests across the evaluators module.
#[cfg(test)]
pub(crate) fn test_request(output: &str) -> Request {
    use chrono::TimeZone;
    Request {
        request_id: "r1".to_string(),
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        tenant_id: "t1".to_string(),
        arm: crate::domain::Arm::Canary,
        model: "m@v1".to_string(),
        rollout_id: None,
        input: "[]".to_string(),
        output: output.to_string(),
        reference: None,
        status: crate::domain::RequestStatus::Ok,
        error: None,
        latency_ms: None,
        ttft_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        metadata: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod promptfoo_tests;
