//! The controller's I/O half on a real store and real sinks: effects applied in order (sinks
//! verified, then state and audit rows, then notifications), a sink that refuses a raised split
//! holds the rollout, a refused rollback is alerted and retried, drifted sinks are rewritten, a
//! stale writer cannot apply a transition, and rollback drills detect unwritable and drifted
//! sinks.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use crate::common;
use evalgate::domain::rollout::PhaseName;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use evalgate::adapters::flags::{FileSink, FlagError, FlagSink, FlagSinks, SinkFuture, TableSink};
use evalgate::adapters::notify::Notifier;
use evalgate::adapters::store::{NewRollout, Store};
use evalgate::commands::rollout_status::{render, rollout_status};
use evalgate::config::NotifyConfig;
use evalgate::domain::rollout::{Command, Input, Plan, RolloutState, TransitionKind};
use evalgate::domain::{Evidence, MetricVerdict, SplitRecord, SplitWrite, Verdict};
use evalgate::logic::rollout::step;
use evalgate::worker::controller::{LoadedRollout, apply_transition, control_with};
use evalgate::worker::drill::drill_with;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn t(hours: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::hours(hours)
}

struct Rig {
    _db: tempfile::TempDir,
    dir: tempfile::TempDir,
    store: Store,
    sinks: FlagSinks,
    notifier: Notifier,
    hook: MockServer,
}

impl Rig {
    async fn new() -> Rig {
        let (db, store) = common::sqlite_store().await;
        let dir = tempfile::tempdir().unwrap();
        let flags_dir = dir.path().join("flags");
        std::fs::create_dir(&flags_dir).unwrap();
        let sinks = sinks_for(&store, &flags_dir.join("flags.json"));
        let hook = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&hook)
            .await;
        let notifier = Notifier::from_config(&NotifyConfig {
            webhook: Some(hook.uri()),
            retries: 0,
            ..NotifyConfig::default()
        })
        .unwrap();
        Rig {
            _db: db,
            dir,
            store,
            sinks,
            notifier,
            hook,
        }
    }

    fn flags_file(&self) -> std::path::PathBuf {
        self.dir.path().join("flags").join("flags.json")
    }

    async fn create(&self, id: &str) {
        let state = RolloutState::new(id, id, "team-support", t(0));
        let rollout = NewRollout {
            id: id.to_string(),
            flag_key: id.to_string(),
            owner: Some("team-support".into()),
            webhook: None,
            suite: None,
            baseline_target: "bot@v41".into(),
            canary_target: "bot@v42".into(),
            salt: id.to_string(),
            always_tenants: vec!["internal".into()],
            never_tenants: vec![],
            plan: serde_json::to_value(Plan::seed_default()).unwrap(),
            state: serde_json::to_value(&state).unwrap(),
            phase: PhaseName::Pending,
            created_at: t(0),
        };
        assert!(self.store.create_rollout(&rollout).await.unwrap());
    }

    async fn command(&self, id: &str, command: Command, at: DateTime<Utc>) -> TransitionKind {
        let input = Input::commands(vec![command]);
        control_with(&self.store, &self.sinks, &self.notifier, id, input, at)
            .await
            .unwrap()
            .kind
    }

    async fn notifications(&self) -> Vec<Value> {
        self.hook
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|request| serde_json::from_slice(&request.body).unwrap())
            .collect()
    }

    async fn actions(&self, id: &str) -> Vec<String> {
        self.store
            .list_rollout_events(id)
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.action)
            .collect()
    }
}

/// A file sink whose writes can be made to fail while its reads still work.
struct Breakable {
    inner: FileSink,
    broken: Arc<AtomicBool>,
}

impl FlagSink for Breakable {
    fn name(&self) -> &str {
        "file"
    }

    fn write<'a>(&'a self, flag: &'a str, split: &'a SplitWrite) -> SinkFuture<'a, SplitRecord> {
        Box::pin(async move {
            if self.broken.load(Ordering::SeqCst) {
                return Err(FlagError::Task("disk full".into()));
            }
            self.inner.write(flag, split).await
        })
    }

    fn read<'a>(&'a self, flag: &'a str) -> SinkFuture<'a, Option<SplitRecord>> {
        self.inner.read(flag)
    }
}

/// The rig's sinks with the file sink's writes switchable off.
fn breakable_sinks(rig: &Rig) -> (FlagSinks, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(false));
    let file = Breakable {
        inner: FileSink::new(rig.flags_file()),
        broken: Arc::clone(&broken),
    };
    let sinks = FlagSinks::new(
        vec![Arc::new(TableSink::new(rig.store.clone())), Arc::new(file)],
        1,
        Duration::from_millis(1),
    );
    (sinks, broken)
}

