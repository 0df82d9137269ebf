//! `evalgate ingest` and `evalgate sample` driven through the real binary: every bad-input case
//! is rejected with its line number and reason while the good lines load, re-ingesting adds
//! nothing, stdin works, and sampling the same store twice prints the same sample.

use crate::common;

use std::path::Path;
use std::process::Output;

use evalgate::adapters::store::Store;

fn evalgate(dir: &Path, store_url: &str, args: &[&str], stdin_opt: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut command = crate::common::evalgate();
    command
        .current_dir(dir)
        .env("EVALGATE_LOG", "warn")
        .arg("--store")
        .arg(store_url)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn evalgate");
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin_opt {
        stdin.write_all(bytes).expect("write stdin");
    }
    drop(stdin);
    child.wait_with_output().expect("evalgate output")
}

fn good(id: &str, minute: u32, arm: &str, tenant: &str) -> String {
    format!(
        r#"{{"request_id":"{id}","ts":"2026-11-26T06:{minute:02}:00Z","tenant_id":"{tenant}","model":"bot@v1","arm":"{arm}","rollout_id":"r1","input":[{{"role":"user","content":"q {id}"}}],"output":"answer for {id}","latency_ms":100,"cost_usd":0.001}}"#
    )
}

/// A file with good lines, a feedback row, a blank line and every kind of bad line; returns the
/// bytes and the (line number, reject kind) pairs expected.
fn mixed_input() -> (Vec<u8>, Vec<(u64, &'static str)>) {
    let mut lines: Vec<Vec<u8>> = vec![
        good("g1", 1, "baseline", "t1").into_bytes(),
        b"this is not json".to_vec(),
        good("g2", 2, "canary", "t2").into_bytes(),
        good("g3", 3, "baseline", "t3").replace("100", "\"slow\"").into_bytes(),
        good("g4", 4, "baseline", "t4")
            .replace(r#""request_id":"g4","#, "")
            .into_bytes(),
        good("g5", 5, "baseline", "t5")
            .replace("2026-11-26T06:05:00Z", "26/11/2026 06:05")
            .into_bytes(),
        b"{\"request_id\":\"g6\",\"ts\":\"2026-11-26T06:06:00Z\",\"tenant_id\":\"\xff\xfe\"}".to_vec(),
        good("g7", 7, "baseline", "t7")
            .replace("answer for g7", &"y".repeat(600))
            .into_bytes(),
        good("g8", 8, "purple", "t8").into_bytes(),
        good("g9", 9, "baseline", "t9")
            .replace(r#""latency_ms""#, r#""status":"done","latency_ms""#)
            .into_bytes(),
        Vec::new(),
        br#"{"type":"feedback","request_id":"g1","kind":"thumbs","value":-1,"at":"2026-11-26T06:20:00Z"}"#.to_vec(),
        b"[\"an\", \"array\"]".to_vec(),
        good("g10", 10, "canary", "t10").into_bytes(),
        format!(r#"{{"pad":"{}"}}"#, "z".repeat(5000)).into_bytes(),
    ];
    let expected = vec![
        (2, "not_json"),
        (4, "wrong_type"),
        (5, "missing_field"),
        (6, "bad_timestamp"),
        (7, "invalid_utf8"),
        (8, "field_too_large"),
        (9, "bad_arm"),
        (10, "bad_status"),
        (13, "not_an_object"),
        (15, "line_too_long"),
    ];
    let mut bytes = Vec::new();
    for line in lines.drain(..) {
        bytes.extend_from_slice(&line);
        bytes.push(b'\n');
    }
    (bytes, expected)
}

fn summary_of(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "summary is not json ({err}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

async fn open(url: &str) -> Store {
    Store::open(url).await.expect("open store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_rejected_with_line_and_reason_and_good_lines_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let (bytes, expected) = mixed_input();
    let input = dir.path().join("logs.jsonl");
    std::fs::write(&input, &bytes).unwrap();
    let config = "[ingest]\nmax_line_bytes = 2000\nmax_field_bytes = 1000\n";
    std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
    let output = evalgate(
        dir.path(),
        &url,
        &["ingest", "logs.jsonl", "--json", "--max-field-bytes", "500"],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let summary = summary_of(&output);
    assert_eq!(summary["read"], 14);
    assert_eq!(summary["blank"], 1);
    assert_eq!(summary["rejected"], 10);
    assert_eq!(summary["inserted"], 4);
    assert_eq!(summary["requests"]["inserted"], 3);
    assert_eq!(summary["feedback"]["inserted"], 1);
    assert_eq!(summary["duplicates"], 0);

    let stderr = String::from_utf8_lossy(&output.stderr);
    for (line, kind) in &expected {
        assert!(
            stderr.contains(&format!("line {line}: rejected ({kind})")),
            "stderr lacks line {line} {kind}: {stderr}"
        );
    }

    let rejects = std::fs::read_to_string(dir.path().join("logs.rejects.jsonl")).unwrap();
    let got: Vec<(u64, String)> = rejects
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                value["reason"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty())
            );
            assert!(value["raw"].is_string());
            (
                value["line"].as_u64().unwrap(),
                value["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = expected
        .iter()
        .map(|(line, kind)| (*line, kind.to_string()))
        .collect();
    assert_eq!(got, want);

    let store = open(&url).await;
    assert_eq!(store.count_requests().await.unwrap(), 3);
    assert_eq!(store.count_feedback().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_ingesting_a_file_adds_nothing_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut text: String = (0..25)
        .map(|index| good(&format!("r{index}"), index, "canary", "t1") + "\n")
        .collect();
    text.push_str(&(good("r3", 3, "canary", "t1") + "\n"));
    std::fs::write(dir.path().join("ok.jsonl"), &text).unwrap();
    let args = ["ingest", "ok.jsonl", "--json", "--batch-size", "7"];
    let first = evalgate(dir.path(), &url, &args, None);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let first_summary = summary_of(&first);
    assert_eq!(first_summary["read"], 26);
    assert_eq!(first_summary["inserted"], 25);
    assert_eq!(first_summary["duplicates"], 1);
    let second = evalgate(dir.path(), &url, &args, None);
    assert_eq!(second.status.code(), Some(0), "{second:?}");
    let summary = summary_of(&second);
    assert_eq!(summary["inserted"], 0);
    assert_eq!(summary["duplicates"], 26);
    assert!(summary["rejects_file"].is_null());
    assert!(!dir.path().join("ok.rejects.jsonl").exists());
    assert_eq!(open(&url).await.count_requests().await.unwrap(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_ingest_writes_rejects_next_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let input = format!("{}\n{{\"oops\"\n", good("a", 1, "canary", "t"));
    let output = evalgate(dir.path(), &url, &["ingest", "-"], Some(input.as_bytes()));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("read        2"), "{stdout}");
    assert!(stdout.contains("rejected    1"), "{stdout}");
    let rejects = std::fs::read_to_string(dir.path().join("rejects.jsonl")).unwrap();
    assert!(rejects.contains("\"line\":2"), "{rejects}");
}

async fn ingest_and_sample_on(dir: &Path, url: &str) {
    let mut text = String::new();
    for index in 0..40u32 {
        let arm = if index % 4 == 0 { "canary" } else { "baseline" };
        text.push_str(&good(
            &format!("s{index}"),
            index,
            arm,
            &format!("t{}", index % 5),
        ));
        text.push('\n');
    }
    std::fs::write(dir.join("s.jsonl"), &text).unwrap();
    let ingest = evalgate(dir, url, &["ingest", "s.jsonl"], None);
    assert_eq!(ingest.status.code(), Some(0), "{ingest:?}");
    // Window [06:00, 06:15) for a tick at 06:20 with the default 15m window and 5m delay.
    let args = [
        "sample",
        "--at",
        "2026-11-26T06:20:00Z",
        "--json",
        "--n",
        "4",
    ];
    let first = evalgate(dir, url, &args, None);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let second = evalgate(dir, url, &args, None);
    assert_eq!(first.stdout, second.stdout);
    let report = summary_of(&first);
    assert_eq!(report["from"], "2026-11-26T06:00:00Z");
    let baseline = &report["arms"][0];
    assert_eq!(baseline["arm"], "baseline");
    assert_eq!(baseline["available"], 11);
    assert_eq!(baseline["selected"].as_array().unwrap().len(), 4);
    assert_eq!(baseline["shortfall"], 0);
    let canary = &report["arms"][1];
    assert_eq!(canary["available"], 4);
    assert_eq!(canary["selected"].as_array().unwrap().len(), 4);
    for request in canary["requests"].as_array().unwrap() {
        let ts = request["ts"].as_str().unwrap();
        assert!(ts < "2026-11-26T06:15:00Z", "{ts}");
        assert!(
            request["preview"]
                .as_str()
                .unwrap()
                .starts_with("answer for")
        );
    }
    let human_args = ["sample", "--at", "2026-11-26T06:20:00Z", "--n", "4"];
    let human = evalgate(dir, url, &human_args, None);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("canary: selected 4 of 4 available"), "{text}");

    // An over-sampled baseline takes k·N, and its first N are the 1:1 sample.
    std::fs::write(
        dir.join("evalgate.toml"),
        "[sampling]\nbaseline_multiplier = 2\n",
    )
    .unwrap();
    let over = summary_of(&evalgate(dir, url, &args, None));
    std::fs::remove_file(dir.join("evalgate.toml")).unwrap();
    let selected = |report: &serde_json::Value, arm: usize| -> Vec<String> {
        report["arms"][arm]["selected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect()
    };
    let over_baseline = selected(&over, 0);
    assert_eq!(over_baseline.len(), 8, "{over}");
    assert_eq!(over_baseline[..4], selected(&report, 0)[..]);
    assert_eq!(selected(&over, 1), selected(&report, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_prints_the_same_sample_twice_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    ingest_and_sample_on(dir.path(), &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_prints_the_same_sample_twice_on_postgres() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let url = common::fresh_pg_database(&server).await;
    let dir = tempfile::tempdir().unwrap();
    ingest_and_sample_on(dir.path(), &url).await;
}
