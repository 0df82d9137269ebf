//! Evaluator names and versions, the keys of `eval_scores`. Pure.
//!
//! - an assertion's evaluator is `<suite>/<assertion id>`; the suite's own verdict is `<suite>`;
//! - a rule's version is its definition hash;
//! - a judge's version is 16 hex of SHA-256 over (definition hash, judge model, prompt version),
//!   so changing the rubric, the judge model or the prompt text re-scores;
//! - the suite's version hashes every assertion version and the pass rule.
//!
//! [`VersionedSuite`] is a suite with those versions computed once, under the configured
//! judges, when the suite is loaded; everything that scores or reads scores takes it.

use std::collections::BTreeMap;
use std::ops::Deref;

use super::judge_prompt::PROMPT_VERSION;
use super::rules::RuleResult;
use super::suite::{Assertion, AssertionKind, Suite};
use crate::config::JudgeConfig;
use crate::domain::{Score, ScoreRef};
use crate::logic::hash::sha256_hex;

/// One evaluator of a suite as `eval_scores` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatorId {
    /// The assertion's index in the suite, `None` for the suite's own verdict.
    pub index: Option<usize>,
    /// `<suite>/<assertion id>` or `<suite>`.
    pub name: String,
    /// The version hash.
    pub version: String,
}

impl EvaluatorId {
    /// The score row of this rule evaluator's `result` on `request_id`, which took `latency_ms`.
    pub fn rule_score(&self, request_id: &str, result: RuleResult, latency_ms: f64) -> Score {
        self.rule_score_ref(request_id, result, latency_ms)
            .into_owned()
    }

    /// [`EvaluatorId::rule_score`], borrowing the request id and this evaluator's name and
    /// version (rules spend no tokens and cost nothing).
    pub fn rule_score_ref<'a>(
        &'a self,
        request_id: &'a str,
        result: RuleResult,
        latency_ms: f64,
    ) -> ScoreRef<'a> {
        ScoreRef {
            request_id,
            evaluator: &self.name,
            evaluator_version: &self.version,
            outcome: result.outcome,
            score: Some(result.score),
            reason: result.reason,
            latency_ms,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
        }
    }
}

/// The judge an assertion calls, if it is a judge assertion.
pub fn judge_of(assertion: &Assertion) -> Option<&str> {
    match &assertion.kind {
        AssertionKind::Rule(_) => None,
        AssertionKind::Rubric(spec) => Some(spec.judge.as_str()),
        AssertionKind::Pairwise(spec) => Some(spec.judge.as_str()),
    }
}

/// The version of one assertion; a judge missing from `judges` hashes with an empty model.
pub fn assertion_version(assertion: &Assertion, judges: &BTreeMap<String, JudgeConfig>) -> String {
    let Some(judge) = judge_of(assertion) else {
        return assertion.definition_hash.clone();
    };
    let model = judges
        .get(judge)
        .map(|config| config.model.as_str())
        .unwrap_or("");
    let material = format!("{}\n{model}\n{PROMPT_VERSION}", assertion.definition_hash);
    sha256_hex(material.as_bytes(), 16)
}

/// The version of the suite's own verdict.
pub fn suite_version(suite: &Suite, assertion_versions: &[String]) -> String {
    let mut material = format!("{}\n{:?}\n", suite.name, suite.pass_rule);
    for (assertion, version) in suite.assertions.iter().zip(assertion_versions) {
        material.push_str(&format!(
            "{}={version}:{}\n",
            assertion.id, assertion.gating
        ));
    }
    sha256_hex(material.as_bytes(), 16)
}

/// Every evaluator of `suite`: its assertions in file order, then the suite verdict.
pub fn suite_evaluators(suite: &Suite, judges: &BTreeMap<String, JudgeConfig>) -> Vec<EvaluatorId> {
    let mut evaluators = Vec::with_capacity(suite.assertions.len() + 1);
    let mut versions = Vec::with_capacity(suite.assertions.len());
    for (index, assertion) in suite.assertions.iter().enumerate() {
        let version = assertion_version(assertion, judges);
        versions.push(version.clone());
        evaluators.push(EvaluatorId {
            index: Some(index),
            name: format!("{}/{}", suite.name, assertion.id),
            version,
        });
    }
    evaluators.push(EvaluatorId {
        index: None,
        name: suite.name.clone(),
        version: suite_version(suite, &versions),
    });
    evaluators
}

