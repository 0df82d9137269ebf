//! `gatebench`: the benchmark of STATS.md (generator, targets, negative controls), pure and
//! deterministic, running the SAME gate code as production (`logic::gates::update` over
//! `logic::stats`) on a synthetic log source.
//!
//! Each cell runs `reps` replicates of a 16-tick stage (rayon across replicates; each replicate
//! has its own ChaCha8 stream seeded with (seed, cell id, replicate) and results are collected in
//! replicate order, so the output does not depend on thread scheduling). Each check reports the
//! measured share with Monte Carlo 95% Wilson bounds and passes when the bound on the target's
//! side clears it (upper bound for "≤", lower bound for "≥"). For negative controls, `pass` means
//! the control failed its nominal target as it must. `--smoke` runs 2,000 replicates per cell;
//! the full run 10,000 per false-halt cell and 4,000 per detection cell. A target is met only
//! when it passes at every seed run (`--seed 1,2,3,4,5`, the default).

pub mod cells;
pub mod generator;
pub mod runner;

use rayon::prelude::*;
use serde::Serialize;

use cells::{Cell, CellKind, Criterion, Measure, all_cells};
use runner::{RepOutcome, plan, run_replicate};

use crate::logic::gates::GateState;
use crate::logic::gates::settings::GateSettings;
use crate::logic::stats::wilson::wilson_interval;

/// How many replicates to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 2,000 replicates per cell (CI).
    Smoke,
    /// 10,000 per false-halt cell, 4,000 per detection cell.
    Full,
    /// This many per cell.
    Reps(u32),
}

impl Preset {
    fn reps(self, kind: CellKind) -> u32 {
        match (self, kind) {
            (Preset::Reps(n), _) => n.max(1),
            (Preset::Smoke, _) => 2_000,
            (Preset::Full, CellKind::FalseHalt) => 10_000,
            (Preset::Full, CellKind::Detection) => 4_000,
        }
    }
}

/// One check's result, as `--json` prints it (one object per line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// STATS.md id.
    pub id: String,
    /// The seed of the run.
    pub seed: u64,
    /// The target.
    pub target: String,
    /// The measured share.
    pub measured: f64,
    /// Monte Carlo 95% Wilson lower bound of `measured`.
    pub wilson_low: f64,
    /// Monte Carlo 95% Wilson upper bound of `measured`.
    pub wilson_high: f64,
    /// Target met (for a negative control: the control failed as it must).
    pub pass: bool,
    /// A negative control.
    pub negative: bool,
    /// Replicates.
    pub reps: u32,
    /// Share of replicates halted within the stage.
    pub halt_share: f64,
    /// Share PromoteReady at the last tick.
    pub promote_share: f64,
    /// Share neither halted nor promote-ready at the end.
    pub inconclusive_share: f64,
    /// First tick by which 50% of replicates halted.
    pub t50: Option<u32>,
    /// First tick by which 95% of replicates halted.
    pub t95: Option<u32>,
    /// Mean ticks from onset to halt, over halted replicates.
    pub mean_delay: Option<f64>,
}

/// Whether `id` (a cell's or a check's) is selected by `only`: empty selects everything, else
/// any id starting with one of its prefixes (`LATE` selects LATE-16, LATE-25, LATE-50…).
fn selected(only: &[String], ids: &[&str]) -> bool {
    only.is_empty()
        || only
            .iter()
            .any(|prefix| ids.iter().any(|id| id.starts_with(prefix.as_str())))
}

/// Runs every cell selected by `only` (all of them in both presets when it is empty; the preset
/// sets the replicates).
pub fn run(seed: u64, preset: Preset, only: &[String]) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for cell in all_cells() {
        let mut ids = vec![cell.id];
        ids.extend(cell.checks.iter().map(|c| c.id));
        if !selected(only, &ids) {
            continue;
        }
        let reps = preset.reps(cell.kind);
        let outcomes: Vec<RepOutcome> = (0..u64::from(reps))
            .into_par_iter()
            .map(|rep| run_replicate(&cell.rule, &cell.scenario, cell.id, seed, rep))
            .collect();
        results.extend(evaluate(&cell, &outcomes, seed));
    }
    if selected(only, &[UNDERPOWERED_ID]) {
        results.push(underpowered_check(seed));
    }
    results
}

