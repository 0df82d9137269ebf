//! `[server]`: where `evalgate serve` listens and which environment variable holds the bearer
//! token of the mutating endpoints (the token itself never appears in config or logs).

use serde::{Deserialize, Serialize};

/// The `[server]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address (default `127.0.0.1:9464`, loopback only). `serve --bind` overrides it.
    pub bind: String,
    /// The NAME of the environment variable holding the admin bearer token. When it is unset or
    /// empty, the mutating endpoints are disabled.
    pub admin_token_env: String,
    /// The NAME of the environment variable holding the bearer token of push ingest
    /// (`/v1/ingest`, `/v1/traces`). When it is unset or empty, push ingest is disabled.
    pub ingest_token_env: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:9464".to_string(),
            admin_token_env: "EVALGATE_ADMIN_TOKEN".to_string(),
            ingest_token_env: "EVALGATE_INGEST_TOKEN".to_string(),
        }
    }
}

impl ServerConfig {
    /// Checks that the bind address is `HOST:PORT` and the token variable is a plausible name.
    pub fn validate(&self) -> Result<(), super::Invalid> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "server.bind",
                format!(
                    "is `{}`; allowed: an IP address and port, e.g. 127.0.0.1:9464",
                    self.bind
                ),
            ));
        }
        for (field, name) in [
            ("server.admin_token_env", &self.admin_token_env),
            ("server.ingest_token_env", &self.ingest_token_env),
        ] {
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !valid_name {
                return Err((
                    field,
                    format!(
                        "is `{name}`; allowed: the NAME of an environment variable (letters, digits, _), not the token"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_default_bind_is_loopback() {
        let config = Config::from_toml_str("t", "").unwrap();
        assert!(config.server.bind.starts_with("127.0.0.1:"));
    }

    #[test]
    fn a_bind_without_a_port_is_rejected() {
        let err = Config::from_toml_str("t", "[server]\nbind = \"localhost\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.bind"), "{err}");
    }
}
