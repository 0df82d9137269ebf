//! `[server]`: where `evalgate serve` listens, how many connections it holds and how long a
//! client may take to send a request's headers, and which environment variable holds the bearer
//! token of the mutating endpoints (the token itself never appears in config or logs).

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::HumanDuration;

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
    /// Open connections served at once; more wait in the listen backlog. Keep it below the
    /// process's open-file limit (`ulimit -n`).
    pub max_connections: u32,
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection is kept: a half-sent request is closed after this.
    pub header_read_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:9464".to_string(),
            admin_token_env: "EVALGATE_ADMIN_TOKEN".to_string(),
            ingest_token_env: "EVALGATE_INGEST_TOKEN".to_string(),
            max_connections: 512,
            header_read_timeout: HumanDuration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// Checks that the bind address is `HOST:PORT` and the token variable is a plausible name.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(Invalid::new(
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
                return Err(Invalid::new(
                    field,
                    format!(
                        "is `{name}`; allowed: the NAME of an environment variable (letters, digits, _), not the token"
                    ),
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(Invalid::new(
                "server.max_connections",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        let timeout_secs = self.header_read_timeout.as_secs();
        if !(1..=3600).contains(&timeout_secs) {
            return Err(Invalid::new(
                "server.header_read_timeout",
                format!("is {}; allowed: 1s to 1h", self.header_read_timeout),
            ));
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

    #[test]
    fn connection_limits_must_be_positive_and_bounded() {
        let zero = Config::from_toml_str("t", "[server]\nmax_connections = 0\n")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("server.max_connections"), "{zero}");
        let forever = Config::from_toml_str("t", "[server]\nheader_read_timeout = \"2d\"\n")
            .unwrap_err()
            .to_string();
        assert!(forever.contains("server.header_read_timeout"), "{forever}");
    }
}
