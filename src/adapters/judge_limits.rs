//! The judge client's rate limits: a smooth limiter of requests or tokens per minute, on
//! tokio's clock so tests with a paused clock stay fast. The per-tick budget and auth stop are
//! in `judge_tick`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A GCRA rate limiter: callers reserve `amount` units and sleep until their turn, first come
/// first served. Units are spread evenly over time (no bursts), so a client limited below a
/// server's own limit never trips it, whatever window the server counts in.
#[derive(Debug)]
pub struct RateLimiter {
    seconds_per_unit: f64,
    /// Theoretical arrival time of the next unit.
    next_free: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter of `per_minute` units; `None` when `per_minute` is 0 (unlimited).
    pub fn per_minute(per_minute: u32) -> Option<RateLimiter> {
        if per_minute == 0 {
            return None;
        }
        Some(RateLimiter {
            seconds_per_unit: 60.0 / f64::from(per_minute),
            next_free: Mutex::new(None),
        })
    }

    /// Reserves `amount` units and waits until they may be used.
    pub async fn acquire(&self, amount: f64) {
        let start_at = {
            let mut guard = self
                .next_free
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let start = match *guard {
                Some(next) if next > now => next,
                _ => now,
            };
            *guard = Some(start + self.span(amount));
            start
        };
        tokio::time::sleep_until(start_at).await;
    }

    /// Corrects an earlier reservation by `delta` units (negative gives units back), e.g. once
    /// a reply says how many tokens a call really used.
    pub fn adjust(&self, delta: f64) {
        let mut guard = self
            .next_free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(next) = *guard else {
            return;
        };
        let now = Instant::now();
        *guard = if delta >= 0.0 {
            Some(next + self.span(delta))
        } else {
            let back = self.span(-delta);
            let earlier = next.checked_sub(back).unwrap_or(now);
            Some(earlier.max(now))
        };
    }

    fn span(&self, amount: f64) -> Duration {
        Duration::from_secs_f64((amount.max(0.0) * self.seconds_per_unit).min(3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_limiter_spaces_reservations_evenly() {
        let limiter = RateLimiter::per_minute(600).unwrap();
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire(1.0).await;
        }
        // 600/min is one unit every 100 ms; the first goes at once.
        assert_eq!(Instant::now() - start, Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn adjusting_a_reservation_moves_the_next_turn() {
        let limiter = RateLimiter::per_minute(60).unwrap();
        let start = Instant::now();
        limiter.acquire(1.0).await;
        limiter.adjust(2.0);
        limiter.acquire(1.0).await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        limiter.adjust(-10.0);
        let before = Instant::now();
        limiter.acquire(1.0).await;
        assert_eq!(Instant::now(), before);
        assert!(RateLimiter::per_minute(0).is_none());
    }
}
