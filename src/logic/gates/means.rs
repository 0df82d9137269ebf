//! Updates of the mean families: cost per response, completion tokens per response (all
//! requests) and session length (matured feedback), by the one-sided normal mixture.
//!
//! Values are winsorised at the cap frozen at stage start (if any); raw means are reported too.
//! No decision before `warmup` observations per arm (CLT warm-up). τ = |r1 − 1|·μ_ref, with μ_ref
//! the historical mean when the plan gives one, else the running baseline mean.

use super::display::{fmt_opt, ratio_text, sig};
use super::input::TickInput;
use super::metric::{Direction, MetricSettings};
use super::state::{GateState, TestState};
use super::step::{Promotion, Step};
use crate::domain::InconclusiveReason;
use crate::logic::stats::mixture::{MeanContrast, ln_lambda_one_sided};
use crate::logic::stats::noninferiority::mean_z;
use crate::logic::stats::{always_valid_p, ln_threshold, z_upper};

/// The halting and the mirrored promotion contrasts.
fn contrasts(s: &MetricSettings) -> (MeanContrast, MeanContrast) {
    match s.direction {
        Direction::Lower => (
            MeanContrast::increase(s.tolerance),
            MeanContrast::decrease(s.promotion_margin),
        ),
        Direction::Higher => (
            MeanContrast::decrease(s.tolerance),
            MeanContrast::increase(s.promotion_margin),
        ),
    }
}

/// One tick of a mean metric.
pub fn update_mean(s: &MetricSettings, state: &mut GateState, input: &TickInput) -> Step {
    let mut step = Step::default();
    let data =
        super::metric::def_of(&state.metric).and_then(|def| super::metric::values(def, input));
    let ticks_min = state.ticks_min;
    let TestState::Mean {
        canary,
        baseline,
        cap,
        reference_mean,
        ln_lambda,
        max_ln_lambda,
        max_promote_ln,
    } = &mut state.test
    else {
        return step;
    };
    if let Some((c_values, b_values)) = data {
        for x in c_values {
            canary.push(x, *cap);
        }
        for x in b_values {
            baseline.push(x, *cap);
        }
        state.ticks += 1;
    }
    step.n = (canary.n, baseline.n);
    step.estimates = (canary.raw_mean(), baseline.raw_mean());
    if let Some(c) = cap {
        step.note("winsorize_cap", *c);
    }
    let warm = canary.n >= s.warmup && baseline.n >= s.warmup;
    let mu_ref = reference_mean.unwrap_or(baseline.mean).abs();
    let (halt_contrast, promote_contrast) = contrasts(s);
    let tau_halt = (s.must_catch - 1.0).abs() * mu_ref;
    let tau_promote = (s.promotion_margin - 1.0).abs() * mu_ref;
    step.note("tau", tau_halt);
    step.note("warmup", s.warmup as f64);
    if !warm {
        step.quality = Some(InconclusiveReason::TooFewSamples {
            have: canary.n.min(baseline.n),
            need: s.warmup,
        });
        step.ln_e = Some(*ln_lambda);
        step.p_value = Some(always_valid_p(*max_ln_lambda));
        return step;
    }
    if let Some((theta, var)) = halt_contrast.estimate(canary, baseline)
        && let Some(ln) = ln_lambda_one_sided(theta, var, tau_halt)
    {
        *ln_lambda = ln;
        *max_ln_lambda = max_ln_lambda.max(ln);
        step.note("theta_hat", theta);
        step.note("sigma_hat", var.sqrt());
    }
    if canary.mean > 0.0 && baseline.mean > 0.0 {
        step.note("mean_ratio_winsorised", canary.mean / baseline.mean);
    }
    step.ln_e = Some(*ln_lambda);
    step.p_value = Some(always_valid_p(*max_ln_lambda));
    if *ln_lambda >= ln_threshold(s.alpha_halt) {
        step.halt_reason = Some(format!(
            "{}: mixture e-value {:.3e} ≥ 1/α = {:.0} (canary mean {}, baseline mean {}, {}, n = {}/{})",
            state.metric,
            ln_lambda.exp(),
            1.0 / s.alpha_halt,
            sig(canary.mean),
            sig(baseline.mean),
            ratio_text(canary.mean, baseline.mean),
            canary.n,
            baseline.n
        ));
    }
    let promote_estimate = promote_contrast.estimate(canary, baseline);
    let promote_ln = promote_estimate.and_then(|(t, v)| ln_lambda_one_sided(t, v, tau_promote));
    if let Some(ln) = promote_ln {
        *max_promote_ln = max_promote_ln.max(ln);
    }
    step.promotion = if state.ticks == ticks_min {
        let z = promote_estimate.and_then(|(t, v)| mean_z(t, v));
        let critical = z_upper(s.alpha_promote);
        Promotion::stage(
            z,
            critical,
            format!(
                "planned-look z = {} vs {critical:.3} (α = {})",
                fmt_opt(z),
                s.alpha_promote
            ),
        )
    } else {
        // The current value decides, not the running maximum: evidence that has since turned
        // does not promote.
        let critical = ln_threshold(s.alpha_promote);
        Promotion::stage(
            promote_ln,
            critical,
            format!(
                "mirrored mixture e-value {} vs 1/α = {:.0}",
                promote_ln.map_or_else(|| "n/a".to_string(), |ln| format!("{:.3e}", ln.exp())),
                1.0 / s.alpha_promote
            ),
        )
    };
    step
}
