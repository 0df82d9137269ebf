//! `[notify]`: where transition notifications go (a default webhook; a rollout's owner webhook
//! overrides it), in which payload format, and how hard to retry.

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::HumanDuration;

/// The payload shape of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// evalgate's JSON: rollout, transition, reason, evidence.
    #[default]
    Json,
    /// Slack-compatible: `{"text": …, "blocks": […]}` (also accepted by Mattermost and others).
    Slack,
}

/// The `[notify]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The default webhook URL (a rollout's own webhook takes precedence).
    pub webhook: Option<String>,
    /// The name of an environment variable holding the default webhook URL, for URLs that are
    /// secrets (Slack incoming webhooks). Read at send time; used when `webhook` is unset.
    pub webhook_env: Option<String>,
    /// The payload format.
    pub format: NotifyFormat,
    /// Timeout of one POST.
    pub timeout: HumanDuration,
    /// Extra attempts after a failed POST (network error, 429 or 5xx).
    pub retries: u32,
    /// Delay before the first retry, in milliseconds; it doubles on each retry.
    pub retry_backoff_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhook: None,
            webhook_env: None,
            format: NotifyFormat::Json,
            timeout: HumanDuration::from_secs(10),
            retries: 3,
            retry_backoff_ms: 500,
        }
    }
}

impl NotifyConfig {
    /// Checks the URL scheme, the timeout and the retry bounds.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(url) = &self.webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Invalid::new(
                "notify.webhook",
                "is not an http:// or https:// URL".to_string(),
            ));
        }
        if let Some(var) = &self.webhook_env
            && var.trim().is_empty()
        {
            return Err(Invalid::new("notify.webhook_env", "is empty".to_string()));
        }
        if self.timeout.as_secs() < 1 || self.timeout.as_secs() > 300 {
            return Err(Invalid::new(
                "notify.timeout",
                format!("is {}; allowed: 1s to 5m", self.timeout),
            ));
        }
        if self.retries > 10 {
            return Err(Invalid::new(
                "notify.retries",
                format!("is {}; allowed: 0 to 10", self.retries),
            ));
        }
        if self.retry_backoff_ms > 60_000 {
            return Err(Invalid::new(
                "notify.retry_backoff_ms",
                format!("is {}; allowed: 0 to 60000", self.retry_backoff_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(NotifyConfig::default().validate().is_ok());
    }

    #[test]
    fn a_webhook_must_be_http() {
        let config = NotifyConfig {
            webhook: Some("ftp://example.com".into()),
            ..NotifyConfig::default()
        };
        let crate::config::Invalid { key, message } = config.validate().unwrap_err();
        assert_eq!(key, "notify.webhook");
        assert!(!message.contains("example.com"), "the URL may be a secret");
    }

    #[test]
    fn slack_format_parses_from_toml() {
        let config: NotifyConfig = toml::from_str("format = \"slack\"\nretries = 0\n").unwrap();
        assert_eq!(config.format, NotifyFormat::Slack);
        assert_eq!(config.retries, 0);
    }
}
