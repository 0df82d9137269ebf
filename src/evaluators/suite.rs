//! A loaded suite: its assertions (rules compiled, judge specs validated) and the pass rule
//! that combines assertion outcomes into the suite's own verdict.

use std::path::PathBuf;

use super::rules::{RuleCheck, RuleResult};
use super::template::Template;
use crate::domain::{Outcome, Request};

/// One `evals/*.yaml` file, validated and compiled.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Unique across the directory; evaluator names are `<suite>/<assertion id>`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// The suite `threshold` as written (required by `pass: weighted`).
    pub threshold: Option<f64>,
    /// How assertion outcomes combine into the suite verdict.
    pub pass_rule: PassRule,
    /// In file order; `per_assertion` indices in [`suite_outcome`] refer to this order.
    pub assertions: Vec<Assertion>,
}

impl Suite {
    /// The assertion with this id.
    pub fn assertion(&self, id: &str) -> Option<&Assertion> {
        self.assertions.iter().find(|assertion| assertion.id == id)
    }
}

/// How a suite passes. Only gating assertions (`gate: true`, the default) count in either rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PassRule {
    /// `pass: all-gating` (default): every gating assertion passes.
    AllGating,
    /// `pass: weighted`: the weight-averaged score of the gating assertions reaches `threshold`.
    WeightedScore {
        /// Minimum weighted score in [0, 1].
        threshold: f64,
    },
}

/// One assertion of a suite.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// `metric` if given, else `<type>#<index>` (index in the suite's `assert` list, from 0).
    pub id: String,
    /// The type as written, e.g. `not-icontains`.
    pub type_name: String,
    /// Written with a `not-` prefix.
    pub negate: bool,
    /// Counts toward the suite verdict (`gate`, default true).
    pub gating: bool,
    /// Weight in the suite score (default 1).
    pub weight: f64,
    /// `threshold` as written (its meaning depends on the type).
    pub threshold: Option<f64>,
    /// 16 hex chars of SHA-256 over the canonical JSON of the definition (schema files
    /// inlined), so an edit to the assertion changes its version. Rule versions are this.
    pub definition_hash: String,
    /// What to run.
    pub kind: AssertionKind,
}

impl Assertion {
    /// Runs a rule assertion (`not-` applied); None for judge assertions.
    pub fn evaluate_rule(&self, request: &Request) -> Option<RuleResult> {
        match &self.kind {
            AssertionKind::Rule(check) => Some(check.evaluate(request)),
            AssertionKind::Rubric(_) | AssertionKind::Pairwise(_) => None,
        }
    }

    /// Whether this is a rule (no judge call needed).
    pub fn is_rule(&self) -> bool {
        matches!(self.kind, AssertionKind::Rule(_))
    }
}

/// Rule, rubric judge or pairwise judge.
#[derive(Debug, Clone)]
pub enum AssertionKind {
    /// A compiled rule; `RuleCheck::evaluate` applies `not-` itself.
    Rule(RuleCheck),
    /// `llm-rubric` (the judge engineer applies `Assertion::negate` and `threshold`).
    Rubric(RubricSpec),
    /// `llm-pairwise`: the output against the reference answer.
    Pairwise(PairwiseSpec),
}

/// `llm-rubric`.
#[derive(Debug, Clone)]
pub struct RubricSpec {
    /// A key of `[judges]` in evalgate.toml.
    pub judge: String,
    /// The rubric template (`{{input}}`, `{{output}}`, `{{reference}}`), as written.
    pub rubric: String,
    /// The same, parsed (unknown variables were rejected at load).
    pub template: Template,
}

/// `llm-pairwise`.
#[derive(Debug, Clone)]
pub struct PairwiseSpec {
    /// A key of `[judges]` in evalgate.toml.
    pub judge: String,
    /// What "better" means, as written (may use the template variables).
    pub criteria: String,
    /// The same, parsed.
    pub template: Template,
}

