//! The daemon's scheduler pass (`Scheduler::serve_once`) on a manual clock with recording fake
//! jobs: catch-up oldest first and bounded, restarts resume from the stored last tick, a bad tick
//! is retried then given up without stopping later windows, drills run on their own schedule, and
//! on PostgreSQL only one of two replicas holds the scheduler until it lets go.

use crate::common;

use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use evalgate::adapters::http::SchedulerHeartbeat;
use evalgate::adapters::store::Store;
use evalgate::clock::ManualClock;
use evalgate::config::ScheduleConfig;
use evalgate::domain::Timestamp;
use evalgate::worker::scheduler::{Jobs, MAX_ATTEMPTS, Scheduler, TICKS_JOB};
use evalgate::worker::tick::TickReport;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

/// Records every tick and drill; fails the ticks listed in `fail`.
#[derive(Default)]
struct FakeJobs {
    ticks: Mutex<Vec<Timestamp>>,
    drills: Mutex<Vec<Timestamp>>,
    fail: Mutex<Vec<Timestamp>>,
}

impl Jobs for FakeJobs {
    fn tick(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<TickReport>> {
        Box::pin(async move {
            self.ticks.lock().unwrap().push(at);
            if self.fail.lock().unwrap().contains(&at) {
                anyhow::bail!("injected failure at {at}");
            }
            Ok(TickReport {
                at: Some(at),
                ..TickReport::default()
            })
        })
    }

    fn drill(&self, at: Timestamp) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.drills.lock().unwrap().push(at);
            Ok(())
        })
    }
}

fn t(day: u32, h: u32, m: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .unwrap()
}

fn scheduler(store: &Store, clock: &ManualClock, catch_up_max: u32) -> Scheduler {
    let schedules = ScheduleConfig::default().validate().unwrap();
    Scheduler::new(
        &schedules,
        catch_up_max,
        store,
        Arc::new(clock.clone()),
        SchedulerHeartbeat::default(),
    )
}

async fn missed_windows_are_caught_up_oldest_first_after_a_restart(store: Store) {
    let clock = ManualClock::new(t(26, 12, 7));
    let jobs = FakeJobs::default();
    let cancel = CancellationToken::new();
    let mut first = scheduler(&store, &clock, 8);
    let pass = first.serve_once(&store, &jobs, &cancel).await;
    assert!(pass.leader);
    assert_eq!(
        pass.ticked,
        vec![t(26, 12, 0)],
        "a fresh store runs the newest window only"
    );
    assert!(pass.next_wake <= t(26, 12, 15));

    // The daemon stops at 12:07 and is down until 13:20; a new process takes over.
    first.release().await;
    drop(first);
    clock.set(t(26, 13, 20));
    let mut second = scheduler(&store, &clock, 8);
    let pass = second.serve_once(&store, &jobs, &cancel).await;
    let expected = vec![
        t(26, 12, 15),
        t(26, 12, 30),
        t(26, 12, 45),
        t(26, 13, 0),
        t(26, 13, 15),
    ];
    assert_eq!(pass.ticked, expected);
    assert_eq!(pass.skipped, 0);
    assert_eq!(
        store.scheduler_last_run(TICKS_JOB).await.unwrap(),
        Some(t(26, 13, 15))
    );

    // Nothing new is due within the same window: no tick runs twice.
    clock.set(t(26, 13, 29));
    let pass = second.serve_once(&store, &jobs, &cancel).await;
    assert!(pass.ticked.is_empty());
    let all = jobs.ticks.lock().unwrap().clone();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(all, unique, "every window ran exactly once");
    assert_eq!(all.len(), 6);
}
contract_test!(
    catch_up_after_restart,
    missed_windows_are_caught_up_oldest_first_after_a_restart
);

async fn catch_up_is_bounded_to_the_newest_windows(store: Store) {
    let clock = ManualClock::new(t(26, 0, 0));
    store
        .scheduler_set_last_run(TICKS_JOB, t(25, 0, 0), t(25, 0, 0))
        .await
        .unwrap();
    let jobs = FakeJobs::default();
    let mut sched = scheduler(&store, &clock, 3);
    let pass = sched
        .serve_once(&store, &jobs, &CancellationToken::new())
        .await;
    assert_eq!(pass.ticked, vec![t(25, 23, 30), t(25, 23, 45), t(26, 0, 0)]);
    // 24 h of quarter hours = 96 windows; 3 ran, 93 were skipped.
    assert_eq!(pass.skipped, 93);
}
contract_test!(bounded_catch_up, catch_up_is_bounded_to_the_newest_windows);

