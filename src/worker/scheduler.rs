//! The daemon's scheduler: one pass ([`Scheduler::serve_once`]) beats the heartbeat, makes sure
//! this process holds the scheduler (PostgreSQL replicas), runs every due tick oldest first (up to
//! `schedule.catch_up_max` missed windows), runs a due rollback drill, records what completed and
//! says when to wake next. It never fails: a bad tick is logged, counted and retried a few times.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::adapters::http::SchedulerHeartbeat;
use crate::adapters::store::Store;
use crate::adapters::store::leader::LeaderLock;
use crate::clock::Clock;
use crate::config::Schedules;
use crate::domain::Timestamp;
use crate::logic::schedule::Schedule;
use crate::metrics;
use crate::worker::tick::TickReport;

/// The `scheduler_state` job of ticks.
pub const TICKS_JOB: &str = "ticks";
/// The `scheduler_state` job of rollback drills.
pub const DRILLS_JOB: &str = "drills";
/// The loop wakes at least this often (heartbeat, leadership check).
pub const LOOP_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(10);
/// A failed tick is retried after this long.
pub const RETRY_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// A tick that failed this many times in a row is given up (logged) so later windows proceed.
pub const MAX_ATTEMPTS: u32 = 3;
/// While a tick runs, leadership is re-checked this often; a leader that lost it stops the tick.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The work the scheduler triggers: the tick pipeline and the drill in production, fakes in tests.
pub trait Jobs: Send + Sync {
    /// Runs the tick at `at` for every active rollout.
    fn tick(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<TickReport>>;
    /// Runs a rollback drill scheduled at `at`.
    fn drill(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Whether this process held the scheduler.
    pub leader: bool,
    /// Tick times that completed, oldest first.
    pub ticked: Vec<Timestamp>,
    /// Tick times that failed.
    pub failed: Vec<Timestamp>,
    /// Tick times given up after [`MAX_ATTEMPTS`] failures.
    pub given_up: Vec<Timestamp>,
    /// Missed tick times skipped because of the catch-up bound.
    pub skipped: usize,
    /// Drill times that ran successfully.
    pub drilled: Vec<Timestamp>,
    /// When the next pass is due.
    pub next_wake: Timestamp,
}

/// The scheduler of one `serve` process.
pub struct Scheduler {
    ticks: Schedule,
    drills: Schedule,
    catch_up_max: usize,
    clock: Arc<dyn Clock>,
    leader: LeaderLock,
    holder: String,
    heartbeat: SchedulerHeartbeat,
    failing: Option<(Timestamp, u32)>,
}

impl Scheduler {
    /// A scheduler for `store` with the crons parsed when the config was validated and
    /// `[schedule] catch_up_max`.
    pub fn new(
        schedules: &Schedules,
        catch_up_max: u32,
        store: &Store,
        clock: Arc<dyn Clock>,
        heartbeat: SchedulerHeartbeat,
    ) -> Scheduler {
        // `pid-{pid}-{uuid}-{host}-{pid}`: unique per start, and `holder::is_dead` can tell
        // from its end whether the process is gone.
        let holder = format!(
            "pid-{}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple(),
            crate::adapters::holder::this_process()
        );
        Scheduler {
            ticks: schedules.ticks.clone(),
            drills: schedules.drills.clone(),
            catch_up_max: usize::try_from(catch_up_max).unwrap_or(usize::MAX),
            clock,
            leader: LeaderLock::for_store(store, &holder),
            holder,
            heartbeat,
            failing: None,
        }
    }

    /// This process's name in `scheduler_leader`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// One pass: heartbeat, leadership, due ticks (oldest first), a due drill; never fails.
    pub async fn serve_once(
        &mut self,
        store: &Store,
        jobs: &dyn Jobs,
        cancel: &CancellationToken,
    ) -> PassReport {
        let now = self.clock.now();
        self.heartbeat.beat(now);
        let leader = self.leader.ensure(now).await;
        metrics::set_leader(leader);
        let mut report = PassReport {
            leader,
            ticked: Vec::new(),
            failed: Vec::new(),
            given_up: Vec::new(),
            skipped: 0,
            drilled: Vec::new(),
            next_wake: now + LOOP_EVERY,
        };
        if !leader {
            return report;
        }
        if let Err(err) = store.scheduler_heartbeat(&self.holder, now).await {
            tracing::warn!(error = %err, "cannot record the scheduler heartbeat");
        }
        let retry_at = self.run_due_ticks(store, jobs, cancel, &mut report).await;
        if !cancel.is_cancelled() {
            self.run_due_drill(store, jobs, &mut report).await;
        }
        let now = self.clock.now();
        let mut next = [
            self.ticks.next_after(now),
            self.drills.next_after(now),
            retry_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + LOOP_EVERY);
        next = next.min(now + LOOP_EVERY);
        report.next_wake = next;
        report
    }

    /// Runs the due ticks; returns when to retry a failed one.
    async fn run_due_ticks(
        &mut self,
        store: &Store,
        jobs: &dyn Jobs,
        cancel: &CancellationToken,
        report: &mut PassReport,
    ) -> Option<Timestamp> {
        let last = match store.scheduler_last_run(TICKS_JOB).await {
            Ok(last) => last,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the last tick time; retrying soon");
                return Some(self.clock.now() + LOOP_EVERY);
            }
        };
        let plan = self.ticks.due(last, self.clock.now(), self.catch_up_max);
        if plan.skipped > 0 {
            tracing::warn!(
                skipped = plan.skipped,
                catch_up_max = self.catch_up_max,
                "missed more tick windows than schedule.catch_up_max; skipping the oldest"
            );
        }
        report.skipped = plan.skipped;
        for at in plan.due {
            if cancel.is_cancelled() {
                return None;
            }
            self.heartbeat.set_busy(Some(self.clock.now()));
            let outcome = self.tick_while_leader(jobs, at).await;
            self.heartbeat.set_busy(None);
            self.heartbeat.beat(self.clock.now());
            let Some(outcome) = outcome else {
                metrics::record_tick_failure();
                metrics::set_leader(false);
                report.failed.push(at);
                report.leader = false;
                tracing::error!(tick_at = %at, "lost the scheduler mid-tick; stopped the tick and stepped down (the new leader redoes it)");
                return Some(self.clock.now() + LOOP_EVERY);
            };
            match outcome {
                Ok(tick) => {
                    tracing::info!(tick_at = %at, rollouts = tick.rollouts.len(), "tick completed");
                    metrics::record_tick(at);
                    self.failing = None;
                    report.ticked.push(at);
                }
                Err(err) => {
                    metrics::record_tick_failure();
                    report.failed.push(at);
                    let attempts = match self.failing {
                        Some((failed_at, count)) if failed_at == at => count + 1,
                        _ => 1,
                    };
                    if attempts < MAX_ATTEMPTS {
                        tracing::error!(tick_at = %at, attempts, error = format!("{err:#}"), "tick failed; will retry");
                        self.failing = Some((at, attempts));
                        return Some(self.clock.now() + RETRY_AFTER);
                    }
                    tracing::error!(tick_at = %at, attempts, error = format!("{err:#}"), "tick failed; giving up on this window (rerun it with `evalgate tick --at`)");
                    self.failing = None;
                    report.given_up.push(at);
                }
            }
            if let Err(err) = store
                .scheduler_set_last_run(TICKS_JOB, at, self.clock.now())
                .await
            {
                tracing::error!(tick_at = %at, error = %err, "cannot record the completed tick; it will run again");
                return Some(self.clock.now() + RETRY_AFTER);
            }
        }
        None
    }

    /// Runs one tick while re-checking leadership every [`WATCH_EVERY`]; None when leadership
    /// was lost (the tick is dropped mid-way: its writes are transactions, the tick row stays
    /// unfinished and the new leader redoes it).
    async fn tick_while_leader(
        &mut self,
        jobs: &dyn Jobs,
        at: Timestamp,
    ) -> Option<anyhow::Result<TickReport>> {
        let tick = jobs.tick(at);
        tokio::pin!(tick);
        loop {
            tokio::select! {
                outcome = &mut tick => return Some(outcome),
                () = tokio::time::sleep(WATCH_EVERY) => {
                    if !self.leader.still_held(self.clock.now()).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Runs the latest due drill, if any. A fresh store records the latest drill time without
    /// running it, so the first drill happens on schedule, not at first start.
    async fn run_due_drill(&mut self, store: &Store, jobs: &dyn Jobs, report: &mut PassReport) {
        let now = self.clock.now();
        let last = match store.scheduler_last_run(DRILLS_JOB).await {
            Ok(last) => last,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the last drill time");
                return;
            }
        };
        let plan = self.drills.due(last, now, 1);
        let Some(at) = plan.due.last().copied() else {
            return;
        };
        if last.is_some() {
            self.heartbeat.set_busy(Some(now));
            let outcome = jobs.drill(at).await;
            self.heartbeat.set_busy(None);
            match outcome {
                Ok(()) => {
                    tracing::info!(drill_at = %at, "rollback drill completed");
                    metrics::set_last_drill(self.clock.now());
                    report.drilled.push(at);
                }
                Err(err) => {
                    tracing::error!(drill_at = %at, error = format!("{err:#}"), "rollback drill failed");
                }
            }
        }
        if let Err(err) = store
            .scheduler_set_last_run(DRILLS_JOB, at, self.clock.now())
            .await
        {
            tracing::error!(drill_at = %at, error = %err, "cannot record the drill time");
        }
    }

    /// Gives up the scheduler (at shutdown) so another replica takes over at once.
    pub async fn release(&mut self) {
        self.leader.release().await;
        metrics::set_leader(false);
    }
}
