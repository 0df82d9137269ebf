//! What synthetic traffic to generate: the arrival rate, the tenants, each arm's model, defect
//! probabilities, error rate and telemetry, the optional canary regression and the feedback model.
//! `Default` is a healthy rollout: both arms about 92 % clean.

use serde::{Deserialize, Serialize};

use super::content::Defect;
use super::feedback::FeedbackModel;
use crate::domain::{Arm, HumanDuration, Timestamp};

/// 2026-11-01T00:00:00Z, the default first request time.
pub const DEFAULT_START_SECS: i64 = 1_793_491_200;

/// A spec that cannot generate traffic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("synth spec: {field} {message}")]
pub struct SynthSpecError {
    /// The offending field, e.g. `canary.defects.refusal`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SynthSpecError {
    SynthSpecError {
        field: field.into(),
        message: message.into(),
    }
}

fn check_probability(field: String, value: f64) -> Result<(), SynthSpecError> {
    if (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    Err(invalid(field, format!("is {value}; must be in [0, 1]")))
}

/// The probability of each defect in a served (non-error) response. At most one defect is
/// drawn per response, so the rates must sum to at most 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DefectRates {
    /// Prose or truncated JSON.
    pub invalid_json: f64,
    /// `status` or `answer` missing.
    pub missing_field: f64,
    /// A plain-text refusal.
    pub refusal: f64,
    /// An answer over 1,500 characters.
    pub over_long: f64,
    /// The wrong order id.
    pub wrong_order_id: f64,
}

impl Default for DefectRates {
    fn default() -> DefectRates {
        DefectRates {
            invalid_json: 0.02,
            missing_field: 0.015,
            refusal: 0.015,
            over_long: 0.01,
            wrong_order_id: 0.02,
        }
    }
}

impl DefectRates {
    /// The probability of `defect`.
    pub fn get(&self, defect: Defect) -> f64 {
        match defect {
            Defect::InvalidJson => self.invalid_json,
            Defect::MissingField => self.missing_field,
            Defect::Refusal => self.refusal,
            Defect::OverLong => self.over_long,
            Defect::WrongOrderId => self.wrong_order_id,
        }
    }

    /// The probability that a response has some defect.
    pub fn total(&self) -> f64 {
        Defect::ALL.into_iter().map(|defect| self.get(defect)).sum()
    }

    /// Every rate multiplied by `factor`, scaled back so they still sum to at most 1.
    pub fn scaled(&self, factor: f64) -> DefectRates {
        let total = self.total() * factor;
        let norm = if total > 1.0 { total } else { 1.0 };
        let scale = |rate: f64| rate * factor / norm;
        DefectRates {
            invalid_json: scale(self.invalid_json),
            missing_field: scale(self.missing_field),
            refusal: scale(self.refusal),
            over_long: scale(self.over_long),
            wrong_order_id: scale(self.wrong_order_id),
        }
    }
}

/// How one arm behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmProfile {
    /// The model/prompt version written on its rows, e.g. `support-bot@v42`.
    pub model: String,
    /// Defect probabilities of served responses.
    pub defects: DefectRates,
    /// Probability that a request fails (status `error`, empty output).
    pub error_rate: f64,
    /// Median end-to-end latency in milliseconds.
    pub latency_median_ms: f64,
    /// Log-scale standard deviation of latency.
    pub latency_sigma: f64,
    /// Median cost per request in USD.
    pub cost_median_usd: f64,
    /// Log-scale standard deviation of cost.
    pub cost_sigma: f64,
}

impl ArmProfile {
    /// A healthy arm serving `model`.
    pub fn healthy(model: &str) -> ArmProfile {
        ArmProfile {
            model: model.to_string(),
            defects: DefectRates::default(),
            error_rate: 0.01,
            latency_median_ms: 850.0,
            latency_sigma: 0.6,
            cost_median_usd: 0.0021,
            cost_sigma: 1.0,
        }
    }

    fn validate(&self, arm: &str) -> Result<(), SynthSpecError> {
        if self.model.trim().is_empty() {
            return Err(invalid(format!("{arm}.model"), "is empty"));
        }
        for defect in Defect::ALL {
            check_probability(
                format!("{arm}.defects.{}", defect.as_str()),
                self.defects.get(defect),
            )?;
        }
        if self.defects.total() > 1.0 + 1e-9 {
            let total = self.defects.total();
            return Err(invalid(
                format!("{arm}.defects"),
                format!("sum to {total}; one response has at most one defect, so at most 1"),
            ));
        }
        check_probability(format!("{arm}.error_rate"), self.error_rate)?;
        let positive = [
            ("latency_median_ms", self.latency_median_ms),
            ("cost_median_usd", self.cost_median_usd),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(
                    format!("{arm}.{name}"),
                    "must be a positive number",
                ));
            }
        }
        for (name, value) in [
            ("latency_sigma", self.latency_sigma),
            ("cost_sigma", self.cost_sigma),
        ] {
            if !(value.is_finite() && (0.0..=5.0).contains(&value)) {
                return Err(invalid(format!("{arm}.{name}"), "must be in [0, 5]"));
            }
        }
        Ok(())
    }
}

