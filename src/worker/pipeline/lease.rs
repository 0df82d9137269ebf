//! One writer per rollout: a tick holds the rollout's lease (`rollout_leases`) from before it reads
//! the rollout until its decision commits. A second tick of the same rollout (a cron `tick`
//! overlapping a slow one, a `tick --at` backfill while `serve` runs, a second `serve`) waits for
//! it, up to [`WAIT_LIMIT`], then refuses naming the holder. The lease is renewed in the background
//! while the tick runs; its token is checked inside the transactions that write gate states and
//! the decision, so a writer whose lease ran out and was taken over cannot write anything.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::adapters::store::{Fence, Store};
use crate::clock::Clock;

/// How long a lease lasts without renewal (the longest a dead holder blocks a rollout).
pub const LEASE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// How often a live holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often a waiting tick looks again.
const POLL: Duration = Duration::from_millis(250);
/// How long a tick waits for another writer of the same rollout before it refuses.
pub const WAIT_LIMIT: Duration = Duration::from_secs(45);

/// A held rollout lease; renewed until released or dropped. Dropped without `release` (a tick
/// stopped mid-way because this process lost the scheduler), it is released in the background.
pub struct RolloutLease {
    store: Store,
    fence: Fence,
    renewer: tokio::task::JoinHandle<()>,
    released: bool,
}

impl RolloutLease {
    /// Takes `rollout_id`'s lease for `holder`, waiting up to [`WAIT_LIMIT`] for another holder.
    pub async fn acquire(
        store: &Store,
        clock: &Arc<dyn Clock>,
        rollout_id: &str,
        holder: &str,
    ) -> anyhow::Result<RolloutLease> {
        let mut waited = Duration::ZERO;
        loop {
            let now = clock.now();
            let mut taken = store
                .acquire_rollout_lease(rollout_id, holder, now, now + LEASE_TTL)
                .await
                .context("cannot take the rollout's writer lease")?;
            if taken.is_none()
                && let Some(other) = store
                    .rollout_lease_holder(rollout_id)
                    .await
                    .context("cannot read the rollout's writer lease")?
                && crate::adapters::holder::is_dead(&other.holder)
            {
                tracing::warn!(rollout_id, dead = %other.holder, "the rollout's writer died; taking its lease over");
                taken = store
                    .take_dead_rollout_lease(
                        rollout_id,
                        &other.holder,
                        holder,
                        now,
                        now + LEASE_TTL,
                    )
                    .await
                    .context("cannot take the rollout's writer lease over")?;
            }
            if let Some(fence) = taken {
                let renewer = tokio::spawn(renew(store.clone(), clock.clone(), fence.clone()));
                return Ok(RolloutLease {
                    store: store.clone(),
                    fence,
                    renewer,
                    released: false,
                });
            }
            if waited >= WAIT_LIMIT {
                let holder_text = match store.rollout_lease_holder(rollout_id).await {
                    Ok(Some(other)) => format!(
                        "`{}` (lease until {})",
                        other.holder,
                        other.expires_at.to_rfc3339()
                    ),
                    Ok(None) => "another writer".to_string(),
                    Err(err) => format!("another writer (cannot read the lease: {err})"),
                };
                return Err(super::TickRefused(format!(
                    "rollout {rollout_id} is being ticked by {holder_text}; waited {}s. Ticks of \
                     one rollout run one at a time: try again when it finishes",
                    waited.as_secs()
                ))
                .into());
            }
            if waited.is_zero() {
                tracing::info!(
                    rollout_id,
                    "another writer holds the rollout; waiting for it"
                );
            }
            tokio::time::sleep(POLL).await;
            waited += POLL;
        }
    }

    /// The fence to present with this tick's writes.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Stops renewing and gives the lease up so the next writer need not wait.
    pub async fn release(mut self) {
        self.renewer.abort();
        self.released = true;
        release(&self.store, &self.fence).await;
    }
}

async fn release(store: &Store, fence: &Fence) {
    if let Err(err) = store.release_rollout_lease(fence).await {
        tracing::warn!(rollout_id = %fence.rollout_id, error = %err, "cannot release the rollout lease; it expires by itself");
    }
}

impl Drop for RolloutLease {
    fn drop(&mut self) {
        self.renewer.abort();
        if !self.released
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (store, fence) = (self.store.clone(), self.fence.clone());
            runtime.spawn(async move { release(&store, &fence).await });
        }
    }
}

async fn renew(store: Store, clock: Arc<dyn Clock>, fence: Fence) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match store
            .renew_rollout_lease(&fence, clock.now() + LEASE_TTL)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(rollout_id = %fence.rollout_id, "lost the rollout's writer lease; this tick's writes will be refused");
                return;
            }
            Err(err) => {
                tracing::warn!(rollout_id = %fence.rollout_id, error = %err, "cannot renew the rollout lease; retrying");
            }
        }
    }
}
