//! Streams scores into `eval_scores` as they complete, in batches (whatever has arrived, up
//! to the batch size), and keeps every score for the report. Without a store it only collects.

use tokio::sync::mpsc::UnboundedReceiver;

use crate::adapters::store::Store;
use crate::domain::{Score, Timestamp};

/// What the writer did.
pub(super) struct Written {
    /// Every score received, in arrival order.
    pub scores: Vec<Score>,
    /// Rows that were new in the store.
    pub inserted: u64,
}

/// Receives until every sender is gone. A store failure does not stop the draining (the
/// scores are still reported); the first error is returned at the end.
pub(super) async fn write_scores(
    store_opt: Option<Store>,
    mut receiver: UnboundedReceiver<Score>,
    batch_size: usize,
    scored_at: Timestamp,
) -> anyhow::Result<Written> {
    let mut written = Written {
        scores: Vec::new(),
        inserted: 0,
    };
    let mut first_error: Option<anyhow::Error> = None;
    let mut batch: Vec<Score> = Vec::with_capacity(batch_size);
    while let Some(score) = receiver.recv().await {
        batch.push(score);
        while batch.len() < batch_size {
            match receiver.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        if let (Some(store), None) = (&store_opt, &first_error) {
            match store.insert_scores(&batch, scored_at).await {
                Ok(count) => written.inserted += count,
                Err(err) => {
                    tracing::error!(error = %err, rows = batch.len(), "cannot store scores");
                    first_error = Some(anyhow::Error::new(err).context("cannot store scores"));
                }
            }
        }
        written.scores.append(&mut batch);
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(written),
    }
}
