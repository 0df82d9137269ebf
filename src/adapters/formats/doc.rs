//! The lookup every gateway format shares: one document's object, read through tables of
//! candidate field paths ([`Spec`]) — evalgate's metadata keys in each place the source carries
//! request metadata first, then the source's own fields — with typed getters whose rejects name
//! the source and the field.
//!
//! Paths are dotted (`metadata.requester_metadata.evalgate_arm`); a numeric segment indexes an
//! array (`choices.0.message.content`). In flat mode (OTLP attributes) a path is one whole key.
//! A null, an empty string and an empty object or array count as absent.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::content::{chat_messages, decode_embedded, text_of};
use super::reject::{ParseLimits, Reject, RejectKind, type_name};
use super::time::{self, FORMS};
use crate::domain::{Arm, Timestamp};

/// Where to look for one contract field: evalgate's metadata keys (tried in every metadata
/// location of the source, key by key) and then the source's native paths.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The contract field, as reasons name it (`tenant`, `arm`, `ts`).
    pub field: &'static str,
    /// Metadata keys, most specific first (`evalgate_tenant`, `tenant_id`).
    pub meta_keys: &'static [&'static str],
    /// The source's own paths, in order.
    pub native: &'static [&'static str],
    /// How to supply the field when none is set, for the reject reason.
    pub how: &'static str,
}

/// evalgate's own keys where a source keeps request metadata (the LiteLLM hook writes the
/// `evalgate_*` ones); the same in every source that has metadata.
pub const ARM: Spec = Spec {
    field: "arm",
    meta_keys: &["evalgate_arm", "arm"],
    native: &[],
    how: "",
};
/// See [`ARM`].
pub const ROLLOUT: Spec = Spec {
    field: "rollout",
    meta_keys: &["evalgate_rollout_id", "rollout_id"],
    native: &[],
    how: "",
};
/// See [`ARM`].
pub const FLAG: Spec = Spec {
    field: "flag",
    meta_keys: &["evalgate_flag"],
    native: &[],
    how: "",
};

impl Spec {
    /// A spec with native paths only.
    pub const fn native(field: &'static str, native: &'static [&'static str]) -> Spec {
        Spec {
            field,
            meta_keys: &[],
            native,
            how: "",
        }
    }
}

/// One document of a source, with its metadata locations.
pub struct Doc<'a> {
    /// The format name, the first word of every reason.
    pub source: &'static str,
    object: Cow<'a, Map<String, Value>>,
    locations: &'static [&'static str],
    limits: ParseLimits,
    flat: bool,
}

