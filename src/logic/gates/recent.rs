//! The trailing-window check of promotion (docs/STATISTICS.md §3): non-inferiority must also hold
//! on the last W ticks, so healthy early ticks cannot carry a regression that began inside the
//! stage past the margin.
//!
//! It runs for the suite and per-evaluator pass rates only: they are what the stage samples N of
//! every tick, the window has the units to prove non-inferiority (N·W, 128 at N = 16), and they
//! are the gates a slow mid-stage regression gets past. Low-rate metrics (errors, feedback) would
//! rarely be provable on a few ticks and are left to their halting tests.
//!
//! Looks are the stage's planned look (tick T_min, look 0) and each extension tick after it
//! (look j = tick − T_min). The planned look spends α/2 of `[gates].alpha_recent`; each of the
//! T_max − T_min extension looks up to the stage's deadline spends α/(2·(T_max − T_min)) (when
//! the deadline is unknown, look j spends α·3/(π²j²), which also sums to α/2). The α_j sum to at
//! most α, so a canary that is at the margin on the trailing window of every look passes any of
//! them with probability at most α (union bound).

use serde::Serialize;

use super::metric::{MetricKind, MetricSettings};
use super::settings::GateSettings;
use super::state::Counts;
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

/// The α look `look` spends (0 = the planned look) when the stage has `extension` extension looks
/// (T_max − T_min; 0 when unknown).
pub fn look_alpha(alpha: f64, look: u32, extension: u32) -> f64 {
    if look == 0 {
        return alpha / 2.0;
    }
    if extension > 0 {
        return alpha / (2.0 * f64::from(extension));
    }
    let j = f64::from(look);
    alpha * 3.0 / (std::f64::consts::PI.powi(2) * j * j)
}

/// Whether a metric's promotion also needs the trailing window (the sampled pass rates).
pub fn applies(s: &MetricSettings) -> bool {
    s.kind == MetricKind::PassRate
}

/// Runs the window test at tick `ticks` of a stage with planned look `ticks_min` and deadline
/// `ticks_max` (0: unknown); `None` before the planned look (no promotion is decided there) and
/// for metrics it does not apply to. `z_of` is the family's planned-look statistic applied to the
/// window's counts.
pub fn check(
    config: &GateSettings,
    s: &MetricSettings,
    (ticks, ticks_min, ticks_max): (u32, u32, u32),
    recent: &[Counts],
    z_of: impl Fn(&MetricSettings, &Counts) -> Option<f64>,
) -> Option<RecentCheck> {
    if !applies(s) {
        return None;
    }
    let look = ticks.checked_sub(ticks_min)?;
    let counts = recent.iter().fold(Counts::default(), |a, c| a.plus(*c));
    let z = z_of(s, &counts);
    let alpha = look_alpha(
        config.alpha_recent,
        look,
        ticks_max.saturating_sub(ticks_min),
    );
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
        let open: f64 = (0..100_000).map(|j| look_alpha(0.01, j, 0)).sum();
        assert!(open <= 0.01 && open > 0.00999, "{open}");
        for extension in [1, 16, 96] {
            let total: f64 = (0..=extension)
                .map(|j| look_alpha(0.01, j, extension))
                .sum();
            assert!((total - 0.01).abs() < 1e-15, "{extension}: {total}");
        }
        assert_eq!(look_alpha(0.01, 0, 16), 0.005);
        assert_eq!(look_alpha(0.01, 3, 16), 0.01 / 32.0);
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
        let config = GateSettings::default();
        let s = config.settings("pass_rate").unwrap();
        let z = |_: &MetricSettings, _: &Counts| Some(10.0);
        assert!(check(&config, &s, (15, 16, 32), &[], z).is_none());
        let at = check(&config, &s, (16, 16, 32), &[], z).unwrap();
        assert!(at.proven);
        let later = check(&config, &s, (20, 16, 32), &[], z).unwrap();
        assert!(later.alpha < at.alpha);
        let errors = config.settings("error_rate").unwrap();
        assert!(check(&config, &errors, (16, 16, 32), &[], z).is_none());
    }
}
