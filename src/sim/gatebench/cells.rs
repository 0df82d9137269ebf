//! The benchmark cells of STATS.md §3–4: each cell is one scenario under one rule, with the
//! checks measured on its replicates (targets PR-*, LAT-*, ERR-*, COST-*, the rollout budget, and
//! the negative controls NEG-1..5).

use super::generator::{Effect, Scenario, evaluator_name};
use super::runner::Rule;
use crate::domain::Role;
use crate::logic::gates::budget;
use crate::logic::gates::metric;
use crate::logic::gates::settings::{GateSettings, MetricOverride};

/// What a check measures over the replicates of its cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Share of replicates halted by tick K (1-based, inclusive).
    HaltedBy(u32),
    /// Share halted before the onset tick.
    HaltedBeforeOnset,
    /// Share PromoteReady at the last tick.
    Promoted,
}

/// Pass when the Wilson bound on the correct side clears the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// Upper 95% Wilson bound ≤ x.
    AtMost(f64),
    /// Lower 95% Wilson bound ≥ x.
    AtLeast(f64),
}

/// One check of a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The id in STATS.md (PR-2a …).
    pub id: &'static str,
    /// The target, as a sentence.
    pub target: &'static str,
    /// What is measured.
    pub measure: Measure,
    /// The pass criterion.
    pub criterion: Criterion,
    /// A negative control: `pass` means the control failed its nominal target, as it must.
    pub negative: bool,
}

/// False-halt cells need more replicates than detection cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// No regression (or a tolerated one): the rate of interest is small.
    FalseHalt,
    /// A regression: the rate of interest is large.
    Detection,
}

/// One scenario under one rule.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario id (also its RNG stream).
    pub id: &'static str,
    /// FH or detection.
    pub kind: CellKind,
    /// Run in `--smoke`.
    pub smoke: bool,
    /// The data.
    pub scenario: Scenario,
    /// The rule.
    pub rule: Rule,
    /// The checks.
    pub checks: Vec<Check>,
}

fn gates(metrics: &[&str], config: GateSettings) -> Rule {
    let metrics: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
    Rule::Gates {
        family: metrics.clone(),
        metrics,
        config: Box::new(config),
    }
}

