//! The HTTP half of the LLM judge: one OpenAI-compatible `POST {base_url}/chat/completions`
//! client per configured judge, with a concurrency limit, request and token rate limits applied
//! to every attempt, a per-call timeout, jittered exponential retries on 429, 5xx, timeouts and
//! connection errors (honouring `Retry-After`), a loud stop on 401/403, usage priced into
//! dollars and a per-tick budget. It sends what `evaluators::judge_prompt` built and returns
//! the reply text; it does not decide pass or fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::judge_limits::RateLimiter;
use super::judge_tick::{JudgeTick, Refusal};
use crate::config::JudgeConfig;

/// Why a judge call failed. `is_retryable` says whether another attempt may help.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The attempt took longer than the per-call timeout.
    #[error("judge call timed out after {0:?}")]
    Timeout(Duration),
    /// HTTP 429.
    #[error("judge rate limited (http 429)")]
    RateLimited {
        /// What the server asked us to wait.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx.
    #[error("judge server error (http {status})")]
    Server {
        /// The status code.
        status: u16,
        /// What the server asked us to wait, if anything.
        retry_after: Option<Duration>,
    },
    /// HTTP 401 or 403: the judge is stopped for the rest of the tick.
    #[error("judge auth failed (http {status})")]
    Auth {
        /// The status code.
        status: u16,
    },
    /// The configured API key variable is not set (treated like an auth failure).
    #[error("judge auth failed: environment variable {var} is not set")]
    MissingApiKey {
        /// The variable's name (never its value).
        var: String,
    },
    /// Any other 4xx: the request itself is wrong, retrying will not help.
    #[error("judge rejected the request (http {status}): {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// The server's error message, shortened.
        message: String,
    },
    /// The connection failed or broke.
    #[error("judge connection failed: {0}")]
    Connect(#[source] reqwest::Error),
    /// A 200 whose body is not a chat completion.
    #[error("judge reply is not a chat completion: {0}")]
    BadReply(String),
    /// The tick's budget for this judge is spent.
    #[error("budget")]
    Budget,
    /// Authentication failed earlier in this tick; no call was made.
    #[error("judge auth failed")]
    AuthStopped,
    /// The tick's shared budget could not be read or written; no call was made.
    #[error("the tick's judge budget is unavailable")]
    Ledger,
}

impl JudgeError {
    /// True for failures another attempt may fix: timeouts, 429, 5xx, connection errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            JudgeError::Timeout(_)
                | JudgeError::RateLimited { .. }
                | JudgeError::Server { .. }
                | JudgeError::Connect(_)
        )
    }

    /// True for failures that stop the judge for the tick.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            JudgeError::Auth { .. } | JudgeError::MissingApiKey { .. } | JudgeError::AuthStopped
        )
    }

    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            JudgeError::Timeout(_) => "timeout",
            JudgeError::RateLimited { .. } => "rate_limited",
            JudgeError::Server { .. } => "http_error",
            JudgeError::Auth { .. } | JudgeError::MissingApiKey { .. } => "auth",
            JudgeError::Rejected { .. } => "rejected",
            JudgeError::Connect(_) => "connect",
            JudgeError::BadReply(_) => "bad_reply",
            JudgeError::Budget => "budget",
            JudgeError::AuthStopped => "auth_stopped",
            JudgeError::Ledger => "ledger",
        }
    }

    /// The `outcome` label of `evalgate_judge_requests_total`: ok, rate_limited, timeout,
    /// http_error or unparseable (INTEGRATION.md §2).
    pub fn metric_outcome(&self) -> &'static str {
        match self {
            JudgeError::Timeout(_) => "timeout",
            JudgeError::RateLimited { .. } => "rate_limited",
            JudgeError::BadReply(_) => "unparseable",
            _ => "http_error",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            JudgeError::RateLimited { retry_after } | JudgeError::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// Whether a reply carries a verdict the caller can read (see [`JudgeClient::chat`]).
pub type ReplyCheck = fn(&ChatReply) -> bool;

/// A judge's reply: the text and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// The assistant message content (empty when the server sent none).
    pub content: String,
    /// `stop`, `length`, … when the server says.
    pub finish_reason: Option<String>,
    /// The refusal text, when the server sends one.
    pub refusal: Option<String>,
    /// Prompt tokens of the successful attempt (0 when the server sends no usage).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful attempt.
    pub completion_tokens: u64,
    /// Dollars, priced from usage (or the server's cost header when prices are not set).
    pub cost_usd: f64,
    /// Wall time of the whole call, retries and waits included.
    pub latency: Duration,
    /// Attempts made (1 without retries).
    pub attempts: u32,
    /// The server's `system_fingerprint`, when sent.
    pub system_fingerprint: Option<String>,
}

