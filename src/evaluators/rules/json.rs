//! JSON rules: `is-json` and `contains-json`, each with an optional JSON Schema compiled once.
//!
//! Both accept JSON the way JavaScript's `JSON.parse` does (promptfoo), huge numbers and lone
//! surrogate escapes included (see [`super::json_scan`]). `contains-json` finds JSON objects
//! inside prose: the leftmost `{` that starts a JSON object wins, the scan continues after it,
//! and the first object that satisfies the schema passes. Unlike promptfoo, no repair of
//! broken JSON is attempted (see evals/README.md).

use std::fmt;
use std::sync::Arc;

use super::{Finding, json_scan};

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

/// `is-json`: the whole output is one JSON value (JSON whitespace around it allowed).
pub fn is_json(schema: Option<&Schema>, output: &str) -> Finding {
    let Some(schema) = schema else {
        return if json_scan::is_valid(output) {
            Finding::decided(true, "output is valid json")
        } else {
            let error = json_scan::parse(output).err().unwrap_or_default();
            Finding::decided(false, format!("output is not valid json: {error}"))
        };
    };
    let value = match json_scan::parse(output) {
        Ok(value) => value,
        Err(error) => return Finding::decided(false, format!("output is not valid json: {error}")),
    };
    match schema.violation(&value) {
        None => Finding::decided(true, "output is json matching the schema"),
        Some(violation) => Finding::decided(
            false,
            format!(
                "output is json but violates the schema: {}",
                shorten(&violation)
            ),
        ),
    }
}

/// `contains-json`: some JSON object inside the output (matching the schema, if any).
pub fn contains_json(schema: Option<&Schema>, output: &str) -> Finding {
    let ranges = match json_scan::object_ranges(output) {
        Ok(ranges) => ranges,
        Err(stopped) => {
            return Finding::Undecidable(format!(
                "contains-json stopped at byte {} of {}: the text has too many brace runs that are \
                 not json to scan in linear time ({} object(s) found before)",
                stopped.at,
                output.len(),
                stopped.found
            ));
        }
    };
    if ranges.is_empty() {
        return Finding::decided(false, "output contains no json object");
    }
    let Some(schema) = schema else {
        return Finding::decided(
            true,
            format!("output contains {} json object(s)", ranges.len()),
        );
    };
    let mut first_violation = None;
    for &(start, end) in &ranges {
        let violation = match json_scan::parse(&output[start..end]) {
            Ok(object) => schema.violation(&object),
            Err(error) => Some(format!("cannot build the object at byte {start}: {error}")),
        };
        match violation {
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
            ranges.len(),
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
