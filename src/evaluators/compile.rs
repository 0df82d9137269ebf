//! Turns one raw `assert:` entry into an [`Assertion`]: checks which keys apply to its type,
//! compiles regexes, schemas and templates once, and computes the definition hash.

use std::collections::BTreeSet;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::compile_judge::judge_kind;
use super::compile_values::{
    bounds, json_schema, levenshtein, needle_list, number, regex_problem, template, text_value,
    with_file_value,
};
use super::definition_hash::definition_hash;
use super::raw::{RawAssertion, Sink};
use super::rule_type::RuleType;
use super::rules::text::Expected;
use super::rules::{ContainsMode, Needle, RefusalList, RuleCheck, RuleKind, js_regex};
use super::suite::{Assertion, AssertionKind};

/// Judge types (run by the judge engine, not here).
pub const JUDGE_TYPES: &[&str] = &["llm-rubric", "llm-pairwise"];

/// The regex size limit: patterns compiling to more than this are rejected at load.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// The keys beyond `type`, `metric`, `weight` and `gate` that `base` accepts.
fn allowed_keys(base: &str) -> &'static [&'static str] {
    match base {
        "is-json" | "contains-json" => &["value", "schema"],
        "word-count"
        | "char-length"
        | "max-completion-tokens"
        | "latency"
        | "cost"
        | "levenshtein" => &["value", "threshold"],
        "is-refusal" => &["value"],
        "llm-rubric" => &["value", "rubric", "judge", "threshold"],
        "llm-pairwise" => &["value", "criteria", "judge"],
        _ => &["value"],
    }
}

/// Compiles entry `index`; None (with diagnostics in `sink`) when it is invalid.
pub(crate) fn compile_assertion(
    index: usize,
    entry: &Spanned<RawAssertion>,
    judge_names: &BTreeSet<String>,
    sink: &mut Sink<'_>,
) -> Option<Assertion> {
    let written = &entry.value;
    let type_name = written.type_name.value.trim().to_string();
    let (negate, base) = match type_name.strip_prefix("not-") {
        Some(base) => (true, base),
        None => (false, type_name.as_str()),
    };
    let rule_type_opt = RuleType::parse(base);
    if rule_type_opt.is_none() && !JUDGE_TYPES.contains(&base) {
        sink.at(
            &written.type_name,
            format!("unknown assertion type `{type_name}`"),
        );
        return None;
    }
    let resolved = with_file_value(written, base, sink)?;
    let raw = &resolved;
    let before = sink.diagnostics.len();
    check_keys(raw, base, sink);
    let weight = raw.weight.as_ref().map_or(1.0, |weight| weight.value);
    if let Some(spanned) = &raw.weight
        && !(weight.is_finite() && weight >= 0.0)
    {
        sink.at(spanned, "`weight` must be a finite number >= 0");
    }
    if let Some(metric) = &raw.metric
        && (metric.value.trim().is_empty() || metric.value.contains('/'))
    {
        sink.at(metric, "`metric` must be non-empty and without `/`");
    }
    let mut schema_json = None;
    let kind = match rule_type_opt {
        None => judge_kind(raw, base, negate, judge_names, sink),
        Some(rule_type) => rule_kind(raw, rule_type, sink, &mut schema_json)
            .map(|kind| AssertionKind::Rule(RuleCheck { negate, kind })),
    };
    if sink.diagnostics.len() > before {
        return None;
    }
    let Some(kind) = kind else {
        // Every path that gives up reports why; should one not, the entry is still never
        // dropped without a word.
        sink.at(
            &raw.type_name,
            format!("cannot compile `{type_name}` (no reason was given: this is a bug)"),
        );
        return None;
    };
    let id = match &raw.metric {
        Some(metric) => metric.value.trim().to_string(),
        None => format!("{type_name}#{index}"),
    };
    Some(Assertion {
        id,
        definition_hash: definition_hash(raw, &type_name, base, schema_json),
        type_name,
        negate,
        gating: raw.gate.as_ref().is_none_or(|gate| gate.value),
        weight,
        threshold: raw.threshold.as_ref().map(|threshold| threshold.value),
        kind,
    })
}

fn check_keys(raw: &RawAssertion, base: &str, sink: &mut Sink<'_>) {
    fn reject<T>(key: &str, field: Option<&Spanned<T>>, base: &str, sink: &mut Sink<'_>) {
        if let Some(field) = field
            && !allowed_keys(base).contains(&key)
        {
            sink.at(field, format!("`{key}` does not apply to `{base}`"));
        }
    }
    reject("value", raw.value.as_ref(), base, sink);
    reject("threshold", raw.threshold.as_ref(), base, sink);
    reject("schema", raw.schema.as_ref(), base, sink);
    reject("judge", raw.judge.as_ref(), base, sink);
    reject("rubric", raw.rubric.as_ref(), base, sink);
    reject("criteria", raw.criteria.as_ref(), base, sink);
}

