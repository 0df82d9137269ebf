//! JSON rules: `is-json` and `contains-json`, each with an optional JSON Schema compiled once.
//!
//! `contains-json` finds JSON objects inside prose the way promptfoo does in spirit: every
//! balanced `{…}` region (braces inside JSON strings ignored) that parses is a candidate, and
//! the first one that satisfies the schema wins. Unlike promptfoo, no repair of broken JSON is
//! attempted (see evals/README.md).

use std::fmt;
use std::sync::Arc;

use super::Finding;

/// A compiled JSON Schema, shared read-only across threads.
#[derive(Clone)]
pub struct Schema {
    validator: Arc<jsonschema::Validator>,
    /// Where the schema came from (`inline` or the file path), for reasons.
    pub origin: String,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("origin", &self.origin)
            .finish()
    }
}

impl Schema {
    /// Compiles a schema; the error text says why it is invalid. `format` is asserted.
    pub fn compile(schema: &serde_json::Value, origin: &str) -> Result<Schema, String> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|error| format!("invalid json schema: {error}"))?;
        Ok(Schema {
            validator: Arc::new(validator),
            origin: origin.to_string(),
        })
    }

    /// None when the value conforms, else the first violation.
    fn violation(&self, value: &serde_json::Value) -> Option<String> {
        if self.validator.is_valid(value) {
            return None;
        }
        let first = self.validator.iter_errors(value).next().map(|error| {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            format!("{at}: {error}")
        });
        Some(first.unwrap_or_else(|| "schema violation".to_string()))
    }
}

/// `is-json`: the whole output is one JSON value (surrounding whitespace allowed).
pub fn is_json(schema: Option<&Schema>, output: &str) -> Finding {
    let value = match serde_json::from_str::<serde_json::Value>(output) {
        Ok(value) => value,
        Err(error) => return Finding::decided(false, format!("output is not valid json: {error}")),
    };
    match schema {
        None => Finding::decided(true, "output is valid json"),
        Some(schema) => match schema.violation(&value) {
            None => Finding::decided(true, "output is json matching the schema"),
            Some(violation) => Finding::decided(
                false,
                format!(
                    "output is json but violates the schema: {}",
                    shorten(&violation)
                ),
            ),
        },
    }
}

/// `contains-json`: some JSON object inside the output (matching the schema, if any).
pub fn contains_json(schema: Option<&Schema>, output: &str) -> Finding {
    let objects = extract_json_objects(output);
    if objects.is_empty() {
        return Finding::decided(false, "output contains no json object");
    }
    let Some(schema) = schema else {
        return Finding::decided(
            true,
            format!("output contains {} json object(s)", objects.len()),
        );
    };
    let mut first_violation = None;
    for object in &objects {
        match schema.violation(object) {
            None => {
                return Finding::decided(true, "output contains a json object matching the schema");
            }
            Some(violation) => {
                first_violation.get_or_insert(violation);
            }
        }
    }
    let violation = first_violation.unwrap_or_default();
    Finding::decided(
        false,
        format!(
            "output contains {} json object(s), none matching the schema: {}",
            objects.len(),
            shorten(&violation)
        ),
    )
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX).collect();
    short.push('…');
    short
}

/// At most this many candidate regions are parsed, so adversarial text stays cheap.
const MAX_CANDIDATES: usize = 256;

/// Every outermost JSON object found in `text`, in order. One pass pairs braces (ignoring
/// braces inside JSON strings); balanced regions are then parsed outermost first. A region
/// that does not parse is skipped and the objects nested in it are tried, so
/// `{not json {"a":1}}` yields `{"a":1}`; an unclosed `{` never hides a later object.
pub fn extract_json_objects(text: &str) -> Vec<serde_json::Value> {
    let bytes = text.as_bytes();
    let mut regions = balanced_regions(bytes);
    regions.sort_unstable();
    let mut objects = Vec::new();
    let mut next_free = 0;
    let mut attempts = 0;
    for (open, close) in regions {
        if open < next_free {
            continue;
        }
        if attempts == MAX_CANDIDATES {
            break;
        }
        attempts += 1;
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes[open..=close]) {
            objects.push(value);
            next_free = close + 1;
        }
    }
    objects
}

/// Every balanced `{…}` pair as (open, close) byte indices, in order of closing.
fn balanced_regions(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut regions = Vec::new();
    let mut open_braces: Vec<usize> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            // Quotes only open strings inside braces: prose apostrophes and quotes are text.
            b'"' if !open_braces.is_empty() => in_string = true,
            b'{' => open_braces.push(index),
            b'}' => {
                if let Some(open) = open_braces.pop() {
                    regions.push((open, index));
                }
            }
            _ => {}
        }
    }
    regions
}
