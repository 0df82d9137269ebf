//! Runs one replicate of a scenario through a decision rule: the production gates
//! (`logic::gates::update`, the same code the tick pipeline calls) or one of the negative-control
//! rules of STATS.md (the literal seed rule A1, the peeking z-test B1, a naive per-tick p95 ratio,
//! a relative-only error threshold), which exist only here, to prove the harness can see peeking.

use chrono::TimeZone;

use super::generator::{Scenario, references, replicate_rng, tick_input};
use crate::domain::{Outcome, Timestamp};
use crate::logic::gates::settings::GateSettings;
use crate::logic::gates::{GateState, StagePlan, TickInput, budget, update};
use crate::logic::stats::pairing::units_per_pair;
use crate::logic::stats::z_upper;

/// A decision rule under test.
#[derive(Debug, Clone)]
pub enum Rule {
    /// The production gates on these metrics (a halt of any of them halts the rollout), with the
    /// stage's false-halt budget split over `family` as production splits it (the metrics run
    /// here, or the whole default family when the cell measures the product's own α).
    Gates {
        metrics: Vec<String>,
        family: Vec<String>,
        config: Box<GateSettings>,
    },
    /// A1: halt if this tick's canary pass rate < 0.8 × this tick's baseline rate.
    SeedRule,
    /// B1: one-sided pooled two-proportion z-test (α = 0.05) on cumulative data, every tick.
    PeekingZ,
    /// Halt if this tick's canary sample p95 latency > 1.2 × the baseline's.
    NaiveP95Ratio,
    /// Halt if this tick's canary error rate > 1.02 × the baseline's ("> 2% of baseline").
    RelativeErrorOnly,
}

/// What happened in one replicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepOutcome {
    /// The first tick (1-based) with a halt.
    pub first_halt: Option<u32>,
    /// Every gated metric with promotion authority was PromoteReady at a tick from the planned
    /// look on, before any halt (the controller promotes there and the replicate ends).
    pub promote_ready: bool,
}

/// The stage plan of a scenario.
pub fn plan(scenario: &Scenario) -> StagePlan {
    StagePlan {
        stage: 0,
        ticks_min: scenario.ticks,
        ticks_max: scenario.last_tick(),
        eval_per_tick: scenario.n_canary as f64,
        // The k the pairing uses for these arm sizes.
        baseline_multiplier: units_per_pair(scenario.n_canary, scenario.n_baseline),
        requests_per_tick: scenario.m as f64,
        feedback_per_tick: 0.0,
        references: references(scenario),
        alpha: std::collections::BTreeMap::new(),
    }
}

fn tick_time(tick: u32) -> Timestamp {
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    start + chrono::Duration::minutes(15 * i64::from(tick))
}

/// Runs replicate `rep` of `scenario` (named `id` for its RNG stream) under `rule`.
pub fn run_replicate(
    rule: &Rule,
    scenario: &Scenario,
    id: &str,
    seed: u64,
    rep: u64,
) -> RepOutcome {
    let mut rng = replicate_rng(seed, id, rep);
    match rule {
        Rule::Gates {
            metrics,
            family,
            config,
        } => run_gates(config, metrics, family, scenario, &mut rng),
        _ => {
            let mut naive = NaiveState::default();
            for tick in 1..=scenario.ticks {
                let input = tick_input(scenario, &mut rng, tick);
                if naive.halts(rule, &input) {
                    return RepOutcome {
                        first_halt: Some(tick),
                        promote_ready: false,
                    };
                }
            }
            RepOutcome::default()
        }
    }
}

fn run_gates(
    config: &GateSettings,
    metrics: &[String],
    family: &[String],
    scenario: &Scenario,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> RepOutcome {
    let plan = StagePlan {
        alpha: budget::allocate(config, family).alpha,
        ..plan(scenario)
    };
    let mut gates: Vec<_> = metrics
        .iter()
        .filter_map(|m| {
            config
                .settings(m)
                .map(|s| (s.clone(), GateState::start(config, &s, m, &plan)))
        })
        .collect();
    for tick in 1..=scenario.last_tick() {
        let input = tick_input(scenario, rng, tick);
        let mut all_ready = true;
        for (settings, state) in &mut gates {
            let (next, verdict, _) = update(config, settings, state, &input, tick_time(tick));
            *state = next;
            if verdict.verdict.is_halt() {
                return RepOutcome {
                    first_halt: Some(tick),
                    promote_ready: false,
                };
            }
            if verdict.promotion_authority && !verdict.verdict.is_promote_ready() {
                all_ready = false;
            }
        }
        if tick >= scenario.ticks && all_ready {
            return RepOutcome {
                first_halt: None,
                promote_ready: true,
            };
        }
    }
    RepOutcome::default()
}

/// Cumulative counts the peeking z-test needs.
#[derive(Debug, Default)]
struct NaiveState {
    canary: (u64, u64),
    baseline: (u64, u64),
}

fn pass_counts(outcomes: &[Outcome]) -> (u64, u64) {
    let passes = outcomes.iter().filter(|&&o| o == Outcome::Pass).count() as u64;
    let scored = outcomes
        .iter()
        .filter(|&&o| o != Outcome::Unscorable)
        .count() as u64;
    (passes, scored)
}

fn ratio(x: u64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { x as f64 / n as f64 }
}

/// The naive rule's per-tick sample p95 (0 without latencies: the rule then sees no slowdown).
fn sample_p95(rows: &[crate::logic::gates::TelemetryRow]) -> f64 {
    let xs: Vec<f64> = rows.iter().filter_map(|r| r.latency_ms).collect();
    crate::logic::stats::summary::quantile(&xs, 0.95).unwrap_or(0.0)
}

impl NaiveState {
    fn halts(&mut self, rule: &Rule, input: &TickInput) -> bool {
        let arms = &input.eval.arms;
        match rule {
            Rule::SeedRule => {
                let (xc, nc) = pass_counts(&arms.canary.overall);
                let (xb, nb) = pass_counts(&arms.baseline.overall);
                ratio(xc, nc) < 0.8 * ratio(xb, nb)
            }
            Rule::PeekingZ => {
                let (xc, nc) = pass_counts(&arms.canary.overall);
                let (xb, nb) = pass_counts(&arms.baseline.overall);
                self.canary = (self.canary.0 + xc, self.canary.1 + nc);
                self.baseline = (self.baseline.0 + xb, self.baseline.1 + nb);
                let (xc, nc) = self.canary;
                let (xb, nb) = self.baseline;
                let pooled = ratio(xc + xb, nc + nb);
                let se =
                    (pooled * (1.0 - pooled) * (1.0 / nc.max(1) as f64 + 1.0 / nb.max(1) as f64))
                        .sqrt();
                se > 0.0 && (ratio(xb, nb) - ratio(xc, nc)) / se > z_upper(0.05)
            }
            Rule::NaiveP95Ratio => {
                sample_p95(&input.telemetry.canary) > 1.2 * sample_p95(&input.telemetry.baseline)
            }
            Rule::RelativeErrorOnly => {
                let rate = |rows: &[crate::logic::gates::TelemetryRow]| {
                    ratio(
                        rows.iter().filter(|r| r.error).count() as u64,
                        rows.len() as u64,
                    )
                };
                rate(&input.telemetry.canary) > 1.02 * rate(&input.telemetry.baseline)
            }
            Rule::Gates { .. } => false,
        }
    }
}
