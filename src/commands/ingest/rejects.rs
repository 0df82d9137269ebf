//! What `evalgate ingest` says about a line it did not load: the stderr echo (control characters
//! escaped, so a hostile value cannot drive the terminal), the structured log event, and the
//! rejects file (one JSON object per line, created on the first entry). Conflicts (a
//! `request_id` already stored with different content) are written there too, kind `conflict`.

use std::path::PathBuf;

use anyhow::Context as _;
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::adapters::formats::Reject;

/// Rejects echoed to stderr one by one; the rest go to the rejects file and the summary.
const ECHOED_REJECTS: u64 = 20;

/// The rejects-file kind of a conflicting row.
pub const CONFLICT_KIND: &str = "conflict";

/// One line of the rejects file.
#[derive(Debug, Serialize)]
struct RejectLine<'a> {
    line: u64,
    kind: &'a str,
    reason: &'a str,
    raw: String,
}

/// `text` with control characters (ESC, CR, BEL, …) written as `\u{1b}` escapes.
pub fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() {
            escaped.extend(ch.escape_default());
        } else {
            escaped.push(ch);
        }
    }
    escaped
}

/// Echoes the `count`-th reject (or conflict) of line `line` on stderr and in the log, up to
/// [`ECHOED_REJECTS`].
pub fn report(line: u64, kind: &str, reason: &str, count: u64, progress: &ProgressBar) {
    if count > ECHOED_REJECTS {
        return;
    }
    let reason = escape_controls(reason);
    tracing::warn!(line, kind, reason = %reason, "rejected line");
    progress.suspend(|| {
        crate::errln!("line {line}: rejected ({kind}): {reason}");
        if count == ECHOED_REJECTS {
            crate::errln!("further rejects are only written to the rejects file");
        }
    });
}

/// The reason written for a conflicting row.
pub fn conflict_reason(request_id: &str) -> String {
    format!(
        "`request_id` `{request_id}` is already stored with different content; the first row \
         is kept and this one is skipped"
    )
}

/// The rejects file, created on the first reject.
pub struct RejectsFile {
    path: PathBuf,
    writer_opt: Option<BufWriter<tokio::fs::File>>,
}

impl RejectsFile {
    /// A rejects file at `path`, not yet created.
    pub fn new(path: PathBuf) -> RejectsFile {
        RejectsFile {
            path,
            writer_opt: None,
        }
    }

    /// Writes a parse reject of line `line`, whose bytes were `raw`.
    pub async fn write(&mut self, line: u64, reject: &Reject, raw: &[u8]) -> anyhow::Result<()> {
        let raw_text = String::from_utf8_lossy(raw).into_owned();
        self.write_entry(line, reject.kind.as_str(), &reject.reason, raw_text)
            .await
    }

    /// Writes one entry.
    pub async fn write_entry(
        &mut self,
        line: u64,
        kind: &str,
        reason: &str,
        raw: String,
    ) -> anyhow::Result<()> {
        if self.writer_opt.is_none() {
            let file = tokio::fs::File::create(&self.path)
                .await
                .with_context(|| format!("cannot create rejects file {}", self.path.display()))?;
            self.writer_opt = Some(BufWriter::new(file));
        }
        let Some(writer) = self.writer_opt.as_mut() else {
            return Ok(());
        };
        let record = RejectLine {
            line,
            kind,
            reason,
            raw,
        };
        let mut text = serde_json::to_string(&record).context("cannot encode a reject")?;
        text.push('\n');
        writer
            .write_all(text.as_bytes())
            .await
            .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        Ok(())
    }

    /// Flushes the file; its path when anything was written.
    pub async fn finish(self) -> anyhow::Result<Option<String>> {
        let Some(mut writer) = self.writer_opt else {
            return Ok(None);
        };
        writer
            .flush()
            .await
            .with_context(|| format!("cannot write rejects file {}", self.path.display()))?;
        Ok(Some(self.path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(
            escape_controls("bad \u{1b}[31mred\u{7}\r\nnext é"),
            "bad \\u{1b}[31mred\\u{7}\\r\\nnext é"
        );
    }
}
