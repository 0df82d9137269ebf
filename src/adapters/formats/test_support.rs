//! Helpers of the format unit tests: a rollout to place arms against, and one-record parsing.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::{Request, Timestamp};
use crate::logic::attribution::RolloutTargets;

pub const LIMITS: ParseLimits = ParseLimits {
    max_field_bytes: 4096,
};

pub fn at(hour: u32, minute: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, hour, minute, 0).unwrap()
}

pub fn rollout_arms() -> ModelArms {
    ModelArms::new(vec![RolloutTargets {
        rollout_id: "r1".to_string(),
        baseline_model: "support-bot@v41".to_string(),
        canary_model: "support-bot@v42".to_string(),
        started_at: at(5, 0),
    }])
}

pub fn parse_with(format: Format, value: &Value, arms: &ModelArms) -> Vec<Result<Record, Reject>> {
    let ctx = ParseContext {
        limits: LIMITS,
        arms,
    };
    parse_value(format, value, &ctx)
}

pub fn one_request(format: Format, value: &Value) -> Request {
    let arms = rollout_arms();
    let mut records = parse_with(format, value, &arms);
    assert_eq!(records.len(), 1, "{records:?}");
    match records.remove(0) {
        Ok(Record::Request(request)) => *request,
        other => panic!("expected a request, got {other:?}"),
    }
}

pub fn one_reject(format: Format, value: &Value, arms: &ModelArms) -> Reject {
    let mut records = parse_with(format, value, arms);
    assert_eq!(records.len(), 1, "{records:?}");
    match records.remove(0) {
        Err(reject) => reject,
        Ok(record) => panic!("expected a reject, got {record:?}"),
    }
}

pub fn otlp_span(attributes: Value, status_code: Value) -> Value {
    json!({"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
           "name": "chat support-bot@v42", "kind": 3,
           "startTimeUnixNano": "1795672800000000000", "endTimeUnixNano": 1795672800900000000_u64,
           "attributes": attributes, "status": {"code": status_code, "message": ""}})
}

pub fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}
