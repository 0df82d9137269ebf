//! The stored format of a rollout's `plan` and `state` columns: the one place they are encoded
//! for a write and decoded after a read. Each value carries `format_version` (currently
//! [`FORMAT_VERSION`]); a value without it was written before the field existed and is read as
//! version 1, the current shape. A version newer than this binary reads is an error naming the
//! rollout and the column, never decoded as if it were the current shape (a newer binary's
//! rollout must not be driven, or killed, on a guess). Within a version, plan keys this version
//! does not know are dropped (`Plan::from_stored`), so adding an optional key needs no new
//! version; a change an older binary would misread does.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::rollout::{Plan, RolloutState};

/// The stored format this binary writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

/// The key of the format version inside the stored JSON object.
pub const FORMAT_KEY: &str = "format_version";

/// The rollout columns that hold a versioned value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `rollouts.plan`.
    Plan,
    /// `rollouts.state`.
    State,
}

impl Column {
    /// The column's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Column::Plan => "plan",
            Column::State => "state",
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a stored plan or state cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Written by a newer evalgate in a format this one does not read.
    #[error(
        "rollout {rollout_id}: column `{column}` is in stored format version {found}, newer than \
         this evalgate reads (up to {FORMAT_VERSION}); run a newer evalgate"
    )]
    Newer {
        /// The rollout.
        rollout_id: String,
        /// The column.
        column: Column,
        /// The version stored.
        found: u64,
    },
    /// The version field is not a positive integer.
    #[error(
        "rollout {rollout_id}: column `{column}` has `{FORMAT_KEY}` {found}, not a positive integer"
    )]
    BadVersion {
        /// The rollout.
        rollout_id: String,
        /// The column.
        column: Column,
        /// The value stored.
        found: Value,
    },
    /// The value does not decode in its format.
    #[error("rollout {rollout_id}: column `{column}` does not parse: {source}")]
    Decode {
        /// The rollout.
        rollout_id: String,
        /// The column.
        column: Column,
        /// The decoder's reason.
        source: serde_json::Error,
    },
    /// The value to write does not encode (a bug: the domain types always serialize).
    #[error("cannot encode the rollout {column}: {source}")]
    Encode {
        /// The column.
        column: Column,
        /// The encoder's reason.
        source: serde_json::Error,
    },
}

/// The `plan` column's value for `plan`.
pub fn encode_plan(plan: &Plan) -> Result<Value, FormatError> {
    encode(plan, Column::Plan)
}

/// The `state` column's value for `state`.
pub fn encode_state(state: &RolloutState) -> Result<Value, FormatError> {
    encode(state, Column::State)
}

/// Decodes rollout `rollout_id`'s stored `plan` column.
pub fn decode_plan(rollout_id: &str, stored: &Value) -> Result<Plan, FormatError> {
    let value = current_shape(rollout_id, Column::Plan, stored)?;
    Plan::from_stored(&value).map_err(|source| FormatError::Decode {
        rollout_id: rollout_id.to_string(),
        column: Column::Plan,
        source,
    })
}

/// Decodes rollout `rollout_id`'s stored `state` column.
pub fn decode_state(rollout_id: &str, stored: &Value) -> Result<RolloutState, FormatError> {
    decode(rollout_id, Column::State, stored)
}

fn encode(value: &impl Serialize, column: Column) -> Result<Value, FormatError> {
    let mut encoded =
        serde_json::to_value(value).map_err(|source| FormatError::Encode { column, source })?;
    if let Some(object) = encoded.as_object_mut() {
        object.insert(FORMAT_KEY.to_string(), Value::from(FORMAT_VERSION));
    }
    Ok(encoded)
}

fn decode<T: DeserializeOwned>(
    rollout_id: &str,
    column: Column,
    stored: &Value,
) -> Result<T, FormatError> {
    let value = current_shape(rollout_id, column, stored)?;
    serde_json::from_value(value).map_err(|source| FormatError::Decode {
        rollout_id: rollout_id.to_string(),
        column,
        source,
    })
}

/// The stored value in the current shape, without its version field: version 1 (or none) is
/// the current shape; anything else is an error.
fn current_shape(rollout_id: &str, column: Column, stored: &Value) -> Result<Value, FormatError> {
    let mut value = stored.clone();
    let Some(object) = value.as_object_mut() else {
        return Ok(value);
    };
    let Some(found) = object.remove(FORMAT_KEY) else {
        return Ok(value);
    };
    match found.as_u64() {
        Some(FORMAT_VERSION) => Ok(value),
        Some(version) if version > FORMAT_VERSION => Err(FormatError::Newer {
            rollout_id: rollout_id.to_string(),
            column,
            found: version,
        }),
        _ => Err(FormatError::BadVersion {
            rollout_id: rollout_id.to_string(),
            column,
            found,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state() -> RolloutState {
        RolloutState::new("r1", "flag", "team", chrono::DateTime::UNIX_EPOCH)
    }

    #[test]
    fn what_is_written_carries_the_version_and_reads_back() {
        let plan = Plan::seed_default();
        let stored = encode_plan(&plan).unwrap();
        assert_eq!(stored[FORMAT_KEY], json!(FORMAT_VERSION));
        assert_eq!(decode_plan("r1", &stored).unwrap(), plan);
        let stored = encode_state(&state()).unwrap();
        assert_eq!(stored[FORMAT_KEY], json!(FORMAT_VERSION));
        assert_eq!(decode_state("r1", &stored).unwrap(), state());
    }

    #[test]
    fn a_value_without_a_version_is_the_current_shape() {
        let plan = serde_json::to_value(Plan::seed_default()).unwrap();
        assert_eq!(decode_plan("r1", &plan).unwrap(), Plan::seed_default());
        let state_value = serde_json::to_value(state()).unwrap();
        assert_eq!(decode_state("r1", &state_value).unwrap(), state());
    }

    #[test]
    fn a_newer_version_is_an_error_naming_the_rollout_and_the_column() {
        let mut stored = encode_state(&state()).unwrap();
        stored[FORMAT_KEY] = json!(FORMAT_VERSION + 1);
        let err = decode_state("r7", &stored).unwrap_err();
        assert!(matches!(
            err,
            FormatError::Newer {
                column: Column::State,
                found: 2,
                ..
            }
        ));
        let text = err.to_string();
        assert!(text.contains("rollout r7"), "{text}");
        assert!(text.contains("column `state`"), "{text}");
        let mut plan = encode_plan(&Plan::seed_default()).unwrap();
        plan[FORMAT_KEY] = json!(9);
        let text = decode_plan("r7", &plan).unwrap_err().to_string();
        assert!(
            text.contains("column `plan`") && text.contains("version 9"),
            "{text}"
        );
    }

    #[test]
    fn a_version_that_is_not_a_positive_integer_is_an_error() {
        for bad in [json!(0), json!("1"), json!(1.5), json!(null)] {
            let mut stored = encode_state(&state()).unwrap();
            stored[FORMAT_KEY] = bad.clone();
            assert!(
                matches!(
                    decode_state("r1", &stored),
                    Err(FormatError::BadVersion { .. })
                ),
                "{bad}"
            );
        }
    }
}
