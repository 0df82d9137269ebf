//! Fuzzing by proptest (cargo-fuzz needs a nightly toolchain this project does not use): the
//! JSONL parser of every format, the suite loader and the config loader over arbitrary bytes and
//! over JSON/TOML/YAML-shaped mutations of valid input. None may panic, and every error says
//! where: a reject has a kind and a reason (ingest adds the line number), a suite diagnostic
//! names the file, a config error names the file or the environment variable. A store fuzz feeds
//! the same corpus through `ingest_stream` into SQLite and PostgreSQL and asserts both loaded the
//! same rows.
//!
//! Case counts: `PROPTEST_CASES` (proptest's default 256) for the parsers, and
//! `EVALGATE_FUZZ_STORE_CASES` (default 4) corpora of 200 lines for the store fuzz. The longer
//! run in BENCHMARKS.md sets both higher.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use evalgate::adapters::formats::{self, Format, ParseContext, ParseLimits};
use evalgate::adapters::store::Store;
use evalgate::commands::ingest::{IngestOptions, ingest_stream};
use evalgate::config::Config;
use evalgate::logic::attribution::ModelArms;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

const LIMITS: ParseLimits = ParseLimits {
    max_field_bytes: 2048,
};

/// Keys the parsers look for, so generated objects reach past the first check.
const KEYS: &[&str] = &[
    "request_id",
    "ts",
    "tenant_id",
    "model",
    "arm",
    "input",
    "output",
    "status",
    "error",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "metadata",
    "type",
    "kind",
    "value",
    "at",
    "rollout_id",
    "reference",
    "request",
    "response",
    "custom_id",
    "call_type",
    "response_cost",
    "startTime",
    "endTime",
    "traceId",
    "resourceSpans",
    "request_created_at",
    "object",
    "choices",
    "usage",
    "messages",
    "data",
    "spend",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        Just(json!(1e308)),
        Just(json!("2026-11-26T06:00:00Z")),
        // Times the two stores used to keep differently (issue 13): a leap second, year 0,
        // a year past 9999 (epoch seconds), and the edges that are kept.
        Just(json!("2016-12-31T23:59:60.5Z")),
        Just(json!("0000-03-01T00:00:00Z")),
        Just(json!(1e12)),
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59.999999Z")),
        Just(json!("canary")),
        Just(json!("baseline")),
        Just(json!("feedback")),
        Just(json!("thumbs")),
        Just(json!("a\u{0}b")),
        Just(json!("\u{1b}[2J")),
        Just(json!("\u{feff}")),
        ".{0,24}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..10).prop_map(|pairs| {
                let map = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                Value::Object(map)
            }),
        ]
    })
}

/// A line: raw bytes, a generated JSON document, or a generated document with bytes flipped.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|value| value.to_string().into_bytes()),
        (
            json_value(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
        )
            .prop_map(|(value, flips)| {
                let mut bytes = value.to_string().into_bytes();
                for (index, byte) in flips {
                    if !bytes.is_empty() {
                        let at = index.index(bytes.len());
                        bytes[at] = byte;
                    }
                }
                bytes
            }),
    ]
}

