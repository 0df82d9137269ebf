//! Updates of the paired binary families: pass rates, feedback rates, the unscorable guardrail,
//! the error rate (additive margin + ceiling) and latency tails (exceedances of a frozen c_q).
//!
//! Each tick: extract per-arm indicators (missing units dropped), pair them with the tick's
//! seeded shuffle, ingest into the halting e-process (bet fixed first) and into the mirrored
//! promotion e-process, and accumulate per-stage counts for the planned-look test.

use super::display::fmt_opt;
use super::input::{LatencyReference, TickInput};
use super::metric::{Direction, MetricSettings, Scale};
use super::recent;
use super::settings::GateSettings;
use super::state::{Counts, GateState, TestState};
use super::step::{Promotion, Step};
use crate::domain::InconclusiveReason;
use crate::logic::stats::betting::{Alternative, BettingParams, BettingState, Contrast, PairTally};
use crate::logic::stats::noninferiority::{difference_z, farrington_manning_z};
use crate::logic::stats::pairing::{metric_seed, pair_units};
use crate::logic::stats::{ln_threshold, z_upper};

/// The halting contrast and alternative of a binary rate metric.
fn halt_design(s: &MetricSettings) -> (Contrast, Alternative) {
    match (s.direction, s.scale) {
        (Direction::Higher, Scale::Relative) => (
            Contrast::higher_is_better(s.tolerance),
            Alternative::Ratio { r: s.must_catch },
        ),
        (Direction::Lower, Scale::Relative) => (
            Contrast::lower_is_better(s.tolerance),
            Alternative::Ratio { r: s.must_catch },
        ),
        (Direction::Lower, Scale::Absolute) => (
            Contrast::lower_is_better_additive(s.tolerance),
            Alternative::Additive {
                delta: s.must_catch,
            },
        ),
        (Direction::Higher, Scale::Absolute) => (
            Contrast {
                a: 1.0,
                b: -1.0,
                c: s.tolerance,
            },
            Alternative::Additive {
                delta: -s.must_catch,
            },
        ),
    }
}

/// The mirrored promotion contrast (sized at pc = p̂b).
fn promote_contrast(s: &MetricSettings) -> Contrast {
    let m = s.promotion_margin;
    match (s.direction, s.scale) {
        (Direction::Higher, Scale::Relative) => Contrast::promote_higher(m),
        (Direction::Lower, Scale::Relative) => Contrast::promote_lower(m),
        (Direction::Lower, Scale::Absolute) => Contrast::promote_lower_additive(m),
        (Direction::Higher, Scale::Absolute) => Contrast {
            a: -1.0,
            b: 1.0,
            c: -m,
        },
    }
}

/// Betting parameters: start-time mixture for sampled and feedback rates, single start for the
/// telemetry families (as STATS.md's benchmark simulates them), single start for promotion.
pub fn params(
    config: &GateSettings,
    state: &GateState,
    contrast: Contrast,
    alternative: Alternative,
    mixture: bool,
) -> BettingParams {
    BettingParams {
        contrast,
        alternative,
        prior_rate: state.prior_rate,
        prior_n: config.prior_n,
        lambda_cap: config.lambda_cap,
        first_start_weight: if mixture {
            config.first_start_weight
        } else {
            1.0
        },
        ticks_per_stage: if mixture { state.ticks_min.max(1) } else { 1 },
    }
}

fn tally_counts(tally: &PairTally) -> Counts {
    Counts {
        canary_x: tally.canary_successes(),
        canary_n: tally.pairs(),
        baseline_x: tally.baseline_successes(),
        baseline_n: tally.baseline_units(),
    }
}

fn add_counts(counts: &mut Counts, tally: &PairTally) {
    *counts = counts.plus(tally_counts(tally));
}

/// Adds a tick to the stage counts and to the trailing window.
fn add_tick(config: &GateSettings, state: &mut GateState, tally: &PairTally) {
    add_counts(&mut state.counts, tally);
    recent::push(&mut state.recent, tally_counts(tally), config.recent_ticks);
}