/// A suite with the version of every evaluator under the judges it will be scored with,
/// computed once at load (the versions hash the judge models, so a suite is versioned by the
/// engine that scores it: `ScoringEngine::versioned`). Derefs to the [`Suite`].
#[derive(Debug, Clone)]
pub struct VersionedSuite {
    suite: Suite,
    evaluators: Vec<EvaluatorId>,
}

impl VersionedSuite {
    /// Versions every evaluator of `suite` under `judges` (a judge missing from them hashes
    /// with an empty model).
    pub fn new(suite: Suite, judges: &BTreeMap<String, JudgeConfig>) -> VersionedSuite {
        let evaluators = suite_evaluators(&suite, judges);
        VersionedSuite { suite, evaluators }
    }

    /// The suite.
    pub fn suite(&self) -> &Suite {
        &self.suite
    }

    /// Every evaluator: the assertions in file order, then the suite verdict.
    pub fn evaluators(&self) -> &[EvaluatorId] {
        &self.evaluators
    }

    /// The current version of every evaluator, each once, sorted.
    pub fn versions(&self) -> Vec<String> {
        let mut versions: Vec<String> = self
            .evaluators
            .iter()
            .map(|evaluator| evaluator.version.clone())
            .collect();
        versions.sort();
        versions.dedup();
        versions
    }

    /// The current version of every evaluator, by evaluator name.
    pub fn version_by_name(&self) -> BTreeMap<String, String> {
        self.evaluators
            .iter()
            .map(|evaluator| (evaluator.name.clone(), evaluator.version.clone()))
            .collect()
    }

    /// The names of the assertion evaluators (`<suite>/<assertion id>`), in file order.
    pub fn assertion_names(&self) -> Vec<String> {
        self.evaluators
            .iter()
            .filter(|evaluator| evaluator.index.is_some())
            .map(|evaluator| evaluator.name.clone())
            .collect()
    }
}

impl Deref for VersionedSuite {
    type Target = Suite;

    fn deref(&self) -> &Suite {
        &self.suite
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::evaluators::load_suite_text;

    fn suite(rubric: &str) -> Suite {
        let text = format!(
            "name: s\nassert:\n  - type: icontains\n    value: hi\n  - type: llm-rubric\n    \
             judge: default\n    value: {rubric}\n"
        );
        let names: BTreeSet<String> = ["default".to_string()].into();
        load_suite_text(Path::new("s.yaml"), &text, &names).unwrap()
    }

    fn judges(model: &str) -> BTreeMap<String, JudgeConfig> {
        let config = JudgeConfig {
            model: model.to_string(),
            ..JudgeConfig::default()
        };
        [("default".to_string(), config)].into()
    }

    #[test]
    fn rule_versions_are_definition_hashes_and_judge_versions_include_the_model() {
        let suite = suite("is it polite");
        let evaluators = suite_evaluators(&suite, &judges("m1"));
        assert_eq!(evaluators.len(), 3);
        assert_eq!(evaluators[0].version, suite.assertions[0].definition_hash);
        assert_eq!(evaluators[1].name, format!("s/{}", suite.assertions[1].id));
        assert_eq!(evaluators[2].name, "s");
        assert_eq!(evaluators[2].index, None);
        let other_model = suite_evaluators(&suite, &judges("m2"));
        assert_eq!(evaluators[0].version, other_model[0].version);
        assert_ne!(evaluators[1].version, other_model[1].version);
        assert_ne!(evaluators[2].version, other_model[2].version);
    }

    #[test]
    fn a_versioned_suite_carries_the_versions_of_its_judges_computed_once() {
        let versioned = VersionedSuite::new(suite("is it polite"), &judges("m1"));
        assert_eq!(
            versioned.evaluators(),
            suite_evaluators(&suite("is it polite"), &judges("m1")).as_slice()
        );
        let other = VersionedSuite::new(suite("is it polite"), &judges("m2"));
        assert_ne!(versioned.evaluators()[1], other.evaluators()[1]);
        assert_eq!(versioned.assertion_names().len(), 2);
        assert_eq!(versioned.versions().len(), 3);
        assert_eq!(
            versioned.version_by_name()["s"],
            versioned.evaluators()[2].version
        );
        assert_eq!(versioned.name, "s");
    }

    #[test]
    fn editing_a_rubric_changes_its_version_and_the_suites() {
        let before = suite_evaluators(&suite("is it polite"), &judges("m1"));
        let after = suite_evaluators(&suite("is it kind"), &judges("m1"));
        assert_eq!(before[0].version, after[0].version);
        assert_ne!(before[1].version, after[1].version);
        assert_ne!(before[2].version, after[2].version);
    }
}
