//! A fast path for the common input line of `evals run`: a flat contract row (README "Log
//! contract") with only the plain columns, parsed straight into the typed [`Request`] without
//! the `serde_json::Value` tree the general parser builds (and the copies it makes of every
//! string from it).
//!
//! It only ever ACCEPTS what the general parser ([`crate::adapters::jsonl::parse_line`]) would
//! turn into the very same request; anything else (another shape, an alias, `metadata`, a
//! missing or empty required field, a duplicate key, a value of another type, a bad time,
//! arm or status, a negative number, a field over the size limit, invalid JSON) returns None
//! and the caller asks the general parser, which accepts it or words the reject. A test checks
//! both agree on every accepted line.

use std::borrow::Cow;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;

use crate::adapters::formats::check_record;
use crate::adapters::jsonl::{ParseLimits, Record};
use crate::domain::{Arm, Request, RequestStatus};

/// The columns the fast path takes; any other key sends the line to the general parser.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatRow<'a> {
    #[serde(borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arm: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rollout_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    input: Option<Cow<'a, str>>,
    #[serde(borrow)]
    output: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    latency_ms: Option<f64>,
    ttft_ms: Option<f64>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    cost_usd: Option<f64>,
}

/// The request of a plain flat row, or None when the general parser must decide.
pub fn parse_flat(bytes: &[u8], limits: &ParseLimits) -> Option<Request> {
    let text = simdutf8::basic::from_utf8(bytes).ok()?;
    // A struct also deserialises from a JSON array; the contract row is an object.
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first();
    if first != Some(&b'{') {
        return None;
    }
    let row: FlatRow<'_> = serde_json::from_str(text).ok()?;
    let fits = |field: &Option<Cow<'_, str>>| {
        field
            .as_deref()
            .is_none_or(|value| value.len() <= limits.max_field_bytes)
    };
    let required = |field: &Option<Cow<'_, str>>| {
        field
            .as_deref()
            .is_some_and(|value| !value.trim().is_empty())
    };
    let all_fit = [
        &row.request_id,
        &row.tenant_id,
        &row.arm,
        &row.model,
        &row.rollout_id,
        &row.input,
        &row.output,
        &row.reference,
        &row.status,
    ]
    .into_iter()
    .all(fits);
    if !all_fit || !required(&row.request_id) || !required(&row.tenant_id) || !required(&row.model)
    {
        return None;
    }
    let ts = DateTime::parse_from_rfc3339(row.ts.as_deref()?.trim())
        .ok()?
        .with_timezone(&Utc)
        .trunc_subsecs(6);
    // A blank arm is placed by the served model: the general parser's business.
    let arm = Arm::parse(row.arm.as_deref()?.trim())?;
    let status = match row.status.as_deref() {
        None => RequestStatus::Ok,
        Some(text) => RequestStatus::parse(text.trim())?,
    };
    let amount = |value: Option<f64>| match value {
        Some(number) if !(number.is_finite() && number >= 0.0) => Err(()),
        other => Ok(other),
    };
    let count = |value: Option<i64>| match value {
        Some(number) if number < 0 => Err(()),
        other => Ok(other),
    };
    let request = Request {
        request_id: row.request_id?.into_owned(),
        ts,
        tenant_id: row.tenant_id?.into_owned(),
        arm,
        model: row.model?.into_owned(),
        rollout_id: row.rollout_id.map(Cow::into_owned),
        input: row.input?.into_owned(),
        output: row.output.map(Cow::into_owned).unwrap_or_default(),
        reference: row.reference.map(Cow::into_owned),
        status,
        error: None,
        latency_ms: amount(row.latency_ms).ok()?,
        ttft_ms: amount(row.ttft_ms).ok()?,
        prompt_tokens: count(row.prompt_tokens).ok()?,
        completion_tokens: count(row.completion_tokens).ok()?,
        cost_usd: amount(row.cost_usd).ok()?,
        metadata: serde_json::Value::Object(serde_json::Map::new()),
    };
    // The checks the general parser makes of every record, the same function.
    match check_record(Record::Request(Box::new(request))) {
        Ok(Record::Request(request)) => Some(*request),
        Ok(_) | Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::jsonl::{Record, parse_line};

    const LIMITS: ParseLimits = ParseLimits {
        max_field_bytes: 64,
    };

    const ROW: &str = r#"{"request_id":"r1","ts":"2026-11-02T10:00:00.1234567+01:00","tenant_id":"t1","arm":"canary","model":"m@v2","input":"hi \"you\" 注文","output":"{\"a\":1} é😀","reference":"ref","status":"ok","latency_ms":800.0,"prompt_tokens":100,"completion_tokens":400,"cost_usd":0.001}"#;

    /// The general parser's request for `line`, if it accepts one.
    fn general(line: &str) -> Option<Request> {
        match parse_line(line.as_bytes(), &LIMITS) {
            Ok(Record::Request(request)) => Some(*request),
            _ => None,
        }
    }

    /// The fast path either declines or agrees with the general parser.
    fn check(line: &str) -> bool {
        let fast = parse_flat(line.as_bytes(), &LIMITS);
        if let Some(request) = &fast {
            assert_eq!(Some(request), general(line).as_ref(), "{line}");
        }
        fast.is_some()
    }

    fn with(field: &str, value: &str) -> String {
        set(ROW, field, value)
    }

    /// `line` with `field` removed, then set to `value` (JSON text) unless it is empty.
    fn set(line: &str, field: &str, value: &str) -> String {
        let mut row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        row.remove(field);
        let mut line = serde_json::Value::Object(row).to_string();
        if !value.is_empty() {
            line.insert_str(1, &format!("\"{field}\":{value},"));
        }
        line
    }

    #[test]
    fn a_plain_row_takes_the_fast_path_and_matches_the_general_parser() {
        assert!(check(ROW));
        assert!(check(&format!(" \t{ROW}\r")));
        assert!(check(&with("reference", "null")));
        assert!(check(&with("reference", "")));
        assert!(check(&with("output", "")));
        assert!(check(&with("status", "\" error \"")));
        assert!(check(&with("arm", "\" Baseline \"")));
        assert!(check(&with("rollout_id", "\"ro-1\"")));
        assert!(check(&with("rollout_id", "\"\"")));
        assert!(check(&with("input", "\"\"")));
        assert!(check(&with("latency_ms", "1000000000")));
        assert!(check(&with("cost_usd", "1e6")));
        assert!(check(&with("ttft_ms", "12")));
        assert!(check(&with("prompt_tokens", "null")));
        assert!(check(&with("ts", "\"0001-01-01T00:00:00Z\"")));
    }

    #[test]
    fn anything_else_is_left_to_the_general_parser() {
        for line in [
            with("metadata", "{\"evalgate_rollout_id\":\"x\"}"),
            with("metadata", "{}"),
            with("type", "\"request\""),
            with("error", "\"boom\""),
            with("output_text", "\"x\""),
            with("custom_id", "\"x\""),
            with("request_id", "null"),
            with("request_id", "\" \""),
            with("request_id", "1"),
            with("tenant_id", "\"\""),
            with("model", ""),
            with("arm", "\" \""),
            with("arm", "\"blue\""),
            with("arm", ""),
            with("status", "\"fine\""),
            with("input", "[{\"role\":\"user\"}]"),
            with("input", ""),
            with("ts", "\"yesterday\""),
            with("ts", ""),
            with("ts", "\"2026-12-31T23:59:60Z\""),
            with("ts", "\"0000-12-31T23:00:00Z\""),
            with("ts", "\"9999-12-31T23:00:00-05:00\""),
            with("latency_ms", "-1"),
            with("latency_ms", "1000000000.5"),
            with("latency_ms", "1e400"),
            with("latency_ms", "\"800\""),
            with("cost_usd", "1000000.01"),
            with("prompt_tokens", "1.0"),
            with("prompt_tokens", "-3"),
            with("prompt_tokens", "9223372036854775808"),
            with("output", "\"nul \\u0000 here\""),
            with("reference", "\"x\"").replacen("\"reference\":\"x\"", "\"reference\":\"x\",\"reference\":\"y\"", 1),
            with("output", &format!("\"{}\"", "x".repeat(65))),
            with("request_id", "\"\\ud800\""),
            format!("\u{feff}{ROW}"),
            format!("{ROW} x"),
            format!("[{ROW}]"),
            r#"["r1","2026-11-02T10:00:00Z","t1","canary","m","i","o",null,"ok",1,1,1,1,1]"#
                .to_string(),
            r#"{"type":"feedback","request_id":"r1","kind":"thumbs","value":1,"at":"2026-11-02T10:00:00Z"}"#
                .to_string(),
        ] {
            assert!(!check(&line), "{line}");
        }
        assert!(parse_flat(&[b'{', 0xff, b'}'], &LIMITS).is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_disagrees_with_the_general_parser(
            fields in proptest::collection::vec(
                (
                    proptest::sample::select(&[
                        "request_id", "ts", "tenant_id", "arm", "model", "input", "output",
                        "reference", "status", "latency_ms", "cost_usd", "prompt_tokens",
                        "rollout_id", "metadata",
                    ][..]),
                    proptest::sample::select(&[
                        "null", "\"\"", "\" \"", "\"x\"", "\"canary\"", "\"ok\"", "0", "-1",
                        "1.5", "1e9", "[]", "{}", "\"2026-11-02T10:00:00Z\"", "\"\\u0000\"",
                    ][..]),
                ),
                0..6,
            )
        ) {
            let mut line = ROW.to_string();
            for (field, value) in fields {
                line = set(&line, field, value);
            }
            check(&line);
        }
    }
}