/// Timing knobs of the client; `from_config` fills them from `[judges.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSettings {
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay (doubled per retry, then jittered to 50–100%).
    pub backoff_base: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails instead.
    pub max_retry_after: Duration,
}

impl JudgeSettings {
    /// The settings a judge config asks for.
    pub fn from_config(config: &JudgeConfig) -> JudgeSettings {
        JudgeSettings {
            timeout: config.timeout.to_std(),
            max_retries: config.max_retries,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// One configured judge. Cheap to share (`Arc`); the limits are shared by every caller.
#[derive(Debug)]
pub struct JudgeClient {
    name: String,
    config: JudgeConfig,
    settings: JudgeSettings,
    http: reqwest::Client,
    concurrency: Arc<Semaphore>,
    requests: Option<RateLimiter>,
    tokens: Option<RateLimiter>,
    jitter: Mutex<ChaCha8Rng>,
    /// Set once the server rejected `response_format`: later calls ask for JSON in the prompt
    /// only (the parser is tolerant either way).
    plain_json_only: AtomicBool,
}

impl JudgeClient {
    /// A client for judge `name`, with settings from its config.
    pub fn new(name: &str, config: JudgeConfig, http: reqwest::Client) -> JudgeClient {
        let settings = JudgeSettings::from_config(&config);
        JudgeClient::with_settings(name, config, settings, http)
    }

    /// A client with explicit timing settings (tests use short ones).
    pub fn with_settings(
        name: &str,
        config: JudgeConfig,
        settings: JudgeSettings,
        http: reqwest::Client,
    ) -> JudgeClient {
        let permits = usize::try_from(config.max_concurrency.max(1)).unwrap_or(1);
        JudgeClient {
            name: name.to_string(),
            requests: RateLimiter::per_minute(config.requests_per_minute),
            tokens: RateLimiter::per_minute(config.tokens_per_minute),
            jitter: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)),
            plain_json_only: AtomicBool::new(false),
            concurrency: Arc::new(Semaphore::new(permits)),
            config,
            settings,
            http,
        }
    }

    /// The judge's name in `[judges.NAME]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The judge's config.
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// Sends one chat request, with retries, limits and the tick's budget. `readable` says
    /// whether a reply carries a verdict: a reply that does not is counted
    /// `outcome="unparseable"` on `/metrics`, not `ok` (INTEGRATION.md §2).
    #[tracing::instrument(skip_all, fields(judge = %self.name))]
    pub async fn chat(
        &self,
        tick: &JudgeTick,
        body: &Value,
        readable: ReplyCheck,
    ) -> Result<ChatReply, JudgeError> {
        let started = Instant::now();
        let api_key_opt = match self.api_key(tick).await {
            Ok(key_opt) => key_opt,
            Err(err) => return Err(err),
        };
        let estimate = estimate_tokens(body, self.config.max_completion_tokens);
        let mut fell_back = false;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result = self
                .attempt(tick, body, api_key_opt.as_deref(), estimate, readable)
                .await;
            match result {
                Err(JudgeError::Rejected {
                    status: 400,
                    message,
                }) if !fell_back
                    && body.get("response_format").is_some()
                    && message.to_ascii_lowercase().contains("response_format") =>
                {
                    if !self.plain_json_only.swap(true, Ordering::Relaxed) {
                        tracing::warn!(judge = %self.name, error = %message, "judge rejects response_format; asking for json in the prompt only");
                    }
                    fell_back = true;
                    attempt -= 1;
                }
                Ok(mut reply) => {
                    reply.latency = started.elapsed();
                    reply.attempts = attempt;
                    return Ok(reply);
                }
                Err(err) if err.is_retryable() && attempt <= self.settings.max_retries => {
                    let Some(delay) = self.backoff(&err, attempt) else {
                        return Err(err);
                    };
                    tracing::warn!(judge = %self.name, attempt, error = %err, delay_ms = delay.as_millis() as u64, "judge call failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(err) => {
                    self.log_rejection(tick, &err);
                    return Err(err);
                }
            }
        }
    }

    /// A 4xx other than auth (LiteLLM answers a wrong key with 400 "No connected db."): every
    /// judgment of the tick may end unscorable for the same reason, so it is said once per tick
    /// (per [`JudgeTick`]), with the server's own words.
    fn log_rejection(&self, tick: &JudgeTick, err: &JudgeError) {
        let JudgeError::Rejected { status, message } = err else {
            return;
        };
        if tick.first_rejection() {
            tracing::warn!(
                judge = %self.name,
                status = *status,
                reason = %message,
                "judge rejected the request; its judgments are unscorable (logged once per tick)"
            );
        }
    }

    async fn api_key(&self, tick: &JudgeTick) -> Result<Option<String>, JudgeError> {
        let Some(var) = &self.config.api_key_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(key) if !key.is_empty() => Ok(Some(key)),
            _ => {
                let err = JudgeError::MissingApiKey { var: var.clone() };
                if tick.stop_for_auth(&err.to_string()).await {
                    tracing::error!(judge = %self.name, error = %err, "judge has no api key; the judge is stopped for the rest of the tick");
                }
                Err(err)
            }
        }
    }

