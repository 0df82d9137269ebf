//! Configuration: `evalgate.toml`, overridden by `EVALGATE_SECTION__KEY` environment variables and
//! then by flags, validated into a [`Config`] before anything runs (raw → validated, like
//! ripgrep's lowargs/hiargs). Each section lives in its own file. Secrets never live here: the
//! config names the environment variable that holds them.

mod sections;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use sections::*;

use crate::logic::schedule::Schedule;

/// What went wrong loading the configuration, with the file and key it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (the OS error is in the message, not repeated as a cause).
    #[error("cannot read config file {file}: {err}")]
    Read { file: String, err: std::io::Error },
    /// The file (or an environment override) is not valid for the schema: unknown key, wrong type.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// An environment variable could not be applied.
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// A value parsed but is not allowed.
    #[error("{file}: `{key}` {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

/// The raw, deserialised configuration. Unknown keys are errors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the log store and evalgate's own tables live.
    pub store: StoreConfig,
    /// How each tick samples requests.
    pub sampling: SamplingConfig,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// Where eval suites live and which suite a rollout uses by default.
    pub evals: EvalsConfig,
    /// LLM judges by name.
    pub judges: BTreeMap<String, JudgeConfig>,
    /// Gate metrics and error budgets, as written.
    pub gates: GatesConfig,
    /// The gate settings the engine runs with: `gates` resolved once, when the config is
    /// validated ([`Config::validated`]).
    #[serde(skip)]
    pub gate_settings: GateSettings,
    /// The `[schedule]` crons, parsed once when the config is validated; `None` only for a
    /// config built in code and never validated (tests), which `serve` refuses.
    #[serde(skip)]
    pub schedules: Option<Schedules>,
    /// Rollout plan defaults.
    pub rollout: RolloutConfig,
    /// Flag sinks that gateways read.
    pub flags: FlagsConfig,
    /// Webhook notifications.
    pub notify: NotifyConfig,
    /// The daemon's schedules.
    pub schedule: ScheduleConfig,
    /// The HTTP server.
    pub server: ServerConfig,
}

/// The prefix of environment overrides: `EVALGATE_SAMPLING__N_PER_ARM=50`.
pub const ENV_PREFIX: &str = "EVALGATE_";

/// Variables with the prefix that are not overrides: read by clap, by `serve` (the default token
/// variables), by tests, or by the LiteLLM hook (`integrations/litellm/evalgate_router.py`), whose
/// settings often sit in the same shell or container environment as evalgate's.
const RESERVED_ENV: &[&str] = &[
    "EVALGATE_STORE",
    "EVALGATE_CONFIG",
    "EVALGATE_LOG",
    "EVALGATE_LOG_FORMAT",
    "EVALGATE_TEST_PG_URL",
    "EVALGATE_REQUIRE_PG",
    "EVALGATE_REQUIRE_PROMETHEUS",
    "EVALGATE_REQUIRE_LITELLM",
    "EVALGATE_REQUIRE_CHROMIUM",
    "EVALGATE_SCREENSHOT_DIR",
    "EVALGATE_LITELLM",
    "EVALGATE_ADMIN_TOKEN",
    "EVALGATE_INGEST_TOKEN",
    "EVALGATE_FAILPOINT",
    "EVALGATE_URL",
    "EVALGATE_FLAG",
    "EVALGATE_ROUTED_MODEL",
    "EVALGATE_CACHE_SECONDS",
    "EVALGATE_TIMEOUT_SECONDS",
    "EVALGATE_TOKEN",
    "EVALGATE_BASELINE_MODEL",
    "EVALGATE_CANARY_MODEL",
    "EVALGATE_TENANT_FROM",
    "EVALGATE_INGEST_URL",
    "EVALGATE_INGEST_AUTHORIZATION",
];