fn rate(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

/// The planned-look test on per-stage counts: Farrington–Manning (ratio) or the difference z.
pub fn planned_look(s: &MetricSettings, c: &Counts) -> Option<f64> {
    match s.scale {
        Scale::Relative => farrington_manning_z(
            c.canary_x,
            c.canary_n,
            c.baseline_x,
            c.baseline_n,
            s.promotion_margin,
            s.direction == Direction::Higher,
        ),
        Scale::Absolute => {
            let z = difference_z(
                c.canary_x,
                c.canary_n,
                c.baseline_x,
                c.baseline_n,
                s.promotion_margin,
            )?;
            Some(if s.direction == Direction::Higher {
                -z
            } else {
                z
            })
        }
    }
}

/// Promotion of the paired families: the stage-level non-inferiority test (planned-look z at
/// T_min, the mirrored e-process's current value after an extension), and from the planned look
/// on the trailing-window test ([`super::recent`]). Nothing is proven before the planned look.
fn promotion(
    config: &GateSettings,
    s: &MetricSettings,
    state: &GateState,
    promote: &BettingState,
) -> Promotion {
    let c = &state.counts;
    let stage = if state.ticks == state.ticks_min {
        let z = planned_look(s, c);
        let critical = z_upper(s.alpha_promote);
        Promotion::stage(
            z,
            critical,
            format!(
                "planned-look z = {} vs {critical:.3} (α = {}; canary {}/{}, baseline {}/{})",
                fmt_opt(z),
                s.alpha_promote,
                c.canary_x,
                c.canary_n,
                c.baseline_x,
                c.baseline_n
            ),
        )
    } else {
        // The current value decides, not the running maximum: a stale early maximum must not
        // promote after an extension or after the evidence turned.
        let critical = ln_threshold(s.alpha_promote);
        Promotion::stage(
            Some(promote.ln_m),
            critical,
            format!(
                "mirrored e-process e-value {:.3e} vs 1/α = {:.0} (current value)",
                promote.ln_m.exp(),
                1.0 / s.alpha_promote
            ),
        )
    };
    if state.ticks < state.ticks_min {
        return Promotion {
            proven: false,
            detail: format!(
                "{}; no promotion before the planned look at tick {}",
                stage.detail, state.ticks_min
            ),
            ..stage
        };
    }
    let recent = recent::check(
        config,
        s,
        (state.ticks, state.ticks_min, state.ticks_max),
        &state.recent,
        planned_look,
    );
    stage.with_recent(recent)
}

fn halt_message(metric: &str, ln_e: f64, alpha: f64, counts: &Counts) -> String {
    format!(
        "{metric}: e-value {:.3e} ≥ 1/α = {:.0} (canary {}/{}, baseline {}/{})",
        ln_e.exp(),
        1.0 / alpha,
        counts.canary_x,
        counts.canary_n,
        counts.baseline_x,
        counts.baseline_n
    )
}

/// Pass rates, feedback rates and the unscorable guardrail.
pub fn update_paired(
    config: &GateSettings,
    s: &MetricSettings,
    state: &mut GateState,
    input: &TickInput,
) -> Step {
    let mut step = Step::default();
    let data = super::metric::def_of(&state.metric)
        .and_then(|def| super::metric::indicators(def, &state.metric, input));
    let seed = metric_seed(input.pairing_seed, &state.metric);
    let (contrast, alternative) = halt_design(s);
    let halt_params = params(config, state, contrast, alternative, true);
    let promote_params = params(
        config,
        state,
        promote_contrast(s),
        Alternative::Ratio { r: 1.0 },
        false,
    );
    if let Some((canary, baseline)) = data {
        let tally = pair_units(&canary, &baseline, seed);
        state.ticks += 1;
        add_tick(config, state, &tally);
        step.note("k", f64::from(tally.k));
        if let TestState::Paired { halt, promote } = &mut state.test {
            step.bet = Some(halt.ingest(&halt_params, &tally));
            promote.ingest(&promote_params, &tally);
        }
    }
    if let TestState::Paired { halt, promote } = &state.test {
        step.ln_e = Some(halt.ln_m);
        step.p_value = Some(halt.p_value());
        step.note("ln_k_single_start", halt.ln_k);
        step.note(
            "baseline_rate_smoothed",
            halt.smoothed_baseline_rate(&halt_params),
        );
        if halt.ln_m >= ln_threshold(s.alpha_halt) {
            step.halt_reason = Some(halt_message(
                &state.metric,
                halt.ln_m,
                s.alpha_halt,
                &state.counts,
            ));
        }
        step.promotion = promotion(config, s, state, promote);
    }
    finish_counts(&mut step, &state.counts);
    step
}

fn finish_counts(step: &mut Step, c: &Counts) {
    step.n = (c.canary_n, c.baseline_n);
    step.estimates = (
        rate(c.canary_x, c.canary_n),
        rate(c.baseline_x, c.baseline_n),
    );
}

/// Error rate: the additive-margin e-process and the one-sample ceiling; halt if either fires.
pub fn update_error(
    config: &GateSettings,
    s: &MetricSettings,
    state: &mut GateState,
    input: &TickInput,
) -> Step {
    let mut step = Step::default();
    let seed = metric_seed(input.pairing_seed, &state.metric);
    let (contrast, alternative) = halt_design(s);
    let halt_params = params(config, state, contrast, alternative, false);
    let promote_params = params(
        config,
        state,
        promote_contrast(s),
        Alternative::Ratio { r: 1.0 },
        false,
    );
    let data = super::metric::def_of(&state.metric)
        .and_then(|def| super::metric::indicators(def, &state.metric, input));
    let (canary, baseline) = data.unwrap_or_default();
    let tally = pair_units(&canary, &baseline, seed);
    state.ticks += 1;
    add_tick(config, state, &tally);
    let canary_errors = canary.iter().filter(|&&e| e).count() as u64;
    if let TestState::Error {
        halt,
        ceiling,
        promote,
    } = &mut state.test
    {
        step.bet = Some(halt.ingest(&halt_params, &tally));
        promote.ingest(&promote_params, &tally);
        ceiling.ingest(
            canary_errors,
            canary.len() as u64,
            s.ceiling_max,
            s.ceiling_alt,
        );
    }
    if let TestState::Error {
        halt,
        ceiling,
        promote,
    } = &state.test
    {
        let evidence = ErrorEvidence::merge(halt.ln_m, ceiling.ln_k);
        step.ln_e = Some(evidence.ln_e);
        step.p_value = Some(evidence.p_value(halt.p_value(), ceiling.p_value()));
        step.note("ln_e_relative", halt.ln_m);
        step.note("ln_e_ceiling", ceiling.ln_k);
        step.note("ceiling_max", s.ceiling_max);
        step.note("ceiling_alt", s.ceiling_alt);
        step.note("k", f64::from(tally.k));
        if evidence.ln_e >= ln_threshold(s.alpha_halt) {
            let parts = format!(
                "{:.0}% × relative {:.3e} + {:.0}% × ceiling {:.3e}",
                100.0 * ERROR_RELATIVE_WEIGHT,
                halt.ln_m.exp(),
                100.0 * (1.0 - ERROR_RELATIVE_WEIGHT),
                ceiling.ln_k.exp()
            );
            step.halt_reason = Some(if evidence.ceiling_decides {
                format!(
                    "{}: canary error rate above the {:.1}% ceiling: e-value {:.3e} ≥ {:.0} \
                     ({parts}; {}/{} errors)",
                    state.metric,
                    100.0 * s.ceiling_max,
                    evidence.ln_e.exp(),
                    1.0 / s.alpha_halt,
                    ceiling.errors,
                    ceiling.requests
                )
            } else {
                format!(
                    "{} ({parts})",
                    halt_message(&state.metric, evidence.ln_e, s.alpha_halt, &state.counts)
                )
            });
        }
        step.promotion = promotion(config, s, state, promote);
    }
    finish_counts(&mut step, &state.counts);
    step
}

/// The error rate's weight on its relative test in the merged e-value (the ceiling gets the rest).
pub const ERROR_RELATIVE_WEIGHT: f64 = 0.75;

/// The error rate's one halting e-value: E = w·E_relative + (1 − w)·E_ceiling.
///
/// Both are e-processes while the canary is healthy (error rate at most the baseline's plus the
/// margin, and at most the ceiling), so their weighted mean is one too (docs/STATISTICS.md §2):
/// the metric spends its α once, and the merge is never less powerful than splitting α over the
/// two tests in the same proportions, since w·E_r + (1 − w)·E_c ≥ max(w·E_r, (1 − w)·E_c).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorEvidence {
    /// ln E of the merged e-value.
    pub ln_e: f64,
    /// The ceiling's term is the larger one (the halt reason names the ceiling).
    pub ceiling_decides: bool,
}

