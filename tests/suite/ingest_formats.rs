//! `evalgate ingest --format …` on every gateway fixture of `fixtures/formats/`, through the real
//! binary on a temporary SQLite store: each file loads with no reject both by name and detected
//! (`--format auto`, announced on stderr and in the summary), the stored rows hold the mapped
//! values, every malformed line is rejected with a reason naming the source's field, and a row
//! logged without an arm is placed by its served model once a rollout names it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Duration, Utc};
use evalgate::adapters::store::Store;
use evalgate::domain::{Arm, Request, RequestStatus};
use serde_json::Value;

/// One fixture file: its format, and the request and feedback rows it holds.
struct Fixture {
    format: &'static str,
    file: &'static str,
    requests: u64,
    feedback: u64,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        format: "evalgate",
        file: "evalgate/contract.evalgate-readme-log-contract.jsonl",
        requests: 20,
        feedback: 2,
    },
    Fixture {
        format: "litellm",
        file: "litellm/spendlogs.litellm-029f645f-schema.prisma.row_to_json.jsonl",
        requests: 22,
        feedback: 0,
    },
    Fixture {
        format: "litellm",
        file: "litellm/standard_logging_payload.litellm-1.108-types-utils.py.jsonl",
        requests: 22,
        feedback: 0,
    },
    Fixture {
        format: "litellm",
        file: "litellm/standard_logging_payload.litellm-1.108.7.captured.jsonl",
        requests: 6,
        feedback: 0,
    },
    Fixture {
        format: "langfuse",
        file: "langfuse/observations.langfuse-v3-clickhouse-observations.jsonl",
        requests: 20,
        feedback: 0,
    },
    Fixture {
        format: "langfuse",
        file: "langfuse/observations.langfuse-public-api-ObservationsView.jsonl",
        requests: 20,
        feedback: 0,
    },
    Fixture {
        format: "helicone",
        file: "helicone/export.helicone-HeliconeRequest-api.jsonl",
        requests: 20,
        feedback: 0,
    },
    Fixture {
        format: "helicone",
        file: "helicone/request_response_rmt.helicone-clickhouse.jsonl",
        requests: 20,
        feedback: 0,
    },
    Fixture {
        format: "otel",
        file: "otel/traces.otlp-json-semconv-gen-ai-1.37.jsonl",
        requests: 21,
        feedback: 0,
    },
    Fixture {
        format: "openai",
        file: "openai/batch_output.openai-batch-api-joined-input.jsonl",
        requests: 12,
        feedback: 0,
    },
    Fixture {
        format: "openai",
        file: "openai/stored_completions.openai-chat-completions-list.jsonl",
        requests: 11,
        feedback: 0,
    },
];

const SOURCES: &[&str] = &[
    "evalgate", "litellm", "langfuse", "helicone", "otel", "openai",
];

fn fixture_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/formats")
        .join(file)
}

