//! Input side of `evals run`: bounded line reading, parsing in parallel, and the first-kept
//! duplicate check of request ids.
//!
//! Lines are read one at a time with a hard cap (`ingest.max_line_bytes`): a longer line is
//! skipped without being held in memory. Duplicate detection keeps 16 bytes per distinct
//! request id (a 64-bit hash of the id and one of the row's content), the only memory of
//! `evals run` that grows with the input (16 MB per million distinct ids, ~35 MiB with the
//! tables' slack; sharded so that growing never copies the whole table at once).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};
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

/// Whether a request id was seen before, and with the same content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first row with this id: it is kept.
    First,
    /// The same id with the same content: dropped as a plain duplicate.
    Duplicate,
    /// The same id with different content: dropped and reported as a conflict.
    Conflict,
}

/// Shards of the duplicate-id table: each grows (and briefly holds its old and new table) on its
/// own, so the peak while growing is one shard's copy, not a copy of the whole table
/// (BENCHMARKS.md: +17 MiB at a million ids with one table).
const SHARDS: usize = 64;

/// The ids seen so far (hashed), each with a hash of the first row's content.
#[derive(Debug)]
pub struct SeenIds {
    shards: Vec<HashMap<u64, u64>>,
}

impl Default for SeenIds {
    fn default() -> SeenIds {
        SeenIds {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl SeenIds {
    /// Records `request` and says whether it is the first with its id.
    pub fn check(&mut self, request: &Request) -> Seen {
        self.check_hashed(id_hash(&request.request_id), content_hash(request))
    }

    /// [`SeenIds::check`] with the hashes computed by the caller (in parallel).
    pub fn check_hashed(&mut self, id: u64, content: u64) -> Seen {
        // The top bits pick the shard; the map hashes the whole id again for its buckets.
        let shard = (id >> 58) as usize % SHARDS;
        match self.shards[shard].entry(id) {
            Entry::Vacant(slot) => {
                slot.insert(content);
                Seen::First
            }
            Entry::Occupied(slot) if *slot.get() == content => Seen::Duplicate,
            Entry::Occupied(_) => Seen::Conflict,
        }
    }
}

/// The hash of a request id that [`SeenIds`] keeps.
pub fn id_hash(request_id: &str) -> u64 {
    hash_of(&request_id)
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A hash of everything in the row but its id.
pub fn content_hash(request: &Request) -> u64 {
    let mut hasher = DefaultHasher::new();
    request.ts.hash(&mut hasher);
    request.tenant_id.hash(&mut hasher);
    request.arm.hash(&mut hasher);
    request.model.hash(&mut hasher);
    request.rollout_id.hash(&mut hasher);
    request.input.hash(&mut hasher);
    request.output.hash(&mut hasher);
    request.reference.hash(&mut hasher);
    request.status.hash(&mut hasher);
    request.error.hash(&mut hasher);
    request.latency_ms.map(f64::to_bits).hash(&mut hasher);
    request.ttft_ms.map(f64::to_bits).hash(&mut hasher);
    request.prompt_tokens.hash(&mut hasher);
    request.completion_tokens.hash(&mut hasher);
    request.cost_usd.map(f64::to_bits).hash(&mut hasher);
    request.metadata.to_string().hash(&mut hasher);
    hasher.finish()
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

    #[test]
    fn the_same_id_is_a_duplicate_with_the_same_content_and_a_conflict_otherwise() {
        let mut seen = SeenIds::default();
        let yes = crate::evaluators::rules::test_request("yes");
        let mut no = yes.clone();
        no.output = "no".to_string();
        assert_eq!(seen.check(&yes), Seen::First);
        assert_eq!(seen.check(&yes), Seen::Duplicate);
        assert_eq!(seen.check(&no), Seen::Conflict);
        let mut other = no.clone();
        other.request_id = "r2".to_string();
        assert_eq!(seen.check(&other), Seen::First);
    }
}
