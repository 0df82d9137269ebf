//! `[judges.NAME]`: an OpenAI-compatible LLM judge that `llm-rubric` and `llm-pairwise`
//! assertions name. The API key is never here: `api_key_env` names the environment variable that
//! holds it, read when a call is made and never logged.

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::HumanDuration;

/// Which request field carries the completion-token cap (o-series models reject `max_tokens`,
/// many compatible servers only know `max_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_completion_tokens` (current OpenAI name).
    MaxCompletionTokens,
    /// `max_tokens` (deprecated by OpenAI, the only name some servers know).
    MaxTokens,
}

impl MaxTokensField {
    /// The JSON field name.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

/// One `[judges.NAME]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {
    /// The API root; the client posts to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The judge model name the server expects.
    pub model: String,
    /// The NAME of the environment variable holding the API key (none: no `Authorization`).
    pub api_key_env: Option<String>,
    /// Calls in flight at once.
    pub max_concurrency: u32,
    /// Request rate limit (0: unlimited).
    pub requests_per_minute: u32,
    /// Token rate limit, prompt plus completion (0: unlimited).
    pub tokens_per_minute: u32,
    /// Per-call timeout (each attempt).
    pub timeout: HumanDuration,
    /// Retries after the first attempt on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// US dollars per million prompt tokens.
    pub price_per_million_input: f64,
    /// US dollars per million completion tokens.
    pub price_per_million_output: f64,
    /// At most this many calls per tick (0: unlimited).
    pub budget_calls: u64,
    /// At most this many tokens per tick (0: unlimited).
    pub budget_tokens: u64,
    /// At most this many US dollars per tick (0: unlimited).
    pub budget_usd: f64,
    /// The `seed` sent with every call (best effort on the server side).
    pub seed: u64,
    /// The sampling temperature (0; reasoning models may need 1).
    pub temperature: f64,
    /// Completion-token cap of one judgment.
    pub max_completion_tokens: u32,
    /// The request field that carries the cap.
    pub max_tokens_field: MaxTokensField,
    /// Ask for `response_format: json_schema` (turn off for servers that reject it; the prompt
    /// asks for JSON either way and the parser is tolerant).
    pub structured_output: bool,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            base_url: "https://api.openai.com/v1".to_string(),
            model: String::new(),
            api_key_env: Some("OPENAI_API_KEY".to_string()),
            max_concurrency: 8,
            requests_per_minute: 500,
            tokens_per_minute: 0,
            timeout: HumanDuration::from_secs(30),
            max_retries: 4,
            price_per_million_input: 0.0,
            price_per_million_output: 0.0,
            budget_calls: 0,
            budget_tokens: 0,
            budget_usd: 0.0,
            seed: 42,
            temperature: 0.0,
            max_completion_tokens: 400,
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
            structured_output: true,
        }
    }
}

impl JudgeConfig {
    /// Checks the values; the key is relative to `judges.NAME`.
    pub fn validate(&self) -> Result<(), Invalid> {
        let base = self.base_url.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Invalid::new(
                "base_url",
                format!("is `{base}`; allowed: an http:// or https:// URL"),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(Invalid::new(
                "model",
                "is empty; allowed: the judge model name".to_string(),
            ));
        }
        if let Some(var) = &self.api_key_env {
            let valid = !var.is_empty()
                && var
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !valid {
                return Err(Invalid::new(
                    "api_key_env",
                    format!(
                        "is `{var}`; allowed: the NAME of an environment variable \
                         (letters, digits, _), not the key itself"
                    ),
                ));
            }
        }
        if self.max_concurrency == 0 || self.max_concurrency > 1024 {
            return Err(Invalid::new(
                "max_concurrency",
                format!("is {}; allowed: 1 to 1024", self.max_concurrency),
            ));
        }
        if self.timeout.as_secs() < 1 || self.timeout.as_secs() > 600 {
            return Err(Invalid::new(
                "timeout",
                format!("is {}; allowed: 1s to 10m", self.timeout),
            ));
        }
        if self.max_retries > 10 {
            return Err(Invalid::new(
                "max_retries",
                format!("is {}; allowed: 0 to 10", self.max_retries),
            ));
        }
        self.validate_money()?;
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(Invalid::new(
                "temperature",
                format!("is {}; allowed: 0 to 2", self.temperature),
            ));
        }
        if self.max_completion_tokens == 0 {
            return Err(Invalid::new(
                "max_completion_tokens",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        Ok(())
    }

    fn validate_money(&self) -> Result<(), Invalid> {
        let checks: [(&'static str, f64); 3] = [
            ("price_per_million_input", self.price_per_million_input),
            ("price_per_million_output", self.price_per_million_output),
            ("budget_usd", self.budget_usd),
        ];
        for (key, value) in checks {
            if !value.is_finite() || value < 0.0 {
                return Err(Invalid::new(
                    key,
                    format!("is {value}; allowed: a number of US dollars, 0 or more"),
                ));
            }
        }
        Ok(())
    }

    /// The chat completions endpoint.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.base_url.trim().trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge() -> JudgeConfig {
        JudgeConfig {
            model: "gpt-4o-mini".to_string(),
            ..JudgeConfig::default()
        }
    }

    #[test]
    fn a_judge_with_a_model_is_valid() {
        assert_eq!(judge().validate(), Ok(()));
    }

    #[test]
    fn a_missing_model_names_the_key() {
        let err = JudgeConfig::default().validate().unwrap_err();
        assert_eq!(err.key, "model");
    }

    #[test]
    fn an_api_key_in_place_of_a_variable_name_is_rejected_without_echoing_it_elsewhere() {
        let config = JudgeConfig {
            api_key_env: Some("sk-abc-123".to_string()),
            ..judge()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.key, "api_key_env");
        assert!(
            err.message.contains("NAME of an environment variable"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bounds_say_what_is_allowed() {
        let zero = JudgeConfig {
            max_concurrency: 0,
            ..judge()
        };
        assert!(zero.validate().unwrap_err().message.contains("1 to 1024"));
        let negative = JudgeConfig {
            budget_usd: -1.0,
            ..judge()
        };
        assert_eq!(negative.validate().unwrap_err().key, "budget_usd");
        let bad_url = JudgeConfig {
            base_url: "localhost:8080".to_string(),
            ..judge()
        };
        assert_eq!(bad_url.validate().unwrap_err().key, "base_url");
    }

    #[test]
    fn endpoint_joins_without_a_double_slash() {
        let config = JudgeConfig {
            base_url: "http://127.0.0.1:9/v1/".to_string(),
            ..judge()
        };
        assert_eq!(config.endpoint(), "http://127.0.0.1:9/v1/chat/completions");
    }

    #[test]
    fn a_judges_table_parses_from_toml_and_rejects_unknown_keys() {
        let text = "[judges.default]\nbase_url = \"http://127.0.0.1:8080/v1\"\nmodel = \"m\"\n\
                    max_tokens_field = \"max_tokens\"\ntimeout = \"10s\"\n";
        let config = crate::config::Config::from_toml_str("t.toml", text).unwrap();
        let parsed = &config.judges["default"];
        assert_eq!(parsed.max_tokens_field, MaxTokensField::MaxTokens);
        assert_eq!(parsed.timeout.as_secs(), 10);
        let err = crate::config::Config::from_toml_str(
            "t.toml",
            "[judges.default]\nmodel = \"m\"\napi_key = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}
