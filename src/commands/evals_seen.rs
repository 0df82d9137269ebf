//! The duplicate-request-id check of `evals run`, exact in memory that does not grow with the
//! input.
//!
//! The first row of each request id is kept; a later row with the same id is a duplicate (same
//! content) or a conflict (different content). Ids are compared by a 64-bit hash of the id and
//! rows by a 64-bit hash of everything else ([`id_hash`], [`content_hash`]).
//!
//! The ids of at most [`TABLE_IDS`] kept rows (plus one chunk) are held in a table: a repeat of
//! one of them is found as it is read and dropped. When the table is full, at a chunk boundary,
//! its entries are sorted and appended as one run to an anonymous temporary file (29 bytes plus
//! the id per kept row, under `$TMPDIR`; the OS removes the file when the process ends, however
//! it ends) and the table starts empty. [`SeenIds::finish`] merges the runs: an id kept in two
//! runs is a repeat found late (its result line was already written), reported with the line of
//! the first row. A later row is compared with the row its table holds, i.e. the first row of
//! the id since the last spill.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use crate::domain::{Outcome, Request};

/// Kept ids held in memory before they are spilled to a run: with one chunk over the bound, up
/// to ~12 MB of table, entries (the vector doubles past 65,536) and ids of ~20 bytes.
pub const TABLE_IDS: usize = 1 << 16;

/// Bytes of request ids held in memory before the table is spilled, whatever their count.
const TABLE_ID_BYTES: usize = 8 << 20;

/// Bytes read ahead per run while merging.
const RUN_BUFFER: usize = 16 * 1024;

/// id, content hash, line, outcome, id length.
const HEADER: usize = 8 + 8 + 8 + 1 + 4;

/// Whether a request id was seen before, and with the same content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first row with this id (as far as the table knows): it is kept.
    First,
    /// The same id with the same content: dropped as a plain duplicate.
    Duplicate,
    /// The same id with different content: dropped and reported as a conflict.
    Conflict,
}

/// A kept row whose id was kept before, found when the runs were merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRepeat {
    /// The request id.
    pub request_id: String,
    /// The line of the repeating row (whose result was written).
    pub line: u64,
    /// The line of the first row with this id.
    pub first_line: u64,
    /// The repeating row's verdict, as counted while streaming.
    pub outcome: Outcome,
    /// Whether its content differs from the first row's.
    pub conflict: bool,
}

/// One kept row.
#[derive(Debug, Clone)]
struct Kept {
    id: u64,
    content: u64,
    line: u64,
    outcome: Option<Outcome>,
    request_id: String,
}

/// One entry of a spilled run.
#[derive(Debug)]
struct Spilled {
    id: u64,
    content: u64,
    line: u64,
    outcome: Outcome,
    request_id: String,
}

/// The ids seen so far: the table of the current run, and the runs spilled before it.
#[derive(Debug)]
pub struct SeenIds {
    /// Id hash → index in `kept`.
    table: HashMap<u64, usize>,
    kept: Vec<Kept>,
    id_bytes: usize,
    max_ids: usize,
    spill: Option<Spill>,
}

#[derive(Debug)]
struct Spill {
    file: File,
    /// (offset, length) of each run.
    runs: Vec<(u64, u64)>,
    written: u64,
}

impl SeenIds {
    /// A check whose table spills after `max_ids` kept ids ([`TABLE_IDS`]; tests use fewer).
    pub fn with_table(max_ids: usize) -> SeenIds {
        SeenIds {
            table: HashMap::new(),
            kept: Vec::new(),
            id_bytes: 0,
            max_ids,
            spill: None,
        }
    }

    /// Records the row at `line` (its hashes and id) and says whether it is the first with its
    /// id in the table. A kept row's verdict is given later with [`SeenIds::scored`].
    pub fn check(&mut self, id: u64, content: u64, line: usize, request_id: &str) -> Seen {
        match self.table.entry(id) {
            Entry::Vacant(slot) => {
                slot.insert(self.kept.len());
                self.id_bytes += request_id.len();
                self.kept.push(Kept {
                    id,
                    content,
                    line: line as u64,
                    outcome: None,
                    request_id: request_id.to_string(),
                });
                Seen::First
            }
            Entry::Occupied(slot) if self.kept[*slot.get()].content == content => Seen::Duplicate,
            Entry::Occupied(_) => Seen::Conflict,
        }
    }

    /// The verdict of the kept row with id hash `id` (what is taken back if it repeats an id
    /// of an earlier run).
    pub fn scored(&mut self, id: u64, outcome: Outcome) {
        if let Some(index) = self.table.get(&id) {
            self.kept[*index].outcome = Some(outcome);
        }
    }

    /// Called after each chunk's rows are written: spills the table when it is full.
    pub fn end_chunk(&mut self) -> io::Result<()> {
        if self.table.len() >= self.max_ids || self.id_bytes >= TABLE_ID_BYTES {
            self.spill_table()?;
        }
        Ok(())
    }

