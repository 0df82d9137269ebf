//! One judge assertion on one request: the cache, the call(s) through the judge client, the
//! tolerant parse, `not-` and the resulting `Score`. Failures become unscorable scores with a
//! reason; nothing here returns an error. The one exception is a call refused because the
//! tick's shared budget could not be read or written: that judgment is undecided (no score),
//! and the engine fails the batch so it is redone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::adapters::judge_cache::JudgmentCache;
use crate::adapters::judge_client::{ChatReply, JudgeClient, JudgeError};
use crate::adapters::judge_tick::JudgeTick;
use crate::adapters::store::CachedJudgment;
use crate::domain::{Outcome, Request, Score, Timestamp};
use crate::evaluators::judge_prompt::{
    self, JudgeSample, JudgeVerdict, PairOrder, judgment_cache_key,
};
use crate::evaluators::versions::EvaluatorId;
use crate::evaluators::{Assertion, AssertionKind, PairwiseSpec, RubricSpec};

/// What a judging pass shares: the clients, their tick state and the cache.
pub(super) struct JudgeRun<'a> {
    pub clients: &'a std::collections::BTreeMap<String, Arc<JudgeClient>>,
    pub ticks: &'a std::collections::BTreeMap<String, Arc<JudgeTick>>,
    pub cache: &'a JudgmentCache,
    pub now: Timestamp,
    pub cache_hits: AtomicU64,
}

/// A verdict plus what it cost.
struct Judged {
    verdict: JudgeVerdict,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: f64,
    /// A call was refused because the tick's budget ledger failed: there is no verdict.
    undecided: bool,
}

impl Judged {
    fn free(verdict: JudgeVerdict) -> Judged {
        Judged {
            verdict,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            undecided: false,
        }
    }

    fn failed(err: &JudgeError) -> Judged {
        let mut judged = Judged::free(JudgeVerdict::unscorable(unscorable_reason(err)));
        judged.undecided = matches!(err, JudgeError::Ledger);
        judged
    }
}

/// The reason an unscorable judgment gives for a client error.
pub fn unscorable_reason(err: &JudgeError) -> String {
    match err {
        JudgeError::Budget => "budget".to_string(),
        err if err.is_auth() => "judge auth failed".to_string(),
        JudgeError::Timeout(_) => "judge timed out (retries exhausted)".to_string(),
        JudgeError::RateLimited { .. } => "judge rate limited (retries exhausted)".to_string(),
        JudgeError::Server { status, .. } => {
            format!("judge server error http {status} (retries exhausted)")
        }
        other => format!("judge error: {other}"),
    }
}

/// True when the reply has text to parse: not cut off, not empty.
fn has_text(reply: &ChatReply) -> bool {
    reply.finish_reason.as_deref() != Some("length") && !reply.content.trim().is_empty()
}

/// Whether a rubric reply carries a verdict (`ok` on `/metrics`, else `unparseable`).
fn rubric_readable(reply: &ChatReply) -> bool {
    has_text(reply) && judge_prompt::rubric_reply_parses(&reply.content)
}

/// Whether a pairwise reply names a winner (`ok` on `/metrics`, else `unparseable`).
fn pairwise_readable(reply: &ChatReply) -> bool {
    has_text(reply)
        && judge_prompt::parse_pairwise_reply(&reply.content, PairOrder::OutputFirst).is_ok()
}

/// The verdict a reply carries, before parsing its JSON.
fn reply_verdict(reply: &ChatReply, parse: impl FnOnce(&str) -> JudgeVerdict) -> JudgeVerdict {
    if reply.finish_reason.as_deref() == Some("length") {
        return JudgeVerdict::unscorable("judge reply truncated (finish_reason length)");
    }
    if reply.content.trim().is_empty() {
        return match &reply.refusal {
            Some(refusal) => JudgeVerdict::unscorable(format!("judge refused: {refusal}")),
            None => JudgeVerdict::unscorable("judge reply is empty"),
        };
    }
    parse(&reply.content)
}

