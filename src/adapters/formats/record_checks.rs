//! The checks every accepted record of every format passes before it reaches a store, so both
//! backends load exactly the same rows:
//! - no NUL character (`\u0000`) in a text field: PostgreSQL's `text` and `jsonb` cannot hold
//!   one while SQLite can (one such value used to abort a whole ingest on PostgreSQL);
//! - measurements within sane bounds ([`MAX_COST_USD`], [`MAX_MILLIS`]): `1e308` is a finite
//!   number, but two of them summed in a gate are infinity;
//! - times the two stores keep alike: years 1 to 9999 (PostgreSQL keeps year 0 as 1 BC and
//!   years past 9999, which SQLite's text timestamps order wrongly) and no leap second
//!   (`23:59:60`, which chrono holds as a second nanosecond overflow that the stores encode
//!   differently).

use chrono::{Datelike, Timelike};
use serde_json::Value;

use super::reject::{Record, Reject, RejectKind};
use crate::domain::{FeedbackEvent, Request, Timestamp};

/// The largest `cost_usd` of one request accepted (a million dollars).
pub const MAX_COST_USD: f64 = 1e6;
/// The largest `latency_ms` / `ttft_ms` accepted (about 11.6 days).
pub const MAX_MILLIS: f64 = 1e9;

/// `record` unchanged, or a reject naming the first field that fails a check.
pub fn check_record(record: Record) -> Result<Record, Reject> {
    match &record {
        Record::Request(request) => {
            check_time("ts", request.ts)?;
            check_measurements(request)?;
        }
        Record::Feedback(event) => check_time("at", event.at)?,
    }
    reject_nul(record)
}

/// The first and last years both stores keep and order alike.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

fn check_time(name: &str, time: Timestamp) -> Result<(), Reject> {
    let year = time.year();
    if !YEARS.contains(&year) {
        return Err(Reject::new(
            RejectKind::BadTimestamp,
            format!(
                "`{name}` is in year {year}: out of range (years {} to {})",
                YEARS.start(),
                YEARS.end()
            ),
        ));
    }
    if time.nanosecond() >= 1_000_000_000 {
        return Err(Reject::new(
            RejectKind::BadTimestamp,
            format!(
                "`{name}` is a leap second ({}:60): not accepted, the stores keep it \
                 differently; use {}:59 or the next minute",
                time.format("%Y-%m-%dT%H:%M"),
                time.format("%H:%M")
            ),
        ));
    }
    Ok(())
}

fn check_measurements(request: &Request) -> Result<(), Reject> {
    let fields = [
        ("cost_usd", request.cost_usd, MAX_COST_USD),
        ("latency_ms", request.latency_ms, MAX_MILLIS),
        ("ttft_ms", request.ttft_ms, MAX_MILLIS),
    ];
    for (name, value_opt, max) in fields {
        let Some(value) = value_opt else {
            continue;
        };
        if !value.is_finite() || value.abs() > max {
            return Err(Reject::new(
                RejectKind::WrongType,
                format!("`{name}` is {value:e}: out of range (at most {max:e})"),
            ));
        }
    }
    Ok(())
}

/// `record` unchanged, or a `nul_character` reject naming the first field that holds a NUL.
fn reject_nul(record: Record) -> Result<Record, Reject> {
    let field_opt = match &record {
        Record::Request(request) => request_nul_field(request),
        Record::Feedback(event) => feedback_nul_field(event),
    };
    match field_opt {
        None => Ok(record),
        Some(field) => Err(Reject::new(
            RejectKind::NulCharacter,
            format!(
                "`{field}` holds a NUL character (\\u0000), which the PostgreSQL store cannot \
                 keep; remove it from the source"
            ),
        )),
    }
}

fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

fn request_nul_field(request: &Request) -> Option<String> {
    let texts: [(&str, Option<&str>); 8] = [
        ("request_id", Some(&request.request_id)),
        ("tenant_id", Some(&request.tenant_id)),
        ("model", Some(&request.model)),
        ("rollout_id", request.rollout_id.as_deref()),
        ("input", Some(&request.input)),
        ("output", Some(&request.output)),
        ("reference", request.reference.as_deref()),
        ("error", request.error.as_deref()),
    ];
    for (name, text_opt) in texts {
        if text_opt.is_some_and(has_nul) {
            return Some(name.to_string());
        }
    }
    json_nul_path(&request.metadata, "metadata")
}

fn feedback_nul_field(event: &FeedbackEvent) -> Option<String> {
    if has_nul(&event.request_id) {
        return Some("request_id".to_string());
    }
    None
}

