//! `evalgate evals run` and the example judge suite: the example suite and the commented judge
//! section of evalgate.example.toml stay valid, and rows of a file are scored per row with
//! the pass rate, bad lines reported with their line numbers. The run streams (one JSON line
//! per row, in input order, then the summary), keeps the first of a repeated request id and
//! reports conflicts, honours `[evals].dir`, runs a valid suite beside a broken one and gates
//! on `--fail-under`.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use common::fake_judge::{FakeJudge, FakeReply};
use evalgate::adapters::jsonl::request_line;
use evalgate::cli::{EvalsFormat, EvalsRunArgs};
use evalgate::clock::SystemClock;
use evalgate::commands::evals_output::{LateConflict, RunSummary};
use evalgate::commands::evals_run::{EXIT_BELOW_FAIL_UNDER, exit_code, run_to};
use evalgate::commands::evals_seen::TABLE_IDS;
use evalgate::config::Config;
use evalgate::context::Context;
use evalgate::domain::{Arm, Request};
use evalgate::evaluators::load_suites;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `[judges.default]` block of evalgate.example.toml, uncommented.
fn example_judge_section() -> String {
    let text = std::fs::read_to_string(root().join("evalgate.example.toml")).unwrap();
    let mut section = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim() == "# [judges.default]" {
            inside = true;
        }
        if inside {
            let Some(uncommented) = line.strip_prefix("# ") else {
                break;
            };
            section.push_str(uncommented);
            section.push('\n');
        }
    }
    assert!(
        !section.is_empty(),
        "evalgate.example.toml has a [judges.default] block"
    );
    section
}

fn request(id: &str, arm: Arm, output: &str) -> Request {
    Request {
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        input: "Where is my order A-1?".to_string(),
        output: output.to_string(),
        reference: Some("Order A-1 has shipped.".to_string()),
        latency_ms: Some(800.0),
        prompt_tokens: Some(50),
        completion_tokens: Some(20),
        cost_usd: Some(0.001),
        ..crate::common::request(id, arm)
    }
}

fn args(suite: &str, input: PathBuf, dir: Option<PathBuf>) -> EvalsRunArgs {
    EvalsRunArgs {
        suite: suite.to_string(),
        input,
        dir,
        json: false,
        format: Some(EvalsFormat::Jsonl),
        fail_under: None,
    }
}

/// Runs with JSON-lines output: the row objects, then the summary (also checked to be the
/// last line of the output).
async fn run_jsonl(
    ctx: &Context,
    args: &EvalsRunArgs,
) -> anyhow::Result<(Vec<serde_json::Value>, RunSummary)> {
    let mut out = Vec::new();
    let summary = run_to(ctx, args, &mut out).await?;
    let text = String::from_utf8(out).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let last = lines.pop().expect("a summary line");
    assert_eq!(last["summary"]["scored"], summary.scored);
    Ok((lines, summary))
}

fn rule_ctx() -> Context {
    Context::with_config(Config::default(), Arc::new(SystemClock))
}

