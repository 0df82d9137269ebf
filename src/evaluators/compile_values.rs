//! Value parsing for assertions, shared by the rule compiler (`compile`) and the judge
//! validation (`compile_judge`), which both import from here and never from each other:
//! `value` as text, templates, needle lists, numeric bounds, levenshtein settings, JSON
//! Schemas (inline or from a file) and readable regex errors.

use std::path::Path;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::raw::{RawAssertion, Sink};
use super::rules::{Bounds, Needle, RuleKind, Schema};
use super::template::Template;

/// A template, its parse error reported at its span.
pub(crate) fn template(spanned: &Spanned<String>, sink: &mut Sink<'_>) -> Option<Template> {
    match Template::parse(&spanned.value) {
        Ok(template) => Some(template),
        Err(error) => {
            sink.at(spanned, error.message);
            None
        }
    }
}

/// A string value (numbers are written as text, like promptfoo's `String(value)`).
pub(crate) fn text_value(
    raw: &RawAssertion,
    base: &str,
    sink: &mut Sink<'_>,
) -> Option<Spanned<String>> {
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

/// The one-line cause of a regex error (`unclosed group`), without the caret drawing.
pub(crate) fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    let cause = text
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_string);
    cause.unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub(crate) fn needle_list(
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
pub(crate) fn number(
    raw: &RawAssertion,
    base: &str,
    sink: &mut Sink<'_>,
) -> Option<(f64, Spanned<()>)> {
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

pub(crate) fn bounds(raw: &RawAssertion, base: &str, sink: &mut Sink<'_>) -> Option<Bounds> {
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

pub(crate) fn levenshtein(raw: &RawAssertion, sink: &mut Sink<'_>) -> Option<RuleKind> {
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
pub(crate) fn json_schema(
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

/// The types whose `value: file://…` names a schema, loaded by [`json_schema`] instead.
const SCHEMA_TYPES: &[&str] = &["is-json", "contains-json"];

/// `raw` with a `value: file://path` replaced by the file's contents, as promptfoo loads it:
/// `.json`, `.yaml` and `.yml` files are parsed (JSON is YAML), `.txt` files are text with
/// surrounding whitespace trimmed; other extensions are a load error. The path is relative to
/// the suite file. The loaded value is what the definition hash covers, so editing the file
/// re-versions the assertion. None (with a diagnostic) when the file cannot be used.
pub(crate) fn with_file_value(
    raw: &RawAssertion,
    base: &str,
    sink: &mut Sink<'_>,
) -> Option<RawAssertion> {
    let mut resolved = raw.clone();
    let Some(value) = &raw.value else {
        return Some(resolved);
    };
    let Value::String(text) = &value.value else {
        return Some(resolved);
    };
    let Some(path) = text.strip_prefix("file://") else {
        return Some(resolved);
    };
    if SCHEMA_TYPES.contains(&base) {
        return Some(resolved);
    }
    let file = sink.file.parent().unwrap_or(Path::new(".")).join(path);
    let contents = match std::fs::read_to_string(&file) {
        Ok(contents) => contents,
        Err(error) => {
            sink.at(
                value,
                format!("cannot read value file {}: {error}", file.display()),
            );
            return None;
        }
    };
    let extension = file.extension().and_then(|ext| ext.to_str()).unwrap_or("");
    let loaded = match extension {
        "json" | "yaml" | "yml" => match serde_saphyr::from_str::<Value>(&contents) {
            Ok(parsed) => parsed,
            Err(error) => {
                let first_line = error.to_string();
                let message = first_line.lines().next().unwrap_or("").to_string();
                sink.at(
                    value,
                    format!("value file {} does not parse: {message}", file.display()),
                );
                return None;
            }
        },
        "txt" => Value::String(contents.trim().to_string()),
        _ => {
            sink.at(
                value,
                format!(
                    "value file {} has an unsupported type (use .txt, .json, .yaml or .yml)",
                    file.display()
                ),
            );
            return None;
        }
    };
    resolved.value = Some(Spanned::new(loaded, value.referenced, value.defined));
    Some(resolved)
}
