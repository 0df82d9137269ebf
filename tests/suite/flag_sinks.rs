//! Flag sinks: the JSON file is replaced atomically (a concurrent reader never sees half a
//! file), generations grow per flag, every sink is read back after a write, and a sink that
//! cannot be written or does not show the value is retried and then reported as failed.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use evalgate::adapters::flags::{
    FileSink, FlagError, FlagSink, FlagSinks, FlagsFile, SinkFuture, SinkOutcome, TableSink,
};
use evalgate::domain::{SplitRecord, SplitWrite};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn split(basis_points: u32) -> SplitWrite {
    SplitWrite {
        basis_points,
        salt: "checkout".into(),
        always: vec!["internal-qa".into()],
        never: vec![],
        updated_at: at(),
        updated_by: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_sees_the_json_file_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    let sink = FileSink::new(path.clone());
    // Many large flags make each rewrite take several write(2) calls.
    let mut big = split(100);
    big.never = (0..300).map(|index| format!("tenant-{index:05}")).collect();
    for index in 0..30 {
        sink.write(&format!("flag-{index}"), &big).await.unwrap();
    }

    let done = Arc::new(AtomicBool::new(false));
    let reader_done = Arc::clone(&done);
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        let mut reads = 0u32;
        let mut failures = Vec::new();
        while !reader_done.load(Ordering::Relaxed) || reads < 50 {
            let bytes = std::fs::read(&reader_path).expect("the file always exists");
            match serde_json::from_slice::<FlagsFile>(&bytes) {
                Ok(file) => assert_eq!(file.flags.len(), 30),
                Err(err) => failures.push(format!("{} bytes: {err}", bytes.len())),
            }
            reads += 1;
        }
        (reads, failures)
    });

    for round in 0..80u32 {
        big.basis_points = round % 10_001;
        sink.write(&format!("flag-{}", round % 30), &big)
            .await
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (reads, failures) = reader.join().unwrap();
    assert!(reads >= 50, "the reader ran ({reads} reads)");
    assert!(
        failures.is_empty(),
        "{} of {reads} reads were half-written, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn the_file_sink_bumps_each_flags_generation_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::new(dir.path().join("flags.json"));
    assert_eq!(
        sink.read("a").await.unwrap(),
        None,
        "a missing file holds no flags"
    );
    assert_eq!(sink.write("a", &split(100)).await.unwrap().generation, 1);
    assert_eq!(sink.write("b", &split(5)).await.unwrap().generation, 1);
    assert_eq!(sink.write("a", &split(1000)).await.unwrap().generation, 2);

    let a = sink.read("a").await.unwrap().unwrap();
    assert_eq!(a.basis_points, 1000);
    assert_eq!(a.always, vec!["internal-qa".to_string()]);
    assert_eq!(sink.read("b").await.unwrap().unwrap().basis_points, 5);

    let text = std::fs::read_to_string(dir.path().join("flags.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["flags"]["a"]["basis_points"], 1000);
    assert_eq!(value["flags"]["a"]["generation"], 2);
    assert_eq!(value["flags"]["a"]["salt"], "checkout");
    assert_eq!(value["flags"]["a"]["never"], serde_json::json!([]));
    assert!(value["flags"]["a"]["updated_at"].is_string());
}

#[tokio::test]
async fn a_corrupt_flags_file_is_an_error_not_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(&path, "{\"flags\": {\"a\": ").unwrap();
    let sink = FileSink::new(path.clone());
    let err = sink.write("b", &split(1)).await.unwrap_err();
    assert_eq!(err.kind(), "bad_content");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"flags\": {\"a\": ",
        "the file is left for a human, not overwritten"
    );
}

#[tokio::test]
async fn every_sink_is_written_and_read_back() {
    let (_db, store) = common::sqlite_store().await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = FlagSinks::new(
        vec![
            Arc::new(TableSink::new(store.clone())),
            Arc::new(FileSink::new(dir.path().join("flags.json"))),
        ],
        2,
        Duration::from_millis(1),
    );
    let reports = sinks.write_verified("checkout", &split(1000)).await;
    assert_eq!(reports.len(), 2);
    assert!(
        reports.iter().all(|report| report.is_verified()),
        "{reports:?}"
    );
    assert_eq!(reports[0].sink, "table");
    assert_eq!(reports[1].sink, "file");
    assert_eq!(
        store
            .get_split("checkout")
            .await
            .unwrap()
            .unwrap()
            .basis_points,
        1000
    );
}

#[tokio::test]
async fn a_sink_that_cannot_be_written_is_retried_then_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let unwritable = FileSink::new(dir.path().join("no-such-dir").join("flags.json"));
    let sinks = FlagSinks::new(vec![Arc::new(unwritable)], 2, Duration::from_millis(1));
    let reports = sinks.write_verified("checkout", &split(0)).await;
    match &reports[0].outcome {
        SinkOutcome::Failed { kind, attempts, .. } => {
            assert_eq!(kind, "io");
            assert_eq!(*attempts, 3, "one try and two retries");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A sink that fails its first `failures` writes, then works (in memory).
struct FlakySink {
    failures: u32,
    calls: AtomicU32,
    held: std::sync::Mutex<Option<SplitRecord>>,
    /// When set, reads return this basis-point value instead of what was written.
    lie_basis_points: Option<u32>,
}

impl FlakySink {
    fn new(failures: u32, lie_basis_points: Option<u32>) -> FlakySink {
        FlakySink {
            failures,
            calls: AtomicU32::new(0),
            held: std::sync::Mutex::new(None),
            lie_basis_points,
        }
    }
}

impl FlagSink for FlakySink {
    fn name(&self) -> &str {
        "flaky"
    }

    fn write<'a>(&'a self, flag: &'a str, split: &'a SplitWrite) -> SinkFuture<'a, SplitRecord> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.failures {
                return Err(FlagError::Task("flaky".into()));
            }
            let record = SplitRecord {
                flag_key: flag.to_string(),
                basis_points: split.basis_points,
                generation: u64::from(call) + 1,
                salt: split.salt.clone(),
                always: split.always.clone(),
                never: split.never.clone(),
                updated_at: split.updated_at,
                updated_by: split.updated_by.clone(),
            };
            *self.held.lock().unwrap() = Some(record.clone());
            Ok(record)
        })
    }

    fn read<'a>(&'a self, _flag: &'a str) -> SinkFuture<'a, Option<SplitRecord>> {
        Box::pin(async move {
            let mut held = self.held.lock().unwrap().clone();
            if let (Some(record), Some(lie)) = (held.as_mut(), self.lie_basis_points) {
                record.basis_points = lie;
            }
            Ok(held)
        })
    }
}

#[tokio::test]
async fn a_flaky_sink_succeeds_on_a_retry() {
    let sinks = FlagSinks::new(
        vec![Arc::new(FlakySink::new(2, None))],
        3,
        Duration::from_millis(1),
    );
    let reports = sinks.write_verified("checkout", &split(500)).await;
    match &reports[0].outcome {
        SinkOutcome::Verified {
            attempts, record, ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(record.basis_points, 500);
        }
        other => panic!("expected verified, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sink_that_reads_back_another_value_is_not_believed() {
    let sinks = FlagSinks::new(
        vec![Arc::new(FlakySink::new(0, Some(1000)))],
        1,
        Duration::from_millis(1),
    );
    let reports = sinks.write_verified("checkout", &split(0)).await;
    match &reports[0].outcome {
        SinkOutcome::Failed { kind, error, .. } => {
            assert_eq!(kind, "not_visible");
            assert!(error.contains("1000 bp"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}