/// The gates a generated stage has data for (suite and per-evaluator pass rates, unscorable rate,
/// error rate, latency p95/p99, cost) under the product's default budget split: α is allocated
/// over the whole default family of a k-evaluator suite (feedback and token gates included),
/// exactly as `rollout start` does, so the suite pass rate runs at its production α.
fn product_gates(k: usize) -> Rule {
    let config = GateSettings::default();
    let evaluators: Vec<String> = (0..k).map(evaluator_name).collect();
    let mut metrics: Vec<String> = [
        "pass_rate",
        "unscorable_rate",
        "error_rate",
        "latency_p95",
        "latency_p99",
        "cost_per_response",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    metrics.extend(evaluators.iter().map(|e| metric::evaluator_metric(e)));
    Rule::Gates {
        metrics,
        family: budget::family_names(&config, &evaluators),
        config: Box::new(config),
    }
}

/// A stage with every signal the product gates on: N eval units per arm from a k-evaluator suite,
/// and 200 requests per arm per tick of latency, cost and errors.
fn product(n: usize, k: usize, effect: Effect) -> Scenario {
    Scenario {
        evaluators: k,
        latency: true,
        cost: true,
        errors: true,
        m: 200,
        ..eval(n, 0.9, effect)
    }
}

fn pass_rate() -> Rule {
    gates(&["pass_rate"], GateSettings::default())
}

fn pass_rate_with(over: MetricOverride) -> Rule {
    gates(
        &["pass_rate"],
        GateSettings::default().with_override("pass_rate", over),
    )
}

fn check(id: &'static str, target: &'static str, measure: Measure, criterion: Criterion) -> Check {
    Check {
        id,
        target,
        measure,
        criterion,
        negative: false,
    }
}

fn fh(id: &'static str) -> Check {
    check(
        id,
        "FH ≤ 1%",
        Measure::HaltedBy(16),
        Criterion::AtMost(0.01),
    )
}

fn by(id: &'static str, target: &'static str, tick: u32, share: f64) -> Check {
    check(
        id,
        target,
        Measure::HaltedBy(tick),
        Criterion::AtLeast(share),
    )
}

fn cell(
    id: &'static str,
    kind: CellKind,
    scenario: Scenario,
    rule: Rule,
    checks: Vec<Check>,
) -> Cell {
    Cell {
        id,
        kind,
        smoke: true,
        scenario,
        rule,
        checks,
    }
}

fn eval(n: usize, p0: f64, effect: Effect) -> Scenario {
    Scenario {
        n_canary: n,
        n_baseline: n,
        p0,
        p_hist: p0,
        effect,
        eval: true,
        ..Scenario::default()
    }
}

fn telemetry(m: usize, effect: Effect) -> Scenario {
    Scenario {
        m,
        effect,
        ..Scenario::default()
    }
}

/// Every cell of the benchmark.
pub fn all_cells() -> Vec<Cell> {
    use CellKind::{Detection, FalseHalt};
    use Effect::{CostScale, ErrorAdd, LatencyScale, LatencyTail, PassDrop};
    let lat = |m, effect| Scenario {
        latency: true,
        ..telemetry(m, effect)
    };
    let err = |m, effect| Scenario {
        errors: true,
        ..telemetry(m, effect)
    };
    let cost = |m, effect| Scenario {
        cost: true,
        ..telemetry(m, effect)
    };
    let p95 = || gates(&["latency_p95"], GateSettings::default());
    let mut cells = vec![
        cell(
            "PR-1",
            FalseHalt,
            eval(50, 0.9, Effect::None),
            pass_rate(),
            vec![fh("PR-1")],
        ),
        cell(
            "PR-2",
            Detection,
            eval(50, 0.9, PassDrop(0.2)),
            pass_rate(),
            vec![
                by("PR-2a", "≥ 95% detected by tick 5", 5, 0.95),
                by("PR-2b", "≥ 50% detected by tick 3", 3, 0.50),
                by("PR-2c", "≥ 99% detected by tick 16", 16, 0.99),
            ],
        ),
        cell(
            "PR-3",
            Detection,
            eval(50, 0.9, PassDrop(0.3)),
            pass_rate(),
            vec![by("PR-3", "≥ 95% by tick 3", 3, 0.95)],
        ),
        cell(
            "PR-4",
            Detection,
            eval(25, 0.9, PassDrop(0.2)),
            pass_rate(),
            vec![by("PR-4", "≥ 95% by tick 10", 10, 0.95)],
        ),
        cell(
            "PR-5",
            Detection,
            eval(100, 0.9, PassDrop(0.2)),
            pass_rate(),
            vec![by("PR-5", "≥ 95% by tick 3", 3, 0.95)],
        ),
        cell(
            "PR-6-fh95",
            FalseHalt,
            eval(50, 0.95, Effect::None),
            pass_rate(),
            vec![fh("PR-6a")],
        ),
        cell(
            "PR-6-fh80",
            FalseHalt,
            eval(50, 0.8, Effect::None),
            pass_rate(),
            vec![fh("PR-6b")],
        ),
        cell(
            "PR-6-det95",
            Detection,
            eval(50, 0.95, PassDrop(0.2)),
            pass_rate(),
            vec![by("PR-6c", "p0 = 0.95: ≥ 95% by tick 4", 4, 0.95)],
        ),
        cell(
            "PR-6-det80",
            Detection,
            eval(50, 0.8, PassDrop(0.2)),
            pass_rate(),
            vec![by("PR-6d", "p0 = 0.80: ≥ 95% by tick 9", 9, 0.95)],
        ),
        cell(
            "PR-7",
            Detection,
            Scenario {
                onset: 9,
                ..eval(50, 0.9, PassDrop(0.2))
            },
            pass_rate(),
            vec![
                by("PR-7a", "≥ 95% within 7 ticks of onset (tick 9)", 15, 0.95),
                check(
                    "PR-7b",
                    "pre-onset halts ≤ 1%",
                    Measure::HaltedBeforeOnset,
                    Criterion::AtMost(0.01),
                ),
            ],
        ),
        cell(
            "PR-8-25",
            FalseHalt,
            Scenario {
                drift: Some((0.86, 0.76)),
                ..eval(25, 0.9, Effect::None)
            },
            pass_rate(),
            vec![check(
                "PR-8a",
                "N = 25, level shift + drift: FH ≤ 1%",
                Measure::HaltedBy(16),
                Criterion::AtMost(0.01),
            )],
        ),
        cell(
            "PR-8-50",
            FalseHalt,
            Scenario {
                drift: Some((0.86, 0.76)),
                ..eval(50, 0.9, Effect::None)
            },
            pass_rate(),
            vec![check(
                "PR-8b",
                "N = 50, level shift + drift: FH ≤ 1%",
                Measure::HaltedBy(16),
                Criterion::AtMost(0.01),
            )],
        ),
        cell(
            "PR-9",
            Detection,
            Scenario {
                n_baseline: 200,
                ..eval(50, 0.9, PassDrop(0.2))
            },
            pass_rate(),
            vec![by("PR-9", "4× baseline: ≥ 95% by tick 3", 3, 0.95)],
        ),
        cell(
            "PR-10",
            Detection,
            eval(50, 0.9, Effect::None),
            pass_rate(),
            vec![check(
                "PR-10",
                "0% drop: P(promote at tick 16) ≥ 99%",
                Measure::Promoted,
                Criterion::AtLeast(0.99),
            )],
        ),
        cell(
            "PR-11",
            FalseHalt,
            eval(50, 0.9, PassDrop(0.2)),
            pass_rate(),
            vec![check(
                "PR-11",
                "20% drop: P(promote) ≤ 5%",
                Measure::Promoted,
                Criterion::AtMost(0.05),
            )],
        ),
        cell(
            "PR-12-tol",
            FalseHalt,
            eval(100, 0.9, PassDrop(0.1)),
            pass_rate_with(MetricOverride {
                tolerance: Some(0.9),
                ..MetricOverride::default()
            }),
            vec![check(
                "PR-12a",
                "r0 = 0.9: halts at a 10% drop ≤ 1%",
                Measure::HaltedBy(16),
                Criterion::AtMost(0.01),
            )],
        ),
        cell(
            "PR-12-det",
            Detection,
            eval(100, 0.9, PassDrop(0.2)),
            pass_rate_with(MetricOverride {
                tolerance: Some(0.9),
                ..MetricOverride::default()
            }),
            vec![by(
                "PR-12b",
                "r0 = 0.9: ≥ 95% of 20% drops by tick 9",
                9,
                0.95,
            )],
        ),
        cell(
            "LAT-1",
            FalseHalt,
            lat(200, Effect::None),
            p95(),
            vec![fh("LAT-1")],
        ),
        cell(
            "LAT-2",
            Detection,
            lat(200, LatencyScale(1.2)),
            p95(),
            vec![by("LAT-2", "1.2× slowdown: ≥ 95% by tick 11", 11, 0.95)],
        ),
        cell(
            "LAT-3",
            Detection,
            lat(
                200,
                LatencyTail {
                    fraction: 0.1,
                    factor: 2.5,
                },
            ),
            p95(),
            vec![by(
                "LAT-3",
                "tail-only (10% × 2.5): ≥ 95% by tick 10",
                10,
                0.95,
            )],
        ),
        cell(
            "LAT-4",
            Detection,
            lat(200, LatencyScale(1.3)),
            gates(&["latency_p99"], GateSettings::default()),
            vec![by(
                "LAT-4",
                "p99, 1.3× slowdown: ≥ 95% by tick 12",
                12,
                0.95,
            )],
        ),
        cell(
            "ERR-1",
            FalseHalt,
            err(1000, Effect::None),
            gates(&["error_rate"], GateSettings::default()),
            vec![fh("ERR-1")],
        ),
        cell(
            "ERR-2",
            Detection,
            err(1000, ErrorAdd(0.01)),
            gates(&["error_rate"], GateSettings::default()),
            vec![by("ERR-2", "+1 pp at M = 1000: ≥ 95% by tick 8", 8, 0.95)],
        ),
        cell(
            "ERR-3",
            Detection,
            err(200, ErrorAdd(0.02)),
            gates(&["error_rate"], GateSettings::default()),
            vec![by("ERR-3", "+2 pp at M = 200: ≥ 95% by tick 12", 12, 0.95)],
        ),
        cell(
            "COST-1",
            FalseHalt,
            cost(200, Effect::None),
            gates(&["cost_per_response"], GateSettings::default()),
            vec![fh("COST-1")],
        ),
        cell(
            "COST-2",
            Detection,
            cost(200, CostScale(1.2)),
            gates(&["cost_per_response"], GateSettings::default()),
            vec![by("COST-2", "1.2× cost: ≥ 95% by tick 14", 14, 0.95)],
        ),
        cell(
            "COST-3",
            Detection,
            cost(200, CostScale(1.3)),
            gates(&["cost_per_response"], GateSettings::default()),
            vec![by("COST-3", "1.3× cost: ≥ 95% by tick 8", 8, 0.95)],
        ),
        cell(
            "ROLL-1",
            FalseHalt,
            Scenario {
                eval: true,
                latency: true,
                errors: true,
                cost: true,
                m: 200,
                ..Scenario::default()
            },
            gates(
                &[
                    "pass_rate",
                    "error_rate",
                    "latency_p95",
                    "cost_per_response",
                ],
                GateSettings::default(),
            ),
            vec![check(
                "ROLL-1",
                "4 gating metrics, A/A: total FH ≤ the 1% stage budget",
                Measure::HaltedBy(16),
                Criterion::AtMost(0.01),
            )],
        ),
    ];
    cells.extend(registry_cells());
    cells.extend(family_cells());
    cells.extend(late_onset_cells());
    cells.extend(negative_controls());
    cells
}

/// The generic cells of every registry metric that declares [`metric::BenchCells`]: an A/A false-halt
/// cell and a slowdown detection cell over its own telemetry field (200 requests per arm per
/// tick), the gate opted in with role `rollback` and the whole budget, like LAT-1 and LAT-2.
fn registry_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for def in metric::BUILTIN {
        let (Some(bench), Some(field)) = (def.bench, def.telemetry_field()) else {
            continue;
        };
        let scenario = |effect| Scenario {
            fields: vec![field],
            ..telemetry(200, effect)
        };
        let opted_in = || {
            let over = MetricOverride {
                role: Some(Role::Rollback),
                ..MetricOverride::default()
            };
            gates(
                &[def.name],
                GateSettings::default().with_override(def.name, over),
            )
        };
        cells.push(cell(
            bench.false_halt_id,
            CellKind::FalseHalt,
            scenario(Effect::None),
            opted_in(),
            vec![fh(bench.false_halt_id)],
        ));
        cells.push(cell(
            bench.detection_id,
            CellKind::Detection,
            scenario(Effect::FieldScale(field, bench.slowdown)),
            opted_in(),
            vec![by(
                bench.detection_id,
                bench.detection_target,
                bench.detect_by,
                0.95,
            )],
        ));
    }
    cells
}

