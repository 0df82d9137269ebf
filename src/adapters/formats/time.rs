//! The time forms gateways write, parsed into a UTC [`Timestamp`] kept to the microsecond (what
//! PostgreSQL stores):
//! - epoch seconds as a JSON number, integer or fractional (`1795687200`, `1795687200.25`);
//! - epoch nanoseconds as a decimal string or an integer (OTLP `startTimeUnixNano`), see
//!   [`parse_epoch_nanos`];
//! - RFC 3339 with `Z` or an offset (`2026-11-26T06:00:00.123+02:00`, also with a space for `T`);
//! - ISO 8601 without an offset (`2026-11-26T06:00:00.123`), read as UTC: PostgreSQL's
//!   `timestamp without time zone` through `row_to_json`, as LiteLLM's Prisma schema stores it;
//! - `YYYY-MM-DD HH:MM:SS[.fff…]`, read as UTC: ClickHouse `DateTime64` in `JSONEachRow`, as
//!   Helicone and Langfuse export it.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde_json::Value;

use crate::domain::Timestamp;

/// What every form-aware reason lists.
pub const FORMS: &str = "epoch seconds, RFC 3339 with an offset, or ISO 8601 / \
     `YYYY-MM-DD HH:MM:SS[.fff]` without one (read as UTC)";

/// A time in any of the forms above except epoch nanoseconds; `Err` says what was wrong.
pub fn parse_time(value: &Value) -> Result<Timestamp, String> {
    match value {
        Value::Number(number) => {
            let Some(secs) = number.as_f64() else {
                return Err(format!("{number} is not a number of seconds"));
            };
            from_epoch_seconds(secs).ok_or_else(|| format!("{number} is not epoch seconds"))
        }
        Value::String(text) => parse_text(text.trim()).ok_or_else(|| format!("`{text}`")),
        other => Err(format!("{} is not a time", super::reject::type_name(other))),
    }
}

/// Epoch nanoseconds as a string of digits or a JSON integer (OTLP/JSON writes the string).
pub fn parse_epoch_nanos(value: &Value) -> Result<Timestamp, String> {
    let nanos_opt = match value {
        Value::String(text) => text.trim().parse::<u64>().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    };
    let Some(nanos) = nanos_opt else {
        return Err(format!(
            "{value} is not epoch nanoseconds (a string or integer of digits)"
        ));
    };
    let secs = i64::try_from(nanos / 1_000_000_000).map_err(|_| format!("{nanos} is too large"))?;
    let subsec =
        u32::try_from(nanos % 1_000_000_000).map_err(|_| format!("{nanos} is too large"))?;
    DateTime::<Utc>::from_timestamp(secs, subsec)
        .map(|time| time.trunc_subsecs(6))
        .ok_or_else(|| format!("{nanos} is out of range"))
}

/// Milliseconds from `start` to `end`, when `end` is not before `start`.
pub fn millis_between(start: Timestamp, end: Timestamp) -> Option<f64> {
    let micros = (end - start).num_microseconds()?;
    if micros < 0 {
        return None;
    }
    Some(micros as f64 / 1000.0)
}

fn from_epoch_seconds(secs: f64) -> Option<Timestamp> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let whole = secs.trunc();
    let micros = ((secs - whole) * 1_000_000.0).round() as u32;
    let (whole, micros) = if micros >= 1_000_000 {
        (whole + 1.0, 0)
    } else {
        (whole, micros)
    };
    DateTime::<Utc>::from_timestamp(whole as i64, micros * 1000)
}

fn parse_text(text: &str) -> Option<Timestamp> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc).trunc_subsecs(6));
    }
    for pattern in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(time) = DateTime::parse_from_str(text, pattern) {
            return Some(time.with_timezone(&Utc).trunc_subsecs(6));
        }
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(naive.and_utc().trunc_subsecs(6));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(millis: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap()
            + chrono::Duration::milliseconds(millis)
    }

    #[test]
    fn epoch_seconds_integer_and_fractional() {
        assert_eq!(parse_time(&json!(1795672800)), Ok(at(0)));
        assert_eq!(parse_time(&json!(1795672800.25)), Ok(at(250)));
        assert_eq!(
            parse_time(&json!(1795672800.123456))
                .unwrap()
                .timestamp_subsec_micros(),
            123_456
        );
    }

    #[test]
    fn epoch_nanos_as_string_or_integer() {
        assert_eq!(
            parse_epoch_nanos(&json!("1795672800250000000")),
            Ok(at(250))
        );
        assert_eq!(
            parse_epoch_nanos(&json!(1_795_672_800_250_000_000_u64)),
            Ok(at(250))
        );
        assert_eq!(
            parse_epoch_nanos(&json!("1795672800000001999"))
                .unwrap()
                .timestamp_subsec_nanos(),
            1000,
            "kept to the microsecond"
        );
        assert!(parse_epoch_nanos(&json!("17956.5")).is_err());
        assert!(parse_epoch_nanos(&json!(-5)).is_err());
    }

    #[test]
    fn rfc3339_with_offset_or_z() {
        assert_eq!(parse_time(&json!("2026-11-26T06:00:00.250Z")), Ok(at(250)));
        assert_eq!(
            parse_time(&json!("2026-11-26T08:00:00.250+02:00")),
            Ok(at(250))
        );
        assert_eq!(
            parse_time(&json!("2026-11-26 06:00:00.250+00:00")),
            Ok(at(250))
        );
        assert_eq!(parse_time(&json!("2026-11-26 06:00:00+00")), Ok(at(0)));
    }

    #[test]
    fn iso_without_offset_is_utc() {
        assert_eq!(parse_time(&json!("2026-11-26T06:00:00.250")), Ok(at(250)));
        assert_eq!(parse_time(&json!("2026-11-26T06:00:00")), Ok(at(0)));
    }

    #[test]
    fn clickhouse_datetime64_is_utc() {
        assert_eq!(parse_time(&json!("2026-11-26 06:00:00.250")), Ok(at(250)));
        assert_eq!(
            parse_time(&json!("2026-11-26 06:00:00.250000")),
            Ok(at(250))
        );
        assert_eq!(parse_time(&json!("2026-11-26 06:00:00")), Ok(at(0)));
    }

    #[test]
    fn other_forms_are_refused() {
        for bad in [
            json!("26/11/2026 06:00"),
            json!("yesterday"),
            json!(true),
            json!(-1),
            json!(""),
        ] {
            assert!(parse_time(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_milliseconds_and_never_negative() {
        assert_eq!(millis_between(at(0), at(812)), Some(812.0));
        assert_eq!(millis_between(at(812), at(0)), None);
    }
}