fn sinks_for(store: &Store, file: &Path) -> FlagSinks {
    FlagSinks::new(
        vec![
            Arc::new(TableSink::new(store.clone())),
            Arc::new(FileSink::new(file.to_path_buf())),
        ],
        1,
        Duration::from_millis(1),
    )
}

fn start() -> Command {
    Command::Start {
        actor: "alice".into(),
    }
}

fn green() -> Input {
    Input::verdicts(vec![MetricVerdict {
        metric: "pass_rate".into(),
        promotion_authority: true,
        verdict: Verdict::PromoteReady {
            reason: "canary not worse".into(),
        },
        evidence: Evidence::default(),
    }])
}

async fn held_bp(sink: &dyn FlagSink, flag: &str) -> Option<u32> {
    sink.read(flag)
        .await
        .unwrap()
        .map(|record| record.basis_points)
}

#[tokio::test]
async fn start_writes_every_sink_then_audits_then_notifies() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    assert_eq!(
        rig.command("bot", start(), t(0)).await,
        TransitionKind::Started
    );

    let table = rig.store.get_split("bot").await.unwrap().unwrap();
    assert_eq!(table.basis_points, 100);
    assert_eq!(table.salt, "bot");
    assert_eq!(table.always, vec!["internal".to_string()]);
    assert_eq!(table.updated_by, "alice");
    let file = FileSink::new(rig.flags_file());
    assert_eq!(held_bp(&file, "bot").await, Some(100));

    let row = rig.store.get_rollout("bot").await.unwrap().unwrap();
    assert_eq!(row.phase, PhaseName::Running);
    assert_eq!(row.version, 1);
    assert!(row.wake_at.is_some());
    let events = rig.store.list_rollout_events("bot").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "alice");
    assert_eq!(events[0].action, "start");
    assert_eq!(events[0].before["split_bp"], 0);
    assert_eq!(events[0].after["split_bp"], 100);

    let sent = rig.notifications().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["rollout"]["id"], "bot");
    assert_eq!(sent[0]["transition"]["event"], "started");
}

#[tokio::test]
async fn a_sink_that_refuses_a_raise_holds_the_rollout_at_the_old_split() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    let (sinks, broken) = breakable_sinks(&rig);
    let input = Input::commands(vec![start()]);
    control_with(&rig.store, &sinks, &rig.notifier, "bot", input, t(0))
        .await
        .unwrap();
    broken.store(true, Ordering::SeqCst);

    // 5h into the 4h minimum with green gates: step promotes to 10%, the file refuses it.
    let report = control_with(&rig.store, &sinks, &rig.notifier, "bot", green(), t(5))
        .await
        .unwrap();
    assert!(report.held_for_sink_failure, "{report:?}");
    assert_eq!(report.kind, TransitionKind::Held);
    assert_eq!(report.after.split_bp, 100, "held at the old split");
    assert_eq!(
        rig.store
            .get_split("bot")
            .await
            .unwrap()
            .unwrap()
            .basis_points,
        100,
        "the table took 10% and was put back"
    );
    let file = FileSink::new(rig.flags_file());
    assert_eq!(held_bp(&file, "bot").await, Some(100));
    let row = rig.store.get_rollout("bot").await.unwrap().unwrap();
    assert_eq!(row.phase, PhaseName::Held);
    assert_eq!(
        rig.actions("bot").await,
        vec!["start", "sink_failure", "halt"]
    );
    let alerts: Vec<Value> = rig
        .notifications()
        .await
        .into_iter()
        .filter(|body| body["transition"]["event"] == "sink_failure")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["severity"], "critical");
}

#[tokio::test]
async fn a_live_rollout_whose_sink_lost_its_split_and_cannot_be_rewritten_holds() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    // The file sink's directory disappears: the gateway reading it sees no flag at all.
    std::fs::remove_dir_all(rig.dir.path().join("flags")).unwrap();

    let report = control_with(&rig.store, &rig.sinks, &rig.notifier, "bot", green(), t(5))
        .await
        .unwrap();
    assert_eq!(report.kind, TransitionKind::Held, "{report:?}");
    assert_eq!(
        report.after.split_bp, 100,
        "no promotion while a sink is blind"
    );
    assert!(!report.sinks_ok());
    assert_eq!(
        rig.actions("bot").await,
        vec!["start", "sink_failure", "halt"]
    );
}

