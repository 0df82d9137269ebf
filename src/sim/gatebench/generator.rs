//! The synthetic log source of `gatebench` (STATS.md benchmark §1): per replicate, a 16-tick
//! stage of scored samples and telemetry per arm, drawn from a ChaCha8 stream seeded with
//! (seed, scenario id, replicate), so every replicate is reproducible on its own and results do
//! not depend on thread scheduling.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::Outcome;
use crate::logic::gates::metric::{BUILTIN, MetricKind, TelemetryField};
use crate::logic::gates::{LatencyReference, References, TelemetryRow, TickInput};
use crate::logic::hash::sha256_u64;
use crate::logic::stats::{normal_cdf, z_upper};

/// σ of the log-latency (lognormal, STATS.md).
pub const LATENCY_SIGMA: f64 = 0.6;
/// σ of the log-cost.
pub const COST_SIGMA: f64 = 1.0;

/// What changes on the canary from the onset tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// A/A.
    None,
    /// Relative drop of the pass rate.
    PassDrop(f64),
    /// Every canary latency × factor.
    LatencyScale(f64),
    /// A fraction of canary requests × factor (tail-only slowdown).
    LatencyTail { fraction: f64, factor: f64 },
    /// Every canary cost × factor.
    CostScale(f64),
    /// Every canary value of one extra telemetry field × factor ([`Scenario::fields`]).
    FieldScale(TelemetryField, f64),
    /// Additive increase of the canary error rate.
    ErrorAdd(f64),
}

/// One benchmark scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Eval units per tick on the canary arm.
    pub n_canary: usize,
    /// Eval units per tick on the baseline arm (4 × N for over-sampling).
    pub n_baseline: usize,
    /// Telemetry requests per arm per tick.
    pub m: usize,
    /// Baseline pass rate.
    pub p0: f64,
    /// Historical pass rate (the gate's prior).
    pub p_hist: f64,
    /// Shared drift of both arms' pass rate: from → to over the stage (A/A drift scenarios).
    pub drift: Option<(f64, f64)>,
    /// Baseline error rate.
    pub error_rate: f64,
    /// The canary's change.
    pub effect: Effect,
    /// First tick (1-based) with the effect.
    pub onset: u32,
    /// Ticks per replicate.
    pub ticks: u32,
    /// Judge label-flip rate on both arms.
    pub flip: f64,
    /// Evaluator failure (unscorable) rate per arm: (canary, baseline).
    pub unscorable: (f64, f64),
    /// Generate eval samples.
    pub eval: bool,
    /// Generate latencies.
    pub latency: bool,
    /// Generate costs.
    pub cost: bool,
    /// Generate error flags.
    pub errors: bool,
    /// Extra telemetry fields to generate, each lognormal like the latency (σ =
    /// [`LATENCY_SIGMA`], median 1), drawn after the other columns of a request: the registry's
    /// generic tail cells ([`crate::logic::gates::metric::BenchCells`]).
    pub fields: Vec<TelemetryField>,
    /// Evaluators in the suite (0: suite outcomes only). Each unit's k evaluator outcomes pass
    /// independently with q = p^(1/k), and the suite passes when all of them do (rate p).
    pub evaluators: usize,
    /// Ticks the stage may be extended to after the planned look at `ticks` (0: no extension).
    pub extend_to: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            n_canary: 50,
            n_baseline: 50,
            m: 0,
            p0: 0.9,
            p_hist: 0.9,
            drift: None,
            error_rate: 0.01,
            effect: Effect::None,
            onset: 1,
            ticks: 16,
            flip: 0.0,
            unscorable: (0.0, 0.0),
            eval: false,
            latency: false,
            cost: false,
            errors: false,
            fields: Vec::new(),
            evaluators: 0,
            extend_to: 0,
        }
    }
}

impl Scenario {
    /// The last tick a replicate may run: the planned look, or the extension's end.
    pub fn last_tick(&self) -> u32 {
        self.ticks.max(self.extend_to)
    }
}

/// The RNG of one replicate of one scenario.
pub fn replicate_rng(seed: u64, scenario_id: &str, replicate: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(sha256_u64(&[
        &seed.to_be_bytes(),
        scenario_id.as_bytes(),
        &replicate.to_be_bytes(),
    ]))
}

