//! What one family's update found this tick, before it becomes a [`crate::domain::Verdict`].

use serde_json::{Map, Value};

use crate::domain::InconclusiveReason;

/// The promotion side of a tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Promotion {
    /// The non-inferiority null was rejected.
    pub proven: bool,
    /// The statistic: z at the planned look, ln e-value otherwise.
    pub statistic: Option<f64>,
    /// The decisive numbers in words: the statistic against its critical value, and the
    /// trailing-window test when one ran (what the verdict prints).
    pub detail: String,
    /// The trailing-window test (paired families, from the planned look on).
    pub recent: Option<super::recent::RecentCheck>,
    /// The stage-level test alone rejected the non-inferiority null.
    pub stage_proven: bool,
}

impl Promotion {
    /// A stage-level result: `statistic` against `critical`, proven when above it; `shown` names
    /// the test and its numbers.
    pub fn stage(statistic: Option<f64>, critical: f64, shown: String) -> Self {
        let proven = statistic.is_some_and(|v| v >= critical);
        Promotion {
            proven,
            statistic,
            detail: shown,
            recent: None,
            stage_proven: proven,
        }
    }

    /// Adds the trailing-window test: promotion now also needs it.
    pub fn with_recent(mut self, recent: Option<super::recent::RecentCheck>) -> Self {
        if let Some(r) = recent {
            self.proven = self.proven && r.proven;
            let z = r.z.map_or_else(|| "n/a".to_string(), |z| format!("{z:.3}"));
            self.detail.push_str(&format!(
                "; last {} ticks z = {z} (canary {}/{}, baseline {}/{}) vs {:.3} (α = {:.2e}){}",
                r.ticks,
                r.counts.canary_x,
                r.counts.canary_n,
                r.counts.baseline_x,
                r.counts.baseline_n,
                crate::logic::stats::z_upper(r.alpha),
                r.alpha,
                if r.proven { "" } else { " not proven" },
            ));
            self.recent = Some(r);
        }
        self
    }
}

/// One family's findings for a tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// Set when a halting test crossed its threshold this tick.
    pub halt_reason: Option<String>,
    /// ln of the halting e-value now.
    pub ln_e: Option<f64>,
    /// The always-valid p-value of the halting test.
    pub p_value: Option<f64>,
    /// The bet λ of this tick (paired tests), fixed before its outcomes were read.
    pub bet: Option<f64>,
    /// Units per arm so far this stage (canary, baseline).
    pub n: (u64, u64),
    /// Estimates per arm (canary, baseline).
    pub estimates: (Option<f64>, Option<f64>),
    /// The promotion side.
    pub promotion: Promotion,
    /// A data-quality reason of this family (shortfall, immature feedback, warm-up).
    pub quality: Option<InconclusiveReason>,
    /// Extra numbers for the evidence.
    pub extra: Map<String, Value>,
}

impl Step {
    /// Adds a number to the evidence's extra map (non-finite values are stored as null).
    pub fn note(&mut self, key: &str, value: f64) {
        let json = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.extra.insert(key.to_string(), json);
    }
}