    fn spill_table(&mut self) -> io::Result<()> {
        if self.kept.is_empty() {
            return Ok(());
        }
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill {
                file: tempfile::tempfile()?,
                runs: Vec::new(),
                written: 0,
            }),
        };
        self.kept.sort_unstable_by_key(|kept| (kept.id, kept.line));
        let start = spill.written;
        let mut out = BufWriter::with_capacity(RUN_BUFFER * 4, &spill.file);
        for kept in &self.kept {
            let Some(outcome) = kept.outcome else {
                return Err(io::Error::other(format!(
                    "line {}: the kept row was not scored before its chunk ended",
                    kept.line
                )));
            };
            let id_len = u32::try_from(kept.request_id.len()).map_err(io::Error::other)?;
            out.write_all(&kept.id.to_le_bytes())?;
            out.write_all(&kept.content.to_le_bytes())?;
            out.write_all(&kept.line.to_le_bytes())?;
            out.write_all(&[outcome_code(outcome)])?;
            out.write_all(&id_len.to_le_bytes())?;
            out.write_all(kept.request_id.as_bytes())?;
            spill.written += (HEADER + kept.request_id.len()) as u64;
        }
        out.flush()?;
        spill.runs.push((start, spill.written - start));
        self.table.clear();
        self.kept.clear();
        self.id_bytes = 0;
        Ok(())
    }

    /// Merges the runs and hands each repeat found late to `report`, by id hash then line.
    /// Nothing to do when the table never spilled: every repeat was then found as it was read.
    pub fn finish(mut self, mut report: impl FnMut(LateRepeat)) -> io::Result<()> {
        if self.spill.is_none() {
            return Ok(());
        }
        self.spill_table()?;
        let Some(mut spill) = self.spill.take() else {
            return Ok(());
        };
        let mut readers: Vec<RunReader> = spill
            .runs
            .iter()
            .map(|&(offset, length)| RunReader::new(offset, length))
            .collect();
        let mut heads: Vec<Option<Spilled>> = Vec::with_capacity(readers.len());
        let mut heap = BinaryHeap::with_capacity(readers.len());
        for (index, reader) in readers.iter_mut().enumerate() {
            let head = reader.next(&mut spill.file)?;
            if let Some(kept) = &head {
                heap.push(Reverse((kept.id, kept.line, index)));
            }
            heads.push(head);
        }
        let mut first: Option<Spilled> = None;
        while let Some(Reverse((_, _, index))) = heap.pop() {
            let Some(kept) = heads[index].take() else {
                continue;
            };
            let next = readers[index].next(&mut spill.file)?;
            if let Some(next_kept) = &next {
                heap.push(Reverse((next_kept.id, next_kept.line, index)));
            }
            heads[index] = next;
            match &first {
                Some(earlier) if earlier.id == kept.id => report(LateRepeat {
                    conflict: earlier.content != kept.content,
                    first_line: earlier.line,
                    line: kept.line,
                    outcome: kept.outcome,
                    request_id: kept.request_id,
                }),
                _ => first = Some(kept),
            }
        }
        Ok(())
    }
}

/// Reads one run back, [`RUN_BUFFER`] bytes at a time.
struct RunReader {
    position: u64,
    end: u64,
    buffer: Vec<u8>,
    at: usize,
}

impl RunReader {
    fn new(offset: u64, length: u64) -> RunReader {
        RunReader {
            position: offset,
            end: offset + length,
            buffer: Vec::new(),
            at: 0,
        }
    }

    /// The next entry, None at the end of the run.
    fn next(&mut self, file: &mut File) -> io::Result<Option<Spilled>> {
        if self.at == self.buffer.len() && self.position == self.end {
            return Ok(None);
        }
        let header = self.take(file, HEADER)?;
        let word = |range: std::ops::Range<usize>| -> io::Result<u64> {
            let bytes: [u8; 8] = header[range].try_into().map_err(io::Error::other)?;
            Ok(u64::from_le_bytes(bytes))
        };
        let (id, content, line) = (word(0..8)?, word(8..16)?, word(16..24)?);
        let outcome = outcome_of(header[24])?;
        let length_bytes: [u8; 4] = header[25..29].try_into().map_err(io::Error::other)?;
        let id_len = u32::from_le_bytes(length_bytes) as usize;
        let request_id = String::from_utf8(self.take(file, id_len)?).map_err(io::Error::other)?;
        Ok(Some(Spilled {
            id,
            content,
            line,
            outcome,
            request_id,
        }))
    }

    /// The next `count` bytes of the run, reading ahead as needed.
    fn take(&mut self, file: &mut File, count: usize) -> io::Result<Vec<u8>> {
        if self.buffer.len() - self.at < count {
            self.buffer.drain(..self.at);
            self.at = 0;
            let wanted = (count.max(RUN_BUFFER) - self.buffer.len()) as u64;
            let length = wanted.min(self.end - self.position) as usize;
            let start = self.buffer.len();
            self.buffer.resize(start + length, 0);
            file.seek(SeekFrom::Start(self.position))?;
            file.read_exact(&mut self.buffer[start..])?;
            self.position += length as u64;
            if self.buffer.len() < count {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a spilled run of request ids ends inside an entry",
                ));
            }
        }
        let taken = self.buffer[self.at..self.at + count].to_vec();
        self.at += count;
        Ok(taken)
    }
}

fn outcome_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Pass => 0,
        Outcome::Fail => 1,
        Outcome::Unscorable => 2,
    }
}

fn outcome_of(code: u8) -> io::Result<Outcome> {
    match code {
        0 => Ok(Outcome::Pass),
        1 => Ok(Outcome::Fail),
        2 => Ok(Outcome::Unscorable),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a spilled run holds an unknown verdict code {other}"),
        )),
    }
}

/// The hasher of both hashes: foldhash with a fixed seed (the hashes never leave the process).
fn hasher() -> impl Hasher {
    foldhash::fast::FixedState::with_seed(0x65_76_61_6c_67_61_74_65).build_hasher()
}

/// The hash of a request id that [`SeenIds`] keeps.
pub fn id_hash(request_id: &str) -> u64 {
    let mut hasher = hasher();
    request_id.hash(&mut hasher);
    hasher.finish()
}

/// A hash of everything in the row but its id.
pub fn content_hash(request: &Request) -> u64 {
    let mut hasher = hasher();
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
#[path = "evals_seen_tests.rs"]
mod tests;
