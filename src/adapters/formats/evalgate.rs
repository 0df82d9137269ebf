//! The `evalgate` format: evalgate's own contract (README "Log contract"), one JSON object per
//! line in three shapes:
//! - a flat contract row with the columns of `requests` (aliases `input_json`, `output_text`,
//!   `metadata_json`; `input` may be a JSON array/object, stored as compact JSON text with its
//!   keys sorted, or a string, stored as is);
//! - a raw OpenAI-style record: `request` (the chat request body: `messages`, `model`, `user`,
//!   `metadata`), `response` (the chat completion, or a batch-output `{"body": …}` wrapper:
//!   `choices[0].message.content`, `usage`, `model`, `created`) and an optional `error` object,
//!   next to `request_id`, `ts`, `tenant_id` and `arm` (which may also sit in `metadata`, also as
//!   evalgate's `evalgate_*` keys);
//! - a feedback row: `{"type":"feedback","request_id":…,"kind":"thumbs","value":-1,"at":…}`.
//!
//! A row without an arm is placed by its served model (`logic::attribution`).

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

use super::ParseContext;
use super::reject::{ParseLimits, Record, Reject, RejectKind, type_name};
use crate::domain::{Arm, FeedbackEvent, FeedbackKind, Request, RequestStatus, Timestamp};

/// Parses one evalgate document (a request row or a feedback row).
pub fn parse(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let fields = Fields {
        object,
        limits: &ctx.limits,
        ctx,
    };
    match fields.record_type()? {
        LineType::Feedback => fields.feedback().map(Record::Feedback),
        LineType::Request => fields.request().map(|row| Record::Request(Box::new(row))),
    }
}

/// Parses a feedback row of any format (`"type": "feedback"` is evalgate's in every format).
pub fn feedback(object: &Map<String, Value>, ctx: &ParseContext) -> Result<Record, Reject> {
    let fields = Fields {
        object,
        limits: &ctx.limits,
        ctx,
    };
    fields.feedback().map(Record::Feedback)
}

/// Parses an RFC 3339 time with an offset, kept to microseconds (what PostgreSQL stores).
pub fn parse_timestamp(name: &str, value: &Value) -> Result<Timestamp, Reject> {
    let Value::String(text) = value else {
        return Err(Reject::new(
            RejectKind::BadTimestamp,
            format!(
                "`{name}` must be an RFC 3339 string like 2026-11-26T06:00:00Z, got {}",
                type_name(value)
            ),
        ));
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.with_timezone(&Utc).trunc_subsecs(6))
        .map_err(|err| {
            Reject::new(
                RejectKind::BadTimestamp,
                format!(
                    "`{name}` `{text}` is not an RFC 3339 time with an offset ({err}); \
                     e.g. 2026-11-26T06:00:00Z"
                ),
            )
        })
}

enum LineType {
    Request,
    Feedback,
}

struct Fields<'a> {
    object: &'a Map<String, Value>,
    limits: &'a ParseLimits,
    ctx: &'a ParseContext<'a>,
}

fn wrong_type(name: &str, wanted: &str, value: &Value) -> Reject {
    Reject::new(
        RejectKind::WrongType,
        format!("`{name}` must be {wanted}, got {}", type_name(value)),
    )
}

fn missing(name: &str) -> Reject {
    Reject::new(RejectKind::MissingField, format!("missing `{name}`"))
}

/// A present, non-null value at `path` inside `object`.
fn lookup<'v>(object: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut current = object.get(*first)?;
    for key in rest {
        current = match current {
            Value::Object(inner) => inner.get(*key)?,
            _ => return None,
        };
    }
    if current.is_null() {
        return None;
    }
    Some(current)
}

