//! The pure half of the LLM judge: builds the chat completions request of `llm-rubric` and
//! `llm-pairwise`, and reads the judge's reply tolerantly. No I/O, no clock; the HTTP half is
//! `adapters::judge_client`.
//!
//! Parsing rules (never a pass by default):
//! - the reply may be a bare JSON object, or one inside prose or a code fence;
//! - `llm-rubric` passes on an explicit `"pass": true`, or on a score at or above the
//!   assertion's threshold (and then an explicit `"pass": false` still fails); a reply with
//!   neither is unscorable, never a pass;
//! - `llm-pairwise` asks twice with the answers swapped; a verdict that changes under the swap
//!   is a tie. Scores: output wins 1, tie 0.5, reference wins 0; the assertion passes when the
//!   score reaches its threshold (default 0.5: the output is at least as good as the reference).

use serde_json::{Map, Value, json};

use crate::config::JudgeConfig;
use crate::domain::Outcome;
use crate::logic::hash::sha256_hex;

/// The grading instructions of `llm-rubric`.
pub const RUBRIC_SYSTEM: &str = "You are an impartial grader. You grade one response of an AI \
assistant against a rubric. Judge only what the rubric asks. Reply with one JSON object and \
nothing else: {\"pass\": true or false, \"score\": a number from 0 to 1, \"reason\": \"one or \
two sentences\"}. \"pass\" is true only when the response meets the rubric.";

/// The comparison instructions of `llm-pairwise`.
pub const PAIRWISE_SYSTEM: &str = "You are an impartial judge. You compare two responses, A and \
B, to the same request against the criteria given. The order in which they appear must not \
influence you, nor their length. Reply with one JSON object and nothing else: {\"winner\": \
\"A\" or \"B\" or \"tie\", \"reason\": \"one or two sentences\"}.";

/// Version of the user-message layout built in this file; bump it when the layout changes.
const LAYOUT_VERSION: &str = "layout-1";

/// Hash (16 hex) of everything above that shapes a judgment; part of every judge evaluator's
/// version. A unit test recomputes it, so editing a prompt without updating it fails the build.
pub const PROMPT_VERSION: &str = "abe3c79f31ffe15a";

/// The variables a rubric or criteria template may use.
pub const TEMPLATE_VARIABLES: [&str; 3] = ["input", "output", "reference"];

/// What the judge is shown about one request.
#[derive(Debug, Clone, Copy)]
pub struct JudgeSample<'a> {
    /// The request messages (OpenAI `messages` JSON or plain text).
    pub input: &'a str,
    /// The response being judged.
    pub output: &'a str,
    /// The expected answer, when known.
    pub reference: Option<&'a str>,
}

/// A template uses a variable that does not exist.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown template variable `{{{{{name}}}}}`; allowed: {{{{input}}}}, {{{{output}}}}, {{{{reference}}}}"
)]
pub struct TemplateError {
    /// The unknown name.
    pub name: String,
}

/// The verdict read from a judge, before it becomes a `Score`.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeVerdict {
    /// Pass, fail or unscorable.
    pub outcome: Outcome,
    /// A score in [0, 1] when the judge gave a valid one.
    pub score: Option<f64>,
    /// The judge's reason, or why no verdict was reached.
    pub reason: String,
}

impl JudgeVerdict {
    /// An unscorable verdict with `reason`.
    pub fn unscorable(reason: impl Into<String>) -> JudgeVerdict {
        JudgeVerdict {
            outcome: Outcome::Unscorable,
            score: None,
            reason: reason.into(),
        }
    }
}

/// Which answer appears first (as "A") in a pairwise prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairOrder {
    /// A = the output, B = the reference.
    OutputFirst,
    /// A = the reference, B = the output.
    ReferenceFirst,
}

/// Which answer a pairwise judgment preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairWinner {
    /// The output being judged.
    Output,
    /// The reference answer.
    Reference,
    /// Neither.
    Tie,
}