impl ErrorEvidence {
    /// Merges the relative test's ln E and the ceiling SPRT's ln K.
    pub fn merge(ln_relative: f64, ln_ceiling: f64) -> ErrorEvidence {
        let relative = ERROR_RELATIVE_WEIGHT.ln() + ln_relative;
        let ceiling = (1.0 - ERROR_RELATIVE_WEIGHT).ln() + ln_ceiling;
        let ln_e = crate::logic::stats::log_add_exp(Some(relative), Some(ceiling))
            .unwrap_or(f64::NEG_INFINITY);
        ErrorEvidence {
            ln_e,
            ceiling_decides: ceiling > relative,
        }
    }

    /// An always-valid p-value of the merge: the weighted Bonferroni of the two tests' ones.
    pub fn p_value(&self, relative: f64, ceiling: f64) -> f64 {
        (relative / ERROR_RELATIVE_WEIGHT)
            .min(ceiling / (1.0 - ERROR_RELATIVE_WEIGHT))
            .min(1.0)
    }
}

/// Latency tail: exceedances of the frozen c_q, paired; one-sample promotion at m·c_q.
pub fn update_latency(
    config: &GateSettings,
    s: &MetricSettings,
    state: &mut GateState,
    input: &TickInput,
) -> Step {
    let mut step = Step::default();
    let data =
        super::metric::def_of(&state.metric).and_then(|def| super::metric::values(def, input));
    let (canary, baseline) = data.unwrap_or_default();
    let TestState::Latency { reference, .. } = &mut state.test else {
        return step;
    };
    let Some(frozen) = *reference else {
        // No history: freeze c_q from this tick's baseline and start testing next tick.
        *reference =
            LatencyReference::from_history(&baseline, s.quantile, s.must_catch, s.promotion_margin);
        step.quality = Some(InconclusiveReason::TooFewSamples {
            have: 0,
            need: s.n_min,
        });
        return step;
    };
    let q0 = 1.0 - s.quantile;
    let ratio = (frozen.exceed_at_must_catch / q0).max(s.must_catch);
    let halt_params = params(
        config,
        state,
        Contrast::lower_is_better(s.tolerance),
        Alternative::Ratio { r: ratio },
        false,
    );
    let exceed =
        |xs: &[f64]| -> Vec<bool> { xs.iter().map(|&x| x > frozen.threshold_ms).collect() };
    let tally = pair_units(
        &exceed(&canary),
        &exceed(&baseline),
        metric_seed(input.pairing_seed, &state.metric),
    );
    state.ticks += 1;
    add_counts(&mut state.counts, &tally);
    let promote_line = s.promotion_margin * frozen.threshold_ms;
    let hits = canary.iter().filter(|&&x| x > promote_line).count() as u64;
    let p_alt = frozen.exceed_at_margin.min(q0);
    if let TestState::Latency { halt, promote, .. } = &mut state.test {
        step.bet = Some(halt.ingest(&halt_params, &tally));
        promote.ingest(hits, canary.len() as u64, q0, p_alt, config.lambda_cap);
    }
    if let TestState::Latency { halt, promote, .. } = &state.test {
        step.ln_e = Some(halt.ln_m);
        step.p_value = Some(halt.p_value());
        step.note("threshold_ms", frozen.threshold_ms);
        step.note("exceed_at_must_catch", frozen.exceed_at_must_catch);
        step.note("promotion_line_ms", promote_line);
        if halt.ln_m >= ln_threshold(s.alpha_halt) {
            step.halt_reason = Some(format!(
                "{}: exceedances of {:.0} ms, {}",
                state.metric,
                frozen.threshold_ms,
                halt_message(&state.metric, halt.ln_m, s.alpha_halt, &state.counts)
            ));
        }
        step.promotion = if state.ticks == state.ticks_min && promote.n > 0 {
            let p_hat = promote.hits as f64 / promote.n as f64;
            let z = (q0 - p_hat) / (q0 * (1.0 - q0) / promote.n as f64).sqrt();
            let critical = z_upper(s.alpha_promote);
            Promotion::stage(
                Some(z),
                critical,
                format!(
                    "planned-look z = {z:.3} vs {critical:.3} (α = {}; {}/{} canary requests above {:.0} ms)",
                    s.alpha_promote, promote.hits, promote.n, promote_line
                ),
            )
        } else {
            // The current value decides, not the running maximum.
            let critical = ln_threshold(s.alpha_promote);
            Promotion::stage(
                Some(promote.ln_k),
                critical,
                format!(
                    "one-sample e-process e-value {:.3e} vs 1/α = {:.0} (current value)",
                    promote.ln_k.exp(),
                    1.0 / s.alpha_promote
                ),
            )
        };
    }
    finish_counts(&mut step, &state.counts);
    step
}