#[test]
fn the_example_judge_section_is_a_valid_config() {
    let config = Config::from_toml_str("evalgate.example.toml", &example_judge_section()).unwrap();
    let judge = &config.judges["default"];
    assert_eq!(judge.model, "gpt-4o-mini");
    assert_eq!(judge.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
}

#[test]
fn the_example_judge_suite_loads_with_a_default_judge() {
    let names = BTreeSet::from(["default".to_string()]);
    let suites = load_suites(&root().join("evals/examples"), &names).unwrap();
    let suite = suites.iter().find(|s| s.name == "support-judge").unwrap();
    let types: Vec<&str> = suite
        .assertions
        .iter()
        .map(|a| a.type_name.as_str())
        .collect();
    assert_eq!(types, ["llm-rubric", "not-llm-rubric", "llm-pairwise"]);
}

#[tokio::test]
async fn evals_run_scores_each_row_with_the_judge_suite_and_reports_bad_lines() {
    let fake = FakeJudge::start(Arc::new(|_, body| {
        let user = body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if user.contains("<response_a>") {
            // Pairwise: prefer the row's own answer wherever it appears.
            let a = user.split("<response_a>").nth(1).unwrap_or("");
            let winner = if a.trim_start().starts_with("Order A-1 has shipped.") {
                "B"
            } else {
                "A"
            };
            return FakeReply::content(&format!(r#"{{"winner": "{winner}"}}"#));
        }
        if user.contains("blames the customer") {
            return FakeReply::verdict(user.contains("your fault"), 0.5);
        }
        let polite = !user.contains("your fault");
        FakeReply::verdict(polite, if polite { 0.9 } else { 0.2 })
    }))
    .await;
    let toml = format!(
        "[judges.default]\nbase_url = \"{}\"\nmodel = \"judge-test\"\nrequests_per_minute = 0\n",
        fake.base_url
    );
    let mut config = Config::from_toml_str("test.toml", &toml).unwrap();
    config.judges.get_mut("default").unwrap().api_key_env = None;
    let ctx = Context::with_config(config, Arc::new(SystemClock));

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    let lines = [
        request_line(&request(
            "r1",
            Arm::Baseline,
            "Your order A-1 shipped yesterday. Anything else?",
        )),
        "this is not json".to_string(),
        request_line(&request(
            "r2",
            Arm::Canary,
            "It is your fault, you typed the wrong address.",
        )),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let args = args("support-judge", input, Some(root().join("evals/examples")));
    let (rows, summary) = run_jsonl(&ctx, &args).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["request_id"], "r1");
    assert_eq!(rows[0]["outcome"], "pass", "{}", rows[0]);
    assert_eq!(rows[0]["assertions"].as_array().unwrap().len(), 3);
    assert_eq!(rows[1]["outcome"], "fail");
    assert_eq!(rows[1]["reason"], "failed: polite_and_on_topic");
    let no_blaming = rows[1]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["evaluator"] == "support-judge/no_blaming")
        .unwrap();
    assert_eq!(
        no_blaming["outcome"], "fail",
        "not-llm-rubric inverts the judge's pass"
    );
    assert_eq!(summary.pass_rate, Some(0.5));
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.rejected_lines[0].line, 2);
    // Two rows × (rubric + not-rubric + two pairwise orders).
    assert_eq!(summary.judge_calls, 8);
    assert_eq!(fake.call_count(), 8);
    assert_eq!(exit_code(&summary), 1);
}

#[tokio::test]
async fn evals_run_scores_the_rule_starter_suite_without_any_judge() {
    let ctx = rule_ctx();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    let good = r#"{"order_id":"A-12345","status":"shipped","answer":"Order A-12345 has shipped."}"#;
    let mut ok = request("ok", Arm::Baseline, good);
    ok.reference = Some("A-12345".to_string());
    let mut refusal = request(
        "no",
        Arm::Canary,
        "I'm sorry, but I can't help with that request.",
    );
    refusal.reference = Some("A-12345".to_string());
    std::fs::write(
        &input,
        format!("{}\n{}\n", request_line(&ok), request_line(&refusal)),
    )
    .unwrap();
    let args = args("support", input, Some(root().join("evals")));
    let (rows, summary) = run_jsonl(&ctx, &args).await.unwrap();
    assert_eq!(rows[0]["outcome"], "pass", "{}", rows[0]);
    assert_eq!(rows[1]["outcome"], "fail");
    assert_eq!(summary.judge_calls, 0);
    let unknown = EvalsRunArgs {
        suite: "nope".to_string(),
        input: Path::new("unused").to_path_buf(),
        ..args
    };
    let err = run_jsonl(&ctx, &unknown).await.unwrap_err();
    assert!(err.to_string().contains("no suite named `nope`"), "{err}");
}

const RULE_SUITE: &str =
    "name: rules\nassert:\n  - type: icontains\n    value: ORDER\n  - type: not-is-refusal\n";

#[tokio::test]
async fn rows_stream_out_one_per_line_in_input_order_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULE_SUITE).unwrap();
    let input = dir.path().join("rows.jsonl");
    let count = 5_000; // more than two chunks
    let mut text = String::new();
    for index in 0..count {
        let output = if index % 3 == 0 {
            "no idea"
        } else {
            "your Order shipped"
        };
        let row = request(&format!("r{index}"), Arm::Canary, output);
        text.push_str(&request_line(&row));
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let args = args("rules", input, Some(dir.path().to_path_buf()));
    let (rows, summary) = run_jsonl(&rule_ctx(), &args).await.unwrap();
    assert_eq!(rows.len(), count);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row["request_id"], format!("r{index}"));
        let expected = if index % 3 == 0 { "fail" } else { "pass" };
        assert_eq!(row["outcome"], expected, "{row}");
    }
    assert_eq!(summary.scored, count as u64);
    assert_eq!(summary.summary.fail, 1_667);
    assert_eq!(exit_code(&summary), 0);
}

// See: issue 13 (two rows `dup` with outputs "yes" and "no" both reported PASS).
#[tokio::test]
async fn a_repeated_request_id_keeps_the_first_row_and_reports_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULE_SUITE).unwrap();
    let input = dir.path().join("rows.jsonl");
    let yes = request("dup", Arm::Canary, "yes, order shipped");
    let no = request("dup", Arm::Canary, "no");
    let other = request("other", Arm::Baseline, "order");
    let lines = [
        request_line(&yes),
        request_line(&other),
        request_line(&yes),
        request_line(&no),
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let args = args("rules", input, Some(dir.path().to_path_buf()));
    let (rows, summary) = run_jsonl(&rule_ctx(), &args).await.unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|row| row["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dup", "other"]);
    assert_eq!(rows[0]["outcome"], "pass", "the first row is the one kept");
    assert_eq!(summary.duplicates, 1);
    assert_eq!(summary.conflicts, 1);
    assert_eq!(summary.conflicting_ids, ["dup"]);
    assert_eq!(exit_code(&summary), 1);
}