/// A standard normal draw (Box–Muller; one of the pair is discarded to keep the stream simple).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The historical references a stage of this scenario freezes at its start (exact, as if from a
/// long history of the baseline distribution).
pub fn references(scenario: &Scenario) -> References {
    let mut refs = References::default();
    refs.rates.insert("pass_rate".into(), scenario.p_hist);
    for i in 0..scenario.evaluators {
        refs.rates.insert(
            crate::logic::gates::metric::evaluator_metric(&evaluator_name(i)),
            scenario.p_hist.powf(1.0 / scenario.evaluators as f64),
        );
    }
    refs.rates.insert("error_rate".into(), scenario.error_rate);
    refs.means.insert(
        "cost_per_response".into(),
        (COST_SIGMA * COST_SIGMA / 2.0).exp(),
    );
    // Every tail metric of the registry: its field is lognormal with σ = LATENCY_SIGMA, median 1.
    for def in BUILTIN
        .iter()
        .filter(|def| def.kind == MetricKind::LatencyTail)
    {
        refs.latency.insert(
            def.name.into(),
            lognormal_tail(def.default_settings().quantile),
        );
    }
    refs
}

/// The exact tail reference of a lognormal(0, [`LATENCY_SIGMA`]) at quantile `q`, for a 1.2×
/// must-catch and margin.
fn lognormal_tail(q: f64) -> LatencyReference {
    let z = z_upper(1.0 - q);
    let shift = 1.2f64.ln() / LATENCY_SIGMA;
    LatencyReference {
        threshold_ms: (LATENCY_SIGMA * z).exp(),
        exceed_at_must_catch: 1.0 - normal_cdf(z - shift),
        exceed_at_margin: 1.0 - normal_cdf(z + shift),
    }
}