/// The path (`metadata.tags[2]`) of the first key or string inside `value` that holds a NUL.
fn json_nul_path(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if has_nul(text) => Some(path.to_string()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if let Some(found) = json_nul_path(item, &format!("{path}[{index}]")) {
                    return Some(found);
                }
            }
            None
        }
        Value::Object(map) => {
            for (key, item) in map {
                let item_path = format!("{path}.{}", key.escape_default());
                if has_nul(key) {
                    return Some(item_path);
                }
                if let Some(found) = json_nul_path(item, &item_path) {
                    return Some(found);
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Format;
    use super::super::test_support::{parse_with, rollout_arms};
    use super::*;

    fn row(field: &str, value: Value) -> Value {
        let mut row = json!({"request_id": "r1", "ts": "2026-11-26T06:00:00Z", "tenant_id": "t1",
            "arm": "canary", "model": "m", "input": "hi", "output": "ok",
            "metadata": {"k": "v"}});
        row[field] = value;
        row
    }

    fn reason_for(value: &Value) -> Option<String> {
        let arms = rollout_arms();
        let records = parse_with(Format::Evalgate, value, &arms);
        match records.into_iter().next() {
            Some(Err(reject)) if reject.kind == RejectKind::NulCharacter => Some(reject.reason),
            _ => None,
        }
    }

    #[test]
    fn a_nul_in_any_text_field_rejects_the_record_naming_the_field() {
        assert_eq!(reason_for(&row("output", json!("fine"))), None);
        let cases = [
            ("request_id", json!("a\u{0}b"), "`request_id`"),
            ("tenant_id", json!("t\u{0}"), "`tenant_id`"),
            ("input", json!("x\u{0}"), "`input`"),
            ("output", json!("\u{0}"), "`output`"),
            ("error", json!("boom\u{0}"), "`error`"),
            (
                "metadata",
                json!({"tags": ["a", "b\u{0}"]}),
                "`metadata.tags[1]`",
            ),
            ("metadata", json!({"k\u{0}": 1}), "`metadata.k\\u{0}`"),
        ];
        for (field, value, named) in cases {
            let reason = reason_for(&row(field, value)).unwrap_or_default();
            assert!(reason.contains(named), "{field}: {reason}");
        }
    }

    #[test]
    fn huge_or_infinite_measurements_are_out_of_range() {
        let arms = rollout_arms();
        for (field, value) in [
            ("cost_usd", 1e308),
            ("latency_ms", 1e300),
            ("cost_usd", 2e6),
        ] {
            let records = parse_with(Format::Evalgate, &row(field, json!(value)), &arms);
            let Some(Err(reject)) = records.into_iter().next() else {
                panic!("{field} = {value} was accepted");
            };
            assert!(reject.reason.contains(field), "{}", reject.reason);
            assert!(reject.reason.contains("out of range"), "{}", reject.reason);
        }
        let fine = parse_with(Format::Evalgate, &row("cost_usd", json!(12.5)), &arms);
        assert!(matches!(fine.first(), Some(Ok(_))), "{fine:?}");
    }

    #[test]
    fn a_token_count_past_i64_says_out_of_range() {
        let arms = rollout_arms();
        let value = json!(9_223_372_036_854_775_808_u64);
        let records = parse_with(Format::Evalgate, &row("prompt_tokens", value), &arms);
        let Some(Err(reject)) = records.into_iter().next() else {
            panic!("accepted");
        };
        assert!(
            reject.reason.contains("`prompt_tokens`"),
            "{}",
            reject.reason
        );
        assert!(reject.reason.contains("out of range"), "{}", reject.reason);
    }

    // See: issue 13 (leap seconds and year 0 were stored differently on the two backends).
    #[test]
    fn leap_seconds_and_years_outside_one_to_9999_are_bad_timestamps() {
        let arms = rollout_arms();
        let cases = [
            (json!("2016-12-31T23:59:60Z"), "leap second"),
            (json!("2016-12-31T23:59:60.5+00:00"), "leap second"),
            (json!("0000-06-01T00:00:00Z"), "year 0"),
        ];
        for (ts, said) in cases {
            let records = parse_with(Format::Evalgate, &row("ts", ts.clone()), &arms);
            let Some(Err(reject)) = records.into_iter().next() else {
                panic!("{ts} was accepted");
            };
            assert_eq!(reject.kind, RejectKind::BadTimestamp, "{ts}");
            assert!(reject.reason.contains("`ts`"), "{}", reject.reason);
            assert!(reject.reason.contains(said), "{}", reject.reason);
        }
        for fine in [json!("0001-01-01T00:00:00Z"), json!("9999-12-31T23:59:59Z")] {
            let records = parse_with(Format::Evalgate, &row("ts", fine.clone()), &arms);
            assert!(
                matches!(records.first(), Some(Ok(_))),
                "{fine}: {records:?}"
            );
        }
        // Past 9999 only epoch seconds reach here (RFC 3339 has four-digit years).
        let far = chrono::DateTime::from_timestamp(1_000_000_000_000, 0).unwrap();
        let reject = check_time("ts", far).unwrap_err();
        assert!(reject.reason.contains("year 33658"), "{}", reject.reason);
        let event = json!({"type": "feedback", "request_id": "r1", "kind": "thumbs",
            "value": 1, "at": "2026-06-30T23:59:60Z"});
        let records = parse_with(Format::Evalgate, &event, &arms);
        let Some(Err(reject)) = records.into_iter().next() else {
            panic!("a leap-second feedback time was accepted");
        };
        assert!(reject.reason.contains("`at`"), "{}", reject.reason);
    }

    #[test]
    fn a_nul_in_a_feedback_request_id_rejects_it() {
        let event = json!({"type": "feedback", "request_id": "r\u{0}", "kind": "thumbs",
            "value": 1, "at": "2026-11-26T06:00:00Z"});
        let reason = reason_for(&event).unwrap_or_default();
        assert!(reason.contains("`request_id`"), "{reason}");
    }
}
