//! `evalgate ingest` on inputs that used to lose data or mislead (issue 13), on SQLite and on
//! PostgreSQL: a NUL character is one rejected line on both backends (it used to abort the whole
//! load on PostgreSQL), a `request_id` repeated with different content is a conflict (counted,
//! written to the rejects file, the first row kept), a UTF-8 byte-order mark on line 1 is
//! accepted, and control characters in rejected values are escaped on the terminal.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::Output;

use evalgate::adapters::store::Store;
use serde_json::Value;

fn ingest(dir: &Path, store_url: &str, file: &str, extra: &[&str]) -> Output {
    crate::common::evalgate()
        .current_dir(dir)
        .env("EVALGATE_LOG", "warn")
        .arg("--store")
        .arg(store_url)
        .args(["ingest", file, "--json"])
        .args(extra)
        .output()
        .unwrap()
}

fn row(id: &str, output: &str) -> String {
    serde_json::json!({"request_id": id, "ts": "2026-11-26T06:00:00Z", "tenant_id": "t1",
        "model": "bot@v1", "arm": "canary", "input": "q", "output": output,
        "metadata": {"n": 1.5e10, "tag": "x"}})
    .to_string()
}

fn summary(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not json ({err}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn rejects(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("logs.rejects.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Runs `body` with a temp dir and a fresh store URL on each backend.
async fn on_both_backends<F, Fut>(body: F)
where
    F: Fn(tempfile::TempDir, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    body(dir, url).await;
    if let Some(server) = common::pg_server_url() {
        let url = common::fresh_pg_database(&server).await;
        body(tempfile::tempdir().unwrap(), url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_is_one_rejected_line_and_the_rest_loads_on_both_backends() {
    on_both_backends(|dir, url| async move {
        let mut lines: Vec<String> = (0..9)
            .map(|index| row(&format!("r{index}"), "ok"))
            .collect();
        // Escaped NULs in the output (line 5), the tenant (line 8) and metadata (line 9).
        lines[4] = row("r4", "bad\u{0}value");
        lines[7] = lines[7].replace("\"t1\"", "\"t\\u0000\"");
        lines[8] = lines[8].replace("\"x\"", "\"\\u0000\"");
        std::fs::write(dir.path().join("logs.jsonl"), lines.join("\n")).unwrap();
        let output = ingest(dir.path(), &url, "logs.jsonl", &["--batch-size", "2"]);
        assert_eq!(output.status.code(), Some(1), "{url}: {output:?}");
        let got = summary(&output);
        assert_eq!(got["inserted"], 6, "{url}: {got}");
        assert_eq!(got["rejected"], 3, "{url}: {got}");
        let listed: Vec<(u64, String, String)> = rejects(dir.path())
            .iter()
            .map(|entry| {
                (
                    entry["line"].as_u64().unwrap(),
                    entry["kind"].as_str().unwrap().to_string(),
                    entry["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let lines_and_fields = [(5, "`output`"), (8, "`tenant_id`"), (9, "`metadata.tag`")];
        assert_eq!(listed.len(), 3, "{listed:?}");
        for ((line, kind, reason), (want_line, field)) in listed.iter().zip(lines_and_fields) {
            assert_eq!(*line, want_line);
            assert_eq!(kind, "nul_character");
            assert!(reason.contains(field), "{reason}");
        }
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.count_requests().await.unwrap(), 6, "{url}");
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_id_with_other_content_is_a_conflict_and_the_first_row_stays() {
    on_both_backends(|dir, url| async move {
        // a(yes) b a(yes: duplicate) a(no: conflict) ; then a re-run with one more conflict.
        let text = [
            row("a", "yes"),
            row("b", "ok"),
            row("a", "yes"),
            row("a", "no"),
        ]
        .join("\n");
        std::fs::write(dir.path().join("logs.jsonl"), &text).unwrap();
        let output = ingest(dir.path(), &url, "logs.jsonl", &["--batch-size", "3"]);
        assert_eq!(output.status.code(), Some(1), "{url}: {output:?}");
        let got = summary(&output);
        assert_eq!(got["inserted"], 2, "{got}");
        assert_eq!(got["duplicates"], 1, "{got}");
        assert_eq!(got["conflicts"], 1, "{got}");
        assert_eq!(got["requests"]["conflicts"], 1, "{got}");
        assert_eq!(got["rejected"], 0, "{got}");
        let listed = rejects(dir.path());
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["line"], 4);
        assert_eq!(listed[0]["kind"], "conflict");
        assert!(listed[0]["raw"].as_str().unwrap().contains("\"no\""));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("line 4: rejected (conflict)"), "{stderr}");

        let again = ingest(dir.path(), &url, "logs.jsonl", &[]);
        let got = summary(&again);
        assert_eq!(got["inserted"], 0, "{got}");
        assert_eq!(got["duplicates"], 3, "{got}");
        assert_eq!(got["conflicts"], 1, "{got}");

        let store = Store::open(&url).await.unwrap();
        let kept = store.get_requests(&["a".to_string()]).await.unwrap();
        assert_eq!(kept[0].output, "yes");
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_order_mark_on_line_one_is_accepted_and_control_characters_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(row("first", "ok").as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(row("evil", "ok").replace("canary", "\\u001b[2J").as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(b"\xEF\xBB\xBF");
    bytes.extend_from_slice(row("late-bom", "ok").as_bytes());
    std::fs::write(dir.path().join("logs.jsonl"), bytes).unwrap();
    let output = ingest(dir.path(), &url, "logs.jsonl", &[]);
    let got = summary(&output);
    assert_eq!(got["inserted"], 1, "{got}");
    assert_eq!(got["rejected"], 2, "{got}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "raw ESC reached the terminal: {stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
    assert!(stderr.contains("line 3: rejected (not_json)"), "{stderr}");
    assert!(stderr.contains("byte-order mark"), "{stderr}");
}

// See: issue 13 (a leap second and year 0 were stored differently on SQLite and PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leap_seconds_and_out_of_range_years_are_rejected_alike_on_both_backends() {
    on_both_backends(|dir, url| async move {
        let at = |id: &str, ts: Value| {
            let mut line: Value = serde_json::from_str(&row(id, "ok")).unwrap();
            line["ts"] = ts;
            line.to_string()
        };
        let lines = [
            at("normal", "2026-11-26T06:00:00Z".into()),
            at("leap", "2016-12-31T23:59:60Z".into()),
            at("leap-frac", "2016-12-31T23:59:60.250+00:00".into()),
            at("year-0", "0000-06-01T00:00:00Z".into()),
            at("far", serde_json::json!(1e12)),
            at("first-year", "0001-01-01T00:00:00Z".into()),
            at("last-year", "9999-12-31T23:59:59.999999Z".into()),
        ];
        std::fs::write(dir.path().join("logs.jsonl"), lines.join("\n")).unwrap();
        let output = ingest(dir.path(), &url, "logs.jsonl", &[]);
        assert_eq!(output.status.code(), Some(1), "{url}: {output:?}");
        let got = summary(&output);
        assert_eq!(got["inserted"], 3, "{url}: {got}");
        assert_eq!(got["rejected"], 4, "{url}: {got}");
        let listed: Vec<(u64, String)> = rejects(dir.path())
            .iter()
            .map(|entry| {
                assert_eq!(entry["kind"], "bad_timestamp", "{entry}");
                let reason = entry["reason"].as_str().unwrap().to_string();
                (entry["line"].as_u64().unwrap(), reason)
            })
            .collect();
        let lines: Vec<u64> = listed.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5], "{listed:?}");
        assert!(listed[0].1.contains("leap second"), "{listed:?}");
        assert!(listed[2].1.contains("year 0"), "{listed:?}");

        let store = Store::open(&url).await.unwrap();
        let ids = ["normal", "first-year", "last-year"].map(String::from);
        let mut stored: Vec<(String, String)> = store
            .get_requests(&ids)
            .await
            .unwrap()
            .into_iter()
            .map(|request| (request.request_id, request.ts.to_rfc3339()))
            .collect();
        stored.sort();
        assert_eq!(
            stored,
            vec![
                ("first-year".into(), "0001-01-01T00:00:00+00:00".into()),
                (
                    "last-year".into(),
                    "9999-12-31T23:59:59.999999+00:00".into()
                ),
                ("normal".into(), "2026-11-26T06:00:00+00:00".into()),
            ],
            "{url}"
        );
        store.close().await;
    })
    .await;
}