impl PairWinner {
    fn as_str(self) -> &'static str {
        match self {
            PairWinner::Output => "output",
            PairWinner::Reference => "reference",
            PairWinner::Tie => "tie",
        }
    }
}

/// Computes the prompt hash from the texts (what `PROMPT_VERSION` must equal).
pub fn compute_prompt_version() -> String {
    let material = [
        RUBRIC_SYSTEM,
        PAIRWISE_SYSTEM,
        LAYOUT_VERSION,
        &rubric_schema().to_string(),
        &pairwise_schema().to_string(),
    ]
    .join("\n\u{1f}\n");
    sha256_hex(material.as_bytes(), 16)
}

/// The judgment cache key: 32 hex of SHA-256 over the length-prefixed evaluator version,
/// input, output and reference (a missing reference differs from an empty one).
pub fn judgment_cache_key(evaluator_version: &str, sample: &JudgeSample<'_>) -> String {
    let mut material = Vec::with_capacity(
        64 + sample.input.len() + sample.output.len() + sample.reference.map_or(0, str::len),
    );
    let reference_tag: &[u8] = if sample.reference.is_some() {
        b"R"
    } else {
        b"-"
    };
    for part in [
        evaluator_version.as_bytes(),
        sample.input.as_bytes(),
        sample.output.as_bytes(),
        reference_tag,
        sample.reference.unwrap_or("").as_bytes(),
    ] {
        material.extend_from_slice(&(part.len() as u64).to_be_bytes());
        material.extend_from_slice(part);
    }
    sha256_hex(&material, 32)
}

/// The variable names used in `{{ … }}` placeholders of `template`, in order of appearance.
pub fn template_variables(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        names.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    names
}

/// Replaces `{{input}}`, `{{output}}` and `{{reference}}` (spaces inside the braces allowed).
pub fn render_template(template: &str, sample: &JudgeSample<'_>) -> Result<String, TemplateError> {
    let mut rendered = String::with_capacity(template.len() + sample.output.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        rendered.push_str(&rest[..start]);
        let name = after[..end].trim();
        let value = match name {
            "input" => display_input(sample.input),
            "output" => sample.output.to_string(),
            "reference" => sample.reference.unwrap_or("").to_string(),
            other => {
                return Err(TemplateError {
                    name: other.to_string(),
                });
            }
        };
        rendered.push_str(&value);
        rest = &after[end + 2..];
    }
    rendered.push_str(rest);
    Ok(rendered)
}

/// Shows OpenAI `messages` JSON as `role: content` lines; any other text as it is.
pub fn display_input(input: &str) -> String {
    let Ok(Value::Array(messages)) = serde_json::from_str::<Value>(input) else {
        return input.to_string();
    };
    let mut lines = Vec::with_capacity(messages.len());
    for message in &messages {
        let role = message.get("role").and_then(Value::as_str);
        let content = message.get("content").and_then(Value::as_str);
        match (role, content) {
            (Some(role), Some(content)) => lines.push(format!("{role}: {content}")),
            _ => return input.to_string(),
        }
    }
    lines.join("\n")
}

fn rubric_schema() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "required": ["pass", "score", "reason"],
           "properties": {"pass": {"type": "boolean"}, "score": {"type": "number"},
                          "reason": {"type": "string"}}})
}

fn pairwise_schema() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "required": ["winner", "reason"],
           "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]},
                          "reason": {"type": "string"}}})
}

fn chat_body(
    config: &JudgeConfig,
    system: &str,
    user: String,
    schema_name: &str,
    schema: Value,
) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(config.model));
    body.insert(
        "messages".into(),
        json!([{"role": "system", "content": system}, {"role": "user", "content": user}]),
    );
    body.insert("temperature".into(), json!(config.temperature));
    body.insert("seed".into(), json!(config.seed));
    body.insert(
        config.max_tokens_field.as_str().into(),
        json!(config.max_completion_tokens),
    );
    if config.structured_output {
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema",
                   "json_schema": {"name": schema_name, "strict": true, "schema": schema}}),
        );
    }
    Value::Object(body)
}