/// Runs the selected cells at each seed; a target is met only when it passes at all of them.
pub fn run_seeds(seeds: &[u64], preset: Preset, only: &[String]) -> Vec<CheckResult> {
    seeds
        .iter()
        .flat_map(|&seed| run(seed, preset, only))
        .collect()
}

/// Per check id, over every seed run: (id, seeds passed, seeds run), in first-seen order.
pub fn summary(results: &[CheckResult]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for r in results {
        match out.iter_mut().find(|(id, _, _)| *id == r.id) {
            Some(entry) => {
                entry.1 += usize::from(r.pass);
                entry.2 += 1;
            }
            None => out.push((r.id.clone(), usize::from(r.pass), 1)),
        }
    }
    out
}

fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

fn first_tick_reaching(outcomes: &[RepOutcome], ticks: u32, level: f64) -> Option<u32> {
    (1..=ticks).find(|&k| {
        share(
            outcomes
                .iter()
                .filter(|o| o.first_halt.is_some_and(|t| t <= k))
                .count(),
            outcomes.len(),
        ) >= level
    })
}

fn evaluate(cell: &Cell, outcomes: &[RepOutcome], seed: u64) -> Vec<CheckResult> {
    let total = outcomes.len();
    let onset = cell.scenario.onset;
    let halted = outcomes.iter().filter(|o| o.first_halt.is_some()).count();
    let promoted = outcomes.iter().filter(|o| o.promote_ready).count();
    let delays: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| {
            o.first_halt
                .filter(|&t| t >= onset)
                .map(|t| f64::from(t - onset + 1))
        })
        .collect();
    let mean_delay = (!delays.is_empty()).then(|| delays.iter().sum::<f64>() / delays.len() as f64);
    cell.checks
        .iter()
        .map(|check| {
            let hits = match check.measure {
                Measure::HaltedBy(k) => outcomes
                    .iter()
                    .filter(|o| o.first_halt.is_some_and(|t| t <= k))
                    .count(),
                Measure::HaltedBeforeOnset => outcomes
                    .iter()
                    .filter(|o| o.first_halt.is_some_and(|t| t < onset))
                    .count(),
                Measure::Promoted => promoted,
            };
            let (low, high) =
                wilson_interval(hits as u64, total as u64, 0.05).unwrap_or((0.0, 1.0));
            let pass = match check.criterion {
                Criterion::AtMost(x) => high <= x,
                Criterion::AtLeast(x) => low >= x,
            };
            CheckResult {
                id: check.id.to_string(),
                seed,
                target: check.target.to_string(),
                measured: share(hits, total),
                wilson_low: low,
                wilson_high: high,
                pass,
                negative: check.negative,
                reps: u32::try_from(total).unwrap_or(u32::MAX),
                halt_share: share(halted, total),
                promote_share: share(promoted, total),
                inconclusive_share: share(total - halted - promoted, total),
                t50: first_tick_reaching(outcomes, cell.scenario.last_tick(), 0.5),
                t95: first_tick_reaching(outcomes, cell.scenario.last_tick(), 0.95),
                mean_delay,
            }
        })
        .collect()
}

/// PR-13: N = 10 at p0 = 0.80 is flagged underpowered at stage start (and N = 50 at 0.90 is not).
const UNDERPOWERED_ID: &str = "PR-13";

fn underpowered_check(seed: u64) -> CheckResult {
    let config = GateSettings::default();
    let flagged = |n: usize, p0: f64| {
        let scenario = generator::Scenario {
            n_canary: n,
            n_baseline: n,
            p0,
            p_hist: p0,
            eval: true,
            ..Default::default()
        };
        config
            .settings("pass_rate")
            .map(|s| {
                GateState::start(&config, &s, "pass_rate", &plan(&scenario))
                    .underpowered
                    .is_some()
            })
            .unwrap_or(false)
    };
    let pass = flagged(10, 0.8) && !flagged(50, 0.9);
    let measured = if pass { 1.0 } else { 0.0 };
    CheckResult {
        id: UNDERPOWERED_ID.into(),
        seed,
        target: "N = 10, p0 = 0.80 flagged underpowered at stage start (N = 50, p0 = 0.90 not)"
            .into(),
        measured,
        wilson_low: measured,
        wilson_high: measured,
        pass,
        negative: false,
        reps: 1,
        halt_share: 0.0,
        promote_share: 0.0,
        inconclusive_share: 0.0,
        t50: None,
        t95: None,
        mean_delay: None,
    }
}