#[tokio::test]
async fn a_refused_rollback_still_ends_the_rollout_and_is_rewritten_next_time() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    let (sinks, broken) = breakable_sinks(&rig);
    let input = Input::commands(vec![start()]);
    control_with(&rig.store, &sinks, &rig.notifier, "bot", input, t(0))
        .await
        .unwrap();
    broken.store(true, Ordering::SeqCst);

    let rollback = Input::commands(vec![Command::Rollback {
        actor: "bob".into(),
        reason: "bad answers".into(),
    }]);
    let report = control_with(&rig.store, &sinks, &rig.notifier, "bot", rollback, t(1))
        .await
        .unwrap();
    assert_eq!(report.kind, TransitionKind::RolledBack);
    assert!(!report.sinks_ok());
    assert_eq!(
        rig.store
            .get_split("bot")
            .await
            .unwrap()
            .unwrap()
            .basis_points,
        0
    );
    let file = FileSink::new(rig.flags_file());
    assert_eq!(
        held_bp(&file, "bot").await,
        Some(100),
        "the file still routes 1%"
    );
    assert_eq!(
        rig.actions("bot").await,
        vec!["start", "rollback", "sink_failure"]
    );
    let critical = rig
        .notifications()
        .await
        .into_iter()
        .filter(|body| body["transition"]["event"] == "sink_failure")
        .count();
    assert_eq!(critical, 1);
    let row = rig.store.get_rollout("bot").await.unwrap().unwrap();
    assert_eq!(row.phase, PhaseName::RolledBack);
    assert!(
        row.active,
        "not over while a sink still routes canary traffic"
    );
    let drill = drill_with(&rig.store, &rig.sinks, "evalgate-drill", t(1))
        .await
        .unwrap();
    assert!(!drill.ok);
    assert_eq!(drill.drift.len(), 1, "{:?}", drill.drift);
    assert_eq!(drill.drift[0].sink_basis_points, Some(100));
    assert_eq!(drill.drift[0].controller_basis_points, 0);

    // The sink recovers; the next decision (a kill re-asserting 0%) rewrites it.
    broken.store(false, Ordering::SeqCst);
    let kill = Input::commands(vec![Command::Kill {
        actor: "bob".into(),
        reason: "make sure".into(),
    }]);
    control_with(&rig.store, &sinks, &rig.notifier, "bot", kill, t(2))
        .await
        .unwrap();
    assert_eq!(held_bp(&file, "bot").await, Some(0));
    assert!(
        rig.actions("bot")
            .await
            .contains(&"split_reconciled".to_string())
    );
    let row = rig.store.get_rollout("bot").await.unwrap().unwrap();
    assert!(!row.active, "over once every sink shows 0%");
}

#[tokio::test]
async fn a_sink_edited_behind_the_controllers_back_is_rewritten_on_the_next_decision() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    let file = FileSink::new(rig.flags_file());
    let mut edited = rig
        .store
        .get_split("bot")
        .await
        .unwrap()
        .unwrap()
        .to_write(t(1), "ops");
    edited.basis_points = 5_000;
    file.write("bot", &edited).await.unwrap();

    let report = control_with(&rig.store, &rig.sinks, &rig.notifier, "bot", green(), t(1))
        .await
        .unwrap();
    assert_eq!(report.kind, TransitionKind::Stay, "1h of a 4h minimum");
    assert_eq!(held_bp(&file, "bot").await, Some(100));
    assert!(
        rig.actions("bot")
            .await
            .contains(&"split_reconciled".to_string())
    );
}

#[tokio::test]
async fn a_stale_writer_cannot_apply_a_transition() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    let stale = LoadedRollout::load(&rig.store, "bot").await.unwrap();
    let halt = Input::commands(vec![Command::Halt {
        actor: "a".into(),
        reason: "first".into(),
    }]);
    let transition = step(&stale.state, &stale.plan, &halt, t(1));
    apply_transition(
        &rig.store,
        &rig.sinks,
        &rig.notifier,
        &stale,
        &transition,
        t(1),
    )
    .await
    .unwrap();
    let again = apply_transition(
        &rig.store,
        &rig.sinks,
        &rig.notifier,
        &stale,
        &transition,
        t(1),
    )
    .await;
    assert!(again.is_err(), "the second writer read version 1 too");
    let halts = rig
        .actions("bot")
        .await
        .into_iter()
        .filter(|action| action == "halt")
        .count();
    assert_eq!(halts, 1);
}

#[tokio::test]
async fn a_rejected_command_is_audited_and_changes_nothing() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    let approve = Command::Approve {
        actor: "carol".into(),
        reason: None,
    };
    assert_eq!(
        rig.command("bot", approve, t(1)).await,
        TransitionKind::Rejected
    );
    assert_eq!(rig.actions("bot").await, vec!["start", "approve_rejected"]);
    let row = rig.store.get_rollout("bot").await.unwrap().unwrap();
    assert_eq!(row.phase, PhaseName::Running);
}