/// The chat request of one `llm-rubric` judgment.
pub fn rubric_request(
    config: &JudgeConfig,
    rubric: &str,
    sample: &JudgeSample<'_>,
) -> Result<Value, TemplateError> {
    let rendered = render_template(rubric, sample)?;
    let mut user = format!(
        "<rubric>\n{rendered}\n</rubric>\n\n<input>\n{}\n</input>\n\n<output>\n{}\n</output>",
        display_input(sample.input),
        sample.output
    );
    if let Some(reference) = sample.reference {
        user.push_str(&format!("\n\n<reference>\n{reference}\n</reference>"));
    }
    user.push_str("\n\nReply with the JSON object only.");
    Ok(chat_body(
        config,
        RUBRIC_SYSTEM,
        user,
        "judge_verdict",
        rubric_schema(),
    ))
}

/// The chat request of one half of an `llm-pairwise` judgment (the caller asks both orders).
/// `None` when the request has no reference answer to compare against.
pub fn pairwise_request(
    config: &JudgeConfig,
    criteria: &str,
    sample: &JudgeSample<'_>,
    order: PairOrder,
) -> Result<Option<Value>, TemplateError> {
    let Some(reference) = sample.reference else {
        return Ok(None);
    };
    let rendered = render_template(criteria, sample)?;
    let (first, second) = match order {
        PairOrder::OutputFirst => (sample.output, reference),
        PairOrder::ReferenceFirst => (reference, sample.output),
    };
    let user = format!(
        "<criteria>\n{rendered}\n</criteria>\n\n<input>\n{}\n</input>\n\n<response_a>\n{first}\n\
         </response_a>\n\n<response_b>\n{second}\n</response_b>\n\nReply with the JSON object only.",
        display_input(sample.input)
    );
    Ok(Some(chat_body(
        config,
        PAIRWISE_SYSTEM,
        user,
        "pairwise_verdict",
        pairwise_schema(),
    )))
}

/// The first JSON object in `text` that has one of `keys` (bare, in prose or in a code fence).
pub fn extract_json_object(text: &str, keys: &[&str]) -> Option<Map<String, Value>> {
    let has_key = |map: &Map<String, Value>| keys.iter().any(|key| map.contains_key(*key));
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text.trim())
        && has_key(&map)
    {
        return Some(map);
    }
    for (position, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[position..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(map))) = stream.next()
            && has_key(&map)
        {
            return Some(map);
        }
    }
    None
}

fn unparseable(content: &str) -> JudgeVerdict {
    let mut excerpt: String = content.chars().take(160).collect();
    excerpt = excerpt.replace(['\n', '\r'], " ");
    JudgeVerdict::unscorable(format!("unparseable judge reply: {excerpt:?}"))
}

fn read_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "pass" | "passed" | "yes" => Some(true),
            "false" | "fail" | "failed" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn read_score(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (number.is_finite() && (0.0..=1.0).contains(&number)).then_some(number)
}

fn read_reason(map: &Map<String, Value>) -> String {
    for key in ["reason", "rationale", "explanation"] {
        if let Some(Value::String(text)) = map.get(key) {
            return text.trim().to_string();
        }
    }
    String::new()
}

/// The pass flag, score and reason of a rubric reply, when it has a JSON object with one of
/// them readable.
fn read_rubric(content: &str) -> Option<(Option<bool>, Option<f64>, String)> {
    let map = extract_json_object(content, &["pass", "verdict", "score"])?;
    let pass_opt = map
        .get("pass")
        .or_else(|| map.get("verdict"))
        .and_then(read_bool);
    let score_opt = map.get("score").and_then(read_score);
    if pass_opt.is_none() && score_opt.is_none() {
        return None;
    }
    Some((pass_opt, score_opt, read_reason(&map)))
}