fn check_line(bytes: &[u8]) {
    let arms = ModelArms::default();
    let ctx = ParseContext {
        limits: LIMITS,
        arms: &arms,
    };
    let mut formats: Vec<Option<Format>> = vec![None];
    formats.extend(Format::ALL.into_iter().map(Some));
    for format_opt in formats {
        let parsed = formats::parse_line(format_opt, bytes, &ctx);
        for record in parsed.records {
            if let Err(reject) = record {
                assert!(
                    !reject.reason.trim().is_empty(),
                    "{format_opt:?}: empty reason"
                );
                assert!(!reject.kind.as_str().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn the_jsonl_parser_never_panics_and_every_reject_says_why(bytes in line()) {
        check_line(&bytes);
    }

    #[test]
    fn the_suite_loader_never_panics_and_diagnostics_name_a_file(text in suite_text()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fuzz.yaml");
        let judges: BTreeSet<String> = ["default".to_string()].into();
        if let Err(diagnostics) = evalgate::evaluators::load_suite_text(&file, &text, &judges) {
            prop_assert!(!diagnostics.is_empty());
            for diagnostic in diagnostics {
                prop_assert!(!diagnostic.file.as_os_str().is_empty(), "{diagnostic:?}");
                prop_assert!(!diagnostic.message.trim().is_empty(), "{diagnostic:?}");
            }
        }
    }

    #[test]
    fn the_config_loader_never_panics_and_errors_name_the_file(text in config_text()) {
        if let Err(err) = Config::from_toml_str("fuzz.toml", &text) {
            let said = err.to_string();
            prop_assert!(said.contains("fuzz.toml"), "{said}");
        }
    }

    #[test]
    fn env_overrides_never_panic_and_errors_name_the_variable(
        key in prop::sample::select(ENV_KEYS),
        value in prop_oneof![".{0,16}", Just("99999999999999999w".to_string()),
                             Just("0 0 30 2 *".to_string()), Just("-1".to_string())],
    ) {
        let env = vec![(key.to_string(), value)];
        if let Err(err) = Config::load(None, env) {
            let said = err.to_string();
            prop_assert!(said.contains(key), "{said}");
        }
    }
}

const ENV_KEYS: &[&str] = &[
    "EVALGATE_SAMPLING__WINDOW",
    "EVALGATE_SAMPLING__N_PER_ARM",
    "EVALGATE_SCHEDULE__TICKS",
    "EVALGATE_SCHEDULE__DRILLS",
    "EVALGATE_SERVER__BIND",
    "EVALGATE_SERVER__MAX_CONNECTIONS",
    "EVALGATE_SERVER__HEADER_READ_TIMEOUT",
    "EVALGATE_INGEST__BATCH_SIZE",
    "EVALGATE_STORE__URL",
    "EVALGATE_SAMPLING__FEEDBACK_MATURITY",
];

fn suite_text() -> impl Strategy<Value = String> {
    let valid = "name: fuzz\nthreshold: 0.8\nassert:\n  - type: contains\n    value: refund\n  \
                 - type: is-json\n  - type: llm-rubric\n    judge: default\n    rubric: be nice\n";
    prop_oneof![
        ".{0,200}",
        mutate(valid),
        prop::collection::vec(
            (
                prop::sample::select(
                    &[
                        "name",
                        "threshold",
                        "pass",
                        "assert",
                        "type",
                        "value",
                        "weight",
                        "metric",
                        "gate",
                        "schema",
                        "judge",
                        "rubric"
                    ][..]
                ),
                ".{0,12}"
            ),
            0..8,
        )
        .prop_map(|pairs| pairs
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()),
    ]
}

fn config_text() -> impl Strategy<Value = String> {
    let valid = "[sampling]\nwindow = \"15m\"\nn_per_arm = 20\n[schedule]\nticks = \"*/15 * * * *\"\n\
                 [server]\nbind = \"127.0.0.1:9464\"\nheader_read_timeout = \"10s\"\n";
    prop_oneof![".{0,200}", mutate(valid)]
}

/// `valid` with a few characters replaced by arbitrary ones.
fn mutate(valid: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6).prop_map(
        move |edits| {
            let mut chars: Vec<char> = valid.chars().collect();
            for (index, ch) in edits {
                let at = index.index(chars.len());
                chars[at] = ch;
            }
            chars.into_iter().collect()
        },
    )
}

/// How many corpora the store fuzz loads on each backend.
fn store_cases() -> u32 {
    std::env::var("EVALGATE_FUZZ_STORE_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(4)
}

/// A corpus of 200 lines: mostly contract rows with fuzzed fields, some raw fuzz.
fn corpus(runner: &mut TestRunner) -> Vec<u8> {
    let row = (0u32..150, json_value(), prop::sample::select(KEYS)).prop_map(|(id, value, key)| {
        let mut row = json!({"request_id": format!("r{id}"), "ts": "2026-11-26T06:00:00Z",
            "tenant_id": "t", "model": "m", "arm": "canary", "input": "q", "output": "a"});
        row[key] = value;
        row.to_string().into_bytes()
    });
    let strategy = prop::collection::vec(prop_oneof![4 => row, 1 => line()], 200);
    let lines = strategy.new_tree(runner).unwrap().current();
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend(line.into_iter().filter(|byte| *byte != b'\n'));
        bytes.push(b'\n');
    }
    bytes
}

async fn load(store: &Store, bytes: &[u8], dir: &Path) -> (u64, u64, u64, u64, u64) {
    let options = IngestOptions {
        batch_size: 37,
        max_field_bytes: 2048,
        max_line_bytes: 1 << 20,
        rejects_path: dir.join("rejects.jsonl"),
        format_opt: Some(Format::Evalgate),
    };
    let progress = indicatif::ProgressBar::hidden();
    let summary = ingest_stream(store, bytes, &options, &progress)
        .await
        .unwrap();
    let stored = store.count_requests().await.unwrap();
    (
        summary.inserted,
        summary.duplicates,
        summary.conflicts,
        summary.rejected,
        stored,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuzzed_corpus_loads_the_same_rows_on_sqlite_and_postgres() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let mut runner = TestRunner::deterministic();
    for _ in 0..store_cases() {
        let bytes = corpus(&mut runner);
        let (dir, sqlite) = common::sqlite_store().await;
        let pg = Store::open(&common::fresh_pg_database(&server).await)
            .await
            .unwrap();
        let on_sqlite = load(&sqlite, &bytes, dir.path()).await;
        let on_pg = load(&pg, &bytes, dir.path()).await;
        assert_eq!(
            on_sqlite, on_pg,
            "(inserted, duplicates, conflicts, rejected, stored)"
        );
        assert!(on_sqlite.4 > 0, "the corpus loaded nothing: {on_sqlite:?}");
        let ids: Vec<String> = (0..150).map(|id| format!("r{id}")).collect();
        let rows_sqlite = sqlite.get_requests(&ids).await.unwrap();
        let rows_pg = pg.get_requests(&ids).await.unwrap();
        let same: Vec<bool> = rows_sqlite
            .iter()
            .zip(&rows_pg)
            .map(|(a, b)| {
                (
                    &a.request_id,
                    a.ts,
                    &a.tenant_id,
                    &a.model,
                    a.arm,
                    &a.input,
                    &a.output,
                ) == (
                    &b.request_id,
                    b.ts,
                    &b.tenant_id,
                    &b.model,
                    b.arm,
                    &b.input,
                    &b.output,
                ) && (
                    &a.reference,
                    &a.error,
                    a.status,
                    a.prompt_tokens,
                    a.cost_usd,
                ) == (
                    &b.reference,
                    &b.error,
                    b.status,
                    b.prompt_tokens,
                    b.cost_usd,
                )
            })
            .collect();
        assert_eq!(rows_sqlite.len(), rows_pg.len());
        assert!(same.iter().all(|ok| *ok), "rows differ between backends");
        pg.close().await;
    }
}
