//! A problem found while loading a suite file, with the `file:line:col` where it is.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a suite file. Lines and columns are 1-based; 0 means "unknown".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The suite file (or schema file) the problem is in.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub col: usize,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a known position.
    pub fn new(file: &Path, line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A diagnostic about a whole file (position 1:1).
    pub fn file_level(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(file, 1, 1, message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_displays_as_file_line_col_message() {
        let diagnostic = Diagnostic::new(Path::new("evals/a.yaml"), 3, 7, "unknown type `foo`");
        assert_eq!(
            diagnostic.to_string(),
            "evals/a.yaml:3:7: unknown type `foo`"
        );
    }
}
