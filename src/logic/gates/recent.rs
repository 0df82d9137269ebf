//! The trailing-window check of promotion (docs/STATISTICS.md §3): non-inferiority must also hold
//! on the last W ticks, so healthy early ticks cannot carry a regression that began inside the
//! stage past the margin.
//!
//! Looks are the stage's planned look (tick T_min, look 0) and each extension tick after it
//! (look j = tick − T_min). Look j spends α_j = α·6/(π²(j+1)²) of `[gates].alpha_recent`; the α_j
//! sum to α over any number of looks, so a canary that is exactly at the margin on the whole
//! trailing window of every look passes any of them with probability at most α (union bound).

use serde::Serialize;

use super::state::Counts;
use crate::config::{GatesConfig, MetricSettings};
use crate::logic::stats::z_upper;

/// What the trailing-window test found at one look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecentCheck {
    /// Ticks in the window (W, or fewer when the stage is shorter).
    pub ticks: u32,
    /// The window's counts.
    pub counts: Counts,
    /// The non-inferiority z on the window (`None` without data on both arms).
    pub z: Option<f64>,
    /// α spent at this look.
    pub alpha: f64,
    /// z > z_{1−α}.
    pub proven: bool,
}

/// Appends one tick's counts, keeping the last `window` ticks.
pub fn push(recent: &mut Vec<Counts>, tick: Counts, window: u32) {
    recent.push(tick);
    let keep = usize::try_from(window.max(1)).unwrap_or(usize::MAX);
    if recent.len() > keep {
        let drop = recent.len() - keep;
        recent.drain(..drop);
    }
}

/// The α look `look` spends (0 = the planned look).
pub fn look_alpha(alpha: f64, look: u32) -> f64 {
    let j = f64::from(look) + 1.0;
    alpha * 6.0 / (std::f64::consts::PI.powi(2) * j * j)
}

/// Runs the window test at tick `ticks` of a stage with planned look `ticks_min`; `None` before
/// the planned look (no promotion is decided there). `z_of` is the family's planned-look
/// statistic applied to the window's counts.
pub fn check(
    config: &GatesConfig,
    s: &MetricSettings,
    ticks: u32,
    ticks_min: u32,
    recent: &[Counts],
    z_of: impl Fn(&MetricSettings, &Counts) -> Option<f64>,
) -> Option<RecentCheck> {
    let look = ticks.checked_sub(ticks_min)?;
    let counts = recent.iter().fold(Counts::default(), |a, c| a.plus(*c));
    let z = z_of(s, &counts);
    let alpha = look_alpha(config.alpha_recent, look);
    Some(RecentCheck {
        ticks: u32::try_from(recent.len()).unwrap_or(u32::MAX),
        counts,
        z,
        alpha,
        proven: z.is_some_and(|z| z > z_upper(alpha)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_looks_spend_at_most_alpha_in_total() {
        let total: f64 = (0..100_000).map(|j| look_alpha(0.01, j)).sum();
        assert!(total < 0.01 && total > 0.00999, "{total}");
        assert!((look_alpha(0.01, 0) - 0.006_079_271).abs() < 1e-9);
        assert!(look_alpha(0.01, 1) < look_alpha(0.01, 0) / 3.9);
    }

    #[test]
    fn the_window_keeps_the_last_w_ticks() {
        let mut recent = Vec::new();
        for i in 0..12u64 {
            let tick = Counts {
                canary_x: i,
                canary_n: 10,
                baseline_x: 9,
                baseline_n: 10,
            };
            push(&mut recent, tick, 8);
        }
        assert_eq!(recent.len(), 8);
        assert_eq!(recent[0].canary_x, 4);
        assert_eq!(recent[7].canary_x, 11);
    }

    #[test]
    fn no_look_before_the_planned_one() {
        let config = GatesConfig::default();
        let s = config.settings("pass_rate").unwrap();
        let z = |_: &MetricSettings, _: &Counts| Some(10.0);
        assert!(check(&config, &s, 15, 16, &[], z).is_none());
        let at = check(&config, &s, 16, 16, &[], z).unwrap();
        assert!(at.proven);
        let later = check(&config, &s, 20, 16, &[], z).unwrap();
        assert!(later.alpha < at.alpha);
    }
}
