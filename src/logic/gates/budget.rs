//! One false-halt budget per stage: the weighted Bonferroni split of `[gates].false_halt_budget`
//! over every test that can halt the rollout (docs/STATISTICS.md §2).
//!
//! The family is every enabled metric whose role is `rollback` or `freeze` (a `notify` metric
//! only alerts, so it spends nothing). A metric whose config names `alpha_halt` spends that α per
//! halting test, out of the budget; the rest of the budget is split by weight. The per-evaluator
//! gates share one weight (`pass_rate_evaluator`), split evenly over the suite's k evaluators, so
//! adding evaluators does not raise the family's false-halt rate. The error rate's two tests
//! (relative and ceiling) are merged into one e-value (`paired::error_evidence`), so it spends its
//! share once.
//!
//! Under a healthy canary each test halts with probability at most its α (Ville's inequality for
//! the e-processes), so P(any halt in the stage) ≤ Σ α ≤ budget (the union bound).

use std::collections::BTreeMap;

use super::metric::{self, MetricSettings};
use super::settings::{GateSettings, MetricOverride};
use crate::domain::Role;

/// The per-test α of each metric of the family, frozen at stage start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    /// α per halting test, by metric name (only metrics of the family).
    pub alpha: BTreeMap<String, f64>,
    /// Σ α over the family: at most the budget.
    pub spent: f64,
}

/// The metric names of a stage whose suite declares `evaluators`: every built-in metric and, when
/// `[gates].per_evaluator`, one `pass_rate:EVALUATOR` each.
pub fn family_names(config: &GateSettings, evaluators: &[String]) -> Vec<String> {
    let mut names: Vec<String> = metric::builtin_names().map(str::to_string).collect();
    if config.per_evaluator {
        names.extend(evaluators.iter().map(|e| metric::evaluator_metric(e)));
    }
    names
}

/// Whether a metric can halt the rollout (and so spends from the budget).
pub fn in_family(settings: &MetricSettings) -> bool {
    settings.enabled && settings.role != Role::Notify
}

/// Splits the budget over `names` (the stage's metrics: built-in ones and one
/// `pass_rate:EVALUATOR` per evaluator of the suite). Unknown names are skipped.
pub fn allocate(config: &GateSettings, names: &[String]) -> Allocation {
    let family: Vec<(&String, MetricSettings)> = names
        .iter()
        .filter_map(|name| config.settings(name).map(|s| (name, s)))
        .filter(|(_, s)| in_family(s))
        .collect();
    let per_evaluator = family
        .iter()
        .filter(|(name, _)| metric::evaluator_of(name).is_some())
        .count()
        .max(1) as f64;
    // A per-evaluator weight or fixed α set on `pass_rate_evaluator` (or left at its default) is
    // the family's, split evenly over its k gates; one set on `pass_rate:EVALUATOR` itself is
    // that gate's own.
    let own = |name: &str, field: fn(&MetricOverride) -> bool| {
        config.own_override(name).is_some_and(field)
    };
    let share = |name: &str, value: f64, field: fn(&MetricOverride) -> bool| {
        if metric::evaluator_of(name).is_some() && !own(name, field) {
            value / per_evaluator
        } else {
            value
        }
    };
    let fixed_of =
        |name: &str, s: &MetricSettings| share(name, s.alpha_halt, |o| o.alpha_halt.is_some());
    let weight_of = |name: &str, s: &MetricSettings| share(name, s.weight, |o| o.weight.is_some());
    let mut out = Allocation::default();
    let mut fixed = 0.0;
    let mut weights = 0.0;
    for (name, s) in &family {
        if s.alpha_fixed {
            fixed += fixed_of(name, s);
        } else {
            weights += weight_of(name, s);
        }
    }
    let left = (config.false_halt_budget - fixed).max(0.0);
    for (name, s) in &family {
        let total = if s.alpha_fixed {
            fixed_of(name, s)
        } else if weights > 0.0 {
            left * weight_of(name, s) / weights
        } else {
            0.0
        };
        out.alpha.insert((*name).clone(), total);
        out.spent += total;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(evaluators: usize) -> Vec<String> {
        let evaluators: Vec<String> = (0..evaluators).map(|i| format!("e{i}")).collect();
        family_names(&GateSettings::default(), &evaluators)
    }

    #[test]
    fn the_default_family_spends_exactly_the_budget_whatever_the_number_of_evaluators() {
        let config = GateSettings::default();
        for k in [0, 1, 4, 8, 40] {
            let a = allocate(&config, &names(k));
            assert!((a.spent - 0.01).abs() < 1e-12, "k = {k}: {}", a.spent);
            assert!(
                !a.alpha.contains_key("session_length"),
                "notify spends nothing"
            );
            // Without evaluators the per-evaluator weight is not in the family.
            let pass_rate = if k == 0 { 0.01 * 0.8 / 0.96 } else { 0.008 };
            assert!((a.alpha["pass_rate"] - pass_rate).abs() < 1e-12, "k = {k}");
        }
        let a = allocate(&config, &names(8));
        assert!((a.alpha["pass_rate:e3"] - 0.0004 / 8.0).abs() < 1e-15);
        // The error rate's two tests are merged into one e-value that spends its whole share.
        assert!((a.alpha["error_rate"] - 0.0006).abs() < 1e-15);
    }

    #[test]
    fn a_fixed_alpha_is_spent_as_given_and_the_rest_is_shared() {
        let mut config = GateSettings::default();
        config = config.with_override(
            "latency_p99",
            MetricOverride {
                alpha_halt: Some(0.002),
                ..MetricOverride::default()
            },
        );
        let a = allocate(&config, &names(2));
        assert_eq!(a.alpha["latency_p99"], 0.002);
        assert!((a.spent - 0.01).abs() < 1e-12);
        assert!(a.alpha["pass_rate"] < 0.008);
    }

    #[test]
    fn a_single_gated_metric_gets_the_whole_budget() {
        let mut config = GateSettings::default();
        for name in metric::builtin_names().filter(|m| *m != "pass_rate") {
            config = config.with_override(
                name,
                MetricOverride {
                    enabled: Some(false),
                    ..MetricOverride::default()
                },
            );
        }
        let a = allocate(&config, &names(0));
        assert_eq!(a.alpha.len(), 1);
        assert!((a.alpha["pass_rate"] - 0.01).abs() < 1e-15);
    }

    #[test]
    fn an_evaluator_s_own_fixed_alpha_is_not_split() {
        let mut config = GateSettings::default();
        config = config.with_override(
            "pass_rate:e1",
            MetricOverride {
                alpha_halt: Some(0.001),
                ..MetricOverride::default()
            },
        );
        let a = allocate(&config, &names(4));
        assert!((a.alpha["pass_rate:e1"] - 0.001).abs() < 1e-15);
        assert!((a.spent - 0.01).abs() < 1e-12);
    }

    #[test]
    fn a_fixed_per_evaluator_alpha_is_the_family_total() {
        let mut config = GateSettings::default();
        config = config.with_override(
            metric::PER_EVALUATOR_KEY,
            MetricOverride {
                alpha_halt: Some(0.001),
                ..MetricOverride::default()
            },
        );
        let a = allocate(&config, &names(4));
        assert!((a.alpha["pass_rate:e0"] - 0.00025).abs() < 1e-15);
        assert!((a.spent - 0.01).abs() < 1e-12);
    }
}
