//! Reads `evals/*.yaml`: YAML → raw structs (serde-saphyr, `deny_unknown_fields`, spans kept)
//! → validated [`Suite`]s. Every problem becomes a [`Diagnostic`] at the offending key/value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::compile::compile_assertion;
use super::diagnostics::Diagnostic;
use super::raw::{RawSuite, Sink};
use super::suite::{PassRule, Suite};

/// Loads every `*.yaml` / `*.yml` suite in `dir` (not recursive), sorted by file name.
/// `judge_names` are the keys of `[judges]` in evalgate.toml. Any problem in any file is an
/// error (what `evals check` and the daemon want).
pub fn load_suites(
    dir: &Path,
    judge_names: &BTreeSet<String>,
) -> Result<Vec<Suite>, Vec<Diagnostic>> {
    let (suites, diagnostics) = load_valid_suites(dir, judge_names)?;
    if diagnostics.is_empty() {
        Ok(suites)
    } else {
        Err(diagnostics)
    }
}

/// Loads what loads: the valid suites of `dir` and the problems of the other files (a file
/// whose suite name repeats an earlier file's is a problem; the earlier one is kept). Only
/// an unreadable directory is an error. `evals run` uses this, so one broken suite does not
/// stop the others from running.
pub fn load_valid_suites(
    dir: &Path,
    judge_names: &BTreeSet<String>,
) -> Result<(Vec<Suite>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let files = match suite_files(dir) {
        Ok(files) => files,
        Err(error) => {
            return Err(vec![Diagnostic::new(
                dir,
                0,
                0,
                format!("cannot read the suites directory: {error}"),
            )]);
        }
    };
    let mut suites: Vec<Suite> = Vec::new();
    let mut diagnostics = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => match load_suite_text(&file, &text, judge_names) {
                Ok(suite) => suites.push(suite),
                Err(found) => diagnostics.extend(found),
            },
            Err(error) => diagnostics.push(Diagnostic::new(
                &file,
                0,
                0,
                format!("cannot read file: {error}"),
            )),
        }
    }
    let duplicates = duplicate_names(&suites);
    suites.retain(|suite| {
        !duplicates
            .iter()
            .any(|diagnostic| diagnostic.file == suite.file)
    });
    diagnostics.extend(duplicates);
    diagnostics.sort();
    Ok((suites, diagnostics))
}

fn suite_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn duplicate_names(suites: &[Suite]) -> Vec<Diagnostic> {
    let mut first: BTreeMap<&str, &Path> = BTreeMap::new();
    let mut diagnostics = Vec::new();
    for suite in suites {
        if let Some(other) = first.get(suite.name.as_str()) {
            diagnostics.push(Diagnostic::file_level(
                &suite.file,
                format!(
                    "suite name `{}` is already used by {}",
                    suite.name,
                    other.display()
                ),
            ));
        } else {
            first.insert(&suite.name, &suite.file);
        }
    }
    diagnostics
}

/// Parses and validates one suite file's text. `file` is used for positions and to resolve
/// schema files relative to it.
pub fn load_suite_text(
    file: &Path,
    text: &str,
    judge_names: &BTreeSet<String>,
) -> Result<Suite, Vec<Diagnostic>> {
    let raw: RawSuite =
        serde_saphyr::from_str(text).map_err(|error| vec![yaml_diagnostic(file, &error)])?;
    let mut sink = Sink {
        file,
        diagnostics: Vec::new(),
    };
    let name = raw.name.value.trim().to_string();
    if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
        sink.at(
            &raw.name,
            "the suite name must be non-empty without `/` or control characters",
        );
    }
    let pass_rule = pass_rule(&raw, &mut sink);
    if raw.assertions.value.is_empty() {
        sink.at(&raw.assertions, "the suite has no assertions");
    }
    let mut assertions = Vec::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for (index, entry) in raw.assertions.value.iter().enumerate() {
        if let Some(assertion) = compile_assertion(index, entry, judge_names, &mut sink) {
            if let Some(previous) = ids.insert(assertion.id.clone(), index) {
                let message = format!(
                    "assertion id `{}` is used twice (entries {previous} and {index}); set distinct `metric` names",
                    assertion.id
                );
                match &entry.value.metric {
                    Some(metric) => sink.at(metric, message),
                    None => sink.at(&entry.value.type_name, message),
                }
            }
            assertions.push(assertion);
        }
    }
    if !assertions.is_empty() && !assertions.iter().any(|assertion| assertion.gating) {
        sink.at(
            &raw.assertions,
            "the suite has no gating assertion (every entry has `gate: false`)",
        );
    }
    if let PassRule::WeightedScore { .. } = pass_rule
        && assertions
            .iter()
            .filter(|assertion| assertion.gating)
            .all(|assertion| assertion.weight <= 0.0)
        && !assertions.is_empty()
    {
        sink.at(
            &raw.assertions,
            "`pass: weighted` needs a gating assertion with a positive weight",
        );
    }
    if !sink.diagnostics.is_empty() {
        sink.diagnostics.sort();
        return Err(sink.diagnostics);
    }
    Ok(Suite {
        name,
        description: raw.description,
        file: file.to_path_buf(),
        threshold: raw.threshold.map(|threshold| threshold.value),
        pass_rule,
        assertions,
    })
}

fn pass_rule(raw: &RawSuite, sink: &mut Sink<'_>) -> PassRule {
    let threshold = raw.threshold.as_ref();
    if let Some(threshold) = threshold
        && !(0.0..=1.0).contains(&threshold.value)
    {
        sink.at(threshold, "the suite threshold must be between 0 and 1");
    }
    match raw.pass.as_ref().map(|pass| (pass, pass.value.as_str())) {
        None | Some((_, "all-gating")) => {
            if let Some(threshold) = threshold {
                sink.at(
                    threshold,
                    "`threshold` needs `pass: weighted` (the default `all-gating` ignores it)",
                );
            }
            PassRule::AllGating
        }
        Some((pass, "weighted")) => match threshold {
            Some(threshold) => PassRule::WeightedScore {
                threshold: threshold.value,
            },
            None => {
                sink.at(
                    pass,
                    "`pass: weighted` needs a suite `threshold` between 0 and 1",
                );
                PassRule::AllGating
            }
        },
        Some((pass, other)) => {
            sink.at(
                pass,
                format!("unknown pass rule `{other}` (expected `all-gating` or `weighted`)"),
            );
            PassRule::AllGating
        }
    }
}

/// A YAML or shape error from serde-saphyr, at its location when it has one.
fn yaml_diagnostic(file: &Path, error: &serde_saphyr::Error) -> Diagnostic {
    let (line, col) = error
        .location()
        .map(|location| {
            (
                usize::try_from(location.line()).unwrap_or(0),
                usize::try_from(location.column()).unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let rendered = error.render_with_options(options);
    Diagnostic::new(file, line, col, clean_message(&rendered))
}

/// serde-saphyr appends ` at line L column C`; the diagnostic carries that already.
fn clean_message(rendered: &str) -> String {
    let first_line = rendered.lines().next().unwrap_or(rendered).trim();
    let message = match first_line.rfind(" at line ") {
        Some(index) => &first_line[..index],
        None => first_line,
    };
    message.trim_end_matches('.').to_string()
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