    /// One attempt: a concurrency permit, then the tick's budget and auth state (checked once
    /// the permit is held), then the rate limits, then the request under the timeout; what it
    /// spent, or its auth failure, is recorded in the tick before the permit is released, so a
    /// call waiting for the permit sees what the calls before it spent.
    async fn attempt(
        &self,
        tick: &JudgeTick,
        body: &Value,
        api_key_opt: Option<&str>,
        estimate: u64,
        readable: ReplyCheck,
    ) -> Result<ChatReply, JudgeError> {
        let _permit = self
            .concurrency
            .acquire()
            .await
            .map_err(|_| JudgeError::BadReply("judge client is shut down".to_string()))?;
        match tick.start_call().await {
            Ok(()) => {}
            Err(Refusal::Budget) => return Err(JudgeError::Budget),
            Err(Refusal::AuthStopped) => return Err(JudgeError::AuthStopped),
            Err(Refusal::Ledger) => return Err(JudgeError::Ledger),
        }
        // The rate limits come last, right before sending, so that waiting for a permit
        // cannot bunch up departures the limiter had spread out.
        if let Some(limiter) = &self.requests {
            limiter.acquire(1.0).await;
        }
        if let Some(limiter) = &self.tokens {
            limiter.acquire(estimate as f64).await;
        }
        let plain_opt = if self.plain_json_only.load(Ordering::Relaxed) {
            without_response_format(body)
        } else {
            None
        };
        let body = plain_opt.as_ref().unwrap_or(body);
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(self.settings.timeout, self.send(body, api_key_opt)).await;
        let result = match outcome {
            Ok(result) => result,
            Err(_) => Err(JudgeError::Timeout(self.settings.timeout)),
        };
        let seconds = started.elapsed().as_secs_f64();
        self.record_metrics(&result, seconds, readable);
        match &result {
            Ok(reply) => {
                let used = reply.prompt_tokens + reply.completion_tokens;
                if let Some(limiter) = &self.tokens {
                    limiter.adjust(used as f64 - estimate as f64);
                }
                tick.record_usage(used, reply.cost_usd).await;
            }
            Err(err @ JudgeError::Auth { .. }) => {
                if tick.stop_for_auth(&err.to_string()).await {
                    tracing::error!(
                        judge = %self.name,
                        error = %err,
                        "judge authentication failed; the judge is stopped for the rest of the tick"
                    );
                }
            }
            Err(_) => {}
        }
        result
    }