/// A temp dir with a SQLite store (and the repository's suites, for `rollout start`).
struct Rig {
    dir: tempfile::TempDir,
    store_url: String,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
        let config = format!(
            "[evals]\ndir = \"{}\"\n\n[flags]\nsinks = [\"table\"]\nretry_backoff_ms = 1\n",
            evals.display()
        );
        std::fs::write(dir.path().join("evalgate.toml"), config).unwrap();
        let store_url = format!("sqlite://{}", dir.path().join("evalgate.db").display());
        Rig { dir, store_url }
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::common::evalgate()
            .current_dir(self.dir.path())
            .env("EVALGATE_LOG", "warn")
            .env("USER", "tester")
            .arg("--store")
            .arg(&self.store_url)
            .args(args)
            .output()
            .unwrap()
    }

    /// `ingest FILE --format FORMAT --json` → (summary, stderr, exit code).
    fn ingest(&self, file: &Path, format: &str) -> (Value, String, Option<i32>) {
        let rejects = self.dir.path().join(format!("{format}.rejects.jsonl"));
        let output = self.run(&[
            "ingest",
            file.to_str().unwrap(),
            "--format",
            format,
            "--json",
            "--rejects",
            rejects.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let summary = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|err| panic!("summary not json ({err}): {stdout}\n{stderr}"));
        (summary, stderr, output.status.code())
    }

    fn rejects(&self, format: &str) -> Vec<Value> {
        let path = self.dir.path().join(format!("{format}.rejects.jsonl"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    async fn store(&self) -> Store {
        Store::open(&self.store_url).await.unwrap()
    }
}

fn assert_loaded(fixture: &Fixture, summary: &Value, stderr: &str, code: Option<i32>) {
    let context = format!("{} ({}): {summary}\n{stderr}", fixture.file, fixture.format);
    assert_eq!(code, Some(0), "{context}");
    assert_eq!(summary["rejected"], 0, "{context}");
    assert_eq!(summary["format"], fixture.format, "{context}");
    assert_eq!(
        summary["requests"]["inserted"], fixture.requests,
        "{context}"
    );
    assert_eq!(
        summary["feedback"]["inserted"], fixture.feedback,
        "{context}"
    );
}

#[test]
fn every_fixture_loads_with_no_reject_by_name_and_detected() {
    for fixture in FIXTURES {
        let path = fixture_path(fixture.file);
        let named = Rig::new();
        let (summary, stderr, code) = named.ingest(&path, fixture.format);
        assert_loaded(fixture, &summary, &stderr, code);

        let detected = Rig::new();
        let (summary, stderr, code) = detected.ingest(&path, "auto");
        assert_loaded(fixture, &summary, &stderr, code);
        let announced = format!("format: {} (detected from line 1)", fixture.format);
        assert!(stderr.contains(&announced), "{}: {stderr}", fixture.file);
    }
}

#[test]
fn an_otlp_line_counts_each_genai_span_and_a_line_without_one_is_empty() {
    let rig = Rig::new();
    let path = fixture_path("otel/traces.otlp-json-semconv-gen-ai-1.37.jsonl");
    let (summary, stderr, code) = rig.ingest(&path, "otel");
    assert_eq!(code, Some(0), "{summary} {stderr}");
    assert_eq!(summary["read"], 12);
    assert_eq!(summary["records"], 21);
    assert_eq!(
        summary["empty"], 1,
        "the health-check trace has no GenAI span"
    );
}

#[test]
fn every_malformed_line_is_rejected_naming_the_source_field() {
    for source in SOURCES {
        let rig = Rig::new();
        let path = fixture_path(&format!("{source}/malformed.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let expectations: Vec<String> = text
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap();
                value["_expect"].as_str().unwrap().to_string()
            })
            .collect();
        let (summary, stderr, code) = rig.ingest(&path, source);
        assert_eq!(code, Some(1), "{source}: {summary} {stderr}");
        assert_eq!(summary["requests"]["inserted"], 0, "{source}: {summary}");
        let rejects = rig.rejects(source);
        assert_eq!(rejects.len(), expectations.len(), "{source}: {rejects:?}");
        for (index, expected) in expectations.iter().enumerate() {
            let reject = &rejects[index];
            assert_eq!(reject["line"], index as u64 + 1, "{source}: {reject}");
            let reason = reject["reason"].as_str().unwrap();
            assert!(
                reason.contains(expected.as_str()),
                "{source} line {}: `{reason}` does not contain `{expected}`",
                index + 1
            );
            if *source != "evalgate" {
                assert!(
                    reason.starts_with(&format!("{source}: ")),
                    "{source}: {reason}"
                );
            }
        }
    }
}

async fn load(format: &str, file: &str) -> (Rig, Store) {
    let rig = Rig::new();
    let (summary, stderr, code) = rig.ingest(&fixture_path(file), format);
    assert_eq!(code, Some(0), "{file}: {summary}\n{stderr}");
    let store = rig.store().await;
    (rig, store)
}

async fn row(store: &Store, id: &str) -> Request {
    let mut rows = store.get_requests(&[id.to_string()]).await.unwrap();
    assert_eq!(rows.len(), 1, "no row {id}");
    rows.remove(0)
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const MESSAGES_0: &str = r#"[{"content":"You are Acme's support assistant.","role":"system"},{"content":"How do I reset my password?","role":"user"}]"#;
const ANSWER_0: &str = "Go to Settings > Security and choose Reset password.";

fn assert_close(actual: Option<f64>, expected: f64, what: &str) {
    let value = actual.unwrap_or_else(|| panic!("{what} is None"));
    assert!(
        (value - expected).abs() < 1e-6,
        "{what}: {value} != {expected}"
    );
}

#[tokio::test]
async fn evalgate_rows_keep_the_contract_values() {
    let (_rig, store) = load(
        "evalgate",
        "evalgate/contract.evalgate-readme-log-contract.jsonl",
    )
    .await;
    let ok = row(&store, "eg-0000").await;
    assert_eq!(ok.ts, time("2026-11-26T06:00:00.125Z"));
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("acme", Arm::Canary));
    assert_eq!(ok.model, "support-bot@v42");
    assert_eq!(
        (ok.input.as_str(), ok.output.as_str()),
        (MESSAGES_0, ANSWER_0)
    );
    assert_eq!((ok.latency_ms, ok.ttft_ms), (Some(600.0), Some(120.0)));
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(30), Some(12))
    );
    assert_close(ok.cost_usd, 0.00042, "cost");
    let offset = row(&store, "eg-0001").await;
    assert_eq!(
        offset.ts,
        time("2026-11-26T06:00:41.125Z"),
        "+02:00 read as UTC"
    );
    let failed = row(&store, "eg-0004").await;
    assert_eq!(failed.status, RequestStatus::Error);
    assert!(failed.error.unwrap().contains("RateLimitError"));
    let raw = row(&store, "eg-0002").await;
    assert_eq!(raw.arm, Arm::Baseline, "metadata.evalgate_arm");
    assert_eq!(
        raw.output,
        "Your bank declined it; try another card or call the bank."
    );
}

#[tokio::test]
async fn litellm_spend_log_rows_map_times_without_offset_as_utc() {
    let (_rig, store) = load(
        "litellm",
        "litellm/spendlogs.litellm-029f645f-schema.prisma.row_to_json.jsonl",
    )
    .await;
    let ok = row(&store, "chatcmpl-spend-0001").await;
    assert_eq!(ok.ts, time("2026-11-26T06:00:41.250Z"));
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("globex", Arm::Baseline));
    assert_eq!(
        ok.model, "support-bot@v41",
        "model_group, not the deployment"
    );
    assert_eq!(ok.rollout_id.as_deref(), Some("r1"));
    assert_eq!(
        ok.output,
        "Yes: Billing > Contacts lets an owner change it."
    );
    assert_eq!(
        (ok.latency_ms, ok.ttft_ms),
        (Some(717.0), None),
        "not streamed: no first token"
    );
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(41), Some(16))
    );
    assert_close(ok.cost_usd, 0.00001575, "spend");
    let offset = row(&store, "chatcmpl-spend-0003").await;
    assert_eq!(offset.ts, time("2026-11-26T06:02:03.250Z"), "+00:00");
    assert_eq!(
        offset.tenant_id, "umbrella",
        "empty end_user: evalgate_tenant"
    );
    assert_eq!(offset.arm, Arm::Canary);
    let streamed = row(&store, "chatcmpl-spend-0000").await;
    assert_eq!(
        streamed.arm,
        Arm::Canary,
        "metadata.spend_logs_metadata.evalgate_arm"
    );
    assert_eq!(
        streamed.ttft_ms,
        Some(140.0),
        "completionStartTime - startTime"
    );
    assert_eq!(streamed.input, MESSAGES_0);
    let failed = row(&store, "chatcmpl-spend-0004").await;
    assert_eq!(failed.status, RequestStatus::Error);
    assert!(failed.error.unwrap().starts_with("litellm.RateLimitError"));
    assert_eq!(failed.output, "");
}