/// One JSON object per line.
pub fn render_json(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for result in results {
        out.push_str(&serde_json::to_string(result).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn fmt_tick(t: Option<u32>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.to_string())
}

/// An aligned table for people.
pub fn render_table(results: &[CheckResult]) -> String {
    let id_w = results
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(2)
        .max(2);
    let target_w = results
        .iter()
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut out = format!(
        "{}  {}  {:>8}  {:>18}  {:>3}  {:>3}  {:>6}  {}\n",
        pad("id", id_w),
        pad("target", target_w),
        "measured",
        "95% MC Wilson",
        "t50",
        "t95",
        "reps",
        "result"
    );
    for r in results {
        let verdict = match (r.pass, r.negative) {
            (true, false) => "pass",
            (false, false) => "FAIL",
            (true, true) => "pass (control failed as it must)",
            (false, true) => "FAIL (control did not fail)",
        };
        out.push_str(&format!(
            "{}  {}  {:>7.2}%  [{:>6.2}%, {:>6.2}%]  {:>3}  {:>3}  {:>6}  {}\n",
            pad(&r.id, id_w),
            pad(&r.target, target_w),
            100.0 * r.measured,
            100.0 * r.wilson_low,
            100.0 * r.wilson_high,
            fmt_tick(r.t50),
            fmt_tick(r.t95),
            r.reps,
            verdict
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_with_the_same_seed_give_byte_identical_json() {
        let a = render_json(&run(7, Preset::Reps(3), &[]));
        let b = render_json(&run(7, Preset::Reps(3), &[]));
        assert_eq!(a, b);
        assert!(a.lines().count() > 30);
        let c = render_json(&run(8, Preset::Reps(3), &[]));
        assert_ne!(a, c);
    }

    #[test]
    fn every_line_has_the_required_fields() {
        for line in render_json(&run(1, Preset::Reps(2), &[])).lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in [
                "id",
                "target",
                "measured",
                "pass",
                "wilson_low",
                "wilson_high",
            ] {
                assert!(value.get(key).is_some(), "{key} missing in {line}");
            }
        }
    }

    #[test]
    fn cell_selects_cells_by_the_prefix_of_their_or_their_checks_ids() {
        let only = |ids: &[&str]| -> Vec<String> {
            let only: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            let mut ids: Vec<String> = run(1, Preset::Reps(1), &only)
                .into_iter()
                .map(|r| r.id)
                .collect();
            ids.dedup();
            ids
        };
        assert_eq!(only(&["ERR-3"]), ["ERR-3"]);
        // A check id selects its cell (LATE-50b lives in cell LATE-50k).
        let late = only(&["LATE-50b"]);
        assert!(late.contains(&"LATE-50e".to_string()), "{late:?}");
        assert_eq!(only(&["PR-13"]), ["PR-13"]);
        assert!(only(&["NOPE"]).is_empty());
    }

    #[test]
    fn the_underpowered_design_is_flagged() {
        assert!(underpowered_check(1).pass);
    }

    #[test]
    fn the_table_is_aligned() {
        let table = render_table(&run(1, Preset::Reps(2), &[]));
        let header = table.lines().next().unwrap();
        for column in ["target", "result"] {
            let at = header.find(column).unwrap();
            for line in table.lines().take_while(|l| !l.is_empty()) {
                let chars: Vec<char> = line.chars().collect();
                assert_eq!(chars[at - 1], ' ', "{line}");
                assert_ne!(chars[at], ' ', "{column} misaligned in {line}");
            }
        }
    }
}