    /// Records one attempt under the names of INTEGRATION.md §2 (labels: the judge model and
    /// a closed set of outcomes).
    fn record_metrics(
        &self,
        result: &Result<ChatReply, JudgeError>,
        seconds: f64,
        readable: ReplyCheck,
    ) {
        let model = &self.config.model;
        let outcome = match result {
            Ok(reply) if readable(reply) => "ok",
            Ok(_) => "unparseable",
            Err(err) => err.metric_outcome(),
        };
        crate::metrics::record_judge_request(model, outcome, seconds);
        if let Ok(reply) = result {
            crate::metrics::record_judge_usage(
                model,
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.cost_usd,
            );
        }
    }

    async fn send(&self, body: &Value, api_key_opt: Option<&str>) -> Result<ChatReply, JudgeError> {
        let mut request = self.http.post(self.config.endpoint()).json(body);
        if let Some(key) = api_key_opt {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(map_send_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let header_cost = response
            .headers()
            .get("x-litellm-response-cost")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<f64>().ok());
        let text = response.text().await.map_err(map_send_error)?;
        match status {
            200..=299 => self.read_reply(&text, header_cost),
            401 | 403 => Err(JudgeError::Auth { status }),
            429 => Err(JudgeError::RateLimited { retry_after }),
            500..=599 => Err(JudgeError::Server {
                status,
                retry_after,
            }),
            _ => Err(JudgeError::Rejected {
                status,
                message: error_message(&text),
            }),
        }
    }

    fn read_reply(&self, text: &str, header_cost: Option<f64>) -> Result<ChatReply, JudgeError> {
        let wire: WireResponse =
            serde_json::from_str(text).map_err(|err| JudgeError::BadReply(format!("{err}")))?;
        let Some(choice) = wire.choices.into_iter().next() else {
            return Err(JudgeError::BadReply("no choices".to_string()));
        };
        let message = choice.message.unwrap_or_default();
        let usage = wire.usage.unwrap_or_default();
        let prompt_tokens = usage.prompt_tokens.unwrap_or(0);
        let completion_tokens = usage.completion_tokens.unwrap_or(0);
        let priced = prompt_tokens as f64 * self.config.price_per_million_input / 1e6
            + completion_tokens as f64 * self.config.price_per_million_output / 1e6;
        let cost_usd = match header_cost {
            Some(cost) if priced == 0.0 && cost.is_finite() && cost >= 0.0 => cost,
            _ => priced,
        };
        Ok(ChatReply {
            content: message.content.unwrap_or_default(),
            finish_reason: choice.finish_reason,
            refusal: message.refusal,
            prompt_tokens,
            completion_tokens,
            cost_usd,
            latency: Duration::ZERO,
            attempts: 1,
            system_fingerprint: wire.system_fingerprint,
        })
    }

    /// The wait before the next attempt: the server's `Retry-After` when it sent one (and it is
    /// not absurdly long), else jittered exponential backoff. `None`: do not retry.
    fn backoff(&self, err: &JudgeError, attempt: u32) -> Option<Duration> {
        let exponent = attempt.saturating_sub(1).min(16);
        let full = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(self.settings.backoff_max);
        let fraction = {
            let mut rng = self
                .jitter
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            rng.random_range(0.5..=1.0)
        };
        let jittered = full.mul_f64(fraction);
        match err.retry_after() {
            Some(wait) if wait > self.settings.max_retry_after => None,
            Some(wait) => Some(wait.max(jittered.min(wait + self.settings.backoff_base))),
            None => Some(jittered),
        }
    }
}

/// `body` without `response_format`, or `None` when it has none.
fn without_response_format(body: &Value) -> Option<Value> {
    let mut plain = body.clone();
    plain.as_object_mut()?.remove("response_format")?;
    Some(plain)
}

fn map_send_error(err: reqwest::Error) -> JudgeError {
    if err.is_timeout() {
        return JudgeError::Timeout(Duration::ZERO);
    }
    JudgeError::Connect(err)
}

/// `Retry-After` (seconds) or OpenAI's `retry-after-ms`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|number| number.is_finite() && *number >= 0.0)
    };
    if let Some(millis) = read("retry-after-ms") {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
    read("retry-after").map(Duration::from_secs_f64)
}