/// A canary regression that starts at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// When it starts.
    pub at: Timestamp,
    /// Multiplier on the canary's defect probabilities.
    pub factor: f64,
    /// Multiplier on the canary's median latency.
    pub latency_factor: f64,
    /// Multiplier on the canary's median cost.
    pub cost_factor: f64,
}

impl Regression {
    /// A regression at `at` with defect multiplier `factor`, 25 % slower and 15 % costlier.
    pub fn new(at: Timestamp, factor: f64) -> Regression {
        Regression {
            at,
            factor,
            latency_factor: 1.25,
            cost_factor: 1.15,
        }
    }
}

/// Everything the generator needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSpec {
    /// The same seed gives the same events.
    pub seed: u64,
    /// Time of the first possible request.
    pub start: Timestamp,
    /// Requests arrive in `[start, start + duration)`.
    pub duration: HumanDuration,
    /// Mean requests per minute over both arms (Poisson arrivals).
    pub rpm: f64,
    /// Probability that a request is served by the canary.
    pub canary_share: f64,
    /// Number of tenants (Zipf-like popularity).
    pub tenants: u32,
    /// Written on every row when set.
    pub rollout_id: Option<String>,
    /// The baseline arm.
    pub baseline: ArmProfile,
    /// The canary arm.
    pub canary: ArmProfile,
    /// The optional canary regression.
    pub regression: Option<Regression>,
    /// User feedback behaviour.
    pub feedback: FeedbackModel,
}

impl Default for SynthSpec {
    fn default() -> SynthSpec {
        SynthSpec {
            seed: 1,
            start: Timestamp::from_timestamp(DEFAULT_START_SECS, 0).unwrap_or_default(),
            duration: HumanDuration::from_hours(1),
            rpm: 60.0,
            canary_share: 0.1,
            tenants: 500,
            rollout_id: None,
            baseline: ArmProfile::healthy("support-bot@v41"),
            canary: ArmProfile::healthy("support-bot@v42"),
            regression: None,
            feedback: FeedbackModel::default(),
        }
    }
}

impl SynthSpec {
    /// The profile of `arm`.
    pub fn profile(&self, arm: Arm) -> &ArmProfile {
        match arm {
            Arm::Baseline => &self.baseline,
            Arm::Canary => &self.canary,
        }
    }

    /// Checks every field; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<(), SynthSpecError> {
        if !(self.rpm.is_finite() && self.rpm > 0.0 && self.rpm <= 10_000_000.0) {
            return Err(invalid(
                "rpm",
                format!("is {}; must be in (0, 1e7]", self.rpm),
            ));
        }
        if self.duration.as_secs() < 0 {
            return Err(invalid("duration", "must not be negative"));
        }
        check_probability("canary_share".to_string(), self.canary_share)?;
        if !(1..=1_000_000).contains(&self.tenants) {
            return Err(invalid("tenants", "must be between 1 and 1,000,000"));
        }
        self.baseline.validate("baseline")?;
        self.canary.validate("canary")?;
        if let Some(regression) = &self.regression {
            for (name, value) in [
                ("regression.factor", regression.factor),
                ("regression.latency_factor", regression.latency_factor),
                ("regression.cost_factor", regression.cost_factor),
            ] {
                if !(value.is_finite() && (0.0..=1_000.0).contains(&value)) {
                    return Err(invalid(name, format!("is {value}; must be in [0, 1000]")));
                }
            }
        }
        for (name, value) in self.feedback.probabilities() {
            check_probability(name.to_string(), value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_is_valid_and_about_92_percent_clean() {
        let spec = SynthSpec::default();
        spec.validate().unwrap();
        let clean = (1.0 - spec.baseline.error_rate) * (1.0 - spec.baseline.defects.total());
        assert!((0.90..=0.94).contains(&clean), "clean share {clean}");
        assert_eq!(spec.start.to_rfc3339(), "2026-11-01T00:00:00+00:00");
    }

    #[test]
    fn scaled_defect_rates_never_sum_past_one() {
        let rates = DefectRates::default();
        let tripled = rates.scaled(3.0);
        assert!((tripled.refusal - 3.0 * rates.refusal).abs() < 1e-12);
        let huge = rates.scaled(100.0);
        assert!((huge.total() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_bad_field_is_named_in_the_error() {
        let mut spec = SynthSpec::default();
        spec.canary.defects.refusal = 1.5;
        let err = spec.validate().unwrap_err();
        assert_eq!(err.field, "canary.defects.refusal");
        let mut spec = SynthSpec {
            canary_share: -0.1,
            ..SynthSpec::default()
        };
        assert_eq!(spec.validate().unwrap_err().field, "canary_share");
        spec.canary_share = 0.5;
        spec.rpm = 0.0;
        assert_eq!(spec.validate().unwrap_err().field, "rpm");
    }
}