impl Config {
    /// Loads defaults, then `path` (if given and present), then overrides from `env`, then
    /// validates. `env` is any key-value source so tests never touch the process environment.
    pub fn load<I>(path_opt: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let (file_label, file_table) = match path_opt {
            Some(path) => (path.display().to_string(), read_table(path)?),
            None => ("<defaults>".to_string(), toml::Table::new()),
        };
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(var, _)| var.starts_with(ENV_PREFIX))
            .collect();
        let mut table = file_table.clone();
        apply_env(&mut table, overrides.iter().cloned())?;
        match Config::from_table(&file_label, table) {
            Ok(config) => Ok(config),
            Err(err) => Err(blame_override(&file_label, &file_table, &overrides).unwrap_or(err)),
        }
    }

    /// Deserialises and validates one layered table; errors are labelled `label`.
    fn from_table(label: &str, table: toml::Table) -> Result<Config, ConfigError> {
        let config: Config =
            Config::deserialize(toml::Value::Table(table)).map_err(|err| ConfigError::Parse {
                file: label.to_string(),
                message: err.to_string(),
            })?;
        config.validated(label)
    }

    /// Loads from a TOML string (used by tests and the demo).
    pub fn from_toml_str(label: &str, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            file: label.to_string(),
            message: err.to_string(),
        })?;
        config.validated(label)
    }

    /// Validates the config and resolves what the engine runs with (the gate settings), once.
    pub fn validated(mut self, file: &str) -> Result<Config, ConfigError> {
        let schedules = self.validate(file)?;
        self.gate_settings = self.gates.resolve();
        self.schedules = Some(schedules);
        Ok(self)
    }

    /// The parsed `[schedule]` crons; an error for a config that was never validated.
    pub fn schedules(&self) -> Result<&Schedules, ConfigError> {
        self.schedules.as_ref().ok_or_else(|| ConfigError::Invalid {
            file: "<in-code config>".to_string(),
            key: "schedule".to_string(),
            message: "was never validated (build the config with Config::load or \
                      Config::validated)"
                .to_string(),
        })
    }

    /// The tick cadence and the sampling window must agree: ticks closer together than one
    /// window would score overlapping windows, feeding the same requests to the anytime-valid
    /// tests several times. (The rollout plan's tick interval is set to the window at
    /// `rollout start`.)
    fn check_cadences(&self, schedule: &Schedule) -> Result<(), String> {
        // Two days from a fixed Monday: covers hourly and daily patterns. No clock here.
        let probe = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .map(|at| at.with_timezone(&chrono::Utc))
            .map_err(|err| err.to_string())?;
        let window = self.sampling.window.to_chrono();
        match schedule.min_gap(probe, chrono::TimeDelta::days(2)) {
            Some(gap) if gap < window => {
                return Err(format!(
                    "`{}` fires {} min apart but sampling.window is {}: the windows of successive \
                 ticks would overlap and the same requests would count several times in the \
                 gates; make the ticks at least one window apart (e.g. `*/{} * * * *`) or shorten \
                 sampling.window",
                    self.schedule.ticks,
                    gap.num_minutes(),
                    self.sampling.window,
                    window.num_minutes().clamp(1, 59)
                ));
            }
            _ => {}
        }
        if let Some(at) = schedule.first_unaligned(probe, chrono::TimeDelta::days(2), window) {
            return Err(format!(
                "`{}` fires at {} (UTC), which is not a multiple of sampling.window ({}) since \
                 midnight: tick windows must line up with the windows `rescore` and the series \
                 use; fire on window boundaries (e.g. `*/{} * * * *`)",
                self.schedule.ticks,
                at.format("%H:%M"),
                self.sampling.window,
                window.num_minutes().clamp(1, 59)
            ));
        }
        Ok(())
    }

    /// Checks every section's values, in file order; the first error names the file and the
    /// key (a judge's keys under `judges.NAME.`). Returns the crons, parsed on the way.
    pub fn validate(&self, file: &str) -> Result<Schedules, ConfigError> {
        let schedules = self.schedule.validate();
        let judges = self.judges.iter().map(|(name, judge)| {
            judge
                .validate()
                .map_err(|err| err.under(&format!("judges.{name}")))
        });
        let first_error = [
            self.store.validate(),
            self.sampling.validate(),
            self.ingest.validate(),
            self.evals.validate(),
        ]
        .into_iter()
        .chain(judges)
        .chain([
            self.flags.validate(),
            self.notify.validate(),
            schedules.as_ref().map(|_| ()).map_err(Invalid::clone),
            self.server.validate(),
            self.gates.validate(),
            self.rollout.validate(),
        ])
        .find_map(Result::err);
        let invalid = |Invalid { key, message }| ConfigError::Invalid {
            file: file.to_string(),
            key,
            message,
        };
        if let Some(error) = first_error {
            return Err(invalid(error));
        }
        let schedules = schedules.map_err(invalid)?;
        self.check_cadences(&schedules.ticks)
            .map_err(|message| invalid(Invalid::new("schedule.ticks", message)))?;
        Ok(schedules)
    }
}

/// When the file alone is valid but the layered config is not, the first environment override
/// that breaks it on its own, as an error naming the variable (not `<defaults>` or the file).
fn blame_override(
    file_label: &str,
    file_table: &toml::Table,
    overrides: &[(String, String)],
) -> Option<ConfigError> {
    if overrides.is_empty() || Config::from_table(file_label, file_table.clone()).is_err() {
        return None;
    }
    for (var, value) in overrides {
        let mut table = file_table.clone();
        if apply_env(&mut table, [(var.clone(), value.clone())]).is_err() {
            continue;
        }
        let message = match Config::from_table(file_label, table) {
            Ok(_) => continue,
            Err(ConfigError::Parse { message, .. }) => message,
            Err(ConfigError::Invalid { key, message, .. }) => format!("`{key}` {message}"),
            Err(other) => other.to_string(),
        };
        return Some(ConfigError::Env {
            var: var.clone(),
            message: message.trim_end().to_string(),
        });
    }
    None
}