#[tokio::test]
async fn litellm_callback_payloads_map_epoch_seconds_and_streaming() {
    let (_rig, store) = load(
        "litellm",
        "litellm/standard_logging_payload.litellm-1.108-types-utils.py.jsonl",
    )
    .await;
    let streamed = row(&store, "chatcmpl-slp-0001").await;
    assert_eq!(streamed.ts, time("2026-11-26T06:00:41.500Z"));
    assert_eq!(
        (streamed.tenant_id.as_str(), streamed.arm),
        ("initech", Arm::Baseline)
    );
    assert_eq!(
        (streamed.latency_ms, streamed.ttft_ms),
        (Some(661.0), Some(181.0))
    );
    assert_eq!(
        (streamed.prompt_tokens, streamed.completion_tokens),
        (Some(31), Some(10))
    );
    assert_close(streamed.cost_usd, 0.00001065, "response_cost");
    let whole_seconds = row(&store, "chatcmpl-slp-0004").await;
    assert_eq!(
        whole_seconds.ts,
        time("2026-11-26T06:02:44Z"),
        "an integer startTime"
    );
    assert_eq!(whole_seconds.status, RequestStatus::Error);
    assert!(whole_seconds.error.unwrap().contains("Rate limit reached"));
}

#[tokio::test]
async fn captured_litellm_payloads_load_as_logged() {
    let (_rig, store) = load(
        "litellm",
        "litellm/standard_logging_payload.litellm-1.108.7.captured.jsonl",
    )
    .await;
    let ok = row(&store, "chatcmpl-59a5a697-eaed-4aa6-a29a-d59108c0d320").await;
    assert_eq!(ok.ts.timestamp(), 1_796_306_937);
    assert_eq!(
        (ok.tenant_id.as_str(), ok.arm),
        ("tenant-0002", Arm::Canary)
    );
    assert_eq!(ok.model, "support-bot@v42");
    assert_eq!(ok.output, "You can reset it from your profile.");
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(10), Some(20))
    );
    assert_close(ok.latency_ms, 2.6, "latency");
    let streamed = row(&store, "chatcmpl-6e6e1a76-c3de-4c3d-8904-839223396ae0").await;
    assert_close(streamed.ttft_ms, 401.283, "ttft");
    let precall = row(&store, "b01fc5eb-5f8a-478d-8c7b-2094cf4feac0").await;
    assert_eq!(precall.model, "support-bot@v41", "empty model_group: model");
    assert_eq!(precall.status, RequestStatus::Error);
    assert!(precall.error.unwrap().starts_with("400:"));
}

