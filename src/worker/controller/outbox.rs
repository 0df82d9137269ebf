//! Delivering the notification outbox (`notify_outbox`): a transition's notifications are written
//! in the transition's own transaction, then delivered right after it (inline, with the
//! notifier's retries). A process that dies mid-delivery, or a webhook that stays down, leaves the
//! row pending: `serve` runs [`outbox_loop`], and every `tick` run calls [`flush_due`], which
//! claim due rows (one deliverer per row) and retry them with a growing pause until they are
//! delivered. Delivery is at least once; each row's id goes out as `Idempotency-Key`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::adapters::notify::{Notification, Notifier, NotifyOutcome};
use crate::adapters::store::{OutboxItem, Store};
use crate::clock::Clock;
use crate::domain::Timestamp;

/// How often `serve` looks for due notifications.
const LOOP_EVERY: Duration = Duration::from_secs(5);
/// Rows delivered per round.
const ROUND: i64 = 50;
/// The pause before the first background retry; it doubles per attempt up to [`MAX_PAUSE`].
const FIRST_PAUSE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// The longest pause between two background retries.
const MAX_PAUSE: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushRound {
    /// Rows delivered.
    pub delivered: usize,
    /// Rows that failed again (retried later).
    pub failed: usize,
}

/// The pause before retrying a row that failed `attempts` times.
pub fn retry_pause(attempts: i64) -> chrono::TimeDelta {
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    let pause = FIRST_PAUSE * 2_i32.pow(doublings.min(10));
    pause.min(MAX_PAUSE)
}

/// Delivers `items` just committed by this process (they are claimed for it until their
/// `next_attempt_at`); rows that fail stay pending for the background retries.
pub async fn deliver_items(
    store: &Store,
    notifier: &Notifier,
    items: &[OutboxItem],
    now: Timestamp,
) -> Vec<NotifyOutcome> {
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        outcomes.push(deliver_one(store, notifier, item, now).await);
    }
    outcomes
}

async fn deliver_one(
    store: &Store,
    notifier: &Notifier,
    item: &OutboxItem,
    now: Timestamp,
) -> NotifyOutcome {
    let notification: Notification = match serde_json::from_value(item.notification.clone()) {
        Ok(notification) => notification,
        Err(err) => {
            let error = format!("stored notification does not decode: {err}");
            tracing::error!(id = %item.id, rollout_id = %item.rollout_id, error = %error, "outbox row unreadable; left pending");
            return NotifyOutcome::GaveUp { attempts: 0, error };
        }
    };
    let outcome = notifier.send(item.webhook.as_deref(), &notification).await;
    let recorded = match &outcome {
        NotifyOutcome::Delivered { .. } => store.notification_delivered(&item.id, now).await,
        NotifyOutcome::NoWebhook => {
            store
                .notification_retry(&item.id, now + MAX_PAUSE, "no webhook configured")
                .await
        }
        NotifyOutcome::GaveUp { error, .. } => {
            store
                .notification_retry(&item.id, now + retry_pause(item.attempts), error)
                .await
        }
    };
    if let Err(err) = recorded {
        tracing::error!(id = %item.id, error = %err, "cannot record the notification's delivery; it may be sent again");
    }
    outcome
}

/// Claims and delivers every due row (oldest first, up to one round).
pub async fn flush_due(store: &Store, notifier: &Notifier, now: Timestamp) -> FlushRound {
    let due = match store.due_notifications(now, ROUND).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the notification outbox");
            return FlushRound::default();
        }
    };
    let mut round = FlushRound::default();
    for item in due {
        match store
            .claim_notification(&item, now + notifier.delivery_deadline())
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim a notification");
                continue;
            }
        }
        let claimed = OutboxItem {
            attempts: item.attempts + 1,
            ..item
        };
        match deliver_one(store, notifier, &claimed, now).await {
            NotifyOutcome::Delivered { .. } => round.delivered += 1,
            _ => round.failed += 1,
        }
    }
    if round.delivered + round.failed > 0 {
        tracing::info!(
            delivered = round.delivered,
            failed = round.failed,
            "delivered pending notifications"
        );
    }
    round
}

/// `serve`'s outbox loop: flushes due rows every few seconds until `cancel` fires.
pub async fn outbox_loop(
    store: Store,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        flush_due(&store, &notifier, clock.now()).await;
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(LOOP_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_pause_doubles_and_is_capped() {
        assert_eq!(retry_pause(0), chrono::TimeDelta::seconds(30));
        assert_eq!(retry_pause(1), chrono::TimeDelta::seconds(60));
        assert_eq!(retry_pause(3), chrono::TimeDelta::seconds(240));
        assert_eq!(retry_pause(50), MAX_PAUSE);
    }
}
