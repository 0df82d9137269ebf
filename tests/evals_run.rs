//! `evalgate evals run` and the example judge suite: the example suite and the commented judge
//! section of evalgate.example.toml stay valid, and rows of a file are scored per row with
//! the pass rate, bad lines reported with their line numbers.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use common::fake_judge::{FakeJudge, FakeReply};
use evalgate::adapters::jsonl::request_line;
use evalgate::app::Context;
use evalgate::cli::EvalsRunArgs;
use evalgate::clock::SystemClock;
use evalgate::config::Config;
use evalgate::domain::{Arm, Outcome, Request, RequestStatus};
use evalgate::evaluators::load_suites;
use evalgate::worker::evals_run::evaluate_file;

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
        request_id: id.to_string(),
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        tenant_id: "t1".to_string(),
        arm,
        model: "bot@v1".to_string(),
        rollout_id: None,
        input: "Where is my order A-1?".to_string(),
        output: output.to_string(),
        reference: Some("Order A-1 has shipped.".to_string()),
        status: RequestStatus::Ok,
        error: None,
        latency_ms: Some(800.0),
        ttft_ms: None,
        prompt_tokens: Some(50),
        completion_tokens: Some(20),
        cost_usd: Some(0.001),
        metadata: serde_json::Value::Null,
    }
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
    let args = EvalsRunArgs {
        suite: "support-judge".to_string(),
        input,
        dir: Some(root().join("evals/examples")),
        json: false,
    };
    let output = evaluate_file(&ctx, &args).await.unwrap();
    assert_eq!(output.rows.len(), 2);
    assert_eq!(output.rows[0].request_id, "r1");
    assert_eq!(
        output.rows[0].outcome,
        Outcome::Pass,
        "{:?}",
        output.rows[0]
    );
    assert_eq!(output.rows[0].assertions.len(), 3);
    assert_eq!(output.rows[1].outcome, Outcome::Fail);
    assert_eq!(output.rows[1].reason, "failed: polite_and_on_topic");
    let no_blaming = output.rows[1]
        .assertions
        .iter()
        .find(|s| s.evaluator == "support-judge/no_blaming")
        .unwrap();
    assert_eq!(
        no_blaming.outcome,
        Outcome::Fail,
        "not-llm-rubric inverts the judge's pass"
    );
    assert_eq!(output.pass_rate, Some(0.5));
    assert_eq!(output.rejected.len(), 1);
    assert_eq!(output.rejected[0].line, 2);
    // Two rows × (rubric + not-rubric + two pairwise orders).
    assert_eq!(output.judge_calls, 8);
    assert_eq!(fake.call_count(), 8);
}

#[tokio::test]
async fn evals_run_scores_the_rule_starter_suite_without_any_judge() {
    let ctx = Context::with_config(Config::default(), Arc::new(SystemClock));
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
    let args = EvalsRunArgs {
        suite: "support".to_string(),
        input,
        dir: Some(root().join("evals")),
        json: true,
    };
    let output = evaluate_file(&ctx, &args).await.unwrap();
    assert_eq!(
        output.rows[0].outcome,
        Outcome::Pass,
        "{:?}",
        output.rows[0]
    );
    assert_eq!(output.rows[1].outcome, Outcome::Fail);
    assert_eq!(output.judge_calls, 0);
    let unknown = EvalsRunArgs {
        suite: "nope".to_string(),
        input: Path::new("unused").to_path_buf(),
        dir: Some(root().join("evals")),
        json: false,
    };
    let err = evaluate_file(&ctx, &unknown).await.unwrap_err();
    assert!(err.to_string().contains("no suite named `nope`"), "{err}");
}