#[tokio::test]
async fn langfuse_observations_map_clickhouse_rows_and_api_items() {
    let (_rig, store) = load(
        "langfuse",
        "langfuse/observations.langfuse-v3-clickhouse-observations.jsonl",
    )
    .await;
    let ok = row(&store, "obs-ch-0003").await;
    assert_eq!(
        ok.ts,
        time("2026-11-26T06:02:03.120Z"),
        "DateTime64(6) text"
    );
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("umbrella", Arm::Canary));
    assert_eq!(ok.model, "support-bot@v42");
    assert_eq!(ok.output, "Open Billing > Invoices and press Export CSV.");
    assert_eq!((ok.latency_ms, ok.ttft_ms), (Some(667.0), Some(153.0)));
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(28), Some(13))
    );
    assert_close(ok.cost_usd, 0.000012, "cost_details.total");
    let failed = row(&store, "obs-ch-0004").await;
    assert_eq!(failed.tenant_id, "hooli", "metadata.evalgate_tenant");
    assert_eq!(failed.status, RequestStatus::Error);
    assert!(failed.error.unwrap().contains("RateLimitError"));

    let (_rig, store) = load(
        "langfuse",
        "langfuse/observations.langfuse-public-api-ObservationsView.jsonl",
    )
    .await;
    let item = row(&store, "obs-api-0000").await;
    assert_eq!(item.ts, time("2026-11-26T06:00:00.333Z"));
    assert_eq!(
        (item.tenant_id.as_str(), item.arm),
        ("initech", Arm::Baseline)
    );
    assert_eq!(item.input, MESSAGES_0, "{{\"messages\": …}} input");
    assert_eq!(item.output, ANSWER_0);
    assert_eq!((item.latency_ms, item.ttft_ms), (Some(500.0), Some(200.0)));
    assert_close(item.cost_usd, 0.0000078, "costDetails.total");
    row(&store, "obs-api-0019").await;
}