impl Fields<'_> {
    fn record_type(&self) -> Result<LineType, Reject> {
        match self.object.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "feedback" => return Ok(LineType::Feedback),
            Some(Value::String(kind)) if kind == "request" => return Ok(LineType::Request),
            Some(other) => {
                return Err(Reject::new(
                    RejectKind::WrongType,
                    format!("`type` must be \"request\" or \"feedback\", got {other}"),
                ));
            }
        }
        let looks_like_feedback = self.object.contains_key("kind")
            && !self.object.contains_key("ts")
            && !self.object.contains_key("input");
        if looks_like_feedback {
            return Ok(LineType::Feedback);
        }
        Ok(LineType::Request)
    }

    fn check_size(&self, name: &str, text: &str) -> Result<(), Reject> {
        if text.len() > self.limits.max_field_bytes {
            return Err(Reject::new(
                RejectKind::FieldTooLarge,
                format!(
                    "`{name}` is {} bytes; the limit is {} (ingest.max_field_bytes)",
                    text.len(),
                    self.limits.max_field_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The first present field among `paths` (the first path names the field in messages).
    fn first(&self, paths: &[&[&str]]) -> Option<(String, &Value)> {
        for path in paths {
            if let Some(value) = lookup(self.object, path) {
                return Some((path.join("."), value));
            }
        }
        None
    }

    /// An optional string field, checked for type and size.
    fn string(&self, paths: &[&[&str]]) -> Result<Option<String>, Reject> {
        let Some((name, value)) = self.first(paths) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(wrong_type(&name, "a string", value));
        };
        self.check_size(&name, text)?;
        Ok(Some(text.clone()))
    }

    /// A required, non-empty string field.
    fn required_string(&self, paths: &[&[&str]]) -> Result<String, Reject> {
        let name = paths.first().map(|path| path.join(".")).unwrap_or_default();
        match self.string(paths)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(missing(&name)),
        }
    }

    /// A text field that may also be JSON (kept as its JSON text).
    fn text_or_json(&self, paths: &[&[&str]]) -> Result<Option<String>, Reject> {
        let Some((name, value)) = self.first(paths) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Array(_) | Value::Object(_) => value.to_string(),
            other => return Err(wrong_type(&name, "a string or json array", other)),
        };
        self.check_size(&name, &text)?;
        Ok(Some(text))
    }

    fn number(&self, paths: &[&[&str]]) -> Result<Option<f64>, Reject> {
        let Some((name, value)) = self.first(paths) else {
            return Ok(None);
        };
        match value.as_f64() {
            Some(number) if number.is_finite() && number >= 0.0 => Ok(Some(number)),
            Some(_) => Err(Reject::new(
                RejectKind::WrongType,
                format!("`{name}` must not be negative"),
            )),
            None => Err(wrong_type(&name, "a number", value)),
        }
    }

    fn count(&self, paths: &[&[&str]]) -> Result<Option<i64>, Reject> {
        let Some((name, value)) = self.first(paths) else {
            return Ok(None);
        };
        match value.as_i64() {
            Some(number) if number >= 0 => Ok(Some(number)),
            _ if value.is_u64() => Err(Reject::new(
                RejectKind::WrongType,
                format!("`{name}` is {value}: out of range (at most {})", i64::MAX),
            )),
            _ => Err(wrong_type(&name, "a non-negative integer", value)),
        }
    }

    fn request(&self) -> Result<Request, Reject> {
        let request_id = self.required_string(&[&["request_id"], &["custom_id"]])?;
        let ts = self.timestamp()?;
        let tenant_id = self.required_string(&[
            &["tenant_id"],
            &["metadata", "evalgate_tenant"],
            &["metadata", "tenant_id"],
            &["request", "metadata", "evalgate_tenant"],
            &["request", "metadata", "tenant_id"],
            &["request", "user"],
        ])?;
        let model = self.required_string(&[
            &["model"],
            &["request", "model"],
            &["response", "model"],
            &["response", "body", "model"],
        ])?;
        let arm = self.arm(&model, ts)?;
        let input = self
            .text_or_json(&[&["input"], &["input_json"], &["request", "messages"]])?
            .ok_or_else(|| missing("input"))?;
        let output = self.output()?.unwrap_or_default();
        let error = self.error_text()?;
        let status = self.status(error.is_some())?;
        let request = Request {
            request_id,
            ts,
            tenant_id,
            arm,
            model,
            rollout_id: self.string(&[
                &["rollout_id"],
                &["metadata", "evalgate_rollout_id"],
                &["metadata", "rollout_id"],
                &["request", "metadata", "evalgate_rollout_id"],
                &["request", "metadata", "rollout_id"],
            ])?,
            input,
            output,
            reference: self.string(&[&["reference"]])?,
            status,
            error,
            latency_ms: self.number(&[&["latency_ms"]])?,
            ttft_ms: self.number(&[&["ttft_ms"]])?,
            prompt_tokens: self.count(&[
                &["prompt_tokens"],
                &["response", "usage", "prompt_tokens"],
                &["response", "body", "usage", "prompt_tokens"],
            ])?,
            completion_tokens: self.count(&[
                &["completion_tokens"],
                &["response", "usage", "completion_tokens"],
                &["response", "body", "usage", "completion_tokens"],
            ])?,
            cost_usd: self.number(&[&["cost_usd"]])?,
            metadata: self.metadata()?,
        };
        Ok(request)
    }

    fn timestamp(&self) -> Result<Timestamp, Reject> {
        if let Some((name, value)) = self.first(&[&["ts"]]) {
            return parse_timestamp(&name, value);
        }
        let created_opt = self.first(&[&["response", "created"], &["response", "body", "created"]]);
        let Some((name, value)) = created_opt else {
            return Err(missing("ts"));
        };
        value
            .as_i64()
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
            .ok_or_else(|| {
                Reject::new(
                    RejectKind::BadTimestamp,
                    format!("`{name}` must be unix seconds, got {value}"),
                )
            })
    }

    /// The logged arm; an arm-less row is placed by its served model.
    fn arm(&self, model: &str, ts: Timestamp) -> Result<Arm, Reject> {
        let Some(text) = self
            .string(&[
                &["arm"],
                &["metadata", "evalgate_arm"],
                &["metadata", "arm"],
                &["request", "metadata", "evalgate_arm"],
                &["request", "metadata", "arm"],
            ])?
            .filter(|text| !text.trim().is_empty())
        else {
            return self.ctx.arms.arm_of(model, ts).map_err(|unknown| {
                let hint = "`arm` (baseline or canary) or `metadata.evalgate_arm`";
                Reject::new(
                    RejectKind::MissingField,
                    unknown.reason(self.ctx.arms, hint),
                )
            });
        };
        Arm::parse(text.trim()).ok_or_else(|| {
            Reject::new(
                RejectKind::BadArm,
                format!("`arm` is `{text}`; allowed: baseline, canary"),
            )
        })
    }

    fn status(&self, has_error: bool) -> Result<RequestStatus, Reject> {
        let Some(text) = self.string(&[&["status"]])? else {
            return Ok(if has_error {
                RequestStatus::Error
            } else {
                RequestStatus::Ok
            });
        };
        RequestStatus::parse(text.trim()).ok_or_else(|| {
            Reject::new(
                RejectKind::BadStatus,
                format!("`status` is `{text}`; allowed: ok, error"),
            )
        })
    }

    /// The response text: a flat `output`, or the first choice of a raw response.
    fn output(&self) -> Result<Option<String>, Reject> {
        if let Some(text) = self.string(&[&["output"], &["output_text"]])? {
            return Ok(Some(text));
        }
        let choice_content = [&["response"][..], &["response", "body"][..]]
            .into_iter()
            .filter_map(|path| lookup(self.object, path))
            .find_map(|response| response.get("choices"))
            .and_then(|choices| choices.get(0))
            .and_then(|choice| choice.get("message"))
            .and_then(|message| message.get("content"));
        let text = match choice_content {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<&str>>()
                .join(""),
            Some(other) => {
                return Err(wrong_type(
                    "response.choices[0].message.content",
                    "a string",
                    other,
                ));
            }
        };
        self.check_size("response.choices[0].message.content", &text)?;
        Ok(Some(text))
    }

    /// The error text: a string, or an error object's `message` (else the object as JSON).
    fn error_text(&self) -> Result<Option<String>, Reject> {
        let Some((name, value)) = self.first(&[&["error"], &["response", "error"]]) else {
            return Ok(None);
        };
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Object(inner) => match inner.get("message") {
                Some(Value::String(message)) => message.clone(),
                _ => value.to_string(),
            },
            other => return Err(wrong_type(&name, "a string or an error object", other)),
        };
        self.check_size(&name, &text)?;
        Ok(Some(text))
    }

    fn metadata(&self) -> Result<Value, Reject> {
        let Some((name, value)) = self.first(&[&["metadata"], &["metadata_json"]]) else {
            return Ok(Value::Object(Map::new()));
        };
        let parsed = match value {
            Value::Object(_) => value.clone(),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(inner @ Value::Object(_)) => inner,
                _ => return Err(wrong_type(&name, "a json object", value)),
            },
            other => return Err(wrong_type(&name, "a json object", other)),
        };
        self.check_size(&name, &parsed.to_string())?;
        Ok(parsed)
    }

    fn feedback(&self) -> Result<FeedbackEvent, Reject> {
        let request_id = self.required_string(&[&["request_id"]])?;
        let (name, at_value) = self
            .first(&[&["at"], &["ts"]])
            .ok_or_else(|| missing("at"))?;
        let at = parse_timestamp(&name, at_value)?;
        let kind_text = self.required_string(&[&["kind"]])?;
        let value_opt = self.number_allowing_negative("value")?;
        let (kind, value) = feedback_kind_and_value(kind_text.trim(), value_opt)?;
        Ok(FeedbackEvent {
            request_id,
            at,
            kind,
            value,
        })
    }

    fn number_allowing_negative(&self, name: &str) -> Result<Option<f64>, Reject> {
        let Some(value) = lookup(self.object, &[name]) else {
            return Ok(None);
        };
        match value.as_f64() {
            Some(number) if number.is_finite() => Ok(Some(number)),
            _ => Err(wrong_type(name, "a number", value)),
        }
    }
}