impl<'a> Doc<'a> {
    /// A document whose `embedded` top-level fields may hold JSON as text (ClickHouse `String`
    /// columns, `Map(String, String)` values): those are decoded before lookups.
    pub fn new(
        source: &'static str,
        object: &'a Map<String, Value>,
        locations: &'static [&'static str],
        embedded: &[&str],
        limits: ParseLimits,
    ) -> Doc<'a> {
        let needs_decoding = embedded
            .iter()
            .any(|key| object.get(*key).is_some_and(holds_text));
        let object = if needs_decoding {
            let mut owned = object.clone();
            for key in embedded {
                if let Some(value) = owned.get_mut(*key) {
                    decode_embedded(value, 2);
                }
            }
            Cow::Owned(owned)
        } else {
            Cow::Borrowed(object)
        };
        Doc {
            source,
            object,
            locations,
            limits,
            flat: false,
        }
    }

    /// A document whose paths are whole keys (OTLP attribute maps).
    pub fn flat(source: &'static str, object: Map<String, Value>, limits: ParseLimits) -> Doc<'a> {
        Doc {
            source,
            object: Cow::Owned(object),
            locations: &[],
            limits,
            flat: true,
        }
    }

    /// The present value at `path`.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let value = if self.flat {
            self.object.get(path)?
        } else {
            let mut segments = path.split('.');
            let mut current = self.object.get(segments.next()?)?;
            for segment in segments {
                current = match current {
                    Value::Object(inner) => inner.get(segment)?,
                    Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                    _ => return None,
                };
            }
            current
        };
        (!is_blank(value)).then_some(value)
    }

    /// Every path `spec` tries, in order.
    pub fn paths(&self, spec: &Spec) -> Vec<String> {
        let mut paths = Vec::new();
        for key in spec.meta_keys {
            for location in self.locations {
                paths.push(format!("{location}.{key}"));
            }
        }
        paths.extend(spec.native.iter().map(|path| path.to_string()));
        paths
    }

    /// The first present value `spec` finds, with its path.
    pub fn lookup(&self, spec: &Spec) -> Option<(String, &Value)> {
        for path in self.paths(spec) {
            if let Some(value) = self.get(&path) {
                return Some((path, value));
            }
        }
        None
    }

    /// A reject of `kind` whose reason starts with the source.
    pub fn reject(&self, kind: RejectKind, reason: impl std::fmt::Display) -> Reject {
        Reject::new(kind, format!("{}: {reason}", self.source))
    }

    /// The reject for `spec` finding nothing: which paths were tried, and how to supply it.
    pub fn missing(&self, spec: &Spec) -> Reject {
        let mut reason = format!("no {}: none of ", spec.field);
        let native: Vec<String> = spec.native.iter().map(|path| format!("`{path}`")).collect();
        reason.push_str(&native.join(", "));
        if !spec.meta_keys.is_empty() && !self.locations.is_empty() {
            let keys: Vec<String> = spec
                .meta_keys
                .iter()
                .map(|key| format!("`{key}`"))
                .collect();
            let places: Vec<String> = self.locations.iter().map(|at| format!("`{at}`")).collect();
            let _ = write!(
                reason,
                "{}metadata key {} (looked for in {})",
                if native.is_empty() { "" } else { ", nor " },
                keys.join(" or "),
                places.join(", ")
            );
        }
        reason.push_str(" is set");
        if !spec.how.is_empty() {
            let _ = write!(reason, "; {}", spec.how);
        }
        self.reject(RejectKind::MissingField, reason)
    }

    /// Rejects `text` over `ingest.max_field_bytes`.
    pub fn check_size(&self, name: &str, text: &str) -> Result<(), Reject> {
        if text.len() > self.limits.max_field_bytes {
            return Err(self.reject(
                RejectKind::FieldTooLarge,
                format_args!(
                    "`{name}` is {} bytes; the limit is {} (ingest.max_field_bytes)",
                    text.len(),
                    self.limits.max_field_bytes
                ),
            ));
        }
        Ok(())
    }

    fn wrong_type(&self, name: &str, wanted: &str, value: &Value) -> Reject {
        self.reject(
            RejectKind::WrongType,
            format_args!("`{name}` must be {wanted}, got {}", type_name(value)),
        )
    }

    /// An optional text field (a string, or a number written as text).
    pub fn string(&self, spec: &Spec) -> Result<Option<String>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) => number.to_string(),
            other => return Err(self.wrong_type(&name, "a string", other)),
        };
        self.check_size(&name, &text)?;
        Ok(Some(text))
    }

    /// A required text field.
    pub fn required(&self, spec: &Spec) -> Result<String, Reject> {
        self.string(spec)?.ok_or_else(|| self.missing(spec))
    }

    /// An optional token count: a non-negative integer, or its digits as text (ClickHouse
    /// quotes 64-bit integers in JSON, OTLP/JSON writes `intValue` as a string).
    pub fn count(&self, spec: &Spec) -> Result<Option<i64>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        let count_opt = match value {
            Value::Number(number) => number.as_i64().or_else(|| {
                number
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && *float <= i64::MAX as f64)
                    .map(|float| float as i64)
            }),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match count_opt {
            Some(count) if count >= 0 => Ok(Some(count)),
            _ => Err(self.wrong_type(&name, "a non-negative integer", value)),
        }
    }

    /// An optional non-negative number (a JSON number, or one written as text).
    pub fn number(&self, spec: &Spec) -> Result<Option<f64>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        let number_opt = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        match number_opt {
            Some(number) if number.is_finite() && number >= 0.0 => Ok(Some(number)),
            Some(_) => Err(self.reject(
                RejectKind::WrongType,
                format_args!("`{name}` must not be negative"),
            )),
            None => Err(self.wrong_type(&name, "a number", value)),
        }
    }

    /// An optional time in any form of [`time`].
    pub fn time(&self, spec: &Spec) -> Result<Option<Timestamp>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        time::parse_time(value).map(Some).map_err(|what| {
            self.reject(
                RejectKind::BadTimestamp,
                format_args!(
                    "`{name}` {what} is not a time {} writes ({FORMS})",
                    self.source
                ),
            )
        })
    }

    /// A required time.
    pub fn required_time(&self, spec: &Spec) -> Result<Timestamp, Reject> {
        self.time(spec)?.ok_or_else(|| self.missing(spec))
    }

    /// An optional arm.
    pub fn arm(&self, spec: &Spec) -> Result<Option<Arm>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(self.wrong_type(&name, "a string", value));
        };
        Arm::parse(text.trim()).map(Some).ok_or_else(|| {
            self.reject(
                RejectKind::BadArm,
                format_args!("`{name}` is `{text}`; allowed: baseline, canary"),
            )
        })
    }

    /// The request messages as the contract's `input`: JSON kept as compact text (OpenTelemetry
    /// `parts` messages become OpenAI `content` messages), text kept as is.
    pub fn messages(&self, spec: &Spec) -> Result<Option<String>, Reject> {
        let Some((name, value)) = self.lookup(spec) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Array(_) | Value::Object(_) => chat_messages(value).to_string(),
            other => return Err(self.wrong_type(&name, "a string or a json array", other)),
        };
        self.check_size(&name, &text)?;
        Ok(Some(text))
    }

    /// The response text of the first of `spec`'s paths that holds one (see [`text_of`]).
    pub fn text(&self, spec: &Spec) -> Result<Option<String>, Reject> {
        for path in self.paths(spec) {
            let Some(value) = self.get(&path) else {
                continue;
            };
            let Some(text) = text_of(value) else {
                continue;
            };
            self.check_size(&path, &text)?;
            return Ok(Some(text));
        }
        Ok(None)
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(inner) => inner.is_empty(),
        _ => false,
    }
}

