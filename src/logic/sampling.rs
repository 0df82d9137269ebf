//! Which requests a tick scores: the window a tick at `t` looks at, and a uniformly random,
//! deterministic sample of N requests per arm (k·N on the baseline when it is over-sampled) with
//! a per-tenant cap.
//!
//! The order is a hash of (seed, tick key, request id), so the same store, seed and tick always
//! give the same sample, whatever order the store returned the candidates in, and re-running a
//! tick (after a crash, in a backtest, in `evalgate sample`) picks the same rows. The sample is
//! outcome-blind: it never looks at the output or the scores; error rows are excluded from the
//! eval sample (they count in the telemetry gates) and reported as `excluded_errors`.
//!
//! Pure: no I/O and no clock; the tick time arrives as an argument.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Arm, HumanDuration, Timestamp};
use crate::logic::hash::sha256_u64;

/// The columns of one request that sampling needs (the store reads only these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The request's id.
    pub request_id: String,
    /// The tenant: the sampling stratum that the per-tenant cap applies to.
    pub tenant_id: String,
    /// The arm that served it.
    pub arm: Arm,
    /// True when the gateway logged an error (excluded from the eval sample).
    pub is_error: bool,
}

/// How many requests to take per arm, with what cap and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplePlan {
    /// N: requests scored per arm per tick (the canary's; the baseline takes k·N).
    pub n_per_arm: u32,
    /// k: the baseline arm samples k·N (`[sampling].baseline_multiplier`).
    pub baseline_multiplier: u32,
    /// At most this many requests from one tenant per arm per tick.
    pub per_tenant_cap: u32,
    /// Seed of the sampling order.
    pub seed: u64,
}

impl SamplePlan {
    /// The plan of one arm: the baseline's N is k·N. The order key does not depend on N, so the
    /// baseline's first N are the ones a 1:1 plan would have taken.
    pub fn for_arm(&self, arm: Arm) -> SamplePlan {
        let k = match arm {
            Arm::Baseline => self.baseline_multiplier.max(1),
            Arm::Canary => 1,
        };
        SamplePlan {
            n_per_arm: self.n_per_arm.saturating_mul(k),
            baseline_multiplier: 1,
            ..*self
        }
    }
}

/// The sample of one arm for one tick, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmSample {
    /// The selected request ids, in sampling order.
    pub selected: Vec<String>,
    /// Every candidate in the window (errors included).
    pub available: usize,
    /// Candidates that could be selected: not errors, and within the per-tenant cap.
    pub eligible: usize,
    /// How many fewer than N were selected (0 when N were found).
    pub shortfall: u64,
    /// Candidates left out because the gateway logged an error.
    pub excluded_errors: usize,
}

/// The window a tick at `tick_at` samples: `[t − window − delay, t − delay)`.
pub fn window_for(
    tick_at: Timestamp,
    window: HumanDuration,
    readiness_delay: HumanDuration,
) -> (Timestamp, Timestamp) {
    let to = tick_at - readiness_delay.to_chrono();
    let from = to - window.to_chrono();
    (from, to)
}

/// The tick time whose window holds a request served at `ts`: ticks fire on multiples of the
/// window (config validation makes the schedule agree), so this is the first multiple of
/// `window` after `ts + readiness_delay`. `rescore` assigns stored requests to the windows the
/// ticks scored with it; `window_for` of the result contains `ts`.
pub fn tick_at_for(
    ts: Timestamp,
    window: HumanDuration,
    readiness_delay: HumanDuration,
) -> Option<Timestamp> {
    let length = window.as_secs().max(1);
    let shifted = ts.timestamp() + readiness_delay.as_secs();
    let tick_secs = shifted - shifted.rem_euclid(length) + length;
    Timestamp::from_timestamp(tick_secs, 0)
}

