//! Turns one raw `assert:` entry into an [`Assertion`]: checks which keys apply to its type,
//! compiles regexes, schemas and templates once, and computes the definition hash.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::load::{RawAssertion, Sink};
use super::rules::text::Expected;
use super::rules::{Bounds, ContainsMode, Needle, RuleCheck, RuleKind, Schema};
use super::suite::{Assertion, AssertionKind, PairwiseSpec, RubricSpec};
use super::template::Template;
use crate::logic::hash::sha256_hex;

/// Every rule type (without `not-`).
pub const RULE_TYPES: &[&str] = &[
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "icontains-any",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "word-count",
    "char-length",
    "max-completion-tokens",
    "latency",
    "cost",
    "levenshtein",
    "is-refusal",
];

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
        "is-refusal" => &[],
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
    let raw = &entry.value;
    let type_name = raw.type_name.value.trim().to_string();
    let (negate, base) = match type_name.strip_prefix("not-") {
        Some(base) => (true, base),
        None => (false, type_name.as_str()),
    };
    if !RULE_TYPES.contains(&base) && !JUDGE_TYPES.contains(&base) {
        sink.at(
            &raw.type_name,
            format!("unknown assertion type `{type_name}`"),
        );
        return None;
    }
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
    let kind = match base {
        "llm-rubric" | "llm-pairwise" => judge_kind(raw, base, negate, judge_names, sink),
        _ => rule_kind(raw, base, sink, &mut schema_json)
            .map(|kind| AssertionKind::Rule(RuleCheck { negate, kind })),
    };
    if sink.diagnostics.len() > before {
        return None;
    }
    let kind = kind?;
    let id = match &raw.metric {
        Some(metric) => metric.value.trim().to_string(),
        None => format!("{type_name}#{index}"),
    };
    Some(Assertion {
        id,
        definition_hash: definition_hash(raw, &type_name, schema_json),
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

fn template(spanned: &Spanned<String>, sink: &mut Sink<'_>) -> Option<Template> {
    match Template::parse(&spanned.value) {
        Ok(template) => Some(template),
        Err(error) => {
            sink.at(spanned, error.message);
            None
        }
    }
}

/// A string value (numbers are written as text, like promptfoo's `String(value)`).
fn text_value(raw: &RawAssertion, base: &str, sink: &mut Sink<'_>) -> Option<Spanned<String>> {
    let Some(value) = &raw.value else {
        sink.at(&raw.type_name, format!("`{base}` needs a `value`"));
        return None;
    };
    let text = match &value.value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => {
            sink.at(value, format!("`{base}` needs a string `value`"));
            return None;
        }
    };
    if text.is_empty() {
        sink.at(value, format!("`{base}` needs a non-empty `value`"));
        return None;
    }
    Some(Spanned::new(text, value.referenced, value.defined))
}

fn rule_kind(
    raw: &RawAssertion,
    base: &str,
    sink: &mut Sink<'_>,
    schema_json: &mut Option<Value>,
) -> Option<RuleKind> {
    let case_insensitive = base.starts_with("icontains");
    match base {
        "equals" => {
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
        "contains" | "icontains" => {
            let text = text_value(raw, base, sink)?;
            let needle = Needle::new(template(&text, sink)?, case_insensitive);
            Some(RuleKind::Contains {
                needles: vec![needle],
                mode: ContainsMode::One,
                case_insensitive,
            })
        }
        "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => {
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
        "starts-with" => {
            let text = text_value(raw, base, sink)?;
            Some(RuleKind::StartsWith(template(&text, sink)?))
        }
        "regex" => {
            let text = text_value(raw, base, sink)?;
            match regex::RegexBuilder::new(&text.value)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(regex) => Some(RuleKind::Regex(regex)),
                Err(error) => {
                    let message = error.to_string().replace('\n', " ");
                    sink.at(
                        &text,
                        format!(
                            "invalid regex: {}",
                            message.split_whitespace().collect::<Vec<_>>().join(" ")
                        ),
                    );
                    None
                }
            }
        }
        "is-json" | "contains-json" => {
            let schema = json_schema(raw, sink, schema_json)?;
            Some(if base == "is-json" {
                RuleKind::IsJson(schema)
            } else {
                RuleKind::ContainsJson(schema)
            })
        }
        "word-count" | "char-length" => {
            let bounds = bounds(raw, base, sink)?;
            Some(if base == "word-count" {
                RuleKind::WordCount(bounds)
            } else {
                RuleKind::CharLength(bounds)
            })
        }
        "max-completion-tokens" => {
            let (limit, at) = number(raw, base, sink)?;
            if limit < 0.0 || limit.fract() != 0.0 || limit > 1e15 {
                sink.at(&at, "`max-completion-tokens` needs a whole number >= 0");
                return None;
            }
            #[allow(clippy::cast_possible_truncation)]
            Some(RuleKind::MaxCompletionTokens(limit as i64))
        }
        "latency" | "cost" => {
            let (limit, at) = number(raw, base, sink)?;
            if limit < 0.0 {
                sink.at(&at, format!("`{base}` needs a bound >= 0"));
                return None;
            }
            Some(if base == "latency" {
                RuleKind::Latency(limit)
            } else {
                RuleKind::Cost(limit)
            })
        }
        "levenshtein" => levenshtein(raw, sink),
        "is-refusal" => Some(RuleKind::IsRefusal),
        _ => None,
    }
}

fn needle_list(
    raw: &RawAssertion,
    base: &str,
    case_insensitive: bool,
    sink: &mut Sink<'_>,
) -> Option<Vec<Needle>> {
    let Some(value) = &raw.value else {
        sink.at(&raw.type_name, format!("`{base}` needs a `value` list"));
        return None;
    };
    let items: Vec<String> = match &value.value {
        // promptfoo splits a string value on commas.
        Value::String(text) => text
            .split(',')
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect(),
        Value::Array(items) => {
            let mut texts = Vec::new();
            for item in items {
                match item {
                    Value::String(text) if !text.is_empty() => texts.push(text.clone()),
                    Value::Number(number) => texts.push(number.to_string()),
                    _ => {
                        sink.at(value, format!("`{base}` needs a list of non-empty strings"));
                        return None;
                    }
                }
            }
            texts
        }
        _ => {
            sink.at(value, format!("`{base}` needs a list of strings"));
            return None;
        }
    };
    if items.is_empty() {
        sink.at(value, format!("`{base}` needs at least one string"));
        return None;
    }
    let mut needles = Vec::new();
    for item in items {
        let spanned = Spanned::new(item, value.referenced, value.defined);
        needles.push(Needle::new(template(&spanned, sink)?, case_insensitive));
    }
    Some(needles)
}

/// `value` or `threshold` as a number, with where it was written.
fn number(raw: &RawAssertion, base: &str, sink: &mut Sink<'_>) -> Option<(f64, Spanned<()>)> {
    let span = |referenced, defined| Spanned::new((), referenced, defined);
    match (&raw.value, &raw.threshold) {
        (Some(value), None) => match value.value.as_f64() {
            Some(number) if number.is_finite() => {
                Some((number, span(value.referenced, value.defined)))
            }
            _ => {
                sink.at(value, format!("`{base}` needs a number"));
                None
            }
        },
        (None, Some(threshold)) if threshold.value.is_finite() => Some((
            threshold.value,
            span(threshold.referenced, threshold.defined),
        )),
        (Some(value), Some(_)) => {
            sink.at(
                value,
                format!("`{base}` takes `value` or `threshold`, not both"),
            );
            None
        }
        _ => {
            sink.at(&raw.type_name, format!("`{base}` needs a `threshold`"));
            None
        }
    }
}

fn bounds(raw: &RawAssertion, base: &str, sink: &mut Sink<'_>) -> Option<Bounds> {
    let as_count = |value: &Value| value.as_u64().and_then(|count| usize::try_from(count).ok());
    if let Some(value) = &raw.value
        && let Value::Object(map) = &value.value
    {
        if raw.threshold.is_some() {
            sink.at(
                value,
                format!("`{base}` takes `value` or `threshold`, not both"),
            );
            return None;
        }
        let unknown: Vec<&String> = map
            .keys()
            .filter(|key| !matches!(key.as_str(), "min" | "max"))
            .collect();
        let min = map.get("min").map(as_count);
        let max = map.get("max").map(as_count);
        if !unknown.is_empty()
            || min == Some(None)
            || max == Some(None)
            || (min.is_none() && max.is_none())
        {
            sink.at(
                value,
                format!("`{base}` value must be `{{min: N, max: N}}` with whole numbers"),
            );
            return None;
        }
        let bounds = Bounds {
            min: min.flatten(),
            max: max.flatten(),
        };
        if let (Some(min), Some(max)) = (bounds.min, bounds.max)
            && min > max
        {
            sink.at(value, format!("`{base}` has min {min} above max {max}"));
            return None;
        }
        return Some(bounds);
    }
    let exact = raw.value.is_some();
    let (count, at) = number(raw, base, sink)?;
    if count < 0.0 || count.fract() != 0.0 || count > 1e15 {
        sink.at(&at, format!("`{base}` needs a whole number >= 0"));
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let count = count as usize;
    // `value: N` is an exact count (promptfoo); `threshold: N` is a maximum.
    Some(if exact {
        Bounds {
            min: Some(count),
            max: Some(count),
        }
    } else {
        Bounds {
            min: None,
            max: Some(count),
        }
    })
}

fn levenshtein(raw: &RawAssertion, sink: &mut Sink<'_>) -> Option<RuleKind> {
    let expected = match &raw.value {
        Some(_) => template(&text_value(raw, "levenshtein", sink)?, sink)?,
        None => Template::parse("{{reference}}").ok()?,
    };
    let max_distance = match &raw.threshold {
        None => 5,
        Some(threshold)
            if threshold.value >= 0.0
                && threshold.value.fract() == 0.0
                && threshold.value < 1e9 =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let distance = threshold.value as usize;
            distance
        }
        Some(threshold) => {
            sink.at(threshold, "`levenshtein` threshold must be a whole number >= 0 (the largest distance that passes)");
            return None;
        }
    };
    Some(RuleKind::Levenshtein {
        expected,
        max_distance,
    })
}

/// The schema of `is-json` / `contains-json`: `schema:` or `value:`, inline or `{file: path}`
/// (or `file://path`), relative to the suite file. The resolved JSON goes to `schema_json`.
fn json_schema(
    raw: &RawAssertion,
    sink: &mut Sink<'_>,
    schema_json: &mut Option<Value>,
) -> Option<Option<Schema>> {
    let spanned = match (&raw.schema, &raw.value) {
        (None, None) => return Some(None),
        (Some(schema), None) | (None, Some(schema)) => schema,
        (Some(schema), Some(_)) => {
            sink.at(schema, "give the schema as `schema` or `value`, not both");
            return None;
        }
    };
    let file_ref = match &spanned.value {
        Value::String(text) => match text.strip_prefix("file://") {
            Some(path) => Some(path.to_string()),
            None => {
                sink.at(
                    spanned,
                    "a schema must be an object, `{file: path}` or `file://path`",
                );
                return None;
            }
        },
        Value::Object(map) if map.len() == 1 && map.contains_key("file") => match map.get("file") {
            Some(Value::String(path)) => Some(path.clone()),
            _ => {
                sink.at(spanned, "`file` must be a path string");
                return None;
            }
        },
        Value::Object(_) | Value::Bool(_) => None,
        _ => {
            sink.at(
                spanned,
                "a schema must be an object, `{file: path}` or `file://path`",
            );
            return None;
        }
    };
    let (json, origin) = match file_ref {
        Some(path) => {
            let resolved = sink.file.parent().unwrap_or(Path::new(".")).join(&path);
            let text = match std::fs::read_to_string(&resolved) {
                Ok(text) => text,
                Err(error) => {
                    sink.at(
                        spanned,
                        format!("cannot read schema file {}: {error}", resolved.display()),
                    );
                    return None;
                }
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(json) => (json, path),
                Err(error) => {
                    sink.at(
                        spanned,
                        format!("schema file {} is not json: {error}", resolved.display()),
                    );
                    return None;
                }
            }
        }
        None => (spanned.value.clone(), "inline".to_string()),
    };
    match Schema::compile(&json, &origin) {
        Ok(schema) => {
            *schema_json = Some(json);
            Some(Some(schema))
        }
        Err(message) => {
            sink.at(spanned, message);
            None
        }
    }
}

fn judge_kind(
    raw: &RawAssertion,
    base: &str,
    negate: bool,
    judge_names: &BTreeSet<String>,
    sink: &mut Sink<'_>,
) -> Option<AssertionKind> {
    let judge = match &raw.judge {
        Some(judge) if judge_names.contains(judge.value.trim()) => judge.value.trim().to_string(),
        Some(judge) => {
            let known = judge_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let known = if known.is_empty() {
                "none are configured".to_string()
            } else {
                format!("known: {known}")
            };
            sink.at(judge, format!("unknown judge `{}` ({known})", judge.value));
            return None;
        }
        None if judge_names.len() == 1 => judge_names.iter().next()?.clone(),
        None => {
            sink.at(
                &raw.type_name,
                format!("`{base}` needs a `judge` (a name from [judges] in evalgate.toml)"),
            );
            return None;
        }
    };
    let (field, name) = if base == "llm-rubric" {
        (&raw.rubric, "rubric")
    } else {
        (&raw.criteria, "criteria")
    };
    let text = match (field, &raw.value) {
        (Some(text), None) => text.clone(),
        (None, Some(_)) => text_value(raw, base, sink)?,
        (Some(text), Some(_)) => {
            sink.at(
                text,
                format!("give the {name} as `{name}` or `value`, not both"),
            );
            return None;
        }
        (None, None) => {
            sink.at(&raw.type_name, format!("`{base}` needs a `{name}`"));
            return None;
        }
    };
    let parsed = template(&text, sink)?;
    if base == "llm-rubric" {
        if let Some(threshold) = &raw.threshold
            && !(0.0..=1.0).contains(&threshold.value)
        {
            sink.at(threshold, "`llm-rubric` threshold must be between 0 and 1");
            return None;
        }
        Some(AssertionKind::Rubric(RubricSpec {
            judge,
            rubric: text.value,
            template: parsed,
        }))
    } else {
        if negate {
            sink.at(
                &raw.type_name,
                "`not-llm-pairwise` is not supported (swap the reference instead)",
            );
            return None;
        }
        Some(AssertionKind::Pairwise(PairwiseSpec {
            judge,
            criteria: text.value,
            template: parsed,
        }))
    }
}

/// Canonical JSON (keys sorted at every level) of what decides the assertion's result:
/// type, value, threshold, schema (file contents inlined), judge, rubric and criteria.
/// `metric`, `weight` and `gate` are left out: they change how results are reported and
/// combined, not the result itself.
fn definition_hash(raw: &RawAssertion, type_name: &str, schema_json: Option<Value>) -> String {
    let mut definition = Map::new();
    definition.insert("type".to_string(), Value::String(type_name.to_string()));
    if let Some(value) = &raw.value {
        definition.insert("value".to_string(), value.value.clone());
    }
    if let Some(threshold) = &raw.threshold {
        definition.insert("threshold".to_string(), Value::from(threshold.value));
    }
    if let Some(schema) = schema_json {
        definition.insert("schema".to_string(), schema);
    }
    for (key, field) in [
        ("judge", &raw.judge),
        ("rubric", &raw.rubric),
        ("criteria", &raw.criteria),
    ] {
        if let Some(field) = field {
            definition.insert(key.to_string(), Value::String(field.value.clone()));
        }
    }
    let canonical = canonical_json(&Value::Object(definition));
    sha256_hex(canonical.as_bytes(), 16)
}

/// Serialises with object keys sorted at every level, whatever map order serde_json uses.
pub(crate) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| {
                    format!(
                        "{}:{}",
                        Value::String(key.clone()),
                        canonical_json(&map[key])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}
