//! What a rollout's plan can detect, for `rollout start` and `rollout status`: per stage, the
//! smallest relative drop in the suite pass rate its N per tick, traffic and minimum duration
//! detect at the pass rate's production α ([`crate::logic::gates::power`]).

use crate::config::Config;
use crate::domain::plan::Plan;
use crate::logic::gates::budget;
use crate::logic::gates::power::{StageDesign, StagePower, stage_power};

/// The pass rate's α in the stage's budget split. With per-evaluator gates on it does not depend
/// on how many evaluators the suite has (they share one weight), so one stands for any number.
/// `None` when the pass rate does not gate (disabled, or notify only).
fn pass_rate_alpha(config: &Config) -> Option<f64> {
    let names = budget::family_names(&config.gate_settings, &["any".to_string()]);
    let allocation = budget::allocate(&config.gate_settings, &names);
    allocation.alpha.get("pass_rate").copied()
}

/// The power of the plan's stages from `from_stage` on. `canary_per_tick` is the canary units a
/// tick actually sampled (status: the latest tick), else N per arm is assumed filled; `p0` the
/// baseline pass rate seen, else the configured prior. Empty when the pass rate does not gate.
pub fn plan_power(
    config: &Config,
    plan: &Plan,
    from_stage: usize,
    canary_per_tick: Option<f64>,
    p0: Option<f64>,
) -> Vec<StagePower> {
    let Some(alpha) = pass_rate_alpha(config) else {
        return Vec::new();
    };
    let window = config.sampling.window.as_secs().max(1);
    let n = f64::from(config.sampling.n_per_arm);
    let Some(settings) = config.gate_settings.settings("pass_rate") else {
        return Vec::new();
    };
    let p0 = p0
        .filter(|p| *p > 0.0 && *p < 1.0)
        .unwrap_or(settings.prior_rate);
    let designs: Vec<StageDesign> = plan
        .stages
        .iter()
        .enumerate()
        .skip(from_stage)
        .map(|(index, stage)| StageDesign {
            stage: format!("{}/{} ({})", index + 1, plan.stages.len(), stage.name),
            ticks_min: u64::try_from(stage.min_duration.as_secs() / window)
                .unwrap_or(0)
                .max(1),
            units_per_tick: match (index == from_stage, canary_per_tick) {
                (true, Some(seen)) => seen.min(n),
                _ => n,
            },
            baseline_multiplier: config.sampling.baseline_multiplier,
        })
        .collect();
    stage_power(&config.gate_settings, p0, alpha, &designs)
}
