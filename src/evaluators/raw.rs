//! A suite file as written (the raw serde shapes, spans kept) and the [`Sink`] every compiler
//! step reports problems into. Owned here, below both the loader and the compilers, so neither
//! imports the other's internals.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostics::Diagnostic;

/// A suite file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSuite {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub threshold: Option<Spanned<f64>>,
    pub pass: Option<Spanned<String>>,
    #[serde(rename = "assert")]
    pub assertions: Spanned<Vec<Spanned<RawAssertion>>>,
}

/// One `assert:` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAssertion {
    #[serde(rename = "type")]
    pub type_name: Spanned<String>,
    pub value: Option<Spanned<serde_json::Value>>,
    pub threshold: Option<Spanned<f64>>,
    pub weight: Option<Spanned<f64>>,
    pub metric: Option<Spanned<String>>,
    pub gate: Option<Spanned<bool>>,
    pub schema: Option<Spanned<serde_json::Value>>,
    pub judge: Option<Spanned<String>>,
    pub rubric: Option<Spanned<String>>,
    pub criteria: Option<Spanned<String>>,
}

/// Collects diagnostics for one file.
pub(crate) struct Sink<'a> {
    pub file: &'a Path,
    pub diagnostics: Vec<Diagnostic>,
}

impl Sink<'_> {
    /// Records a problem at a span.
    pub fn at<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        let location = spanned.referenced;
        self.diagnostics.push(Diagnostic::new(
            self.file,
            usize::try_from(location.line()).unwrap_or(0),
            usize::try_from(location.column()).unwrap_or(0),
            message,
        ));
    }
}
