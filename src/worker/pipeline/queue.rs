//! The scoring work of a tick goes through the `score_queue` table, so several `serve` replicas
//! on one PostgreSQL share it (claims use `FOR UPDATE SKIP LOCKED`) while the tick itself is
//! computed once, by the leader. On SQLite the leader is the only worker; the path is the same.
//! Claims older than `STALE_AFTER` are taken over, so a replica that dies loses no work; the
//! scores themselves are unique per (request, evaluator, version), so nothing counts twice.
//! The judges' per-tick budgets and auth stops live in the store per tick (`tick_budgets`), so
//! they hold across every batch and replica working on the tick.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;

use super::TickEnv;
use crate::adapters::store::{QueueItem, TickKey};
use crate::domain::{Request, Timestamp};
use crate::evaluators::versions::VersionedSuite;
use crate::worker::scoring::interleave_arms;

/// A claim older than this is presumed dead and taken over.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);
/// How long the leader waits between looks while other replicas hold the last claims.
const POLL: Duration = Duration::from_millis(100);
/// How long the leader waits for other replicas before it gives up on the tick (it is redone).
const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// What one round of queue work did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkRound {
    /// Items claimed.
    pub claimed: usize,
    /// Scores written.
    pub written: u64,
}

/// Queues the tick's requests (arms interleaved) and works the queue until every item of the
/// tick is done, by this process or by others. Returns the scores this process wrote.
pub async fn score_tick(
    env: &TickEnv<'_>,
    key: &TickKey,
    suite: &VersionedSuite,
    requests: &[Request],
) -> anyhow::Result<u64> {
    let ids = interleaved_ids(requests);
    env.store()
        .enqueue_scoring(key, &suite.name, &ids)
        .await
        .context("cannot queue the scoring")?;
    let mut written = 0;
    let mut waited = Duration::ZERO;
    loop {
        let round = score_worker_once(env, env.ctx().clock.now()).await?;
        written += round.written;
        if round.claimed > 0 {
            continue;
        }
        if env
            .store()
            .open_scoring(key)
            .await
            .context("cannot read the scoring queue")?
            == 0
        {
            return Ok(written);
        }
        anyhow::ensure!(
            waited < WAIT_LIMIT,
            "other replicas did not finish the tick's scoring"
        );
        tokio::time::sleep(POLL).await;
        waited += POLL;
    }
}

/// One round of queue work: claim a batch (`schedule.claim_batch` items), score it with the one
/// scoring engine, tick by tick (each on its tick's shared budget), mark it done. Every `serve`
/// replica calls this in its scoring loop (`serve::scoring_loop`); the leader also calls it
/// while it waits for its tick's work.
pub async fn score_worker_once(env: &TickEnv<'_>, now: Timestamp) -> anyhow::Result<WorkRound> {
    let items = env
        .store()
        .claim_scoring(
            env.worker_id,
            now,
            now - STALE_AFTER,
            i64::from(env.ctx().config.schedule.claim_batch),
        )
        .await
        .context("cannot claim scoring work")?;
    if items.is_empty() {
        return Ok(WorkRound::default());
    }
    let mut by_tick: BTreeMap<(&str, Timestamp, &str), Vec<&QueueItem>> = BTreeMap::new();
    for item in &items {
        let group = (
            item.key.rollout_id.as_str(),
            item.key.window_start,
            item.suite.as_str(),
        );
        by_tick.entry(group).or_default().push(item);
    }
    let mut written = 0;
    for ((rollout_id, window_start, suite_name), suite_items) in by_tick {
        let suite = env.suites.get(suite_name).with_context(|| {
            format!("queued work names suite `{suite_name}`, which is not loaded")
        })?;
        let ids: Vec<String> = suite_items
            .iter()
            .map(|item| item.request_id.clone())
            .collect();
        let requests = env
            .store()
            .get_requests(&ids)
            .await
            .context("cannot read queued requests")?;
        let key = TickKey {
            rollout_id: rollout_id.to_string(),
            window_start,
        };
        let report = env.engine.score_for_tick(suite, &requests, &key).await?;
        written += report.inserted;
        crate::worker::failpoint::hit("scoring_after_batch");
    }
    env.store()
        .complete_scoring(&items)
        .await
        .context("cannot complete scoring work")?;
    Ok(WorkRound {
        claimed: items.len(),
        written,
    })
}

/// Request ids alternating baseline, canary, baseline, … so judge drift cannot favour an arm
/// (the order [`interleave_arms`] gives the scoring engine).
fn interleaved_ids(requests: &[Request]) -> Vec<String> {
    interleave_arms(requests)
        .into_iter()
        .map(|index| requests[index].request_id.clone())
        .collect()
}
