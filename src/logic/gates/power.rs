//! "Can this plan detect what it gates?": per stage, the smallest relative drop in the suite pass
//! rate the stage detects with its N per tick, traffic and minimum duration (the Appendix B bound
//! behind the underpowered flag, at the pass rate's share of the false-halt budget), and whether
//! that is above the promotion margin's drop (a regression the margin forbids could then pass the
//! stage unseen by the halting test).

use serde::Serialize;

use super::settings::GateSettings;
use crate::logic::stats::power::{PairedDesign, min_detectable_drop};

/// What one stage can detect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagePower {
    /// The stage's name.
    pub stage: String,
    /// Ticks in its minimum duration.
    pub ticks_min: u64,
    /// Canary eval units expected per tick: N, or less when the canary's traffic is short.
    pub units_per_tick: f64,
    /// Baseline units sampled per canary unit.
    pub baseline_multiplier: u32,
    /// The smallest relative drop the stage detects (`None`: not even a 99% drop).
    pub min_detectable_drop: Option<f64>,
    /// The drop the promotion margin stands for (1 − m).
    pub margin_drop: f64,
    /// `min_detectable_drop` is above `margin_drop` (or none).
    pub warn: bool,
}

impl StagePower {
    /// One line for people.
    pub fn describe(&self) -> String {
        let mde = self.min_detectable_drop.map_or_else(
            || "no drop".to_string(),
            |d| format!("a {:.1}% drop", 100.0 * d),
        );
        let warning = if self.warn {
            format!(
                " — WARNING: above the {:.0}% the promotion margin allows; raise N or the \
                 stage's duration",
                100.0 * self.margin_drop
            )
        } else {
            String::new()
        };
        let per_tick = if self.baseline_multiplier > 1 {
            format!(
                "{:.0} canary + {:.0} baseline",
                self.units_per_tick,
                self.units_per_tick * f64::from(self.baseline_multiplier)
            )
        } else {
            format!("{:.0} per arm", self.units_per_tick)
        };
        format!(
            "stage {}: detects {mde} in pass rate within {} ticks at {per_tick} per tick{warning}",
            self.stage, self.ticks_min
        )
    }
}

/// One stage's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDesign {
    /// The stage's name.
    pub stage: String,
    /// Ticks in its minimum duration.
    pub ticks_min: u64,
    /// Canary eval units per tick.
    pub units_per_tick: f64,
    /// Baseline units sampled per canary unit (`[sampling].baseline_multiplier`).
    pub baseline_multiplier: u32,
}

/// The power of each stage for the pass-rate gate at baseline rate `p0` and halting α `alpha`.
pub fn stage_power(
    config: &GateSettings,
    p0: f64,
    alpha: f64,
    stages: &[StageDesign],
) -> Vec<StagePower> {
    let Some(settings) = config.settings("pass_rate") else {
        return Vec::new();
    };
    let margin_drop = 1.0 - settings.promotion_margin;
    stages
        .iter()
        .map(|design| {
            let units = design.units_per_tick * design.ticks_min as f64;
            let design_of = PairedDesign {
                p0,
                r0: settings.tolerance,
                alpha,
                k: f64::from(design.baseline_multiplier.max(1)),
            };
            let mde = min_detectable_drop(&design_of, units);
            StagePower {
                stage: design.stage.clone(),
                baseline_multiplier: design.baseline_multiplier.max(1),
                ticks_min: design.ticks_min,
                units_per_tick: design.units_per_tick,
                min_detectable_drop: mde,
                margin_drop,
                warn: mde.is_none_or(|d| d > margin_drop + 1e-9),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(ticks: u64, n: f64) -> StageDesign {
        StageDesign {
            stage: "1%".into(),
            ticks_min: ticks,
            units_per_tick: n,
            baseline_multiplier: 1,
        }
    }

    #[test]
    fn an_over_sampled_baseline_detects_a_smaller_drop_and_says_so() {
        let config = GateSettings::default();
        let one = &stage_power(&config, 0.9, 0.007, &[design(4, 20.0)])[0];
        let four = &stage_power(
            &config,
            0.9,
            0.007,
            &[StageDesign {
                baseline_multiplier: 4,
                ..design(4, 20.0)
            }],
        )[0];
        assert!(
            four.min_detectable_drop.unwrap() < one.min_detectable_drop.unwrap(),
            "{one:?} {four:?}"
        );
        assert!(
            four.describe().contains("20 canary + 80 baseline"),
            "{}",
            four.describe()
        );
        assert!(one.describe().contains("20 per arm"), "{}", one.describe());
    }

    #[test]
    fn a_short_thin_stage_warns_and_a_full_one_does_not() {
        let config = GateSettings::default();
        let out = stage_power(&config, 0.9, 0.007, &[design(16, 50.0), design(4, 5.0)]);
        assert!(!out[0].warn, "{out:?}");
        assert!(out[0].min_detectable_drop.unwrap() < 0.2);
        assert!(out[1].warn, "{out:?}");
        assert!(
            out[1].describe().contains("WARNING"),
            "{}",
            out[1].describe()
        );
        assert!(!out[0].describe().contains("WARNING"));
    }
}