/// The baseline window of a tick at 100%, where there is no concurrent baseline: the k-th tick of
/// the stage (k = 0, 1, …, counted from the canary window `canary_from`) reads the k-th window
/// before the stage started, walking back through the pre-rollout history. Each tick gets baseline
/// requests no earlier tick used: reusing the last pre-100% window every tick would feed the
/// same baseline observations to the anytime-valid tests again and again (pseudo-replication),
/// which makes them halt healthy canaries.
pub fn monitoring_baseline_window(
    stage_started: Timestamp,
    canary_from: Timestamp,
    window: HumanDuration,
    readiness_delay: HumanDuration,
) -> (Timestamp, Timestamp) {
    let (first_from, first_to) = window_for(stage_started, window, readiness_delay);
    let length = window.to_chrono();
    let ticks_since = match (canary_from - first_from).num_seconds() {
        elapsed if elapsed > 0 && length.num_seconds() > 0 => elapsed / length.num_seconds(),
        _ => 0,
    };
    let back = length * i32::try_from(ticks_since).unwrap_or(i32::MAX);
    (first_from - back, first_to - back)
}

/// The half-open windows one tick reads, per arm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TickWindows {
    /// The canary's window `[t − window − delay, t − delay)`.
    pub canary: (Timestamp, Timestamp),
    /// The baseline's window: the same, except at 100% where there is no concurrent baseline and
    /// it walks back through the history before the stage began (`monitoring_baseline_window`).
    pub baseline: (Timestamp, Timestamp),
    /// The feedback cohort: the canary window moved back by the feedback maturity.
    pub cohort_shift: chrono::Duration,
}

impl TickWindows {
    /// The window of `arm`.
    pub fn of(&self, arm: Arm) -> (Timestamp, Timestamp) {
        match arm {
            Arm::Baseline => self.baseline,
            Arm::Canary => self.canary,
        }
    }
}

/// Where a rollout is, as far as its tick windows care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutPosition {
    /// The current stage serves 100% (no concurrent baseline).
    pub full: bool,
    /// When the current stage began.
    pub stage_started_at: Option<Timestamp>,
}

/// The one place that decides each arm's window for a tick at `tick_at`: the tick pipeline,
/// `sample`, `backtest` and `rescore` all call it. Without a rollout (`position` None) both arms
/// read the canary window.
pub fn tick_windows(
    tick_at: Timestamp,
    window: HumanDuration,
    readiness_delay: HumanDuration,
    feedback_maturity: HumanDuration,
    position: Option<RolloutPosition>,
) -> TickWindows {
    let (from, to) = window_for(tick_at, window, readiness_delay);
    let baseline = match position {
        Some(RolloutPosition {
            full: true,
            stage_started_at: Some(started),
        }) => monitoring_baseline_window(started, from, window, readiness_delay),
        _ => (from, to),
    };
    TickWindows {
        canary: (from, to),
        baseline,
        cohort_shift: feedback_maturity.to_chrono(),
    }
}

/// The key a tick hashes with: the rollout (or `*` for all traffic) and the window start. The
/// tick pipeline and `evalgate sample` both use it, so they pick the same requests.
pub fn tick_key(rollout_id_opt: Option<&str>, window_start: Timestamp) -> String {
    let rollout = rollout_id_opt.unwrap_or("*");
    format!("{rollout}@{}", window_start.timestamp())
}

/// The position of a request in the sampling order of (seed, tick).
pub fn order_key(seed: u64, tick_key: &str, request_id: &str) -> u64 {
    let seed_bytes = seed.to_be_bytes();
    sha256_u64(&[&seed_bytes, tick_key.as_bytes(), request_id.as_bytes()])
}