/// FAM-*: A/A with the product's whole family of gates and k = 1, 4, 8 gating evaluators: the
/// total false-halt rate of the stage stays within the one 1% budget whatever k.
fn family_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for (id, n, k, target) in [
        (
            "FAM-16-1",
            16,
            1,
            "N = 16, k = 1 evaluator, A/A: total FH ≤ 1%",
        ),
        (
            "FAM-16-4",
            16,
            4,
            "N = 16, k = 4 evaluators, A/A: total FH ≤ 1%",
        ),
        (
            "FAM-16-8",
            16,
            8,
            "N = 16, k = 8 evaluators, A/A: total FH ≤ 1%",
        ),
        (
            "FAM-50-1",
            50,
            1,
            "N = 50, k = 1 evaluator, A/A: total FH ≤ 1%",
        ),
        (
            "FAM-50-4",
            50,
            4,
            "N = 50, k = 4 evaluators, A/A: total FH ≤ 1%",
        ),
        (
            "FAM-50-8",
            50,
            8,
            "N = 50, k = 8 evaluators, A/A: total FH ≤ 1%",
        ),
    ] {
        cells.push(cell(
            id,
            CellKind::FalseHalt,
            product(n, k, Effect::None),
            product_gates(k),
            vec![check(
                id,
                target,
                Measure::HaltedBy(16),
                Criterion::AtMost(0.01),
            )],
        ));
    }
    cells
}