#[tokio::test]
async fn a_drill_rolls_back_and_restores_every_sink() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    let report = drill_with(&rig.store, &rig.sinks, "evalgate-drill", t(1))
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.sinks.len(), 2);
    assert!(
        report
            .sinks
            .iter()
            .all(|sink| sink.rolled_back && sink.restored)
    );
    assert!(report.time_to_visible_ms.is_some());
    assert!(report.drift.is_empty());
    let drills = rig.store.list_drills(5).await.unwrap();
    assert_eq!(drills.len(), 1);
    assert!(drills[0].ok);
    // The rollout's own flag is untouched.
    assert_eq!(
        rig.store
            .get_split("bot")
            .await
            .unwrap()
            .unwrap()
            .basis_points,
        100
    );
}

#[tokio::test]
async fn a_drill_restores_a_drill_flag_that_was_live() {
    let rig = Rig::new().await;
    let live = rig
        .store
        .get_split("evalgate-drill")
        .await
        .unwrap()
        .is_none();
    assert!(live);
    let mut armed = evalgate::domain::SplitWrite {
        basis_points: 2_500,
        salt: "s".into(),
        always: vec![],
        never: vec!["t".into()],
        updated_at: t(0),
        updated_by: "ops".into(),
    };
    rig.sinks.write_verified("evalgate-drill", &armed).await;
    let report = drill_with(&rig.store, &rig.sinks, "evalgate-drill", t(1))
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.sinks[0].previous_basis_points, Some(2_500));
    armed.updated_at = t(1);
    for sink in rig.sinks.sinks() {
        let record = sink.read("evalgate-drill").await.unwrap().unwrap();
        assert!(
            record.routes_like(&armed),
            "{} restored: {record:?}",
            sink.name()
        );
    }
}

#[tokio::test]
async fn a_drill_detects_a_sink_it_cannot_write() {
    let rig = Rig::new().await;
    let broken = FlagSinks::new(
        vec![
            Arc::new(TableSink::new(rig.store.clone())),
            Arc::new(FileSink::new(
                rig.dir.path().join("missing").join("flags.json"),
            )),
        ],
        1,
        Duration::from_millis(1),
    );
    let report = drill_with(&rig.store, &broken, "evalgate-drill", t(1))
        .await
        .unwrap();
    assert!(!report.ok);
    assert!(report.sinks[0].rolled_back);
    assert!(!report.sinks[1].rolled_back);
    assert!(
        report.sinks[1]
            .error
            .as_deref()
            .unwrap()
            .contains("missing")
    );
    assert_eq!(report.time_to_visible_ms, None);
    assert!(!rig.store.list_drills(1).await.unwrap()[0].ok);
}

#[tokio::test]
async fn a_drill_reports_a_sink_whose_content_drifted() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    let file = FileSink::new(rig.flags_file());
    let mut edited = rig
        .store
        .get_split("bot")
        .await
        .unwrap()
        .unwrap()
        .to_write(t(1), "ops");
    edited.basis_points = 10_000;
    file.write("bot", &edited).await.unwrap();

    let report = drill_with(&rig.store, &rig.sinks, "evalgate-drill", t(1))
        .await
        .unwrap();
    assert!(!report.ok);
    assert_eq!(report.drift.len(), 1, "{:?}", report.drift);
    let drift = &report.drift[0];
    assert_eq!(drift.rollout_id, "bot");
    assert_eq!(drift.sink, "file");
    assert_eq!(drift.controller_basis_points, 100);
    assert_eq!(drift.sink_basis_points, Some(10_000));
    assert!(
        report.sinks.iter().all(|sink| sink.rolled_back),
        "the drill itself passed"
    );
}

#[tokio::test]
async fn status_shows_the_latest_verdicts_even_after_a_manual_command() {
    let rig = Rig::new().await;
    rig.create("bot").await;
    rig.command("bot", start(), t(0)).await;
    control_with(&rig.store, &rig.sinks, &rig.notifier, "bot", green(), t(1))
        .await
        .unwrap();
    let halt = Command::Halt {
        actor: "alice".into(),
        reason: "look".into(),
    };
    rig.command("bot", halt, t(2)).await;

    let rollout = LoadedRollout::load(&rig.store, "bot").await.unwrap();
    let status = rollout_status(&rig.store, &rig.sinks, &rollout, t(3))
        .await
        .unwrap();
    assert_eq!(status.summary.phase, PhaseName::Held);
    assert_eq!(status.gates.len(), 1);
    assert_eq!(status.gates[0].metric, "pass_rate");
    assert_eq!(status.gates[0].verdict, "promote_ready");
    assert!(status.sinks.iter().all(|sink| sink.in_sync));
    assert!(status.hint.as_deref().unwrap().contains("resume"));
    let text = render(&status);
    assert!(text.contains("pass_rate"), "{text}");
    assert!(text.contains("promote_ready"), "{text}");
}