#[tokio::test]
async fn helicone_exports_and_table_rows_map_cost_units_and_properties() {
    let (_rig, store) = load(
        "helicone",
        "helicone/export.helicone-HeliconeRequest-api.jsonl",
    )
    .await;
    let ok = row(&store, "7a1b0000-2c3d-4e5f-8a9b-0c1d2e3f4a5b").await;
    assert_eq!(ok.ts, time("2026-11-26T06:00:00.077Z"));
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("acme", Arm::Canary));
    assert_eq!(ok.model, "support-bot@v42");
    assert_eq!(
        (ok.input.as_str(), ok.output.as_str()),
        (MESSAGES_0, ANSWER_0)
    );
    assert_eq!((ok.latency_ms, ok.ttft_ms), (Some(720.0), Some(160.0)));
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(35), Some(14))
    );
    assert_close(ok.cost_usd, 0.00001365, "cost in USD");
    let dashed = row(&store, "7a1b0001-2c3d-4e5f-8a9b-0c1d2e3f4a5b").await;
    assert_eq!(dashed.arm, Arm::Baseline, "property `Evalgate-Arm`");
    let failed = row(&store, "7a1b0004-2c3d-4e5f-8a9b-0c1d2e3f4a5b").await;
    assert_eq!(failed.status, RequestStatus::Error);
    assert_eq!(
        failed.error.as_deref(),
        Some("Rate limit reached for gpt-4o-mini")
    );

    let (_rig, store) = load(
        "helicone",
        "helicone/request_response_rmt.helicone-clickhouse.jsonl",
    )
    .await;
    let table = row(&store, "1f2e0000-3d4c-4b5a-9687-a5b4c3d2e1f0").await;
    assert_eq!(table.ts, time("2026-11-26T06:00:00.901Z"));
    assert_eq!(
        (table.tenant_id.as_str(), table.arm),
        ("umbrella", Arm::Baseline)
    );
    assert_eq!(
        (table.latency_ms, table.ttft_ms),
        (Some(800.0), Some(170.0))
    );
    assert_eq!(
        (table.prompt_tokens, table.completion_tokens),
        (Some(28), Some(11))
    );
    assert_close(table.cost_usd, 0.0000108, "cost / 1e9");
    let not_streamed = row(&store, "1f2e0001-3d4c-4b5a-9687-a5b4c3d2e1f0").await;
    assert_eq!(
        not_streamed.ttft_ms, None,
        "time_to_first_token 0 is not logged"
    );
    let failed = row(&store, "1f2e0011-3d4c-4b5a-9687-a5b4c3d2e1f0").await;
    assert_eq!(failed.status, RequestStatus::Error);
    assert!(failed.error.unwrap().starts_with("The server had an error"));
}