/// LATE-*: a 20% drop from tick 9 of a 16-tick stage (two hours into four), the stage extended
/// up to tick 32 while promotion is not proven, the product's gates with 4 evaluators:
/// P(promote) ≤ 1% at N = 16, 25, 50; at N = 50, detected within 5 ticks of onset.
fn late_onset_cells() -> Vec<Cell> {
    let late = |n| Scenario {
        onset: 9,
        extend_to: 32,
        ..product(n, 4, Effect::PassDrop(0.2))
    };
    let promoted = |id, target| check(id, target, Measure::Promoted, Criterion::AtMost(0.01));
    vec![
        cell(
            "PROD-2",
            CellKind::Detection,
            product(50, 4, Effect::PassDrop(0.2)),
            product_gates(4),
            vec![by(
                "PROD-2",
                "product gates, 20% drop from tick 1, N = 50: ≥ 95% by tick 5",
                5,
                0.95,
            )],
        ),
        cell(
            "LATE-16",
            CellKind::FalseHalt,
            late(16),
            product_gates(4),
            vec![promoted(
                "LATE-16",
                "N = 16, 20% drop from mid-stage: P(promote) ≤ 1%",
            )],
        ),
        cell(
            "LATE-25",
            CellKind::FalseHalt,
            late(25),
            product_gates(4),
            vec![promoted(
                "LATE-25",
                "N = 25, 20% drop from mid-stage: P(promote) ≤ 1%",
            )],
        ),
        cell(
            "LATE-50",
            CellKind::FalseHalt,
            late(50),
            product_gates(4),
            vec![
                promoted(
                    "LATE-50a",
                    "N = 50, 20% drop from mid-stage: P(promote) ≤ 1%",
                ),
                by(
                    "LATE-50d",
                    "N = 50 paired 1:1: ≥ 85% detected within 5 ticks of onset (the limit, §6)",
                    13,
                    0.85,
                ),
                check(
                    "LATE-50c",
                    "N = 50: pre-onset halts ≤ 1%",
                    Measure::HaltedBeforeOnset,
                    Criterion::AtMost(0.01),
                ),
            ],
        ),
        cell(
            "LATE-50k",
            CellKind::FalseHalt,
            Scenario {
                n_baseline: 50 * LATE_BASELINE_MULTIPLIER,
                ..late(50)
            },
            product_gates(4),
            vec![
                by(
                    "LATE-50b",
                    "N = 50, baseline ×4: ≥ 95% detected within 5 ticks of onset (tick 9)",
                    13,
                    0.95,
                ),
                promoted(
                    "LATE-50e",
                    "N = 50, baseline ×4, 20% drop from mid-stage: P(promote) ≤ 1%",
                ),
                check(
                    "LATE-50f",
                    "N = 50, baseline ×4: pre-onset halts ≤ 1%",
                    Measure::HaltedBeforeOnset,
                    Criterion::AtMost(0.01),
                ),
            ],
        ),
    ]
}

