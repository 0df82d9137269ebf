//! Grows the `requests` table with synthetic history at a constant traffic density, so every
//! 15-minute window holds about the same number of rows however large the table gets. Rows are
//! generated on a blocking thread and inserted in large batches (multi-row INSERTs, one
//! transaction per batch) through `Store::insert_requests` while the next batch is generated.
//!
//! Background rows keep every column the sampling query reads (id, ts, tenant, arm, rollout,
//! status) as synth produced them, but their `input`/`output` are cut to a short stub and their
//! metadata emptied, so a 10M-row table stays a few GB on a shared disk. Sampling never reads
//! those columns.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use evalgate::adapters::store::Store;
use evalgate::domain::{HumanDuration, Request, Timestamp};
use evalgate::sim::synth::{FeedbackModel, ReactionRates, SynthEvent, SynthSpec, SynthStream};

/// The rollout id every background row carries.
pub const ROLLOUT: &str = "bench-rollout";
const BATCH_ROWS: usize = 5_000;

/// How far the history has been loaded.
#[derive(Debug, Clone)]
pub struct LoadState {
    /// Rows loaded so far.
    pub loaded: u64,
    /// The first request time.
    pub first_ts: Timestamp,
    /// The time after the last request loaded.
    pub next_start: Timestamp,
    segment: u64,
}

impl LoadState {
    /// An empty history starting at the synth default start.
    pub fn new() -> LoadState {
        let start = SynthSpec::default().start;
        LoadState {
            loaded: 0,
            first_ts: start,
            next_start: start,
            segment: 0,
        }
    }
}

fn no_feedback() -> FeedbackModel {
    let silent = ReactionRates {
        thumbs: 0.0,
        thumbs_up: 0.0,
        regenerated: 0.0,
        escalated: 0.0,
        refunded: 0.0,
        session_length: 0.0,
        mean_session_turns: 1.0,
    };
    FeedbackModel {
        clean: silent,
        defective: silent,
        failed: silent,
        ..FeedbackModel::default()
    }
}

/// The spec of the next history segment of `rows` requests at `rpm`.
fn segment_spec(state: &LoadState, rows: u64, rpm: f64) -> SynthSpec {
    // 20 % more time than the expected count needs; the loader stops at exactly `rows`.
    let minutes = (rows as f64 / rpm * 1.2).ceil() as i64 + 1;
    SynthSpec {
        seed: 1_000 + state.segment,
        start: state.next_start,
        duration: HumanDuration::from_mins(minutes),
        rpm,
        canary_share: 0.1,
        rollout_id: Some(ROLLOUT.to_string()),
        feedback: no_feedback(),
        ..SynthSpec::default()
    }
}

fn compact(mut request: Request) -> Request {
    request.input = "[]".to_string();
    request.output = "{}".to_string();
    request.metadata = serde_json::json!({});
    request
}

/// Loads requests until the table holds `target` rows; returns the time the load took.
pub async fn grow_to(
    store: &Store,
    state: &mut LoadState,
    target: u64,
    rpm: f64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while state.loaded < target {
        let wanted = target - state.loaded;
        let spec = segment_spec(state, wanted, rpm);
        state.segment += 1;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<Request>>(4);
        let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let mut produced = 0u64;
            for event in SynthStream::new(spec)? {
                let SynthEvent::Request(request) = event else {
                    continue;
                };
                batch.push(compact(request));
                produced += 1;
                if batch.len() >= BATCH_ROWS || produced == wanted {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                    if sender.blocking_send(full).is_err() || produced == wanted {
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = sender.blocking_send(batch);
            }
            Ok(())
        });
        while let Some(batch) = receiver.recv().await {
            let report = store.insert_requests(&batch).await?;
            anyhow::ensure!(report.duplicates == 0, "background ids collided");
            state.loaded += report.inserted;
            if let Some(last) = batch.last() {
                state.next_start = last.ts + chrono::Duration::milliseconds(1);
            }
            if state.loaded % 1_000_000 < BATCH_ROWS as u64 {
                eprintln!("  loaded {} rows", state.loaded);
            }
        }
        producer.await.context("the history generator panicked")??;
    }
    Ok(started.elapsed())
}