impl JudgeRun<'_> {
    /// Scores `request` with the judge assertion `assertion`; `None` when the judgment is
    /// undecided (the tick's budget ledger failed).
    pub async fn judge(
        &self,
        request: &Request,
        assertion: &Assertion,
        evaluator: &EvaluatorId,
    ) -> Option<Score> {
        let started = Instant::now();
        let sample = JudgeSample {
            input: &request.input,
            output: &request.output,
            reference: request.reference.as_deref(),
        };
        let judged = self.judge_sample(&sample, assertion, evaluator).await;
        if judged.undecided {
            return None;
        }
        let mut verdict = judged.verdict;
        if assertion.negate {
            verdict = negate(verdict);
        }
        Some(Score {
            request_id: request.request_id.clone(),
            evaluator: evaluator.name.clone(),
            evaluator_version: evaluator.version.clone(),
            outcome: verdict.outcome,
            score: verdict.score,
            reason: verdict.reason,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: i64::try_from(judged.prompt_tokens).unwrap_or(i64::MAX),
            completion_tokens: i64::try_from(judged.completion_tokens).unwrap_or(i64::MAX),
            cost_usd: judged.cost_usd,
        })
    }

    async fn judge_sample(
        &self,
        sample: &JudgeSample<'_>,
        assertion: &Assertion,
        evaluator: &EvaluatorId,
    ) -> Judged {
        let (judge, rubric_opt, pairwise_opt) = match &assertion.kind {
            AssertionKind::Rubric(spec) => (&spec.judge, Some(spec), None),
            AssertionKind::Pairwise(spec) => (&spec.judge, None, Some(spec)),
            AssertionKind::Rule(_) => {
                return Judged::free(JudgeVerdict::unscorable("not a judge assertion"));
            }
        };
        let (Some(client), Some(tick)) = (self.clients.get(judge), self.ticks.get(judge)) else {
            return Judged::free(JudgeVerdict::unscorable(format!(
                "judge `{judge}` is not configured"
            )));
        };
        let key = judgment_cache_key(&evaluator.version, sample);
        if let Some(hit) = self.cache.get(&key).await {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Judged::free(JudgeVerdict {
                outcome: hit.outcome,
                score: hit.score,
                reason: hit.reason,
            });
        }
        let judged = match (rubric_opt, pairwise_opt) {
            (Some(spec), _) => rubric(client, tick, spec, sample, assertion.threshold).await,
            (_, Some(spec)) => pairwise(client, tick, spec, sample, assertion.threshold).await,
            _ => Judged::free(JudgeVerdict::unscorable("not a judge assertion")),
        };
        if judged.verdict.outcome != Outcome::Unscorable {
            let entry = CachedJudgment {
                outcome: judged.verdict.outcome,
                score: judged.verdict.score,
                reason: judged.verdict.reason.clone(),
                prompt_tokens: i64::try_from(judged.prompt_tokens).unwrap_or(i64::MAX),
                completion_tokens: i64::try_from(judged.completion_tokens).unwrap_or(i64::MAX),
                cost_usd: judged.cost_usd,
            };
            self.cache
                .put(&key, &evaluator.version, &entry, self.now)
                .await;
        }
        judged
    }
}

/// `not-llm-rubric` / `not-llm-pairwise`: pass and fail swap, the score mirrors, unscorable
/// stays unscorable.
fn negate(verdict: JudgeVerdict) -> JudgeVerdict {
    let outcome = match verdict.outcome {
        Outcome::Pass => Outcome::Fail,
        Outcome::Fail => Outcome::Pass,
        Outcome::Unscorable => return verdict,
    };
    JudgeVerdict {
        outcome,
        score: verdict.score.map(|score| 1.0 - score),
        reason: format!("not: {}", verdict.reason),
    }
}

async fn rubric(
    client: &JudgeClient,
    tick: &JudgeTick,
    spec: &RubricSpec,
    sample: &JudgeSample<'_>,
    threshold_opt: Option<f64>,
) -> Judged {
    let body = match judge_prompt::rubric_request(client.config(), &spec.rubric, sample) {
        Ok(body) => body,
        Err(err) => return Judged::free(JudgeVerdict::unscorable(err.to_string())),
    };
    match client.chat(tick, &body, rubric_readable).await {
        Ok(reply) => Judged {
            verdict: reply_verdict(&reply, |content| {
                judge_prompt::parse_rubric_reply(content, threshold_opt)
            }),
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: reply.completion_tokens,
            cost_usd: reply.cost_usd,
            undecided: false,
        },
        Err(err) => Judged::failed(&err),
    }
}

