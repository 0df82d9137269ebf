//! A closed stdout or stderr (`evalgate … | head -1`) is not an error for a command that did its
//! work: no panic, no exit 101, and the work is done (issue 13). Each case hands the binary a pipe
//! whose reading end is already closed, so every write fails with EPIPE. Also: who is recorded as
//! the actor when neither `--actor` nor `$USER` says.
#![allow(clippy::unwrap_used)]

use evalgate::domain::rollout::PhaseName;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use evalgate::adapters::store::Store;

struct Rig {
    dir: tempfile::TempDir,
    store_url: String,
}

/// Which standard streams get a pipe nobody reads.
#[derive(Clone, Copy)]
enum Closed {
    Stdout,
    Stderr,
    Both,
}

fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let flags = dir.path().join("flags.json");
        let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
        let config = format!(
            "[evals]\ndir = \"{}\"\n\n[flags]\nsinks = [\"table\", \"file\"]\nfile = \"{}\"\nretry_backoff_ms = 1\n",
            evals.display(),
            flags.display()
        );
        std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
        let store_url = format!("sqlite://{}", dir.path().join("evalgate.db").display());
        Rig { dir, store_url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = crate::common::evalgate();
        command
            .current_dir(self.dir.path())
            .env("EVALGATE_LOG", "info")
            .env("USER", "tester")
            .arg("--store")
            .arg(&self.store_url)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_closed(&self, args: &[&str], closed: Closed) -> Output {
        let mut command = self.command(args);
        match closed {
            Closed::Stdout => command.stdout(closed_pipe()).stderr(Stdio::piped()),
            Closed::Stderr => command.stdout(Stdio::piped()).stderr(closed_pipe()),
            Closed::Both => command.stdout(closed_pipe()).stderr(closed_pipe()),
        };
        command.output().unwrap()
    }

    fn start_args(id: &str) -> Vec<&str> {
        vec![
            "rollout",
            "start",
            "--id",
            id,
            "--flag",
            id,
            "--baseline",
            "bot@v41",
            "--canary",
            "bot@v42",
            "--owner",
            "team-support",
            "--suite",
            "support",
        ]
    }

    async fn store(&self) -> Store {
        Store::open(&self.store_url).await.unwrap()
    }
}

fn assert_no_panic(output: &Output, what: &str) {
    assert_ne!(
        output.status.code(),
        Some(101),
        "{what} panicked: {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_start_into_a_closed_pipe_creates_the_rollout_and_exits_zero() {
    let rig = Rig::new();
    let output = rig.run_closed(&Rig::start_args("bot"), Closed::Both);
    assert_no_panic(&output, "rollout start | head -1");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let row = rig.store().await.get_rollout("bot").await.unwrap();
    assert_eq!(row.map(|row| row.phase), Some(PhaseName::Running));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_into_a_closed_stdout_or_stderr_exits_zero() {
    let rig = Rig::new();
    let started = rig.run(&Rig::start_args("bot"));
    assert!(started.status.success(), "{started:?}");
    for closed in [Closed::Stdout, Closed::Stderr, Closed::Both] {
        for args in [
            &["rollout", "status", "--json"][..],
            &["rollout", "status", "bot"][..],
        ] {
            let output = rig.run_closed(args, closed);
            assert_no_panic(&output, &format!("{args:?}"));
            assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_with_a_closed_stderr_still_loads_every_good_line() {
    let rig = Rig::new();
    let mut text = String::new();
    for index in 0..30 {
        text.push_str(&format!(
            r#"{{"request_id":"r{index}","ts":"2026-11-26T06:00:00Z","tenant_id":"t","model":"m","arm":"canary","input":"q","output":"a"}}"#
        ));
        text.push('\n');
        text.push_str("not json\n");
    }
    std::fs::write(rig.dir.path().join("logs.jsonl"), text).unwrap();
    let output = rig.run_closed(&["ingest", "logs.jsonl"], Closed::Both);
    assert_no_panic(&output, "ingest 2>&1 | head -1");
    assert_eq!(
        output.status.code(),
        Some(1),
        "rejects make it 1: {output:?}"
    );
    assert_eq!(rig.store().await.count_requests().await.unwrap(), 30);
    let rejects = std::fs::read_to_string(rig.dir.path().join("logs.rejects.jsonl")).unwrap();
    assert_eq!(rejects.lines().count(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_is_never_unknown_and_rollout_start_takes_actor() {
    let rig = Rig::new();
    let output = rig
        .command(&[&Rig::start_args("a")[..], &["--actor", "carol"]].concat())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let output = rig
        .command(&Rig::start_args("b"))
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let halted = rig
        .command(&["rollout", "halt", "b", "--reason", "look"])
        .env_remove("USER")
        .env("LOGNAME", "dave")
        .output()
        .unwrap();
    assert!(halted.status.success(), "{halted:?}");
    let store = rig.store().await;
    let started_a = store.list_rollout_events("a").await.unwrap();
    assert!(
        started_a.iter().any(|e| e.actor == "carol"),
        "{started_a:?}"
    );
    let events_b = store.list_rollout_events("b").await.unwrap();
    assert!(events_b.iter().any(|e| e.actor == "cli"), "{events_b:?}");
    assert!(events_b.iter().any(|e| e.actor == "dave"), "{events_b:?}");
    assert!(
        events_b.iter().all(|e| e.actor != "unknown"),
        "{events_b:?}"
    );
}

// See: issue 13 (`evals check` and `evals run` still printed with println!: exit 101 into a
// closed pipe; and `evals run | head` must still exit with the gate's code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evals_check_and_run_into_a_closed_pipe_keep_their_exit_codes() {
    let rig = Rig::new();
    for closed in [Closed::Stdout, Closed::Stderr, Closed::Both] {
        let output = rig.run_closed(&["evals", "check"], closed);
        assert_no_panic(&output, "evals check | head -c 1");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }

    let mut text = String::new();
    for index in 0..40 {
        text.push_str(&format!(
            r#"{{"request_id":"r{index}","ts":"2026-11-26T06:00:00Z","tenant_id":"t","model":"m","arm":"canary","input":"where is my order?","output":"not an answer in json","reference":"A-1"}}"#
        ));
        text.push('\n');
        text.push_str("not json\n");
    }
    std::fs::write(rig.dir.path().join("rows.jsonl"), text).unwrap();
    let run = [
        "evals",
        "run",
        "--suite",
        "support",
        "--input",
        "rows.jsonl",
        "--fail-under",
        "0.9",
    ];
    for closed in [Closed::Stdout, Closed::Stderr, Closed::Both] {
        let output = rig.run_closed(&run, closed);
        assert_no_panic(&output, "evals run | head -c 1");
        assert_eq!(
            output.status.code(),
            Some(3),
            "every row fails: the --fail-under exit code, pipe or not: {output:?}"
        );
    }
}