#[tokio::test]
async fn otel_spans_map_semconv_attributes_events_and_status() {
    let (_rig, store) = load("otel", "otel/traces.otlp-json-semconv-gen-ai-1.37.jsonl").await;
    let ok = row(&store, "chatcmpl-otel-0000").await;
    assert_eq!(ok.ts, time("2026-11-26T06:00:00.640Z"));
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("acme", Arm::Canary));
    assert_eq!(ok.model, "support-bot@v42");
    assert_eq!(
        (ok.input.as_str(), ok.output.as_str()),
        (MESSAGES_0, ANSWER_0)
    );
    assert_eq!((ok.latency_ms, ok.ttft_ms), (Some(830.0), Some(150.0)));
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(33), Some(13))
    );
    assert_eq!(ok.metadata["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let indexed = row(&store, "a1b2c3d4e5f60002").await;
    assert_eq!(
        indexed.output,
        "Your bank declined it; try another card or call the bank."
    );
    assert_eq!(
        indexed.prompt_tokens,
        Some(35),
        "gen_ai.usage.prompt_tokens"
    );
    let failed = row(&store, "a1b2c3d4e5f6000b").await;
    assert_eq!(failed.status, RequestStatus::Error);
    assert!(failed.error.unwrap().contains("The server had an error"));
    assert!(
        failed.input.contains("Can I change the billing email?"),
        "gen_ai.content.prompt event"
    );
}

#[tokio::test]
async fn openai_batch_and_stored_completions_map_their_joined_requests() {
    let (_rig, store) = load(
        "openai",
        "openai/batch_output.openai-batch-api-joined-input.jsonl",
    )
    .await;
    let ok = row(&store, "support-eval-0000").await;
    assert_eq!(ok.ts, time("2026-11-26T06:00:00Z"));
    assert_eq!((ok.tenant_id.as_str(), ok.arm), ("acme", Arm::Canary));
    assert_eq!(ok.model, "support-bot@v42", "the requested model");
    assert_eq!(
        (ok.input.as_str(), ok.output.as_str()),
        (MESSAGES_0, ANSWER_0)
    );
    assert_eq!(
        (ok.prompt_tokens, ok.completion_tokens),
        (Some(27), Some(12))
    );
    let expired = row(&store, "support-eval-0005").await;
    assert_eq!(expired.status, RequestStatus::Error);
    assert!(expired.error.unwrap().contains("completion window expired"));
    let limited = row(&store, "support-eval-0009").await;
    assert!(limited.error.unwrap().starts_with("Rate limit reached"));

    let (_rig, store) = load(
        "openai",
        "openai/stored_completions.openai-chat-completions-list.jsonl",
    )
    .await;
    let stored = row(&store, "chatcmpl-stored-0000").await;
    assert_eq!(
        (stored.tenant_id.as_str(), stored.arm),
        ("hooli", Arm::Baseline)
    );
    assert_eq!(stored.model, "support-bot@v41");
    assert_eq!(
        (stored.input.as_str(), stored.output.as_str()),
        (MESSAGES_0, ANSWER_0)
    );
    row(&store, "chatcmpl-stored-0009").await;
}

/// A LiteLLM callback payload without an arm, served `model_group` at `ts`.
fn armless_payload(id: &str, ts: DateTime<Utc>, model: &str) -> String {
    let start = ts.timestamp_micros() as f64 / 1e6;
    serde_json::json!({
        "id": id, "call_type": "acompletion", "status": "success",
        "startTime": start, "endTime": start + 0.5, "model": "gpt-4o-mini", "model_group": model,
        "end_user": "acme", "metadata": {"requester_metadata": {}},
        "messages": [{"role": "user", "content": "hi"}],
        "response": {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}
    })
    .to_string()
}

#[tokio::test]
async fn an_armless_row_is_placed_by_its_served_model_after_rollout_start() {
    let rig = Rig::new();
    let started = rig.run(&[
        "rollout",
        "start",
        "--id",
        "r1",
        "--flag",
        "support-bot",
        "--baseline",
        "support-bot@v41",
        "--canary",
        "support-bot@v42",
        "--suite",
        "support",
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let store = rig.store().await;
    let created = store.get_rollout("r1").await.unwrap().unwrap().created_at;

    let lines = [
        armless_payload("before", created - Duration::hours(1), "support-bot@v42"),
        armless_payload("canary", created + Duration::minutes(1), "support-bot@v42"),
        armless_payload(
            "baseline",
            created + Duration::minutes(2),
            "support-bot@v41",
        ),
        armless_payload("other", created + Duration::minutes(3), "gpt-4o"),
    ];
    let path = rig.dir.path().join("armless.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let (summary, stderr, code) = rig.ingest(&path, "auto");
    assert_eq!(code, Some(1), "{summary} {stderr}");
    assert_eq!(summary["requests"]["inserted"], 2, "{summary}");

    assert_eq!(row(&store, "canary").await.arm, Arm::Canary);
    assert_eq!(row(&store, "baseline").await.arm, Arm::Baseline);
    let rejects = rig.rejects("auto");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    for reject in &rejects {
        assert_eq!(reject["kind"], "missing_field");
        let reason = reject["reason"].as_str().unwrap();
        assert!(reason.starts_with("litellm: no `arm` logged"), "{reason}");
        assert!(
            reason.contains("support-bot@v41 → baseline, support-bot@v42 → canary (r1)"),
            "{reason}"
        );
        assert!(
            reason.contains("metadata.requester_metadata.evalgate_arm"),
            "{reason}"
        );
    }
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("`support-bot@v42`"),
        "before the rollout started"
    );
    assert!(rejects[1]["reason"].as_str().unwrap().contains("`gpt-4o`"));
}

#[test]
fn an_unknown_format_name_is_refused_listing_the_allowed_ones() {
    let rig = Rig::new();
    let path = fixture_path("otel/malformed.jsonl");
    let output = rig.run(&["ingest", path.to_str().unwrap(), "--format", "splunk"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("allowed: auto, evalgate, litellm, langfuse, helicone, otel, openai"),
        "{stderr}"
    );
}