fn bernoulli(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn outcomes(rng: &mut ChaCha8Rng, n: usize, p: f64, flip: f64, unscorable: f64) -> Vec<Outcome> {
    (0..n)
        .map(|_| {
            if unscorable > 0.0 && bernoulli(rng, unscorable) {
                return Outcome::Unscorable;
            }
            let pass = bernoulli(rng, p) != (flip > 0.0 && bernoulli(rng, flip));
            if pass { Outcome::Pass } else { Outcome::Fail }
        })
        .collect()
}

/// The input of tick `tick` (1-based) of a replicate.
pub fn tick_input(scenario: &Scenario, rng: &mut ChaCha8Rng, tick: u32) -> TickInput {
    let active = tick >= scenario.onset;
    let effect = if active {
        scenario.effect
    } else {
        Effect::None
    };
    let mut input = TickInput {
        pairing_seed: rng.next_u64(),
        ..TickInput::default()
    };
    if scenario.eval {
        let pb = match scenario.drift {
            Some((from, to)) => {
                from + (to - from) * f64::from(tick - 1) / f64::from(scenario.ticks.max(2) - 1)
            }
            None => scenario.p0,
        };
        let pc = match effect {
            Effect::PassDrop(drop) => pb * (1.0 - drop),
            _ => pb,
        };
        input.eval.wanted_per_arm = scenario.n_canary as u64;
        if scenario.evaluators > 0 {
            let k = scenario.evaluators;
            let (canary, per_canary) = suite_outcomes(rng, scenario.n_canary, pc, k);
            let (baseline, per_baseline) = suite_outcomes(rng, scenario.n_baseline, pb, k);
            input.eval.arms.canary.overall = canary;
            input.eval.arms.canary.per_evaluator = per_canary;
            input.eval.arms.baseline.overall = baseline;
            input.eval.arms.baseline.per_evaluator = per_baseline;
        } else {
            input.eval.arms.canary.overall = outcomes(
                rng,
                scenario.n_canary,
                pc,
                scenario.flip,
                scenario.unscorable.0,
            );
            input.eval.arms.baseline.overall = outcomes(
                rng,
                scenario.n_baseline,
                pb,
                scenario.flip,
                scenario.unscorable.1,
            );
        }
    }
    if scenario.latency || scenario.cost || scenario.errors || !scenario.fields.is_empty() {
        input.telemetry.canary = (0..scenario.m)
            .map(|_| row(scenario, rng, effect))
            .collect();
        input.telemetry.baseline = (0..scenario.m)
            .map(|_| row(scenario, rng, Effect::None))
            .collect();
    }
    input
}

/// The name of evaluator `i` of a generated suite.
pub fn evaluator_name(i: usize) -> String {
    format!("suite/e{i}")
}

/// `n` units of a k-evaluator suite at suite pass rate `p`: per-unit suite outcomes, and per
/// evaluator outcomes that pass independently with p^(1/k).
fn suite_outcomes(
    rng: &mut ChaCha8Rng,
    n: usize,
    p: f64,
    k: usize,
) -> (
    Vec<Outcome>,
    std::collections::BTreeMap<String, Vec<Outcome>>,
) {
    let q = p.powf(1.0 / k as f64);
    let mut per: Vec<Vec<Outcome>> = vec![Vec::with_capacity(n); k];
    let mut overall = Vec::with_capacity(n);
    for _ in 0..n {
        let mut all = true;
        for outcomes in per.iter_mut() {
            let pass = bernoulli(rng, q);
            all &= pass;
            outcomes.push(if pass { Outcome::Pass } else { Outcome::Fail });
        }
        overall.push(if all { Outcome::Pass } else { Outcome::Fail });
    }
    let per = per
        .into_iter()
        .enumerate()
        .map(|(i, o)| (evaluator_name(i), o))
        .collect();
    (overall, per)
}

fn row(scenario: &Scenario, rng: &mut ChaCha8Rng, effect: Effect) -> TelemetryRow {
    let mut out = TelemetryRow::default();
    if scenario.latency {
        let mut latency = (LATENCY_SIGMA * standard_normal(rng)).exp();
        match effect {
            Effect::LatencyScale(f) => latency *= f,
            Effect::LatencyTail { fraction, factor } if bernoulli(rng, fraction) => {
                latency *= factor
            }
            _ => {}
        }
        out.latency_ms = Some(latency);
    }
    if scenario.cost {
        let scale = if let Effect::CostScale(f) = effect {
            f
        } else {
            1.0
        };
        out.cost_usd = Some(scale * (COST_SIGMA * standard_normal(rng)).exp());
    }
    if scenario.errors {
        let add = if let Effect::ErrorAdd(a) = effect {
            a
        } else {
            0.0
        };
        out.error = bernoulli(rng, scenario.error_rate + add);
    }
    for &field in &scenario.fields {
        let mut value = (LATENCY_SIGMA * standard_normal(rng)).exp();
        if let Effect::FieldScale(scaled, factor) = effect
            && scaled == field
        {
            value *= factor;
        }
        field.set(&mut out, Some(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_replicate_draws_the_same_ticks() {
        let scenario = Scenario {
            eval: true,
            latency: true,
            m: 20,
            ..Scenario::default()
        };
        let mut a = replicate_rng(1, "PR-1", 7);
        let mut b = replicate_rng(1, "PR-1", 7);
        assert_eq!(
            tick_input(&scenario, &mut a, 1),
            tick_input(&scenario, &mut b, 1)
        );
        let mut c = replicate_rng(1, "PR-1", 8);
        assert_ne!(
            tick_input(&scenario, &mut a, 2),
            tick_input(&scenario, &mut c, 2)
        );
    }

    #[test]
    fn the_p95_reference_exceedances_match_the_lognormal() {
        let refs = references(&Scenario::default());
        let r = refs.latency["latency_p95"];
        assert!(
            (r.exceed_at_margin - 0.0257).abs() < 5e-4,
            "{}",
            r.exceed_at_margin
        );
        assert!(r.exceed_at_must_catch > 0.05);
    }

    #[test]
    fn a_drop_lowers_the_canary_pass_rate() {
        let scenario = Scenario {
            eval: true,
            n_canary: 4000,
            n_baseline: 4000,
            effect: Effect::PassDrop(0.2),
            ..Scenario::default()
        };
        let mut rng = replicate_rng(3, "x", 0);
        let input = tick_input(&scenario, &mut rng, 1);
        let rate = |o: &[Outcome]| {
            o.iter().filter(|&&x| x == Outcome::Pass).count() as f64 / o.len() as f64
        };
        assert!((rate(&input.eval.arms.canary.overall) - 0.72).abs() < 0.03);
        assert!((rate(&input.eval.arms.baseline.overall) - 0.9).abs() < 0.03);
    }
}
