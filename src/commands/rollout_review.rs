//! `evalgate rollout review ID`: prepares the 50% human review. The gate summary, then side by
//! side each sampled canary response that FAILED an evaluator (with the evaluators' reasons,
//! from `eval_scores`) and a baseline response to a similar request (the same tenant first, then
//! the closest prompt by token overlap), so people look at what the gates cannot judge.
//! Markdown on stdout, or `--json`.

use crate::domain::rollout::PhaseName;
use std::process::ExitCode;

use serde::Serialize;

use super::rollout_status::{GateStatus, rollout_status};
use crate::adapters::flags::FlagSinks;
use crate::adapters::store::{FailedScore, Store};
use crate::cli::RolloutIdArgs;
use crate::commands::CmdResult;
use crate::context::Services;
use crate::logic::similarity::{most_similar, prompt_text};
use crate::worker::controller::LoadedRollout;

/// Failed canary responses shown at most.
const MAX_FAILURES: usize = 20;
/// Score rows read at most (several evaluators can fail one response).
const MAX_SCORE_ROWS: i64 = 500;
/// Baseline responses considered as comparisons.
const MAX_BASELINE: i64 = 1_000;
/// Characters of a prompt or response shown.
const MAX_TEXT: usize = 1_200;

/// One evaluator's failure.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluatorFailure {
    /// The evaluator.
    pub evaluator: String,
    /// Its reason.
    pub reason: String,
}

/// A response shown in the review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewResponse {
    /// The request id.
    pub request_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// When it was served (RFC 3339).
    pub ts: String,
    /// The user prompt.
    pub prompt: String,
    /// The response.
    pub output: String,
}

/// A failed canary response and its comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewPair {
    /// The canary response.
    pub canary: ReviewResponse,
    /// Why the evaluators failed it.
    pub failures: Vec<EvaluatorFailure>,
    /// The most similar baseline response, if any.
    pub baseline: Option<ReviewResponse>,
    /// How the baseline was chosen.
    pub matched_by: Option<String>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The rollout id.
    pub rollout_id: String,
    /// Baseline target.
    pub baseline_target: String,
    /// Canary target.
    pub canary_target: String,
    /// The phase.
    pub phase: PhaseName,
    /// The stage.
    pub stage: String,
    /// The latest gate verdicts.
    pub gates: Vec<GateStatus>,
    /// Why failed responses are missing, when they are.
    pub note: Option<String>,
    /// The side-by-side pairs.
    pub pairs: Vec<ReviewPair>,
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_string();
    }
    let clipped: String = text.chars().take(MAX_TEXT).collect();
    format!("{clipped} …")
}

fn response(
    request_id: &str,
    tenant: &str,
    ts: crate::domain::Timestamp,
    input: &str,
    output: &str,
) -> ReviewResponse {
    ReviewResponse {
        request_id: request_id.to_string(),
        tenant_id: tenant.to_string(),
        ts: ts.to_rfc3339(),
        prompt: clip(&prompt_text(input)),
        output: clip(output),
    }
}

/// Groups score rows by request, newest first, keeping at most `MAX_FAILURES` requests.
fn group_failures(rows: &[FailedScore]) -> Vec<(&FailedScore, Vec<EvaluatorFailure>)> {
    let mut groups: Vec<(&FailedScore, Vec<EvaluatorFailure>)> = Vec::new();
    for row in rows {
        let failure = EvaluatorFailure {
            evaluator: row.evaluator.clone(),
            reason: row.reason.clone(),
        };
        if let Some((_, failures)) = groups
            .iter_mut()
            .find(|(first, _)| first.request_id == row.request_id)
        {
            failures.push(failure);
            continue;
        }
        if groups.len() == MAX_FAILURES {
            continue;
        }
        groups.push((row, vec![failure]));
    }
    groups
}

