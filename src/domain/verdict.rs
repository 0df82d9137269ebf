//! Gate verdicts: what one metric's tests say about the canary at one tick, with the numbers
//! behind it. Verdicts are values, never errors (STATS.md "Halt, promote, or neither").

use serde::{Deserialize, Serialize};

/// What a halting metric does to the rollout when its test fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Dry run: notify the owner only.
    Notify,
    /// Hold the current split and page a human.
    Freeze,
    /// Set the canary split to 0% at once.
    Rollback,
}

impl Role {
    /// The lowercase name used in config and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Notify => "notify",
            Role::Freeze => "freeze",
            Role::Rollback => "rollback",
        }
    }
}

/// Why a metric can neither halt nor promote yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InconclusiveReason {
    /// Fewer samples per arm than the metric needs to decide.
    TooFewSamples { have: u64, need: u64 },
    /// The tick found fewer canary requests than it asked for.
    CanaryShortfall { wanted: u64, got: u64 },
    /// The arms' request counts do not match the configured split.
    SampleRatioMismatch {
        expected_canary_share: f64,
        observed_canary_share: f64,
        p_value: f64,
    },
    /// Feedback for the cohort has not had time to arrive.
    FeedbackNotMatured { matured_fraction: f64 },
    /// The stage cannot reach the metric's minimum samples in its minimum duration.
    StageUnderpowered { expected_samples: f64, need: u64 },
    /// No evidence either way yet.
    NotYetProven,
    /// Non-inferiority holds over the stage but is not proven on its last `ticks` ticks: a
    /// regression may have begun inside the stage.
    RecentNotProven {
        ticks: u32,
        z: Option<f64>,
        critical: f64,
    },
}

impl std::fmt::Display for InconclusiveReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InconclusiveReason::TooFewSamples { have, need } => {
                write!(f, "too few samples: {have} per arm, need {need}")
            }
            InconclusiveReason::CanaryShortfall { wanted, got } => {
                write!(f, "canary shortfall: wanted {wanted}, got {got}")
            }
            InconclusiveReason::SampleRatioMismatch {
                expected_canary_share,
                observed_canary_share,
                p_value,
            } => write!(
                f,
                "sample-ratio mismatch: canary share {observed_canary_share:.4}, \
                 expected {expected_canary_share:.4} (p = {p_value:.2e})"
            ),
            InconclusiveReason::FeedbackNotMatured { matured_fraction } => {
                write!(
                    f,
                    "feedback not matured: {:.0}% of cohort",
                    matured_fraction * 100.0
                )
            }
            InconclusiveReason::StageUnderpowered {
                expected_samples,
                need,
            } => write!(
                f,
                "stage underpowered: expects {expected_samples:.0} samples per arm, needs {need}"
            ),
            InconclusiveReason::NotYetProven => f.write_str("not yet proven either way"),
            InconclusiveReason::RecentNotProven { ticks, z, critical } => {
                let z = z.map_or_else(|| "n/a".to_string(), |z| format!("{z:.3}"));
                write!(
                    f,
                    "non-inferiority proven over the stage but not on its last {ticks} ticks \
                     (z = {z} vs {critical:.3}): a regression may have begun inside the stage"
                )
            }
        }
    }
}

/// The decision of one metric at one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The canary is confidently worse than tolerated.
    Halt { role: Role, reason: String },
    /// The canary is confidently not much worse: this metric allows promotion.
    PromoteReady { reason: String },
    /// Neither yet.
    Inconclusive { reason: InconclusiveReason },
}

impl Verdict {
    /// True for `Halt`.
    pub fn is_halt(&self) -> bool {
        matches!(self, Verdict::Halt { .. })
    }

    /// True for `PromoteReady`.
    pub fn is_promote_ready(&self) -> bool {
        matches!(self, Verdict::PromoteReady { .. })
    }

    /// A one-line human reason.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Halt { role, reason } => format!("halt ({}): {reason}", role.as_str()),
            Verdict::PromoteReady { reason } => format!("promote-ready: {reason}"),
            Verdict::Inconclusive { reason } => format!("inconclusive: {reason}"),
        }
    }
}

/// The numbers behind a verdict, for people and for replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Units on the canary arm so far (in this test).
    pub n_canary: u64,
    /// Units on the baseline arm so far.
    pub n_baseline: u64,
    /// Canary estimate (rate or mean).
    pub estimate_canary: Option<f64>,
    /// Baseline estimate (rate or mean).
    pub estimate_baseline: Option<f64>,
    /// Natural log of the halting e-value (ln M_t or ln Λ).
    pub ln_e_value: Option<f64>,
    /// Always-valid p-value of the halting test: min(1, 1 / max e-value).
    pub p_value: Option<f64>,
    /// The bet size λ used this tick, where the test bets.
    pub bet: Option<f64>,
    /// The halting threshold ln(1/α).
    pub ln_threshold: Option<f64>,
    /// α for halting.
    pub alpha_halt: Option<f64>,
    /// The promotion statistic (z or ln e-value) and its α.
    pub promotion_statistic: Option<f64>,
    /// α for promotion.
    pub alpha_promote: Option<f64>,
    /// Free-form extra numbers (thresholds, caps, quantiles).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One metric's verdict with its evidence, as the controller and the reports see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    /// The metric's name, e.g. `pass_rate`, `pass_rate:valid_json`, `latency_p95`.
    pub metric: String,
    /// Whether this metric must be PromoteReady before the stage can promote.
    pub promotion_authority: bool,
    /// The decision.
    pub verdict: Verdict,
    /// The numbers behind it.
    pub evidence: Evidence,
}
