//! What one `score` call did: every score of the requests (reused and new), counts per
//! evaluator and arm, and what the judges spent.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::judging::JudgeRun;
use crate::adapters::judge_tick::JudgeTick;
use crate::domain::{Arm, Outcome, Request, Score};
use crate::evaluators::Suite;

/// Pass, fail and unscorable counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// Passes.
    pub pass: u64,
    /// Fails.
    pub fail: u64,
    /// Unscorable.
    pub unscorable: u64,
}

impl OutcomeCounts {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Unscorable => self.unscorable += 1,
        }
    }

    /// Takes back one outcome counted before (`evals run`: a row found to repeat an id).
    pub fn remove(&mut self, outcome: Outcome) {
        let count = match outcome {
            Outcome::Pass => &mut self.pass,
            Outcome::Fail => &mut self.fail,
            Outcome::Unscorable => &mut self.unscorable,
        };
        *count = count.saturating_sub(1);
    }

    /// Passes over scorable outcomes, `None` when nothing was scorable.
    pub fn pass_rate(&self) -> Option<f64> {
        let scorable = self.pass + self.fail;
        (scorable > 0).then(|| self.pass as f64 / scorable as f64)
    }
}

/// The result of `ScoringEngine::score`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScoringReport {
    /// The suite.
    pub suite: String,
    /// Every score of the requests for the current evaluator versions: the ones already stored
    /// and the ones computed now, the suite verdicts included; in input order of the requests,
    /// then suite order of the evaluators (the suite verdict last).
    pub scores: Vec<Score>,
    /// Scores that were already stored (not recomputed, not paid again).
    pub reused: usize,
    /// Rows this call added to `eval_scores`.
    pub inserted: u64,
    /// Counts by evaluator, then arm (`baseline` / `canary`).
    pub per_evaluator: BTreeMap<String, BTreeMap<String, OutcomeCounts>>,
    /// Counts of the suite verdict by arm.
    pub suite_per_arm: BTreeMap<String, OutcomeCounts>,
    /// HTTP calls made to judges (retries included).
    pub judge_calls: u64,
    /// Judge tokens used.
    pub judge_tokens: u64,
    /// Judge dollars spent.
    pub judge_cost_usd: f64,
    /// Judgments served from the cache.
    pub cache_hits: u64,
    /// Unscorable scores among `scores`.
    pub unscorable: u64,
    /// Judges stopped by an auth failure during this call.
    pub judges_stopped: Vec<String>,
}

pub(super) fn build(
    suite: &Suite,
    requests: &[Request],
    scores: Vec<Score>,
    reused: usize,
    inserted: u64,
    ticks: &BTreeMap<String, Arc<JudgeTick>>,
    run: &JudgeRun<'_>,
) -> ScoringReport {
    let arm_of: HashMap<&str, Arm> = requests
        .iter()
        .map(|request| (request.request_id.as_str(), request.arm))
        .collect();
    let mut report = ScoringReport {
        suite: suite.name.clone(),
        reused,
        inserted,
        cache_hits: run.cache_hits.load(Ordering::Relaxed),
        ..ScoringReport::default()
    };
    // Counted under borrowed keys, owned once per (evaluator, arm) at the end, not per score.
    let mut per_evaluator: HashMap<(&str, &str), OutcomeCounts> = HashMap::new();
    for score in &scores {
        let arm = arm_of
            .get(score.request_id.as_str())
            .map(|arm| arm.as_str())
            .unwrap_or("unknown");
        per_evaluator
            .entry((score.evaluator.as_str(), arm))
            .or_default()
            .add(score.outcome);
        if score.outcome == Outcome::Unscorable {
            report.unscorable += 1;
        }
    }
    for ((evaluator, arm), counts) in per_evaluator {
        if evaluator == suite.name {
            report.suite_per_arm.insert(arm.to_string(), counts);
        }
        report
            .per_evaluator
            .entry(evaluator.to_string())
            .or_default()
            .insert(arm.to_string(), counts);
    }
    for (name, tick) in ticks {
        report.judge_calls += tick.calls();
        report.judge_tokens += tick.tokens();
        report.judge_cost_usd += tick.spent_usd();
        if tick.auth_failed() {
            report.judges_stopped.push(name.clone());
        }
    }
    report.scores = scores;
    report
}
