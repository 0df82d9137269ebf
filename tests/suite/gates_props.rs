//! Property tests of the betting e-process (wealth never negative, the always-valid p-value never
//! increases) and a short Monte-Carlo A/A check through the production gate code.

use chrono::TimeZone;
use evalgate::domain::Outcome;
use evalgate::logic::gates::GateSettings;
use evalgate::logic::gates::{GateState, StagePlan, TickInput, update};
use evalgate::logic::stats::betting::{
    Alternative, BettingParams, BettingState, Contrast, PairTally,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tick_counts() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (0u64..60, 0u64..20, 0u64..20, 0u64..10)
}

proptest! {
    #[test]
    fn the_wealth_never_goes_negative_and_every_factor_stays_above_the_floor(
        r0 in 0.8f64..=1.0,
        drop in 0.05f64..0.5,
        prior in 0.3f64..0.99,
        ticks in proptest::collection::vec(tick_counts(), 1..30),
    ) {
        let params = BettingParams {
            contrast: Contrast::higher_is_better(r0),
            alternative: Alternative::Ratio { r: r0 * (1.0 - drop) },
            prior_rate: prior,
            prior_n: 20.0,
            lambda_cap: 0.95,
            first_start_weight: 0.5,
            ticks_per_stage: 16,
        };
        let mut state = BettingState::default();
        for (n11, n10, n01, n00) in ticks {
            let lambda = state.ingest(&params, &PairTally::from_counts(n11, n10, n01, n00));
            prop_assert!((0.0..=0.95 / params.contrast.max_value() + 1e-12).contains(&lambda));
            for d in [1.0 - r0, 1.0, -r0, 0.0] {
                prop_assert!(1.0 - lambda * d >= 0.05 - 1e-12);
            }
            prop_assert!(state.ln_k.is_finite());
            prop_assert!(state.ln_m.is_finite());
            prop_assert!(state.ln_k.exp() >= 0.0);
        }
    }

    #[test]
    fn the_always_valid_p_value_never_increases(
        ticks in proptest::collection::vec(tick_counts(), 1..30),
        lower in any::<bool>(),
    ) {
        let contrast = if lower { Contrast::lower_is_better(1.0) } else { Contrast::higher_is_better(1.0) };
        let params = BettingParams {
            contrast,
            alternative: Alternative::Ratio { r: if lower { 1.2 } else { 0.8 } },
            prior_rate: 0.5,
            prior_n: 20.0,
            lambda_cap: 0.95,
            first_start_weight: 0.5,
            ticks_per_stage: 16,
        };
        let mut state = BettingState::default();
        let mut last = state.p_value();
        for (n11, n10, n01, n00) in ticks {
            state.ingest(&params, &PairTally::from_counts(n11, n10, n01, n00));
            let p = state.p_value();
            prop_assert!(p <= last && p > 0.0 && p <= 1.0);
            last = p;
        }
    }
}

fn draws(rng: &mut ChaCha8Rng, n: usize, p: f64) -> Vec<Outcome> {
    (0..n)
        .map(|_| {
            if rng.random::<f64>() < p {
                Outcome::Pass
            } else {
                Outcome::Fail
            }
        })
        .collect()
}

#[test]
fn a_short_monte_carlo_a_a_check_keeps_false_halts_under_alpha() {
    let config = GateSettings::default();
    let settings = config.settings("pass_rate").expect("pass_rate");
    let plan = StagePlan::default();
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .single()
        .expect("time");
    let reps = 1000;
    let mut halts = 0;
    for rep in 0..reps {
        let mut rng = ChaCha8Rng::seed_from_u64(rep);
        let mut state = GateState::start(&config, &settings, "pass_rate", &plan);
        for tick in 0..16 {
            let mut input = TickInput {
                pairing_seed: rep * 100 + tick,
                ..TickInput::default()
            };
            input.eval.wanted_per_arm = 50;
            input.eval.arms.canary.overall = draws(&mut rng, 50, 0.9);
            input.eval.arms.baseline.overall = draws(&mut rng, 50, 0.9);
            let (next, verdict, _) = update(&config, &settings, &state, &input, now);
            state = next;
            if verdict.verdict.is_halt() {
                halts += 1;
                break;
            }
        }
    }
    let rate = f64::from(halts) / reps as f64;
    assert!(rate <= settings.alpha_halt, "false-halt rate {rate}");
}