/// Samples one arm: drops error rows, orders the rest by `order_key`, walks that order keeping at
/// most `per_tenant_cap` requests per tenant, and stops at N. Selects exactly
/// `min(N, eligible)` requests; the result does not depend on the order of `candidates`.
pub fn sample(plan: &SamplePlan, tick_key: &str, candidates: &[Candidate]) -> ArmSample {
    let available = candidates.len();
    let mut ordered: Vec<(u64, &Candidate)> = Vec::with_capacity(available);
    let mut excluded_errors = 0usize;
    for candidate in candidates {
        if candidate.is_error {
            excluded_errors += 1;
            continue;
        }
        let key = order_key(plan.seed, tick_key, &candidate.request_id);
        ordered.push((key, candidate));
    }
    ordered.sort_by(|left, right| {
        left.0
            .cmp(&right.0)
            .then_with(|| left.1.request_id.cmp(&right.1.request_id))
    });

    let cap = plan.per_tenant_cap as usize;
    let wanted = plan.n_per_arm as usize;
    let mut per_tenant: HashMap<&str, usize> = HashMap::new();
    let mut selected = Vec::with_capacity(wanted.min(ordered.len()));
    let mut eligible = 0usize;
    for (_key, candidate) in ordered {
        let taken = per_tenant.entry(candidate.tenant_id.as_str()).or_insert(0);
        if *taken >= cap {
            continue;
        }
        *taken += 1;
        eligible += 1;
        if selected.len() < wanted {
            selected.push(candidate.request_id.clone());
        }
    }
    let shortfall = (wanted - selected.len()) as u64;
    ArmSample {
        selected,
        available,
        eligible,
        shortfall,
        excluded_errors,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_tick_for_a_request_scores_a_window_that_holds_it() {
        let window = HumanDuration::from_mins(15);
        let delay = HumanDuration::from_mins(2);
        for minute in [0, 1, 12, 13, 14, 15, 29] {
            let ts = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc)
                + chrono::TimeDelta::minutes(minute)
                + chrono::TimeDelta::seconds(7);
            let at = tick_at_for(ts, window, delay).unwrap();
            assert_eq!(at.timestamp() % 900, 0, "ticks fire on window boundaries");
            let (from, to) = window_for(at, window, delay);
            assert!(from <= ts && ts < to, "{ts} not in [{from}, {to})");
        }
    }

    #[test]
    fn one_function_decides_both_arms_windows() {
        let window = HumanDuration::from_mins(15);
        let zero = HumanDuration::from_mins(0);
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let partial = tick_windows(at, window, zero, zero, None);
        assert_eq!(partial.canary, partial.baseline);
        let started = at - chrono::TimeDelta::hours(1);
        let full = tick_windows(
            at,
            window,
            zero,
            zero,
            Some(RolloutPosition {
                full: true,
                stage_started_at: Some(started),
            }),
        );
        assert!(
            full.baseline.1 <= started,
            "the 100% baseline comes from before the stage"
        );
        assert_eq!(full.canary, partial.canary);
    }

    use std::collections::{HashMap, HashSet};

    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn candidate(id: &str, tenant: &str, is_error: bool) -> Candidate {
        Candidate {
            request_id: id.to_string(),
            tenant_id: tenant.to_string(),
            arm: Arm::Canary,
            is_error,
        }
    }

    fn plan(n_per_arm: u32, per_tenant_cap: u32, seed: u64) -> SamplePlan {
        SamplePlan {
            n_per_arm,
            baseline_multiplier: 1,
            per_tenant_cap,
            seed,
        }
    }

    fn arb_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        proptest::collection::vec((0u32..12, proptest::bool::weighted(0.15)), 0..200).prop_map(
            |rows| {
                rows.into_iter()
                    .enumerate()
                    .map(|(index, (tenant, is_error))| {
                        candidate(&format!("req-{index}"), &format!("t{tenant}"), is_error)
                    })
                    .collect()
            },
        )
    }

    /// What min(N, eligible) must be, computed independently of the sampler.
    fn expected_eligible(candidates: &[Candidate], cap: u32) -> usize {
        let mut per_tenant: HashMap<&str, usize> = HashMap::new();
        for row in candidates.iter().filter(|row| !row.is_error) {
            *per_tenant.entry(row.tenant_id.as_str()).or_insert(0) += 1;
        }
        per_tenant
            .values()
            .map(|count| (*count).min(cap as usize))
            .sum()
    }

    #[test]
    fn window_ends_readiness_delay_before_the_tick_and_spans_the_window() {
        let tick = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .unwrap();
        let (from, to) = window_for(
            tick,
            HumanDuration::from_mins(15),
            HumanDuration::from_mins(5),
        );
        assert_eq!(
            to,
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 26, 11, 55, 0)
                .unwrap()
        );
        assert_eq!(
            from,
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 26, 11, 40, 0)
                .unwrap()
        );
    }

    #[test]
    fn an_over_sampled_baseline_takes_k_n_and_keeps_the_one_to_one_sample_as_its_prefix() {
        let rows: Vec<Candidate> = (0..500)
            .map(|i| candidate(&format!("r{i}"), &format!("t{i}"), false))
            .collect();
        let over = SamplePlan {
            baseline_multiplier: 4,
            ..plan(20, 3, 7)
        };
        let canary = sample(&over.for_arm(Arm::Canary), "k", &rows);
        let baseline = sample(&over.for_arm(Arm::Baseline), "k", &rows);
        assert_eq!(canary.selected.len(), 20);
        assert_eq!(baseline.selected.len(), 80);
        assert_eq!(baseline.shortfall, 0);
        let one_to_one = sample(&plan(20, 3, 7), "k", &rows);
        assert_eq!(baseline.selected[..20], one_to_one.selected[..]);
    }

    #[test]
    fn error_rows_are_excluded_and_counted() {
        let rows = vec![
            candidate("a", "t1", true),
            candidate("b", "t2", false),
            candidate("c", "t3", true),
        ];
        let result = sample(&plan(10, 5, 1), "k", &rows);
        assert_eq!(result.selected, vec!["b".to_string()]);
        assert_eq!(result.available, 3);
        assert_eq!(result.excluded_errors, 2);
        assert_eq!(result.eligible, 1);
        assert_eq!(result.shortfall, 9);
    }

    #[test]
    fn a_different_tick_key_gives_a_different_order() {
        let rows: Vec<Candidate> = (0..200)
            .map(|index| candidate(&format!("r{index}"), &format!("t{index}"), false))
            .collect();
        let first = sample(&plan(20, 1, 7), "tick-a", &rows);
        let second = sample(&plan(20, 1, 7), "tick-b", &rows);
        assert_ne!(first.selected, second.selected);
    }

    #[test]
    fn every_request_is_about_equally_likely_to_be_picked() {
        // 40 candidates, N = 10: over 4000 ticks each should be picked about 1000 times.
        let rows: Vec<Candidate> = (0..40)
            .map(|index| candidate(&format!("r{index}"), &format!("t{index}"), false))
            .collect();
        let mut counts: HashMap<String, u32> = HashMap::new();
        for tick in 0..4000 {
            let result = sample(&plan(10, 1, 3), &format!("tick-{tick}"), &rows);
            for id in result.selected {
                *counts.entry(id).or_insert(0) += 1;
            }
        }
        for (id, count) in counts {
            assert!((850..1150).contains(&count), "{id} picked {count} times");
        }
    }

    #[test]
    fn tick_key_names_the_rollout_and_the_window_start() {
        let start = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 11, 40, 0)
            .unwrap();
        assert_eq!(tick_key(Some("r1"), start), "r1@1795693200");
        assert_eq!(tick_key(None, start), "*@1795693200");
    }

    proptest! {
        #[test]
        fn sampling_is_deterministic_and_ignores_input_order(
            rows in arb_candidates(), n in 1u32..60, cap in 1u32..6, seed in any::<u64>(),
        ) {
            let first = sample(&plan(n, cap, seed), "tick", &rows);
            let again = sample(&plan(n, cap, seed), "tick", &rows);
            let mut reversed = rows.clone();
            reversed.reverse();
            let from_reversed = sample(&plan(n, cap, seed), "tick", &reversed);
            prop_assert_eq!(&first, &again);
            prop_assert_eq!(&first, &from_reversed);
        }

        #[test]
        fn no_tenant_exceeds_the_cap(
            rows in arb_candidates(), n in 1u32..60, cap in 1u32..6, seed in any::<u64>(),
        ) {
            let result = sample(&plan(n, cap, seed), "tick", &rows);
            let tenant_of: HashMap<&str, &str> = rows
                .iter()
                .map(|row| (row.request_id.as_str(), row.tenant_id.as_str()))
                .collect();
            let mut per_tenant: HashMap<&str, u32> = HashMap::new();
            for id in &result.selected {
                *per_tenant.entry(tenant_of[id.as_str()]).or_insert(0) += 1;
            }
            prop_assert!(per_tenant.values().all(|count| *count <= cap));
        }

        #[test]
        fn exactly_min_of_n_and_eligible_are_selected_and_never_an_error_row(
            rows in arb_candidates(), n in 1u32..60, cap in 1u32..6, seed in any::<u64>(),
        ) {
            let result = sample(&plan(n, cap, seed), "tick", &rows);
            let eligible = expected_eligible(&rows, cap);
            prop_assert_eq!(result.eligible, eligible);
            prop_assert_eq!(result.selected.len(), eligible.min(n as usize));
            prop_assert_eq!(result.shortfall, u64::from(n) - result.selected.len() as u64);
            prop_assert_eq!(result.available, rows.len());
            prop_assert_eq!(
                result.excluded_errors,
                rows.iter().filter(|row| row.is_error).count()
            );
            let errors: HashSet<&str> = rows
                .iter()
                .filter(|row| row.is_error)
                .map(|row| row.request_id.as_str())
                .collect();
            let unique: HashSet<&String> = result.selected.iter().collect();
            prop_assert_eq!(unique.len(), result.selected.len());
            prop_assert!(result.selected.iter().all(|id| !errors.contains(id.as_str())));
        }

        #[test]
        fn the_window_always_has_the_configured_length_and_ends_before_the_tick(
            secs in 1_700_000_000i64..1_900_000_000, window_mins in 1i64..240, delay_mins in 0i64..120,
        ) {
            let tick = chrono::Utc.timestamp_opt(secs, 0).unwrap();
            let (from, to) = window_for(
                tick,
                HumanDuration::from_mins(window_mins),
                HumanDuration::from_mins(delay_mins),
            );
            prop_assert_eq!((to - from).num_minutes(), window_mins);
            prop_assert_eq!((tick - to).num_minutes(), delay_mins);
            prop_assert!(from < to && to <= tick);
        }
    }

    #[test]
    fn each_monitoring_tick_reads_a_baseline_window_no_earlier_tick_read() {
        let started = chrono::DateTime::parse_from_rfc3339("2026-11-05T04:00:00Z")
            .unwrap()
            .to_utc();
        let window = HumanDuration::from_mins(15);
        let delay = HumanDuration::from_mins(5);
        let mut seen = Vec::new();
        for k in 0..8 {
            let at = started + chrono::Duration::minutes(15 * k);
            let (canary_from, _) = window_for(at, window, delay);
            let baseline = monitoring_baseline_window(started, canary_from, window, delay);
            assert!(baseline.1 <= window_for(started, window, delay).1);
            assert_eq!(baseline.1 - baseline.0, chrono::Duration::minutes(15));
            for earlier in &seen {
                let (from, to): (Timestamp, Timestamp) = *earlier;
                assert!(baseline.1 <= from || baseline.0 >= to, "tick {k} overlaps");
            }
            seen.push(baseline);
        }
        assert_eq!(seen[0], window_for(started, window, delay));
    }
}