fn holds_text(value: &Value) -> bool {
    match value {
        Value::String(_) => true,
        Value::Object(inner) => inner.values().any(Value::is_string),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_field_bytes: 64,
    };
    const TENANT: Spec = Spec {
        field: "tenant",
        meta_keys: &["evalgate_tenant", "tenant_id"],
        native: &["end_user", "user"],
        how: "pass `user`",
    };

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(inner) => inner,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn evalgate_keys_in_any_location_win_over_native_fields() {
        let row = object(
            json!({"end_user": "u1", "metadata": {"inner": {"tenant_id": "t2"}},
                                "extra": {"evalgate_tenant": "t3"}}),
        );
        let doc = Doc::new("x", &row, &["metadata.inner", "extra"], &[], LIMITS);
        assert_eq!(doc.required(&TENANT).unwrap(), "t3");
        let row = object(json!({"end_user": "u1", "metadata": {"inner": {"tenant_id": "t2"}}}));
        let doc = Doc::new("x", &row, &["metadata.inner", "extra"], &[], LIMITS);
        assert_eq!(doc.required(&TENANT).unwrap(), "t2");
    }

    #[test]
    fn the_missing_reason_names_every_place_and_how_to_supply_it() {
        let row = object(json!({"user": "", "end_user": null}));
        let doc = Doc::new(
            "litellm",
            &row,
            &["metadata.requester_metadata"],
            &[],
            LIMITS,
        );
        let reject = doc.required(&TENANT).unwrap_err();
        assert_eq!(reject.kind, RejectKind::MissingField);
        assert_eq!(
            reject.reason,
            "litellm: no tenant: none of `end_user`, `user`, nor metadata key `evalgate_tenant` \
             or `tenant_id` (looked for in `metadata.requester_metadata`) is set; pass `user`"
        );
    }

    #[test]
    fn embedded_json_text_is_decoded_two_levels_deep() {
        let row = object(
            json!({"metadata": {"requester_metadata": "{\"evalgate_tenant\":\"t9\"}"},
                                "body": "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}"}),
        );
        let doc = Doc::new(
            "x",
            &row,
            &["metadata.requester_metadata"],
            &["metadata", "body"],
            LIMITS,
        );
        assert_eq!(doc.required(&TENANT).unwrap(), "t9");
        assert_eq!(
            doc.get("body.choices.0.message.content"),
            Some(&json!("hi"))
        );
    }

    #[test]
    fn counts_accept_quoted_digits_and_refuse_fractions() {
        let spec = Spec::native("tokens", &["n"]);
        for (value, expected) in [
            (json!(5), Some(5)),
            (json!("21"), Some(21)),
            (json!(3.0), Some(3)),
        ] {
            let row = object(json!({ "n": value }));
            let doc = Doc::new("x", &row, &[], &[], LIMITS);
            assert_eq!(doc.count(&spec).unwrap(), expected);
        }
        for bad in [json!(2.5), json!(-1), json!("many")] {
            let row = object(json!({ "n": bad }));
            let doc = Doc::new("x", &row, &[], &[], LIMITS);
            assert!(doc.count(&spec).unwrap_err().reason.contains("`n`"));
        }
    }

    #[test]
    fn fields_over_the_limit_are_rejected_with_their_path() {
        let row = object(json!({"end_user": "u".repeat(65)}));
        let doc = Doc::new("x", &row, &[], &[], LIMITS);
        let reject = doc.required(&TENANT).unwrap_err();
        assert_eq!(reject.kind, RejectKind::FieldTooLarge);
        assert!(
            reject.reason.contains("`end_user` is 65 bytes"),
            "{}",
            reject.reason
        );
    }
}
