//! The `evalgate` binary: parse the command line, start telemetry, run, map errors to exit codes.

#![warn(clippy::unwrap_used)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = evalgate::cli::Cli::parse();
    if let Err(message) = evalgate::telemetry::init() {
        evalgate::errln!("error: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            evalgate::errln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(evalgate::commands::run(cli));
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            evalgate::errln!("error: {}", evalgate::out::error_chain(&err));
            return ExitCode::from(2);
        }
    };
    if let Some(failure) = evalgate::out::stdout_failure() {
        evalgate::errln!("error: cannot write to stdout: {failure}");
        return ExitCode::from(2);
    }
    code
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