/// Resolves the config file: `--config`, else `./evalgate.toml` when it exists, else none.
pub fn resolve_path(flag_opt: Option<PathBuf>) -> Option<PathBuf> {
    if flag_opt.is_some() {
        return flag_opt;
    }
    let default = PathBuf::from("evalgate.toml");
    match std::fs::metadata(&default) {
        Ok(meta) if meta.is_file() => Some(default),
        _ => None,
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
        file: path.display().to_string(),
        err,
    })?;
    text.parse::<toml::Table>()
        .map_err(|err| ConfigError::Parse {
            file: path.display().to_string(),
            message: err.to_string(),
        })
}

/// Applies `EVALGATE_SECTION__KEY[__SUBKEY]=value` overrides. A value is parsed as a TOML value
/// when it is one (`50`, `true`, `[1, 2]`), else taken as a string.
fn apply_env<I>(table: &mut toml::Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    for (var, raw_value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if RESERVED_ENV.contains(&var.as_str()) || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest
            .split("__")
            .map(|part| part.to_ascii_lowercase())
            .collect();
        if path.len() < 2 || path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                message: "expected EVALGATE_SECTION__KEY (two underscores between parts)"
                    .to_string(),
            });
        }
        let value = parse_env_value(&raw_value);
        insert_path(table, &path, value).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut parsed) => parsed
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or_else(|| "empty key".to_string())?;
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(format!("`{part}` is not a section")),
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_validate() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.store.url, "sqlite://evalgate.db");
        assert!(config.sampling.n_per_arm > 0);
    }

    #[test]
    fn env_overrides_typed_values() {
        let config = Config::load(None, env(&[("EVALGATE_SAMPLING__N_PER_ARM", "77")])).unwrap();
        assert_eq!(config.sampling.n_per_arm, 77);
    }

    #[test]
    fn unknown_key_names_the_file_and_the_key() {
        let err =
            Config::from_toml_str("evalgate.toml", "[sampling]\nn_per_arms = 5\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("evalgate.toml"), "{text}");
        assert!(text.contains("n_per_arms"), "{text}");
        assert!(text.contains("n_per_arm"), "{text}");
    }

    #[test]
    fn bad_value_names_the_key_and_what_is_allowed() {
        let err =
            Config::from_toml_str("evalgate.toml", "[sampling]\nn_per_arm = 0\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sampling.n_per_arm"), "{text}");
        assert!(text.contains("at least 1"), "{text}");
        for bad in ["0", "9"] {
            let err = Config::from_toml_str(
                "evalgate.toml",
                &format!("[sampling]\nbaseline_multiplier = {bad}\n"),
            )
            .unwrap_err();
            let text = err.to_string();
            assert!(text.contains("sampling.baseline_multiplier"), "{text}");
            assert!(text.contains("1 to 8"), "{text}");
        }
    }

    #[test]
    fn a_bad_env_override_is_named_by_its_variable() {
        let cases = [
            ("EVALGATE_SAMPLING__WINDOW", "30000000w", "too long"),
            ("EVALGATE_SAMPLING__N_PER_ARM", "0", "at least 1"),
            ("EVALGATE_SAMPLING__N_PER_ARM", "\"many\"", "n_per_arm"),
            ("EVALGATE_SCHEDULE__TICKS", "0 0 30 2 *", "never fires"),
        ];
        for (var, value, says) in cases {
            let err = Config::load(
                None,
                env(&[("EVALGATE_SERVER__BIND", "0.0.0.0:1"), (var, value)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(var), "{var}: {err}");
            assert!(err.contains(says), "{var}: {err}");
            assert!(!err.contains("<defaults>"), "{var}: {err}");
        }
    }

    #[test]
    fn a_missing_config_file_says_the_os_error_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = anyhow::Error::from(Config::load(Some(&missing), env(&[])).unwrap_err());
        let text = crate::out::error_chain(&err);
        assert!(text.contains("nope.toml"), "{text}");
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
        assert_eq!(
            format!("{err:#}").matches("No such file").count(),
            1,
            "{err:#}"
        );
    }

    #[test]
    fn a_duration_past_the_bound_is_rejected_naming_the_key() {
        for value in ["99999999999999999w", "30000000w"] {
            let text = format!("[sampling]\nwindow = \"{value}\"\n");
            let err = Config::from_toml_str("evalgate.toml", &text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("window"), "{err}");
            assert!(err.contains("too long"), "{err}");
        }
    }

    #[test]
    fn malformed_env_override_is_an_error() {
        let err = Config::load(None, env(&[("EVALGATE_SAMPLING", "1")])).unwrap_err();
        assert!(err.to_string().contains("EVALGATE_SAMPLING"));
    }
}