/// Maps a feedback kind (with the aliases thumbs_up, thumbs_down, regenerate, escalate, refund)
/// and its value onto a stored event, checking the value fits the kind.
fn feedback_kind_and_value(
    kind_text: &str,
    value_opt: Option<f64>,
) -> Result<(FeedbackKind, f64), Reject> {
    let bad = |reason: String| Reject::new(RejectKind::BadFeedback, reason);
    match kind_text {
        "thumbs_up" => return Ok((FeedbackKind::Thumbs, 1.0)),
        "thumbs_down" => return Ok((FeedbackKind::Thumbs, -1.0)),
        "regenerate" => return Ok((FeedbackKind::Regenerated, value_opt.unwrap_or(1.0))),
        "escalate" => return Ok((FeedbackKind::Escalated, value_opt.unwrap_or(1.0))),
        "refund" => return Ok((FeedbackKind::Refunded, value_opt.unwrap_or(1.0))),
        _ => {}
    }
    let Some(kind) = FeedbackKind::parse(kind_text) else {
        return Err(bad(format!(
            "`kind` is `{kind_text}`; allowed: thumbs, regenerated, escalated, refunded, \
             session_length (or thumbs_up, thumbs_down)"
        )));
    };
    match kind {
        FeedbackKind::Thumbs => match value_opt {
            Some(value) if value == 1.0 || value == -1.0 => Ok((kind, value)),
            _ => Err(bad("thumbs feedback needs `value` 1 or -1".to_string())),
        },
        FeedbackKind::SessionLength => match value_opt {
            Some(value) if value >= 0.0 => Ok((kind, value)),
            _ => Err(bad(
                "session_length feedback needs a non-negative `value`".to_string()
            )),
        },
        FeedbackKind::Regenerated | FeedbackKind::Escalated | FeedbackKind::Refunded => {
            Ok((kind, value_opt.unwrap_or(1.0)))
        }
    }
}
