//! What a source mapped onto the contract, and [`Mapped::finish`]: the arm of a row that carries
//! none is placed by its served model (`logic::attribution`), and the contract row is built.

use serde_json::{Map, Value};

use super::ParseContext;
use super::doc::{Doc, Spec};
use super::reject::{Reject, RejectKind};
use crate::domain::{Arm, Request, RequestStatus, Timestamp};

/// What a source mapped, before the arm is placed and the row is built.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// Contract `request_id`.
    pub request_id: String,
    /// Contract `ts`.
    pub ts: Timestamp,
    /// Contract `tenant_id`.
    pub tenant_id: String,
    /// The logged arm, when the source carries one.
    pub arm_opt: Option<Arm>,
    /// Contract `model`.
    pub model: String,
    /// Contract `rollout_id`.
    pub rollout_id: Option<String>,
    /// Contract `input`.
    pub input: String,
    /// Contract `output`.
    pub output: String,
    /// Contract `error` (sets `status: error`).
    pub error: Option<String>,
    /// Contract `latency_ms`.
    pub latency_ms: Option<f64>,
    /// Contract `ttft_ms`.
    pub ttft_ms: Option<f64>,
    /// Contract `prompt_tokens`.
    pub prompt_tokens: Option<i64>,
    /// Contract `completion_tokens`.
    pub completion_tokens: Option<i64>,
    /// Contract `cost_usd`.
    pub cost_usd: Option<f64>,
    /// Contract `metadata`: `source` and what else the source adds.
    pub metadata: Map<String, Value>,
}

/// A source's paths of the fields every source reads the same way.
#[derive(Debug, Clone, Copy)]
pub struct CoreSpecs {
    /// `request_id` (required).
    pub id: &'static Spec,
    /// `tenant_id` (required).
    pub tenant: &'static Spec,
    /// The logged arm (optional: placed by model when absent).
    pub arm: &'static Spec,
    /// `model` (required).
    pub model: &'static Spec,
    /// `rollout_id` (optional).
    pub rollout: &'static Spec,
    /// `input` messages (required).
    pub input: &'static Spec,
    /// `output` text (empty for an error).
    pub output: &'static Spec,
}

impl Mapped {
    /// The fields every source reads alike, in the order their rejects take precedence; the
    /// caller sets latency, time to first token, tokens, cost and metadata after it.
    pub fn core(
        doc: &Doc,
        specs: &CoreSpecs,
        ts: Timestamp,
        error: Option<String>,
    ) -> Result<Mapped, Reject> {
        let request_id = doc.required(specs.id)?;
        let tenant_id = doc.required(specs.tenant)?;
        let arm_opt = doc.arm(specs.arm)?;
        let model = doc.required(specs.model)?;
        let rollout_id = doc.string(specs.rollout)?;
        let input = doc
            .messages(specs.input)?
            .ok_or_else(|| doc.missing(specs.input))?;
        let output = match error {
            Some(_) => String::new(),
            None => doc.text(specs.output)?.unwrap_or_default(),
        };
        Ok(Mapped {
            request_id,
            ts,
            tenant_id,
            arm_opt,
            model,
            rollout_id,
            input,
            output,
            error,
            latency_ms: None,
            ttft_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
            metadata: Map::new(),
        })
    }

    /// The contract row; an arm-less row is placed by its served model (`arm_hint` says where
    /// the source can log the arm when it cannot be placed).
    pub fn finish(self, doc: &Doc, ctx: &ParseContext, arm_hint: &str) -> Result<Request, Reject> {
        let arm = match self.arm_opt {
            Some(arm) => arm,
            None => ctx.arms.arm_of(&self.model, self.ts).map_err(|unknown| {
                doc.reject(RejectKind::MissingField, unknown.reason(ctx.arms, arm_hint))
            })?,
        };
        let metadata = Value::Object(self.metadata);
        doc.check_size("metadata", &metadata.to_string())?;
        if let Some(error) = &self.error {
            doc.check_size("error", error)?;
        }
        let status = match self.error {
            Some(_) => RequestStatus::Error,
            None => RequestStatus::Ok,
        };
        Ok(Request {
            request_id: self.request_id,
            ts: self.ts,
            tenant_id: self.tenant_id,
            arm,
            model: self.model,
            rollout_id: self.rollout_id,
            input: self.input,
            output: self.output,
            reference: None,
            status,
            error: self.error,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: self.cost_usd,
            metadata,
        })
    }
}

/// A metadata map holding `source` and every `(key, value)` that is set.
pub fn metadata(source: &str, extras: &[(&str, Option<String>)]) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("source".to_string(), Value::String(source.to_string()));
    for (key, value_opt) in extras {
        if let Some(value) = value_opt {
            map.insert((*key).to_string(), Value::String(value.clone()));
        }
    }
    map
}