/// Combines assertion results into the suite verdict: (outcome, score, reason).
///
/// * Only gating assertions decide; a gating assertion missing from `per_assertion` counts as
///   unscorable. Non-gating ones are reported on their own rows only.
/// * `weight: 0` as in promptfoo: it adds nothing to the weighted score, so under
///   `WeightedScore` (promptfoo's test `threshold`) it never decides the verdict, not even when
///   unscorable; under `AllGating` (no threshold) its failure fails the suite like any other.
/// * `AllGating`: any gating fail → Fail; else any gating unscorable → Unscorable; else Pass.
/// * `WeightedScore`: the score is Σ wᵢsᵢ / Σ wᵢ over gating assertions. If it misses the
///   threshold even when every unscorable one scores 1 → Fail; else any unscorable →
///   Unscorable; else Pass iff score ≥ threshold.
/// * Unscorable never becomes a pass; a suite with no gating assertion is Unscorable.
///
/// The returned score is the weighted mean over the scorable gating assertions (0 if none).
pub fn suite_outcome(
    suite: &Suite,
    per_assertion: &[(usize, Outcome, f64)],
) -> (Outcome, f64, String) {
    let mut failed = Vec::new();
    let mut unscorable = Vec::new();
    let mut weighted_sum = 0.0;
    let mut scored_weight = 0.0;
    let mut missing_weight = 0.0;
    let mut gating = 0usize;
    let weighted = matches!(suite.pass_rule, PassRule::WeightedScore { .. });
    for (index, assertion) in suite.assertions.iter().enumerate() {
        if !assertion.gating || (weighted && assertion.weight <= 0.0) {
            continue;
        }
        gating += 1;
        let result = per_assertion
            .iter()
            .find(|(position, _, _)| *position == index);
        match result {
            Some((_, Outcome::Pass, score)) | Some((_, Outcome::Fail, score)) => {
                let score = if score.is_finite() {
                    score.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                weighted_sum += assertion.weight * score;
                scored_weight += assertion.weight;
                if matches!(result, Some((_, Outcome::Fail, _))) {
                    failed.push(assertion.id.as_str());
                }
            }
            Some((_, Outcome::Unscorable, _)) | None => {
                missing_weight += assertion.weight;
                unscorable.push(assertion.id.as_str());
            }
        }
    }
    let score = if scored_weight > 0.0 {
        weighted_sum / scored_weight
    } else {
        0.0
    };
    if gating == 0 {
        return (
            Outcome::Unscorable,
            score,
            "the suite has no gating assertion".to_string(),
        );
    }
    match suite.pass_rule {
        PassRule::AllGating => {
            if !failed.is_empty() {
                (
                    Outcome::Fail,
                    score,
                    format!("failed: {}", failed.join(", ")),
                )
            } else if !unscorable.is_empty() {
                (
                    Outcome::Unscorable,
                    score,
                    format!("unscorable: {}", unscorable.join(", ")),
                )
            } else {
                (
                    Outcome::Pass,
                    score,
                    format!("all {gating} gating assertions passed"),
                )
            }
        }
        PassRule::WeightedScore { threshold } => {
            let total = scored_weight + missing_weight;
            let best_case = if total > 0.0 {
                (weighted_sum + missing_weight) / total
            } else {
                0.0
            };
            if best_case < threshold {
                let reason = format!(
                    "weighted score {score:.3} below threshold {threshold} (failed: {})",
                    failed.join(", ")
                );
                (Outcome::Fail, score, reason)
            } else if !unscorable.is_empty() {
                (
                    Outcome::Unscorable,
                    score,
                    format!("unscorable: {}", unscorable.join(", ")),
                )
            } else if score >= threshold {
                (
                    Outcome::Pass,
                    score,
                    format!("weighted score {score:.3} reaches threshold {threshold}"),
                )
            } else {
                (
                    Outcome::Fail,
                    score,
                    format!("weighted score {score:.3} below threshold {threshold}"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::evaluators::load_suite_text;
    use Outcome::{Fail, Pass, Unscorable};

    /// Three assertions: gating (weight 1), gating (weight 3), non-gating.
    fn suite(pass: &str) -> Suite {
        let text = format!(
            "name: s\n{pass}assert:\n  - type: is-json\n  - type: is-refusal\n    weight: 3\n  - type: contains\n    value: x\n    gate: false\n"
        );
        load_suite_text(Path::new("s.yaml"), &text, &BTreeSet::new()).unwrap()
    }

    #[test]
    fn all_gating_passes_only_when_every_gating_assertion_passes() {
        let suite = suite("");
        let (outcome, score, _) =
            suite_outcome(&suite, &[(0, Pass, 1.0), (1, Pass, 1.0), (2, Fail, 0.0)]);
        assert_eq!(
            (outcome, score),
            (Pass, 1.0),
            "non-gating failures do not count"
        );
        let (outcome, score, reason) =
            suite_outcome(&suite, &[(0, Pass, 1.0), (1, Fail, 0.0), (2, Pass, 1.0)]);
        assert_eq!((outcome, score), (Fail, 0.25));
        assert_eq!(reason, "failed: is-refusal#1");
    }

    #[test]
    fn an_unscorable_gating_assertion_never_lets_the_suite_pass() {
        let suite = suite("");
        let (outcome, _, reason) = suite_outcome(&suite, &[(0, Pass, 1.0), (1, Unscorable, 0.0)]);
        assert_eq!(outcome, Unscorable);
        assert_eq!(reason, "unscorable: is-refusal#1");
        let (outcome, _, _) = suite_outcome(&suite, &[(0, Pass, 1.0)]);
        assert_eq!(outcome, Unscorable, "a missing result counts as unscorable");
        let (outcome, _, _) = suite_outcome(&suite, &[(0, Fail, 0.0), (1, Unscorable, 0.0)]);
        assert_eq!(
            outcome, Fail,
            "a definite failure decides even with missing data"
        );
    }

    #[test]
    fn weighted_suites_compare_the_weighted_gating_score_with_the_threshold() {
        let suite = suite("pass: weighted\nthreshold: 0.7\n");
        let (outcome, score, _) =
            suite_outcome(&suite, &[(0, Fail, 0.0), (1, Pass, 1.0), (2, Fail, 0.0)]);
        assert_eq!((outcome, score), (Pass, 0.75));
        let (outcome, score, _) = suite_outcome(&suite, &[(0, Pass, 1.0), (1, Fail, 0.0)]);
        assert_eq!((outcome, score), (Fail, 0.25));
    }

    #[test]
    fn weighted_suites_with_missing_data_are_unscorable_unless_already_failing() {
        let suite = suite("pass: weighted\nthreshold: 0.7\n");
        let (outcome, _, _) = suite_outcome(&suite, &[(0, Pass, 1.0), (1, Unscorable, 0.0)]);
        assert_eq!(outcome, Unscorable, "1 of 4 weight known: could still fail");
        let (outcome, _, _) = suite_outcome(&suite, &[(0, Unscorable, 0.0), (1, Fail, 0.0)]);
        assert_eq!(
            outcome, Fail,
            "at most 0.25 even if the unscorable one passed"
        );
        let (outcome, _, _) = suite_outcome(&suite, &[(0, Unscorable, 0.0), (1, Pass, 1.0)]);
        assert_eq!(
            outcome, Unscorable,
            "0.75 would pass, but never on missing data"
        );
    }

    #[test]
    fn weight_zero_never_decides_a_weighted_suite_but_gates_all_gating_like_promptfoo() {
        let text =
            "name: s\n{pass}assert:\n  - type: is-json\n  - type: is-refusal\n    weight: 0\n";
        let load = |pass: &str| {
            load_suite_text(
                Path::new("s.yaml"),
                &text.replace("{pass}", pass),
                &BTreeSet::new(),
            )
            .unwrap()
        };
        let weighted = load("pass: weighted\nthreshold: 0.5\n");
        for second in [Fail, Unscorable] {
            let (outcome, score, _) = suite_outcome(&weighted, &[(0, Pass, 1.0), (1, second, 0.0)]);
            assert_eq!((outcome, score), (Pass, 1.0), "{second:?}");
        }
        let all_gating = load("");
        let (outcome, _, _) = suite_outcome(&all_gating, &[(0, Pass, 1.0), (1, Fail, 0.0)]);
        assert_eq!(
            outcome, Fail,
            "promptfoo fails a test on any failed assertion"
        );
    }

    #[test]
    fn out_of_range_scores_are_clamped() {
        let suite = suite("pass: weighted\nthreshold: 0.9\n");
        let (outcome, score, _) = suite_outcome(&suite, &[(0, Pass, 7.0), (1, Pass, f64::NAN)]);
        assert_eq!((outcome, score), (Fail, 0.25));
    }
}