/// Builds the review of one rollout.
pub async fn build_review(
    store: &Store,
    sinks: &FlagSinks,
    rollout: &LoadedRollout,
    now: crate::domain::Timestamp,
) -> anyhow::Result<Review> {
    let status = rollout_status(store, sinks, rollout, now).await?;
    let mut review = Review {
        rollout_id: rollout.row.id.clone(),
        baseline_target: rollout.row.baseline_target.clone(),
        canary_target: rollout.row.canary_target.clone(),
        phase: status.summary.phase,
        stage: status.summary.stage.clone(),
        gates: status.gates,
        note: None,
        pairs: Vec::new(),
    };
    if !store.table_exists("eval_scores").await? {
        review.note = Some(
            "no eval_scores table in this store yet (the scoring migration has not run): \
             failed canary responses cannot be listed"
                .to_string(),
        );
        return Ok(review);
    }
    let rows = store
        .failed_canary_scores(&rollout.row.targets(), MAX_SCORE_ROWS)
        .await?;
    if rows.is_empty() {
        review.note = Some("no sampled canary response failed an evaluator".to_string());
        return Ok(review);
    }
    let baseline = store
        .recent_baseline_responses(&rollout.row.targets(), MAX_BASELINE)
        .await?;
    let baseline_prompts: Vec<String> = baseline.iter().map(|b| prompt_text(&b.input)).collect();
    let candidates: Vec<(&str, &str)> = baseline
        .iter()
        .zip(&baseline_prompts)
        .map(|(b, prompt)| (b.tenant_id.as_str(), prompt.as_str()))
        .collect();
    for (first, failures) in group_failures(&rows) {
        let prompt = prompt_text(&first.input);
        let matched = most_similar(&first.tenant_id, &prompt, &candidates);
        let (baseline_response, matched_by) =
            match matched.and_then(|m| baseline.get(m.index).map(|b| (m, b))) {
                Some((found, served)) => (
                    Some(response(
                        &served.request_id,
                        &served.tenant_id,
                        served.ts,
                        &served.input,
                        &served.output,
                    )),
                    Some(if found.same_tenant {
                        format!("same tenant, prompt overlap {:.2}", found.overlap)
                    } else {
                        format!("prompt overlap {:.2}", found.overlap)
                    }),
                ),
                None => (None, None),
            };
        review.pairs.push(ReviewPair {
            canary: response(
                &first.request_id,
                &first.tenant_id,
                first.ts,
                &first.input,
                &first.output,
            ),
            failures,
            baseline: baseline_response,
            matched_by,
        });
    }
    Ok(review)
}

fn quote(text: &str) -> String {
    text.lines().map(|line| format!("> {line}\n")).collect()
}

/// Renders the review as Markdown.
pub fn render_markdown(review: &Review) -> String {
    let mut out = format!(
        "# Review of rollout `{}`\n\nbaseline `{}` vs canary `{}` — {} at stage {}\n\n## Gates\n\n",
        review.rollout_id, review.baseline_target, review.canary_target, review.phase, review.stage
    );
    if review.gates.is_empty() {
        out.push_str("No gate verdicts recorded yet.\n");
    } else {
        out.push_str("| metric | authority | verdict | reason |\n|---|---|---|---|\n");
        for gate in &review.gates {
            let authority = if gate.promotion_authority {
                "yes"
            } else {
                "no"
            };
            out.push_str(&format!(
                "| {} | {authority} | {} | {} |\n",
                gate.metric,
                gate.verdict,
                gate.reason.replace('|', "\\|")
            ));
        }
    }
    out.push_str(&format!(
        "\n## Failed canary responses ({})\n\n",
        review.pairs.len()
    ));
    if let Some(note) = &review.note {
        out.push_str(&format!("_{note}_\n"));
    }
    for (index, pair) in review.pairs.iter().enumerate() {
        out.push_str(&format!(
            "### {}. `{}` (tenant `{}`, {})\n\n**Failed:**\n",
            index + 1,
            pair.canary.request_id,
            pair.canary.tenant_id,
            pair.canary.ts
        ));
        for failure in &pair.failures {
            out.push_str(&format!("- `{}`: {}\n", failure.evaluator, failure.reason));
        }
        out.push_str(&format!(
            "\n**Prompt:**\n\n{}\n**Canary:**\n\n{}\n",
            quote(&pair.canary.prompt),
            quote(&pair.canary.output)
        ));
        match (&pair.baseline, &pair.matched_by) {
            (Some(baseline), Some(how)) => out.push_str(&format!(
                "**Baseline** (`{}`, tenant `{}`, {how}):\n\n{}\n{}\n",
                baseline.request_id,
                baseline.tenant_id,
                quote(&baseline.prompt),
                quote(&baseline.output)
            )),
            _ => out.push_str("_No baseline response to compare with._\n\n"),
        }
    }
    out
}

/// Runs `evalgate rollout review ID [--json]`.
pub async fn run(services: &Services, args: RolloutIdArgs) -> CmdResult {
    let (ctx, store) = (&services.ctx, &services.store);
    let rollout = LoadedRollout::load(store, &args.id).await?;
    let sinks = &services.sinks;
    let review = build_review(store, sinks, &rollout, ctx.clock.now()).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&review)?);
    } else {
        crate::out!("{}", render_markdown(&review));
    }
    Ok(ExitCode::SUCCESS)
}
