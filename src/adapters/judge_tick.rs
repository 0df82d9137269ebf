//! The per-tick state of one judge: its budget (`[judges.X] budget_calls`, `budget_tokens`,
//! `budget_usd`), what it has spent and whether an auth failure stopped it.
//!
//! A `JudgeTick` is either local (one `score` call: `evals run`, `rescore`, backtests) or
//! shared through the store's `tick_budgets` row of a live tick, so that every claim batch and
//! every replica scoring that tick draws on one budget and sees one auth stop. Either way the
//! tick also counts what *this* `score` call spent, for its report. Dollars are counted in
//! whole pico-dollars (1e-12 USD): a call's cost is rounded once, by at most 0.5 pUSD.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::adapters::store::tick_budgets::{CallGrant, JudgeSpend};
use crate::adapters::store::{Store, TickKey};

/// Pico-dollars per dollar.
const PICO_PER_USD: f64 = 1e12;

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

impl TickBudget {
    /// The cap in the store's units. A positive dollar cap stays positive (at least 1 pUSD),
    /// so it never turns into "no cap".
    fn as_spend(&self) -> JudgeSpend {
        let pico = pico_usd(self.usd);
        JudgeSpend {
            calls: self.calls,
            tokens: self.tokens,
            pico_usd: if self.usd > 0.0 { pico.max(1) } else { pico },
        }
    }
}

/// `usd` in whole pico-dollars (negative, NaN → 0; beyond `u64` saturates).
pub fn pico_usd(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        // `as` saturates for floats out of range; the value is finite and positive here.
        (usd * PICO_PER_USD).round() as u64
    } else {
        0
    }
}

/// Why a call was not even attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The tick's budget is spent.
    Budget,
    /// The judge failed authentication earlier in this tick.
    AuthStopped,
    /// The tick's shared spend could not be read or written, so no call may be made on it.
    Ledger,
}

/// The store row a shared tick spends from.
#[derive(Debug)]
struct Ledger {
    store: Store,
    key: TickKey,
    judge: String,
    /// Set once a ledger read or write failed: the budget can no longer be trusted.
    failed: AtomicBool,
}

/// What one judge has spent in the current tick, and whether it has been stopped.
#[derive(Debug, Default)]
pub struct JudgeTick {
    budget: TickBudget,
    calls: AtomicU64,
    tokens: AtomicU64,
    pico_usd: AtomicU64,
    auth_failed: AtomicBool,
    /// Set once a rejected request (a non-auth 4xx) was logged.
    rejection_logged: AtomicBool,
    ledger_opt: Option<Ledger>,
}

impl JudgeTick {
    /// A fresh local tick with `budget`.
    pub fn new(budget: TickBudget) -> JudgeTick {
        JudgeTick {
            budget,
            ..JudgeTick::default()
        }
    }

    /// A tick of `judge` whose budget and auth stop are shared through the store row of `key`
    /// (opened with `Store::open_tick_budgets`).
    pub fn shared(budget: TickBudget, store: Store, key: TickKey, judge: &str) -> JudgeTick {
        JudgeTick {
            budget,
            ledger_opt: Some(Ledger {
                store,
                key,
                judge: judge.to_string(),
                failed: AtomicBool::new(false),
            }),
            ..JudgeTick::default()
        }
    }