// See: issue 14 (the duplicate check's memory grew 16 bytes per distinct id; it now spills).
#[tokio::test]
async fn a_repeat_beyond_the_in_memory_table_is_still_found_and_taken_out_of_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULE_SUITE).unwrap();
    let input = dir.path().join("rows.jsonl");
    let distinct = TABLE_IDS + 100;
    let mut text = String::new();
    for index in 0..distinct {
        let row = request(&format!("r{index}"), Arm::Canary, "your order shipped");
        text.push_str(&request_line(&row));
        text.push('\n');
    }
    // Past the table: `r0` again with another output (a conflict), `r1` unchanged (a duplicate).
    let conflicting = request("r0", Arm::Canary, "no idea");
    let repeated = request("r1", Arm::Canary, "your order shipped");
    text.push_str(&format!(
        "{}\n{}\n",
        request_line(&conflicting),
        request_line(&repeated)
    ));
    std::fs::write(&input, text).unwrap();
    let args = args("rules", input, Some(dir.path().to_path_buf()));
    let (rows, summary) = run_jsonl(&rule_ctx(), &args).await.unwrap();
    // Both result lines were streamed before the repeats could be known ...
    assert_eq!(rows.len(), distinct + 2);
    assert_eq!(rows[distinct]["outcome"], "fail");
    // ... and the summary counts each id once, with the conflict and both lines.
    assert_eq!(summary.scored, distinct as u64);
    assert_eq!(summary.summary.pass, distinct as u64);
    assert_eq!(summary.summary.fail, 0);
    assert_eq!(summary.late_repeats, 2);
    assert_eq!(summary.duplicates, 1);
    assert_eq!(summary.conflicts, 1);
    assert_eq!(summary.conflicting_ids, ["r0"]);
    assert_eq!(
        summary.late_conflicts,
        [LateConflict {
            request_id: "r0".to_string(),
            line: distinct as u64 + 1,
            first_line: 1,
        }]
    );
    assert_eq!(exit_code(&summary), 1);
}

#[tokio::test]
async fn fail_under_turns_the_pass_rate_into_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULE_SUITE).unwrap();
    let input = dir.path().join("rows.jsonl");
    let rows = [
        request("a", Arm::Canary, "order ok"),
        request("b", Arm::Canary, "nothing"),
    ];
    let text: Vec<String> = rows.iter().map(request_line).collect();
    std::fs::write(&input, text.join("\n")).unwrap();
    let mut gated = args("rules", input, Some(dir.path().to_path_buf()));
    gated.fail_under = Some(0.9);
    let (_, summary) = run_jsonl(&rule_ctx(), &gated).await.unwrap();
    assert_eq!(summary.gate_passed, Some(false));
    assert_eq!(exit_code(&summary), EXIT_BELOW_FAIL_UNDER);
    gated.fail_under = Some(0.5);
    let (_, summary) = run_jsonl(&rule_ctx(), &gated).await.unwrap();
    assert_eq!(summary.gate_passed, Some(true));
    assert_eq!(exit_code(&summary), 0);
    gated.fail_under = Some(1.5);
    assert!(run_jsonl(&rule_ctx(), &gated).await.is_err());
}

// See: issue 13 (`evals run` ignored `[evals].dir`; one invalid suite blocked every other).
#[tokio::test]
async fn the_config_dir_is_used_and_a_broken_suite_does_not_block_a_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULE_SUITE).unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "name: broken\nassert:\n  - type: icontians\n    value: x\n",
    )
    .unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(&input, request_line(&request("a", Arm::Canary, "order"))).unwrap();
    let toml = format!("[evals]\ndir = {:?}\n", dir.path().display().to_string());
    let config = Config::from_toml_str("test.toml", &toml).unwrap();
    let ctx = Context::with_config(config, Arc::new(SystemClock));
    let (rows, summary) = run_jsonl(&ctx, &args("rules", input.clone(), None))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(summary.other_suite_problems.len(), 1);
    assert!(
        summary.other_suite_problems[0].contains("unknown assertion type `icontians`"),
        "{:?}",
        summary.other_suite_problems
    );
    assert_eq!(exit_code(&summary), 0);
    let err = run_jsonl(&ctx, &args("broken", input, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no valid suite named `broken`"), "{err}");
    assert!(err.contains("icontians"), "{err}");
}
