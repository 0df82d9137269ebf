//! Structured logs through `tracing`: pretty on a terminal, JSON otherwise, filtered by
//! `EVALGATE_LOG` (default `info,sqlx=error`: sqlx's slow-statement warnings are noise here). Logs go to stderr so stdout stays for results;
//! a closed stderr pipe drops them instead of failing (`out::QuietStderr`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls are no-ops).
pub fn init() {
    let filter = EnvFilter::try_from_env("EVALGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=error"));
    let is_tty = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::out::QuietStderr)
        .log_internal_errors(false);
    let result = if is_tty {
        builder.with_ansi(true).compact().try_init()
    } else {
        builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .try_init()
    };
    drop(result);
}