/// The baseline over-sampling (`[sampling].baseline_multiplier`) of the late-onset cell that must
/// detect within 5 ticks: 1:1 pairing cannot (docs/STATISTICS.md §6).
const LATE_BASELINE_MULTIPLIER: usize = 4;

fn negative(id: &'static str, target: &'static str, criterion: Criterion) -> Check {
    Check {
        id,
        target,
        measure: Measure::HaltedBy(16),
        criterion,
        negative: true,
    }
}

fn negative_controls() -> Vec<Cell> {
    use CellKind::FalseHalt;
    let c5 = pass_rate_with(MetricOverride {
        tolerance: Some(0.8),
        must_catch: Some(0.7),
        alpha_halt: Some(0.05),
        ..MetricOverride::default()
    });
    vec![
        cell(
            "NEG-1",
            FalseHalt,
            eval(10, 0.9, Effect::None),
            Rule::SeedRule,
            vec![negative(
                "NEG-1",
                "seed rule A1, N = 10, A/A: FH ≥ 50%",
                Criterion::AtLeast(0.5),
            )],
        ),
        cell(
            "NEG-2",
            FalseHalt,
            eval(50, 0.9, Effect::None),
            Rule::PeekingZ,
            vec![negative(
                "NEG-2",
                "peeking z (B1), A/A: FH ≈ 20% (≥ 10%)",
                Criterion::AtLeast(0.10),
            )],
        ),
        cell(
            "NEG-3",
            FalseHalt,
            eval(50, 0.9, Effect::PassDrop(0.2)),
            c5,
            vec![negative(
                "NEG-3",
                "literal H0 pc ≥ 0.8·pb (C5), 20% drop: Det ≤ 5%",
                Criterion::AtMost(0.05),
            )],
        ),
        cell(
            "NEG-4",
            FalseHalt,
            Scenario {
                latency: true,
                ..telemetry(200, Effect::None)
            },
            Rule::NaiveP95Ratio,
            vec![negative(
                "NEG-4",
                "naive per-tick p95 ratio, M = 200, A/A: FH ≥ 50%",
                Criterion::AtLeast(0.5),
            )],
        ),
        cell(
            "NEG-5",
            FalseHalt,
            Scenario {
                errors: true,
                ..telemetry(1000, Effect::None)
            },
            Rule::RelativeErrorOnly,
            vec![negative(
                "NEG-5",
                "relative-only error threshold, A/A: FH ≥ 90%",
                Criterion::AtLeast(0.9),
            )],
        ),
    ]
}
