//! Transition notifications: a webhook POST per rollout transition (evalgate JSON or a
//! Slack-compatible `{"text", "blocks"}` payload), to the rollout owner's webhook or else the
//! default one, retried with doubling backoff on network errors, 429 and 5xx. Giving up is
//! logged loudly and reported, never fatal: a broken webhook must not stop a rollback. Webhook
//! URLs can be secrets, so they are never logged. Each notification carries a stable id (its
//! outbox row, `worker::controller::outbox`), sent as the `Idempotency-Key` header and, in the
//! JSON format, as `id`: delivery is at least once, so receivers dedupe on it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{NotifyConfig, NotifyFormat};
use crate::domain::Timestamp;
pub use crate::domain::rollout::Severity;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => ":large_green_circle:",
        Severity::Warning => ":warning:",
        Severity::Critical => ":rotating_light:",
    }
}

/// One transition, as the owner is told about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id (the outbox row): the same on every delivery attempt.
    #[serde(default)]
    pub id: String,
    /// The rollout id.
    pub rollout_id: String,
    /// Its flag key.
    pub flag_key: String,
    /// The owning team.
    pub owner: Option<String>,
    /// What happened, as a short machine word (`promote`, `rollback`, `sink_failure`, …).
    pub event: String,
    /// How urgent.
    pub severity: Severity,
    /// One line for people, e.g. `promoted 1% → 10%`.
    pub summary: String,
    /// Why.
    pub reason: String,
    /// State before.
    pub before: Value,
    /// State after.
    pub after: Value,
    /// The numbers behind the decision.
    pub evidence: Value,
    /// When.
    pub at: Timestamp,
}

/// What happened to one notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NotifyOutcome {
    /// A 2xx answer.
    Delivered {
        /// Attempts used.
        attempts: u32,
        /// The HTTP status.
        http_status: u16,
    },
    /// Neither the rollout nor `[notify]` names a webhook.
    NoWebhook,
    /// Every attempt failed, or the endpoint refused it (4xx other than 429).
    GaveUp {
        /// Attempts used.
        attempts: u32,
        /// The last error.
        error: String,
    },
}

/// Sends notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    timeout: Duration,
    default_webhook: Option<String>,
    webhook_env: Option<String>,
    format: NotifyFormat,
    retries: u32,
    backoff: Duration,
}

impl Notifier {
    /// A notifier configured by `[notify]`, with its own HTTP client. Build it once per process
    /// (`context::Services` does): building a client loads the TLS root certificates.
    pub fn from_config(config: &NotifyConfig) -> anyhow::Result<Notifier> {
        let client = crate::adapters::http_client::builder()
            .user_agent(concat!("evalgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notifier {
            client,
            timeout: config.timeout.to_std(),
            default_webhook: config.webhook.clone(),
            webhook_env: config.webhook_env.clone(),
            format: config.format,
            retries: config.retries,
            backoff: Duration::from_millis(config.retry_backoff_ms),
        })
    }

    /// True when a notification for a rollout with `owner_webhook` has somewhere to go.
    pub fn has_webhook(&self, owner_webhook: Option<&str>) -> bool {
        self.webhook_for(owner_webhook).is_some()
    }

    /// The longest one `send` can take (every attempt timing out, plus the backoff), with a
    /// margin: an outbox item claimed for inline delivery is taken over after this.
    pub fn delivery_deadline(&self) -> chrono::TimeDelta {
        let attempts = self.retries.saturating_add(1);
        let mut total = self.timeout.saturating_mul(attempts);
        let mut delay = self.backoff;
        for _ in 0..self.retries {
            total = total.saturating_add(delay);
            delay = (delay * 2).min(MAX_BACKOFF);
        }
        let margin = Duration::from_secs(5);
        chrono::TimeDelta::from_std(total.saturating_add(margin))
            .unwrap_or(chrono::TimeDelta::hours(1))
    }