fn rule_kind(
    raw: &RawAssertion,
    rule_type: RuleType,
    sink: &mut Sink<'_>,
    schema_json: &mut Option<Value>,
) -> Option<RuleKind> {
    let base = rule_type.name();
    let case_insensitive = base.starts_with("icontains");
    // Exhaustive on purpose: a rule type without an arm does not compile. Every arm that
    // returns `None` has put a diagnostic in `sink` first.
    match rule_type {
        RuleType::Equals => {
            let value = raw.value.as_ref();
            match value.map(|value| &value.value) {
                Some(json @ (Value::Object(_) | Value::Array(_))) => {
                    Some(RuleKind::Equals(Expected::Json(json.clone())))
                }
                _ => {
                    let text = text_value(raw, base, sink)?;
                    Some(RuleKind::Equals(Expected::Text(template(&text, sink)?)))
                }
            }
        }
        RuleType::Contains | RuleType::IContains => {
            let text = text_value(raw, base, sink)?;
            let needle = Needle::new(template(&text, sink)?, case_insensitive);
            Some(RuleKind::Contains {
                needles: vec![needle],
                mode: ContainsMode::One,
                case_insensitive,
            })
        }
        RuleType::ContainsAny
        | RuleType::ContainsAll
        | RuleType::IContainsAny
        | RuleType::IContainsAll => {
            let mode = if base.ends_with("-any") {
                ContainsMode::Any
            } else {
                ContainsMode::All
            };
            let needles = needle_list(raw, base, case_insensitive, sink)?;
            Some(RuleKind::Contains {
                needles,
                mode,
                case_insensitive,
            })
        }
        RuleType::StartsWith => {
            let text = text_value(raw, base, sink)?;
            Some(RuleKind::StartsWith(template(&text, sink)?))
        }
        RuleType::Regex => {
            let text = text_value(raw, base, sink)?;
            match regex::RegexBuilder::new(&js_regex::to_rust(&text.value))
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(regex) => Some(RuleKind::Regex(regex)),
                Err(error) => {
                    sink.at(&text, format!("invalid regex: {}", regex_problem(&error)));
                    None
                }
            }
        }
        RuleType::IsJson | RuleType::ContainsJson => {
            let schema = json_schema(raw, sink, schema_json)?;
            Some(if rule_type == RuleType::IsJson {
                RuleKind::IsJson(schema)
            } else {
                RuleKind::ContainsJson(schema)
            })
        }
        RuleType::WordCount | RuleType::CharLength => {
            let bounds = bounds(raw, base, sink)?;
            Some(if rule_type == RuleType::WordCount {
                RuleKind::WordCount(bounds)
            } else {
                RuleKind::CharLength(bounds)
            })
        }
        RuleType::MaxCompletionTokens => {
            let (limit, at) = number(raw, base, sink)?;
            if limit < 0.0 || limit.fract() != 0.0 || limit > 1e15 {
                sink.at(&at, "`max-completion-tokens` needs a whole number >= 0");
                return None;
            }
            #[allow(clippy::cast_possible_truncation)]
            Some(RuleKind::MaxCompletionTokens(limit as i64))
        }
        RuleType::Latency | RuleType::Cost => {
            let (limit, at) = number(raw, base, sink)?;
            if limit < 0.0 {
                sink.at(&at, format!("`{base}` needs a bound >= 0"));
                return None;
            }
            Some(if rule_type == RuleType::Latency {
                RuleKind::Latency(limit)
            } else {
                RuleKind::Cost(limit)
            })
        }
        RuleType::Levenshtein => levenshtein(raw, sink),
        RuleType::IsRefusal => refusal_list(raw, sink).map(RuleKind::IsRefusal),
    }
}

/// The list of `is-refusal`: `value: promptfoo` (default) or `value: evalgate`.
fn refusal_list(raw: &RawAssertion, sink: &mut Sink<'_>) -> Option<RefusalList> {
    let Some(value) = &raw.value else {
        return Some(RefusalList::Promptfoo);
    };
    let list_opt = value.value.as_str().and_then(RefusalList::parse);
    if list_opt.is_none() {
        sink.at(
            value,
            "`is-refusal` value must be `promptfoo` (the default) or `evalgate` (the stricter list)",
        );
    }
    list_opt
}
