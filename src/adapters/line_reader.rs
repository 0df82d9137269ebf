//! Reads newline-delimited bytes in constant memory: a line longer than the limit is not kept
//! (only a short prefix, for the rejects file) but still consumed, so one huge line can neither
//! exhaust memory nor stop the rest of the file from loading. Lines are bytes, not `String`, so
//! invalid UTF-8 is the parser's per-line reject rather than a read error.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How many bytes of an over-long line are kept for the rejects file.
pub const TOO_LONG_PREFIX_BYTES: usize = 1024;

/// One line read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// The whole line (without `\n` or `\r\n`) is in the buffer.
    Complete,
    /// The line had `len` bytes, more than the limit; the buffer holds its first bytes.
    TooLong {
        /// The line's full length in bytes.
        len: usize,
    },
}

/// A line reader with a per-line byte limit.
pub struct LineReader<R> {
    reader: R,
    max_line_bytes: usize,
    bytes_read: u64,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Reads lines of at most `max_line_bytes` from `reader`.
    pub fn new(reader: R, max_line_bytes: usize) -> LineReader<R> {
        LineReader {
            reader,
            max_line_bytes,
            bytes_read: 0,
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads the next line into `buf` (cleared first); `None` at the end of the input.
    pub async fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<LineStatus>> {
        buf.clear();
        let mut total = 0usize;
        let mut too_long = false;
        let mut saw_bytes = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if !saw_bytes {
                    return Ok(None);
                }
                break;
            }
            saw_bytes = true;
            let newline_opt = available.iter().position(|byte| *byte == b'\n');
            let chunk_len = newline_opt.unwrap_or(available.len());
            let chunk = &available[..chunk_len];
            total += chunk.len();
            if !too_long && total > self.max_line_bytes {
                too_long = true;
                buf.truncate(TOO_LONG_PREFIX_BYTES);
            }
            if too_long {
                let room = TOO_LONG_PREFIX_BYTES.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
            } else {
                buf.extend_from_slice(chunk);
            }
            let consumed = match newline_opt {
                Some(_) => chunk_len + 1,
                None => chunk_len,
            };
            self.reader.consume(consumed);
            self.bytes_read += consumed as u64;
            if newline_opt.is_some() {
                break;
            }
        }
        if too_long {
            return Ok(Some(LineStatus::TooLong { len: total }));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(LineStatus::Complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize, capacity: usize) -> Vec<(Vec<u8>, LineStatus)> {
        let reader = tokio::io::BufReader::with_capacity(capacity, input);
        let mut lines = LineReader::new(reader, max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(status) = lines.next_line(&mut buf).await.unwrap() {
            out.push((buf.clone(), status));
        }
        assert_eq!(lines.bytes_read(), input.len() as u64);
        out
    }

    #[tokio::test]
    async fn lines_split_on_newlines_with_crlf_and_a_last_line_without_newline() {
        let lines = read_all(b"a\r\nbb\n\nccc", 10, 2).await;
        let texts: Vec<&[u8]> = lines.iter().map(|(line, _)| line.as_slice()).collect();
        assert_eq!(texts, vec![&b"a"[..], b"bb", b"", b"ccc"]);
        assert!(
            lines
                .iter()
                .all(|(_, status)| *status == LineStatus::Complete)
        );
    }

    #[tokio::test]
    async fn an_over_long_line_is_flagged_and_the_next_line_still_reads() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nok\n");
        let lines = read_all(&input, 100, 64).await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1, LineStatus::TooLong { len: 5000 });
        assert_eq!(lines[0].0.len(), TOO_LONG_PREFIX_BYTES);
        assert_eq!(lines[1], (b"ok".to_vec(), LineStatus::Complete));
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_is_complete() {
        let lines = read_all(b"12345\n123456\n", 5, 3).await;
        assert_eq!(lines[0], (b"12345".to_vec(), LineStatus::Complete));
        assert_eq!(lines[1].1, LineStatus::TooLong { len: 6 });
    }
}