async fn pairwise(
    client: &JudgeClient,
    tick: &JudgeTick,
    spec: &PairwiseSpec,
    sample: &JudgeSample<'_>,
    threshold_opt: Option<f64>,
) -> Judged {
    let config = client.config();
    let bodies = (
        judge_prompt::pairwise_request(config, &spec.criteria, sample, PairOrder::OutputFirst),
        judge_prompt::pairwise_request(config, &spec.criteria, sample, PairOrder::ReferenceFirst),
    );
    let (first_body, second_body) = match bodies {
        (Ok(Some(first)), Ok(Some(second))) => (first, second),
        (Err(err), _) | (_, Err(err)) => {
            return Judged::free(JudgeVerdict::unscorable(err.to_string()));
        }
        _ => {
            return Judged::free(JudgeVerdict::unscorable(
                "no reference answer to compare against",
            ));
        }
    };
    let (first, second) = tokio::join!(
        client.chat(tick, &first_body, pairwise_readable),
        client.chat(tick, &second_body, pairwise_readable)
    );
    let mut judged = Judged::free(JudgeVerdict::unscorable(""));
    for reply in [&first, &second].into_iter().flatten() {
        judged.prompt_tokens += reply.prompt_tokens;
        judged.completion_tokens += reply.completion_tokens;
        judged.cost_usd += reply.cost_usd;
    }
    let (first_reply, second_reply) = match (first, second) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(err), _) | (_, Err(err)) => {
            let failed = Judged::failed(&err);
            judged.verdict = failed.verdict;
            judged.undecided = failed.undecided;
            return judged;
        }
    };
    let read = |reply: &ChatReply, order: PairOrder| {
        let mut winner = None;
        let verdict = reply_verdict(reply, |content| {
            match judge_prompt::parse_pairwise_reply(content, order) {
                Ok(found) => {
                    winner = Some(found);
                    JudgeVerdict::unscorable("")
                }
                Err(verdict) => verdict,
            }
        });
        winner.ok_or(verdict)
    };
    judged.verdict = match (
        read(&first_reply, PairOrder::OutputFirst),
        read(&second_reply, PairOrder::ReferenceFirst),
    ) {
        (Ok((first_winner, reason)), Ok((second_winner, _))) => {
            judge_prompt::combine_pairwise(first_winner, second_winner, threshold_opt, &reason)
        }
        (Err(verdict), _) | (_, Err(verdict)) => verdict,
    };
    judged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_swaps_pass_and_fail_and_keeps_unscorable() {
        let pass = JudgeVerdict {
            outcome: Outcome::Pass,
            score: Some(0.8),
            reason: "polite".into(),
        };
        let negated = negate(pass);
        assert_eq!(negated.outcome, Outcome::Fail);
        assert!((negated.score.unwrap() - 0.2).abs() < 1e-12);
        let unscorable = negate(JudgeVerdict::unscorable("budget"));
        assert_eq!(unscorable.outcome, Outcome::Unscorable);
        assert_eq!(unscorable.reason, "budget");
    }

    fn reply(content: &str, finish_reason: &str) -> ChatReply {
        ChatReply {
            content: content.to_string(),
            finish_reason: Some(finish_reason.to_string()),
            refusal: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            latency: std::time::Duration::ZERO,
            attempts: 1,
            system_fingerprint: None,
        }
    }

    #[test]
    fn only_replies_with_a_verdict_are_readable() {
        assert!(rubric_readable(&reply(r#"{"pass": true}"#, "stop")));
        assert!(rubric_readable(&reply(
            r#"verdict: {"score": 0.4}"#,
            "stop"
        )));
        assert!(!rubric_readable(&reply("I think it is polite.", "stop")));
        assert!(!rubric_readable(&reply(r#"{"pass": true}"#, "length")));
        assert!(!rubric_readable(&reply("  ", "stop")));
        assert!(pairwise_readable(&reply(r#"{"winner": "B"}"#, "stop")));
        assert!(!pairwise_readable(&reply(r#"{"winner": "C"}"#, "stop")));
    }

    #[test]
    fn client_errors_map_to_the_documented_reasons() {
        assert_eq!(unscorable_reason(&JudgeError::Budget), "budget");
        assert_eq!(
            unscorable_reason(&JudgeError::Auth { status: 401 }),
            "judge auth failed"
        );
        assert_eq!(
            unscorable_reason(&JudgeError::AuthStopped),
            "judge auth failed"
        );
    }
}