    /// Reserves one call, or says why none may be made.
    pub async fn start_call(&self) -> Result<(), Refusal> {
        if self.auth_failed.load(Ordering::SeqCst) {
            return Err(Refusal::AuthStopped);
        }
        let Some(ledger) = &self.ledger_opt else {
            return self.start_local_call();
        };
        if ledger.failed.load(Ordering::SeqCst) {
            return Err(Refusal::Ledger);
        }
        let grant = ledger
            .store
            .reserve_judge_call(&ledger.key, &ledger.judge, &self.budget.as_spend())
            .await;
        match grant {
            Ok(CallGrant::Granted) => {
                self.calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Ok(CallGrant::OverBudget) => Err(Refusal::Budget),
            Ok(CallGrant::AuthStopped) => {
                self.auth_failed.store(true, Ordering::SeqCst);
                Err(Refusal::AuthStopped)
            }
            Err(err) => {
                ledger.fail("reserve a judge call", &err);
                Err(Refusal::Ledger)
            }
        }
    }

    fn start_local_call(&self) -> Result<(), Refusal> {
        if self.budget.tokens > 0 && self.tokens.load(Ordering::SeqCst) >= self.budget.tokens {
            return Err(Refusal::Budget);
        }
        let cap = self.budget.as_spend().pico_usd;
        if cap > 0 && self.pico_usd.load(Ordering::SeqCst) >= cap {
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
    pub async fn record_usage(&self, tokens: u64, usd: f64) {
        let pico = pico_usd(usd);
        self.tokens.fetch_add(tokens, Ordering::SeqCst);
        self.pico_usd.fetch_add(pico, Ordering::SeqCst);
        if let Some(ledger) = &self.ledger_opt
            && let Err(err) = ledger
                .store
                .record_judge_spend(&ledger.key, &ledger.judge, tokens, pico)
                .await
        {
            ledger.fail("record a judge call's spend", &err);
        }
    }

    /// Stops the judge for the rest of the tick; true the first time (so it is logged once
    /// per tick, whichever batch or replica hit it).
    pub async fn stop_for_auth(&self, error: &str) -> bool {
        let first_here = !self.auth_failed.swap(true, Ordering::SeqCst);
        let Some(ledger) = &self.ledger_opt else {
            return first_here;
        };
        match ledger
            .store
            .stop_judge_for_auth(&ledger.key, &ledger.judge, error)
            .await
        {
            Ok(first_in_tick) => first_in_tick,
            Err(err) => {
                ledger.fail("record a judge's auth stop", &err);
                first_here
            }
        }
    }

    /// True the first time it is asked: whether a rejected request is the first of this tick
    /// value (so it is logged once, not once per judgment).
    pub fn first_rejection(&self) -> bool {
        !self.rejection_logged.swap(true, Ordering::SeqCst)
    }

    /// True once authentication failed (or was found failed) in this tick.
    pub fn auth_failed(&self) -> bool {
        self.auth_failed.load(Ordering::SeqCst)
    }

    /// True when the shared spend could not be read or written: the `score` call must fail
    /// rather than report judgments it could not account for.
    pub fn ledger_failed(&self) -> bool {
        self.ledger_opt
            .as_ref()
            .is_some_and(|ledger| ledger.failed.load(Ordering::SeqCst))
    }

    /// Calls made so far through this tick value (this `score` call's share).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Tokens used so far through this tick value.
    pub fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::SeqCst)
    }

    /// Dollars spent so far through this tick value.
    pub fn spent_usd(&self) -> f64 {
        self.pico_usd.load(Ordering::SeqCst) as f64 / PICO_PER_USD
    }
}

impl Ledger {
    fn fail(&self, what: &str, err: &crate::adapters::store::StoreError) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            tracing::error!(
                judge = %self.judge,
                rollout_id = %self.key.rollout_id,
                window_start = %self.key.window_start,
                error = %err,
                "cannot {what} in the tick's judge budget; the judge makes no more calls in this batch"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_budget_refuses_the_call_after_the_last_one() {
        let tick = JudgeTick::new(TickBudget {
            calls: 2,
            ..TickBudget::default()
        });
        assert_eq!(tick.start_call().await, Ok(()));
        assert_eq!(tick.start_call().await, Ok(()));
        assert_eq!(tick.start_call().await, Err(Refusal::Budget));
        assert_eq!(tick.calls(), 2);
    }

    #[tokio::test]
    async fn token_and_dollar_budgets_refuse_once_spent() {
        let tokens = JudgeTick::new(TickBudget {
            tokens: 100,
            ..TickBudget::default()
        });
        assert_eq!(tokens.start_call().await, Ok(()));
        tokens.record_usage(100, 0.0).await;
        assert_eq!(tokens.start_call().await, Err(Refusal::Budget));
        let dollars = JudgeTick::new(TickBudget {
            usd: 0.01,
            ..TickBudget::default()
        });
        dollars.record_usage(10, 0.006).await;
        assert_eq!(dollars.start_call().await, Ok(()));
        dollars.record_usage(10, 0.006).await;
        assert_eq!(dollars.start_call().await, Err(Refusal::Budget));
    }

    #[tokio::test]
    async fn sub_micro_dollar_calls_add_up_against_the_dollar_budget() {
        // $0.0000004 a call rounded to whole micro-dollars was 0: the budget never ran out.
        let tick = JudgeTick::new(TickBudget {
            usd: 0.000001,
            ..TickBudget::default()
        });
        for _ in 0..2 {
            assert_eq!(tick.start_call().await, Ok(()));
            tick.record_usage(120, 0.0000004).await;
        }
        assert_eq!(tick.start_call().await, Ok(()), "0.8 µUSD of 1 spent");
        tick.record_usage(120, 0.0000004).await;
        assert_eq!(tick.start_call().await, Err(Refusal::Budget));
        assert!((tick.spent_usd() - 0.0000012).abs() < 1e-15);
    }

    #[test]
    fn dollars_convert_to_whole_pico_dollars() {
        assert_eq!(pico_usd(0.0000004), 400_000);
        assert_eq!(pico_usd(1.0), 1_000_000_000_000);
        assert_eq!(pico_usd(-1.0), 0);
        assert_eq!(pico_usd(f64::NAN), 0);
        let tiny = TickBudget {
            usd: 1e-15,
            ..TickBudget::default()
        };
        assert_eq!(
            tiny.as_spend().pico_usd,
            1,
            "a positive cap is never `no cap`"
        );
    }

    #[tokio::test]
    async fn an_auth_stop_is_reported_once_and_refuses_every_later_call() {
        let tick = JudgeTick::new(TickBudget::default());
        assert!(tick.stop_for_auth("http 401").await);
        assert!(!tick.stop_for_auth("http 401").await);
        assert_eq!(tick.start_call().await, Err(Refusal::AuthStopped));
    }
}
