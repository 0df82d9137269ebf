//! Structured logs through `tracing`: pretty on a terminal, JSON otherwise (or as
//! `EVALGATE_LOG_FORMAT` = `pretty` | `json` says), filtered by `EVALGATE_LOG` (default
//! `info,sqlx=error`: sqlx's slow-statement warnings are noise here). Logs go to stderr so stdout
//! stays for results; a closed stderr pipe drops them instead of failing (`out::QuietStderr`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The variable that picks the log format.
pub const FORMAT_VAR: &str = "EVALGATE_LOG_FORMAT";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Compact, coloured lines for people.
    Pretty,
    /// One JSON object per line for log shippers.
    Json,
}

/// The format `EVALGATE_LOG_FORMAT` asks for (`None`: unset or empty, pick by terminal); an
/// unknown value is an error naming the variable.
pub fn format_from(value: Option<&str>) -> Result<Option<LogFormat>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some("pretty") => Ok(Some(LogFormat::Pretty)),
        Some("json") => Ok(Some(LogFormat::Json)),
        Some(other) => Err(format!(
            "{FORMAT_VAR}={other:?}: allowed values are \"pretty\" and \"json\""
        )),
    }
}

/// Installs the global subscriber (once; later calls are no-ops). Fails only on a bad
/// `EVALGATE_LOG_FORMAT`.
pub fn init() -> Result<(), String> {
    let filter = EnvFilter::try_from_env("EVALGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=error"));
    let requested = format_from(std::env::var(FORMAT_VAR).ok().as_deref())?;
    let is_tty = std::io::stderr().is_terminal();
    let format = requested.unwrap_or(if is_tty {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::out::QuietStderr)
        .log_internal_errors(false);
    let result = match format {
        LogFormat::Pretty => builder.with_ansi(is_tty).compact().try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .try_init(),
    };
    drop(result);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_variable_takes_pretty_or_json_and_names_itself_otherwise() {
        assert_eq!(format_from(None), Ok(None));
        assert_eq!(format_from(Some("")), Ok(None));
        assert_eq!(format_from(Some("json")), Ok(Some(LogFormat::Json)));
        assert_eq!(format_from(Some("pretty")), Ok(Some(LogFormat::Pretty)));
        let err = format_from(Some("xml")).unwrap_err();
        assert!(
            err.contains("EVALGATE_LOG_FORMAT") && err.contains("xml"),
            "{err}"
        );
    }
}
