//! The judge client's limits: a smooth rate limiter (requests or tokens per minute) and the
//! per-tick state of one judge (budget spent, auth stop). Both run on tokio's clock, so tests
//! with a paused clock stay fast.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A per-tick spending cap of one judge (0 in a field: no cap on that dimension).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickBudget {
    /// HTTP calls, retries included.
    pub calls: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// US dollars.
    pub usd: f64,
}

/// Why a call was not even attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The tick's budget is spent.
    Budget,
    /// The judge failed authentication earlier in this tick.
    AuthStopped,
}

/// What one judge has spent in the current tick, and whether it has been stopped.
#[derive(Debug, Default)]
pub struct JudgeTick {
    budget: TickBudget,
    calls: AtomicU64,
    tokens: AtomicU64,
    micro_usd: AtomicU64,
    auth_failed: AtomicBool,
}

impl JudgeTick {
    /// A fresh tick with `budget`.
    pub fn new(budget: TickBudget) -> JudgeTick {
        JudgeTick {
            budget,
            ..JudgeTick::default()
        }
    }

    /// Reserves one call, or says why none may be made.
    pub fn start_call(&self) -> Result<(), Refusal> {
        if self.auth_failed.load(Ordering::SeqCst) {
            return Err(Refusal::AuthStopped);
        }
        if self.budget.tokens > 0 && self.tokens.load(Ordering::SeqCst) >= self.budget.tokens {
            return Err(Refusal::Budget);
        }
        if self.budget.usd > 0.0 && self.spent_usd() >= self.budget.usd {
            return Err(Refusal::Budget);
        }
        let previous = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.budget.calls > 0 && previous >= self.budget.calls {
            self.calls.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Budget);
        }
        Ok(())
    }

    /// Records the tokens and dollars one call used.
    pub fn record_usage(&self, tokens: u64, usd: f64) {
        self.tokens.fetch_add(tokens, Ordering::SeqCst);
        let micro = (usd.max(0.0) * 1_000_000.0).round();
        self.micro_usd.fetch_add(micro as u64, Ordering::SeqCst);
    }

    /// Stops the judge for the rest of the tick; true the first time (so it is logged once).
    pub fn stop_for_auth(&self) -> bool {
        !self.auth_failed.swap(true, Ordering::SeqCst)
    }

    /// True once authentication failed in this tick.
    pub fn auth_failed(&self) -> bool {
        self.auth_failed.load(Ordering::SeqCst)
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Tokens used so far.
    pub fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::SeqCst)
    }

    /// Dollars spent so far.
    pub fn spent_usd(&self) -> f64 {
        self.micro_usd.load(Ordering::SeqCst) as f64 / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_budget_refuses_the_call_after_the_last_one() {
        let tick = JudgeTick::new(TickBudget {
            calls: 2,
            ..TickBudget::default()
        });
        assert_eq!(tick.start_call(), Ok(()));
        assert_eq!(tick.start_call(), Ok(()));
        assert_eq!(tick.start_call(), Err(Refusal::Budget));
        assert_eq!(tick.calls(), 2);
    }

    #[test]
    fn token_and_dollar_budgets_refuse_once_spent() {
        let tokens = JudgeTick::new(TickBudget {
            tokens: 100,
            ..TickBudget::default()
        });
        assert_eq!(tokens.start_call(), Ok(()));
        tokens.record_usage(100, 0.0);
        assert_eq!(tokens.start_call(), Err(Refusal::Budget));
        let dollars = JudgeTick::new(TickBudget {
            usd: 0.01,
            ..TickBudget::default()
        });
        dollars.record_usage(10, 0.006);
        assert_eq!(dollars.start_call(), Ok(()));
        dollars.record_usage(10, 0.006);
        assert_eq!(dollars.start_call(), Err(Refusal::Budget));
    }

    #[test]
    fn an_auth_stop_is_reported_once_and_refuses_every_later_call() {
        let tick = JudgeTick::new(TickBudget::default());
        assert!(tick.stop_for_auth());
        assert!(!tick.stop_for_auth());
        assert_eq!(tick.start_call(), Err(Refusal::AuthStopped));
    }

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