    /// The webhook a rollout's notifications go to: its owner's, else the default.
    fn webhook_for(&self, owner_webhook: Option<&str>) -> Option<String> {
        if let Some(url) = owner_webhook.filter(|url| !url.trim().is_empty()) {
            return Some(url.to_string());
        }
        if let Some(url) = &self.default_webhook {
            return Some(url.clone());
        }
        let var = self.webhook_env.as_deref()?;
        std::env::var(var).ok().filter(|url| !url.trim().is_empty())
    }

    /// The request body in the configured format.
    pub fn payload(&self, notification: &Notification) -> Value {
        match self.format {
            NotifyFormat::Json => json_payload(notification),
            NotifyFormat::Slack => slack_payload(notification),
        }
    }

    /// POSTs `notification` to the owner's webhook (or the default), retrying transient
    /// failures. Never fails: the outcome says what happened, and giving up is logged.
    #[tracing::instrument(skip_all, fields(rollout_id = %notification.rollout_id, event = %notification.event))]
    pub async fn send(
        &self,
        owner_webhook: Option<&str>,
        notification: &Notification,
    ) -> NotifyOutcome {
        let Some(url) = self.webhook_for(owner_webhook) else {
            tracing::debug!("no webhook configured; notification not sent");
            return NotifyOutcome::NoWebhook;
        };
        let body = self.payload(notification);
        let mut attempts = 0;
        let mut delay = self.backoff;
        loop {
            attempts += 1;
            let mut request = self.client.post(&url).timeout(self.timeout).json(&body);
            if !notification.id.is_empty() {
                request = request.header("Idempotency-Key", &notification.id);
            }
            let (error, retryable) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return NotifyOutcome::Delivered {
                        attempts,
                        http_status: response.status().as_u16(),
                    };
                }
                Ok(response) => {
                    let status = response.status();
                    let retryable = status.is_server_error() || status.as_u16() == 429;
                    (format!("webhook answered {status}"), retryable)
                }
                // Strip the URL from the error: it may carry a secret token.
                Err(err) => (
                    format!("webhook request failed: {}", err.without_url()),
                    true,
                ),
            };
            if !retryable || attempts > self.retries {
                tracing::error!(attempts, error = %error, "notification not delivered; giving up");
                return NotifyOutcome::GaveUp { attempts, error };
            }
            tracing::warn!(attempts, error = %error, "notification failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }
}

/// evalgate's own payload: the rollout, the transition, the reason and the evidence.
pub fn json_payload(notification: &Notification) -> Value {
    json!({
        "source": "evalgate",
        "id": notification.id,
        "at": notification.at,
        "severity": notification.severity,
        "rollout": {
            "id": notification.rollout_id,
            "flag_key": notification.flag_key,
            "owner": notification.owner,
        },
        "transition": {
            "event": notification.event,
            "summary": notification.summary,
            "before": notification.before,
            "after": notification.after,
        },
        "reason": notification.reason,
        "evidence": notification.evidence,
    })
}

/// A Slack-compatible payload: `text` for clients without blocks, and blocks with the details.
pub fn slack_payload(notification: &Notification) -> Value {
    let owner = notification.owner.as_deref().unwrap_or("no owner");
    let text = format!(
        "{} evalgate: rollout `{}` {}: {}",
        severity_emoji(notification.severity),
        notification.rollout_id,
        notification.summary,
        notification.reason
    );
    let evidence = serde_json::to_string_pretty(&notification.evidence).unwrap_or_default();
    let evidence_excerpt: String = evidence.chars().take(2_500).collect();
    json!({
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": text},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": format!("*Flag*\n`{}`", notification.flag_key)},
                    {"type": "mrkdwn", "text": format!("*Owner*\n{owner}")},
                    {"type": "mrkdwn", "text": format!("*Event*\n{}", notification.event)},
                    {"type": "mrkdwn", "text": format!("*At*\n{}", notification.at.to_rfc3339())},
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("*Evidence*\n```{evidence_excerpt}```")},
            },
        ],
    })
}
