//! Scoring one page of stored history for `rescore`: a request whose every current evaluator
//! version already has a stored score is not read or scored again; its outcomes come from the
//! page itself (`Store::history_page_scored`, one row per request). Only the others are read
//! in full and scored, reusing whatever part of them is stored; stored scores are read only for
//! the requests the page shows partly scored (a first run's have none). Reading
//! ([`ScoringEngine::read_history_page`]) and scoring ([`ScoringEngine::score_read_page`]) are
//! separate steps so `rescore` can read the next page while the current one is scored and
//! written. A rerun over finished history therefore reads one row per request and writes
//! nothing (BENCHMARKS.md, "Rescore, issue 14, structural change").

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;

use super::{ScoringEngine, TickBudgets};
use crate::adapters::store::{ScoredHistoryEntry, StoredOutcome};
use crate::domain::Request;
use crate::evaluators::versions::{EvaluatorId, VersionedSuite};

/// What [`ScoringEngine::score_history_page`] did.
#[derive(Debug, Clone, Default)]
pub struct PageScores {
    /// Every request of the page that exists, with its outcome of every current evaluator
    /// version it has (stored before or scored now), in page order.
    pub requests: Vec<ScoredHistoryEntry>,
    /// Rows this page added to `eval_scores`.
    pub inserted: u64,
    /// Scores that were already stored.
    pub reused: u64,
    /// Judge dollars spent.
    pub judge_cost_usd: f64,
}

/// A page of history with what scoring it needs already read: each entry's outcomes reduced to
/// the current evaluator versions, and the requests that miss one, in full. Reading the next
/// page this far while the current one is scored and written is what `rescore` overlaps.
#[derive(Debug, Clone, Default)]
pub struct ReadPage {
    /// Every request of the page, in page order, with its current stored outcomes.
    entries: Vec<ScoredHistoryEntry>,
    /// The ids of the entries that miss a current score.
    unfinished: HashSet<String>,
    /// Those of them that have some current score (the others have none, so their stored
    /// scores are not read again).
    partly_scored: HashSet<String>,
    /// Those requests, read in full (one gone from the store since the page was read is not).
    requests: Vec<Request>,
    /// Current scores the finished entries already have.
    reused: u64,
}

impl ScoringEngine {
    /// Scores the requests of `page` that miss a score of a current evaluator version of
    /// `suite`, under `budgets`; the others keep their stored outcomes. Needs a store.
    pub async fn score_history_page(
        &self,
        suite: &VersionedSuite,
        page: Vec<ScoredHistoryEntry>,
        budgets: &TickBudgets,
    ) -> anyhow::Result<PageScores> {
        let read = self.read_history_page(suite, page).await?;
        self.score_read_page(suite, read, budgets).await
    }

    /// The reading half of [`ScoringEngine::score_history_page`]: which requests of `page` miss
    /// a current score, read in full. Writes nothing.
    pub async fn read_history_page(
        &self,
        suite: &VersionedSuite,
        page: Vec<ScoredHistoryEntry>,
    ) -> anyhow::Result<ReadPage> {
        let Some(store) = &self.store_opt else {
            anyhow::bail!("scoring stored history needs a store");
        };
        let evaluators = suite.evaluators();
        let mut read = ReadPage {
            entries: Vec::with_capacity(page.len()),
            ..ReadPage::default()
        };
        let mut unfinished: Vec<String> = Vec::new();
        for mut entry in page {
            entry.outcomes = current_outcomes(entry.outcomes, evaluators);
            if entry.outcomes.len() == evaluators.len() {
                read.reused += entry.outcomes.len() as u64;
            } else {
                if !entry.outcomes.is_empty() {
                    read.partly_scored.insert(entry.cursor.request_id.clone());
                }
                unfinished.push(entry.cursor.request_id.clone());
            }
            read.entries.push(entry);
        }
        if !unfinished.is_empty() {
            read.requests = store
                .get_requests(&unfinished)
                .await
                .context("cannot read requests")?;
        }
        read.unfinished = unfinished.into_iter().collect();
        Ok(read)
    }

    /// The scoring half of [`ScoringEngine::score_history_page`]: scores (and stores) the
    /// requests `read` holds in full under `budgets`.
    pub async fn score_read_page(
        &self,
        suite: &VersionedSuite,
        read: ReadPage,
        budgets: &TickBudgets,
    ) -> anyhow::Result<PageScores> {
        let mut scores = PageScores {
            reused: read.reused,
            ..PageScores::default()
        };
        let mut rescored: HashMap<String, Vec<StoredOutcome>> = HashMap::new();
        if !read.requests.is_empty() {
            let requests: std::sync::Arc<[Request]> = read.requests.into();
            let report = self
                .score_partly_stored(suite, requests.clone(), budgets, &read.partly_scored)
                .await?;
            scores.inserted += report.inserted;
            scores.reused += report.reused as u64;
            scores.judge_cost_usd += report.judge_cost_usd;
            for request in requests.iter() {
                rescored.insert(request.request_id.clone(), Vec::new());
            }
            for score in report.scores {
                if let Some(outcomes) = rescored.get_mut(&score.request_id) {
                    outcomes.push(StoredOutcome {
                        evaluator: score.evaluator,
                        evaluator_version: score.evaluator_version,
                        outcome: score.outcome,
                    });
                }
            }
        }
        for mut entry in read.entries {
            if !read.unfinished.contains(&entry.cursor.request_id) {
                scores.requests.push(entry);
                continue;
            }
            // A request gone from the store since the page was read is skipped, as before.
            if let Some(outcomes) = rescored.remove(&entry.cursor.request_id) {
                entry.outcomes = outcomes;
                scores.requests.push(entry);
            }
        }
        Ok(scores)
    }
}

/// The outcomes of `stored` that belong to a current evaluator version, one per evaluator.
fn current_outcomes(stored: Vec<StoredOutcome>, evaluators: &[EvaluatorId]) -> Vec<StoredOutcome> {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut current = Vec::with_capacity(evaluators.len());
    for outcome in stored {
        let position = evaluators.iter().position(|evaluator| {
            evaluator.name == outcome.evaluator && evaluator.version == outcome.evaluator_version
        });
        if let Some(position) = position
            && seen.insert(position)
        {
            current.push(outcome);
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Outcome;

    fn id(name: &str, version: &str, index: Option<usize>) -> EvaluatorId {
        EvaluatorId {
            name: name.to_string(),
            version: version.to_string(),
            index,
        }
    }

    fn stored(evaluator: &str, version: &str) -> StoredOutcome {
        StoredOutcome {
            evaluator: evaluator.to_string(),
            evaluator_version: version.to_string(),
            outcome: Outcome::Pass,
        }
    }

    #[test]
    fn only_current_versions_count_once_each() {
        let evaluators = [id("s/a", "v1", Some(0)), id("s", "v9", None)];
        let kept = current_outcomes(
            vec![
                stored("s/a", "v0"),
                stored("s/a", "v1"),
                stored("s/a", "v1"),
                stored("s/b", "v1"),
                stored("s", "v9"),
            ],
            &evaluators,
        );
        assert_eq!(kept, vec![stored("s/a", "v1"), stored("s", "v9")]);
    }
}
