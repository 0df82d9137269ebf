//! Input side of `evals run`: bounded line reading and parsing in parallel (the duplicate
//! check of request ids is [`super::evals_seen`]).
//!
//! Lines are read one at a time with a hard cap (`ingest.max_line_bytes`): a longer line is
//! skipped without being held in memory.

use std::io::BufRead;

use rayon::prelude::*;

use crate::adapters::jsonl::{ParseLimits, Record, parse_line};
use crate::domain::Request;

/// Raw input lines, their bytes end to end in one buffer: one allocation per chunk instead of
/// one per line (a line was allocated by the reader thread and freed by another).
#[derive(Debug, Default)]
pub struct Chunk {
    data: Vec<u8>,
    /// The non-blank lines, in input order.
    pub lines: Vec<RawLine>,
}

impl Chunk {
    /// The bytes of `line` (one of this chunk's lines) without the line ending; None when the
    /// line was over the cap.
    pub fn bytes(&self, line: &RawLine) -> Option<&[u8]> {
        line.span.clone().map(|span| &self.data[span])
    }

    /// How many bytes the lines hold.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// One raw input line of a [`Chunk`].
#[derive(Debug)]
pub struct RawLine {
    /// 1-based line number.
    pub number: usize,
    /// Where its bytes are in the chunk; None when the line was over the cap.
    span: Option<std::ops::Range<usize>>,
}

/// Reads up to `count` non-blank lines into one chunk, its buffer sized for `bytes_hint` bytes
/// (say the last chunk's size); an empty chunk means the input is exhausted.
pub fn read_chunk(
    reader: &mut impl BufRead,
    next_number: &mut usize,
    count: usize,
    max_line_bytes: usize,
    bytes_hint: usize,
) -> std::io::Result<Chunk> {
    let mut chunk = Chunk {
        data: Vec::with_capacity(bytes_hint),
        lines: Vec::with_capacity(count),
    };
    while chunk.lines.len() < count {
        let start = chunk.data.len();
        let Some(fits) = read_bounded_line(reader, &mut chunk.data, max_line_bytes)? else {
            break;
        };
        *next_number += 1;
        if fits && chunk.data[start..].iter().all(u8::is_ascii_whitespace) {
            chunk.data.truncate(start);
            continue;
        }
        chunk.lines.push(RawLine {
            number: *next_number,
            span: fits.then_some(start..chunk.data.len()),
        });
    }
    Ok(chunk)
}

/// Appends one line to `out` (without `\n` / `\r\n`). Some(false) when it was longer than
/// `max` bytes (the rest was skipped, nothing of it is left in `out`); None at the end of input.
fn read_bounded_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    let start = out.len();
    let mut fits = true;
    let mut read_any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (taken, done) = match memchr::memchr(b'\n', available) {
            Some(newline) => (&available[..newline], Some(newline + 1)),
            None => (available, None),
        };
        if fits && out.len() - start + taken.len() <= max.saturating_add(1) {
            out.extend_from_slice(taken);
        } else {
            fits = false;
            out.truncate(start);
        }
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        if done.is_some() {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if out.len() > start && out.last() == Some(&b'\r') {
        out.pop();
    }
    if out.len() - start > max {
        fits = false;
        out.truncate(start);
    }
    Ok(Some(fits))
}

/// What one line turned out to be.
#[derive(Debug)]
pub enum Parsed {
    /// A request row.
    Request(Box<Request>),
    /// A feedback row (skipped by `evals run`).
    Feedback,
    /// Not a row; the reason.
    Rejected(String),
}

/// Parses a chunk's lines in parallel, in order.
pub fn parse_chunk(chunk: &Chunk, limits: &ParseLimits, max_line_bytes: usize) -> Vec<Parsed> {
    chunk
        .lines
        .par_iter()
        .map(|line| match chunk.bytes(line) {
            None => Parsed::Rejected(format!("line longer than {max_line_bytes} bytes")),
            Some(bytes) => match parse_line(bytes, limits) {
                Ok(Record::Request(request)) => Parsed::Request(request),
                Ok(Record::Feedback(_)) => Parsed::Feedback,
                Err(reject) => Parsed::Rejected(reject.reason),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_without_being_kept_and_blank_lines_are_not_rows() {
        let text = format!("short\n\n{}\r\nnext\r\n  \nlast", "x".repeat(100));
        let mut reader = std::io::BufReader::with_capacity(8, text.as_bytes());
        let mut number = 0;
        let chunk = read_chunk(&mut reader, &mut number, 10, 50, 0).unwrap();
        let seen: Vec<(usize, Option<&[u8]>)> = chunk
            .lines
            .iter()
            .map(|line| (line.number, chunk.bytes(line)))
            .collect();
        assert_eq!(
            seen,
            [
                (1, Some(&b"short"[..])),
                (3, None),
                (4, Some(&b"next"[..])),
                (6, Some(&b"last"[..])),
            ]
        );
        assert!(
            read_chunk(&mut reader, &mut number, 10, 50, 0)
                .unwrap()
                .lines
                .is_empty()
        );
    }

    #[test]
    fn a_line_of_exactly_the_cap_fits() {
        let text = format!("{}\r\n", "y".repeat(50));
        let mut reader = std::io::BufReader::new(text.as_bytes());
        let mut number = 0;
        let chunk = read_chunk(&mut reader, &mut number, 10, 50, 0).unwrap();
        assert_eq!(chunk.bytes(&chunk.lines[0]).map(<[u8]>::len), Some(50));
    }
}