/// True when `content` holds a rubric verdict (a pass flag or a score), whatever the
/// assertion's threshold: what `/metrics` counts as a parseable judge reply.
pub fn rubric_reply_parses(content: &str) -> bool {
    read_rubric(content).is_some()
}

/// Reads an `llm-rubric` reply; `threshold` is the assertion's pass threshold, if any.
pub fn parse_rubric_reply(content: &str, threshold_opt: Option<f64>) -> JudgeVerdict {
    let Some((pass_opt, score_opt, reason)) = read_rubric(content) else {
        return unparseable(content);
    };
    let outcome = match (pass_opt, score_opt, threshold_opt) {
        (_, Some(score), Some(threshold)) => {
            if score >= threshold && pass_opt != Some(false) {
                Outcome::Pass
            } else {
                Outcome::Fail
            }
        }
        (Some(true), _, _) => Outcome::Pass,
        (Some(false), _, _) => Outcome::Fail,
        (None, Some(_), None) => {
            return JudgeVerdict {
                outcome: Outcome::Unscorable,
                score: score_opt,
                reason: "judge reply has a score but no pass field, and the assertion has no \
                         threshold"
                    .to_string(),
            };
        }
        // `read_rubric` found neither; kept so the match needs no panic.
        (None, None, _) => return unparseable(content),
    };
    JudgeVerdict {
        outcome,
        score: score_opt,
        reason,
    }
}

/// Reads one half of an `llm-pairwise` judgment: which answer won, or why it is unreadable.
pub fn parse_pairwise_reply(
    content: &str,
    order: PairOrder,
) -> Result<(PairWinner, String), JudgeVerdict> {
    let Some(map) = extract_json_object(content, &["winner"]) else {
        return Err(unparseable(content));
    };
    let Some(Value::String(winner)) = map.get("winner") else {
        return Err(unparseable(content));
    };
    let position = match winner.trim().to_ascii_lowercase().as_str() {
        "a" | "response a" | "response_a" => Some(PairOrder::OutputFirst),
        "b" | "response b" | "response_b" => Some(PairOrder::ReferenceFirst),
        "tie" | "draw" | "equal" => None,
        _ => return Err(unparseable(content)),
    };
    let picked = match (position, order) {
        (None, _) => PairWinner::Tie,
        // "A" won: A is the output when the output came first.
        (Some(PairOrder::OutputFirst), PairOrder::OutputFirst)
        | (Some(PairOrder::ReferenceFirst), PairOrder::ReferenceFirst) => PairWinner::Output,
        _ => PairWinner::Reference,
    };
    Ok((picked, read_reason(&map)))
}

/// Combines the two orders of a pairwise judgment into one verdict.
pub fn combine_pairwise(
    output_first: PairWinner,
    reference_first: PairWinner,
    threshold_opt: Option<f64>,
    reason: &str,
) -> JudgeVerdict {
    let (score, summary) = if output_first == reference_first {
        let score = match output_first {
            PairWinner::Output => 1.0,
            PairWinner::Tie => 0.5,
            PairWinner::Reference => 0.0,
        };
        (score, format!("{} in both orders", output_first.as_str()))
    } else {
        (
            0.5,
            format!(
                "tie: the verdict flipped under the position swap ({} with the output first, {} \
                 with the reference first)",
                output_first.as_str(),
                reference_first.as_str()
            ),
        )
    };
    let threshold = threshold_opt.unwrap_or(0.5);
    let outcome = if score >= threshold {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    let reason = if reason.is_empty() {
        summary
    } else {
        format!("{summary}: {reason}")
    };
    JudgeVerdict {
        outcome,
        score: Some(score),
        reason,
    }
}

#[cfg(test)]
mod tests;
