//! `evalgate rescore` killed (SIGKILL) in the middle of its judge calls, then run again: no call
//! the judge already answered is paid for a second time (issue 13). Each judgment is kept in the
//! judge cache as soon as its reply arrives, before its score is written; only the calls still
//! waiting for a reply when the process died are asked again.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::fake_judge::{FakeJudge, FakeReply};

const FROM: &str = "2026-11-01T00:00:00Z";
const TO: &str = "2026-11-01T00:30:00Z";
/// Calls answered at once before the judge starts hanging.
const ANSWERED: usize = 12;
const CONCURRENCY: usize = 3;

const SUITE: &str = "name: judged\nassert:\n  - type: llm-rubric\n    judge: default\n    \
                     metric: polite\n    value: Is the answer polite?\n";

fn evalgate(dir: &Path, args: &[&str]) -> Command {
    let mut command = crate::common::evalgate();
    command
        .current_dir(dir)
        .env("EVALGATE_LOG", "warn")
        .env("OPENAI_API_KEY", "test-key")
        .args([
            "--config",
            "evalgate.toml",
            "--store",
            "sqlite://rescore.db",
        ])
        .args(args);
    command
}

fn user_messages(fake: &FakeJudge, range: std::ops::Range<usize>) -> BTreeSet<String> {
    fake.calls()[range]
        .iter()
        .map(common::fake_judge::FakeCall::user_message)
        .collect()
}

// See: issue 13.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rescore_does_not_pay_again_for_answered_judge_calls() {
    let hang = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    let behaviour = {
        let (hang, answered) = (hang.clone(), answered.clone());
        Arc::new(move |index: usize, _: &serde_json::Value| {
            if index >= ANSWERED && hang.load(Ordering::SeqCst) {
                return FakeReply::verdict(true, 0.9).delayed(Duration::from_secs(120));
            }
            answered.fetch_add(1, Ordering::SeqCst);
            FakeReply::verdict(index.is_multiple_of(2), 0.5)
        })
    };
    let fake = FakeJudge::start(behaviour).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("evals")).unwrap();
    std::fs::write(dir.path().join("evals/judged.yaml"), SUITE).unwrap();
    let config = format!(
        "[evals]\ndir = \"evals\"\ndefault_suite = \"judged\"\n\n[judges.default]\nbase_url = \
         \"{}\"\nmodel = \"judge-test\"\nmax_concurrency = {CONCURRENCY}\ntimeout = \"300s\"\n",
        fake.base_url
    );
    std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
    let synth = evalgate(
        dir.path(),
        &[
            "synth",
            "--seed",
            "3",
            "--duration",
            "30m",
            "--rpm",
            "4",
            "--start",
            FROM,
            "--into-store",
        ],
    )
    .output()
    .unwrap();
    assert!(synth.status.success(), "{synth:?}");

    let rescore = ["rescore", "--from", FROM, "--to", TO, "--suite", "judged"];
    let mut child = evalgate(dir.path(), &rescore)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the answered calls are done and the next ones hang, then give the process a
    // moment to take the replies in before it is killed.
    let mut waited = Duration::ZERO;
    while fake.call_count() < ANSWERED + CONCURRENCY {
        assert!(
            waited < Duration::from_secs(120),
            "rescore never reached the judge"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let first_run = fake.call_count();
    let paid = user_messages(&fake, 0..ANSWERED);
    assert_eq!(answered.load(Ordering::SeqCst), ANSWERED);

    hang.store(false, Ordering::SeqCst);
    let again = evalgate(dir.path(), &rescore).output().unwrap();
    assert!(again.status.success(), "{again:?}");
    let asked_again = user_messages(&fake, first_run..fake.call_count());
    assert!(!asked_again.is_empty(), "the rerun had work left to do");
    let repaid: Vec<&String> = paid.intersection(&asked_again).collect();
    assert!(
        repaid.is_empty(),
        "{} of {ANSWERED} answered judgments were paid for again",
        repaid.len()
    );
}
