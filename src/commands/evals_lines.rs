//! Input side of `evals run`: bounded line reading and parsing in parallel (the duplicate
//! check of request ids is [`super::evals_seen`]).
//!
//! Lines are read one at a time with a hard cap (`ingest.max_line_bytes`): a longer line is
//! skipped without being held in memory.

use std::io::BufRead;

use rayon::prelude::*;

use crate::adapters::jsonl::{ParseLimits, Record, parse_line};
use crate::domain::Request;

/// One raw input line.
#[derive(Debug)]
pub struct RawLine {
    /// 1-based line number.
    pub number: usize,
    /// The bytes without the line ending; None when the line was over the cap.
    pub bytes: Option<Vec<u8>>,
}

/// Reads up to `count` non-blank lines; an empty result means the input is exhausted.
pub fn read_chunk(
    reader: &mut impl BufRead,
    next_number: &mut usize,
    count: usize,
    max_line_bytes: usize,
) -> std::io::Result<Vec<RawLine>> {
    let mut lines = Vec::with_capacity(count);
    while lines.len() < count {
        let mut bytes = Vec::new();
        let Some(fits) = read_bounded_line(reader, &mut bytes, max_line_bytes)? else {
            break;
        };
        *next_number += 1;
        if fits && bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.push(RawLine {
            number: *next_number,
            bytes: fits.then_some(bytes),
        });
    }
    Ok(lines)
}

/// Reads one line into `out` (without `\n` / `\r\n`). Some(false) when it was longer than
/// `max` bytes (the rest was skipped, `out` is cleared); None at the end of input.
fn read_bounded_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
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
        if fits && out.len() + taken.len() <= max.saturating_add(1) {
            out.extend_from_slice(taken);
        } else {
            fits = false;
            out.clear();
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
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    if out.len() > max {
        fits = false;
        out.clear();
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

/// Parses lines in parallel, in order.
pub fn parse_chunk(lines: &[RawLine], limits: &ParseLimits, max_line_bytes: usize) -> Vec<Parsed> {
    lines
        .par_iter()
        .map(|line| match &line.bytes {
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
        let lines = read_chunk(&mut reader, &mut number, 10, 50).unwrap();
        let seen: Vec<(usize, Option<&[u8]>)> = lines
            .iter()
            .map(|line| (line.number, line.bytes.as_deref()))
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
            read_chunk(&mut reader, &mut number, 10, 50)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_line_of_exactly_the_cap_fits() {
        let text = format!("{}\r\n", "y".repeat(50));
        let mut reader = std::io::BufReader::new(text.as_bytes());
        let mut number = 0;
        let lines = read_chunk(&mut reader, &mut number, 10, 50).unwrap();
        assert_eq!(lines[0].bytes.as_ref().map(Vec::len), Some(50));
    }
}
