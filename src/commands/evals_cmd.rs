//! `evalgate evals check|run`: validate suite files; score rows of a file with one suite.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{EvalsCheckArgs, EvalsRunArgs};
use crate::commands::CmdResult;
use crate::context::Context;
use crate::evaluators::{self, AssertionKind};

/// The suites directory: the flag, else `[evals].dir` of the config (whose default is
/// `evals/`).
pub fn suites_dir(ctx: &Context, flag_opt: Option<PathBuf>) -> PathBuf {
    flag_opt.unwrap_or_else(|| ctx.config.evals.dir.clone())
}

/// The judge names suites may reference: the keys of `[judges]`.
pub fn judge_names(ctx: &Context) -> BTreeSet<String> {
    ctx.config.judges.keys().cloned().collect()
}

/// Runs `evalgate evals check`: one `file:line:col: message` line per problem, then a
/// summary; exit 1 when there is any problem.
pub async fn check(ctx: &Context, args: EvalsCheckArgs) -> CmdResult {
    let dir = suites_dir(ctx, args.dir);
    match evaluators::load_suites(&dir, &judge_names(ctx)) {
        Ok(suites) => {
            let assertions: usize = suites.iter().map(|suite| suite.assertions.len()).sum();
            let judged = suites
                .iter()
                .flat_map(|suite| &suite.assertions)
                .filter(|assertion| !matches!(assertion.kind, AssertionKind::Rule(_)))
                .count();
            if suites.is_empty() {
                crate::outln!("{}: no suite files (*.yaml, *.yml) found", dir.display());
            }
            for suite in &suites {
                crate::outln!(
                    "{}: suite `{}` ok ({} assertions)",
                    suite.file.display(),
                    suite.name,
                    suite.assertions.len()
                );
            }
            crate::outln!(
                "ok: {} suite(s), {assertions} assertion(s) ({} rule, {judged} judge) in {}",
                suites.len(),
                assertions - judged,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                crate::outln!("{diagnostic}");
            }
            let files: BTreeSet<&PathBuf> = diagnostics
                .iter()
                .map(|diagnostic| &diagnostic.file)
                .collect();
            crate::outln!(
                "error: {} problem(s) in {} file(s) under {}",
                diagnostics.len(),
                files.len(),
                dir.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Runs `evalgate evals run` (built in `commands::evals_run`).
pub async fn run(ctx: &Context, args: EvalsRunArgs) -> CmdResult {
    super::evals_run::run(ctx, args).await
}