async fn a_failing_tick_is_retried_then_given_up_and_later_windows_still_run(store: Store) {
    let clock = ManualClock::new(t(26, 12, 1));
    store
        .scheduler_set_last_run(TICKS_JOB, t(26, 11, 45), t(26, 11, 45))
        .await
        .unwrap();
    let jobs = FakeJobs::default();
    jobs.fail.lock().unwrap().push(t(26, 12, 0));
    let cancel = CancellationToken::new();
    let mut sched = scheduler(&store, &clock, 8);

    let pass = sched.serve_once(&store, &jobs, &cancel).await;
    assert_eq!(pass.failed, vec![t(26, 12, 0)]);
    assert!(pass.ticked.is_empty());
    assert!(
        pass.next_wake <= t(26, 12, 2),
        "a retry comes soon, not at the next window"
    );
    assert_eq!(
        store.scheduler_last_run(TICKS_JOB).await.unwrap(),
        Some(t(26, 11, 45))
    );

    // Keep failing until the scheduler gives up; the next window then runs.
    clock.set(t(26, 12, 16));
    let mut given_up = Vec::new();
    let mut ticked = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let pass = sched.serve_once(&store, &jobs, &cancel).await;
        given_up.extend(pass.given_up);
        ticked.extend(pass.ticked);
    }
    assert_eq!(given_up, vec![t(26, 12, 0)]);
    assert_eq!(ticked, vec![t(26, 12, 15)]);
    let attempts = jobs
        .ticks
        .lock()
        .unwrap()
        .iter()
        .filter(|at| **at == t(26, 12, 0))
        .count();
    assert_eq!(attempts, usize::try_from(MAX_ATTEMPTS).unwrap());
}
contract_test!(
    failing_tick,
    a_failing_tick_is_retried_then_given_up_and_later_windows_still_run
);

async fn drills_run_on_their_own_schedule_but_not_at_first_start(store: Store) {
    let clock = ManualClock::new(t(26, 12, 0));
    let jobs = FakeJobs::default();
    let cancel = CancellationToken::new();
    let mut sched = scheduler(&store, &clock, 8);
    sched.serve_once(&store, &jobs, &cancel).await;
    assert!(
        jobs.drills.lock().unwrap().is_empty(),
        "no drill at first start"
    );

    // Monthly at 03:00 on the 1st: the December drill runs once.
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 30).unwrap());
    let pass = sched.serve_once(&store, &jobs, &cancel).await;
    let december = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
    assert_eq!(pass.drilled, vec![december]);
    sched.serve_once(&store, &jobs, &cancel).await;
    assert_eq!(jobs.drills.lock().unwrap().clone(), vec![december]);
}
contract_test!(
    drills,
    drills_run_on_their_own_schedule_but_not_at_first_start
);

async fn a_cancelled_scheduler_starts_no_new_tick(store: Store) {
    let clock = ManualClock::new(t(26, 13, 20));
    store
        .scheduler_set_last_run(TICKS_JOB, t(26, 12, 0), t(26, 12, 0))
        .await
        .unwrap();
    let jobs = FakeJobs::default();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut sched = scheduler(&store, &clock, 8);
    let pass = sched.serve_once(&store, &jobs, &cancel).await;
    assert!(pass.ticked.is_empty());
    assert_eq!(
        store.scheduler_last_run(TICKS_JOB).await.unwrap(),
        Some(t(26, 12, 0))
    );
}
contract_test!(cancelled, a_cancelled_scheduler_starts_no_new_tick);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_one_replica_schedules_and_another_takes_over_when_it_dies() {
    let Some((url, store_a)) = common::pg_store().await else {
        return;
    };
    let store_b = Store::open(&url).await.unwrap();
    let clock = ManualClock::new(t(26, 12, 7));
    let jobs_a = FakeJobs::default();
    let jobs_b = FakeJobs::default();
    let cancel = CancellationToken::new();
    let mut a = scheduler(&store_a, &clock, 8);
    let mut b = scheduler(&store_b, &clock, 8);

    let pass_a = a.serve_once(&store_a, &jobs_a, &cancel).await;
    let pass_b = b.serve_once(&store_b, &jobs_b, &cancel).await;
    assert!(pass_a.leader);
    assert!(!pass_b.leader, "the second replica must not schedule");
    assert!(jobs_b.ticks.lock().unwrap().is_empty());
    let (holder, _) = store_a.scheduler_leader().await.unwrap().unwrap();
    assert_eq!(holder, a.holder());

    // The leader dies without letting go: its lock session ends with it, PostgreSQL releases the
    // lock, and the other replica takes over and continues from the stored last tick without
    // rerunning it.
    drop(a);
    store_a.close().await;
    clock.set(t(26, 12, 16));
    let mut pass_b = b.serve_once(&store_b, &jobs_b, &cancel).await;
    for _ in 0..100 {
        if pass_b.leader {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pass_b = b.serve_once(&store_b, &jobs_b, &cancel).await;
    }
    assert!(pass_b.leader, "the surviving replica never took the lock");
    assert_eq!(pass_b.ticked, vec![t(26, 12, 15)]);

    // A clean shutdown hands over at once.
    b.release().await;
    let mut c = scheduler(&store_b, &clock, 8);
    assert!(c.serve_once(&store_b, &jobs_b, &cancel).await.leader);
    assert_eq!(jobs_a.ticks.lock().unwrap().clone(), vec![t(26, 12, 0)]);
}