fn error_message(text: &str) -> String {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.to_string());
    message.chars().take(200).collect()
}

/// Prompt tokens guessed from the message text (4 characters a token) plus the completion cap.
fn estimate_tokens(body: &Value, max_completion_tokens: u32) -> u64 {
    let mut chars = 0usize;
    if let Some(Value::Array(messages)) = body.get("messages") {
        for message in messages {
            if let Some(Value::String(content)) = message.get("content") {
                chars += content.len();
            }
        }
    }
    (chars / 4) as u64 + u64::from(max_completion_tokens)
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    system_fingerprint: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    message: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_are_timeouts_rate_limits_and_server_errors() {
        assert!(JudgeError::Timeout(Duration::ZERO).is_retryable());
        assert!(JudgeError::RateLimited { retry_after: None }.is_retryable());
        assert!(
            JudgeError::Server {
                status: 503,
                retry_after: None
            }
            .is_retryable()
        );
        assert!(!JudgeError::Auth { status: 401 }.is_retryable());
        let rejected = JudgeError::Rejected {
            status: 400,
            message: "bad".into(),
        };
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.kind(), "rejected");
        assert!(!JudgeError::Budget.is_retryable());
    }

    #[test]
    fn a_reply_without_logprobs_refusal_or_usage_still_reads() {
        let client = JudgeClient::new(
            "j",
            JudgeConfig::default(),
            crate::adapters::http_client::builder().build().unwrap(),
        );
        let text = r#"{"id":"x","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"{\"pass\":true}"}}]}"#;
        let reply = client.read_reply(text, None).unwrap();
        assert_eq!(reply.content, "{\"pass\":true}");
        assert_eq!(reply.prompt_tokens, 0);
        assert_eq!(reply.refusal, None);
        assert_eq!(reply.cost_usd, 0.0);
    }

    #[test]
    fn usage_is_priced_per_million_tokens() {
        let config = JudgeConfig {
            price_per_million_input: 2.0,
            price_per_million_output: 8.0,
            ..JudgeConfig::default()
        };
        let client = JudgeClient::new(
            "j",
            config,
            crate::adapters::http_client::builder().build().unwrap(),
        );
        let text = r#"{"choices":[{"message":{"content":"x"}}],
                       "usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}"#;
        let reply = client.read_reply(text, Some(9.0)).unwrap();
        assert!((reply.cost_usd - 0.006).abs() < 1e-12, "{}", reply.cost_usd);
        let unpriced = JudgeClient::new(
            "j",
            JudgeConfig::default(),
            crate::adapters::http_client::builder().build().unwrap(),
        );
        assert_eq!(
            unpriced.read_reply(text, Some(0.25)).unwrap().cost_usd,
            0.25
        );
    }

    #[test]
    fn backoff_honours_retry_after_and_refuses_absurd_waits() {
        let client = JudgeClient::new(
            "j",
            JudgeConfig::default(),
            crate::adapters::http_client::builder().build().unwrap(),
        );
        let asked = JudgeError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        let wait = client.backoff(&asked, 1).unwrap();
        assert!(wait >= Duration::from_secs(3), "{wait:?}");
        let absurd = JudgeError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(client.backoff(&absurd, 1), None);
        let plain = client
            .backoff(&JudgeError::Timeout(Duration::ZERO), 3)
            .unwrap();
        // 250 ms doubled twice, jittered to 50–100%.
        assert!(plain >= Duration::from_millis(500) && plain <= Duration::from_millis(1000));
    }
}
