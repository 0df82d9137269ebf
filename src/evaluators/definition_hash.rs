//! The definition hash of an assertion: SHA-256 over canonical JSON of what decides its result.

use serde_json::{Map, Value};

use super::raw::RawAssertion;
use crate::logic::hash::sha256_hex;

/// The marker of the promptfoo-compatible rule semantics (ASCII regex classes, `JSON.parse`
/// acceptance, UTF-16 lengths and distances, promptfoo's refusal list).
pub(crate) const PROMPTFOO_SEMANTICS: &str = "promptfoo-1";

/// The rule types whose results changed with [`PROMPTFOO_SEMANTICS`].
const SEMANTICS_CHANGED: &[&str] = &[
    "regex",
    "is-json",
    "contains-json",
    "char-length",
    "levenshtein",
    "is-refusal",
];

/// Canonical JSON (keys sorted at every level) of what decides the assertion's result:
/// type, value, threshold, schema (file contents inlined), judge, rubric and criteria.
/// `metric`, `weight` and `gate` are left out: they change how results are reported and
/// combined, not the result itself. `value: file://…` is hashed as the loaded contents.
/// Types whose semantics changed to promptfoo's (issue 14) carry [`PROMPTFOO_SEMANTICS`], so
/// scores stored under the old semantics are not reused for the new version.
pub(crate) fn definition_hash(
    raw: &RawAssertion,
    type_name: &str,
    base: &str,
    schema_json: Option<Value>,
) -> String {
    let mut definition = Map::new();
    definition.insert("type".to_string(), Value::String(type_name.to_string()));
    if SEMANTICS_CHANGED.contains(&base) {
        definition.insert(
            "semantics".to_string(),
            Value::String(PROMPTFOO_SEMANTICS.to_string()),
        );
    }
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
