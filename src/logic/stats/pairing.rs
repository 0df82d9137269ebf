//! Outcome-blind pairing of canary and baseline units for the paired e-processes (STATS.md §2).
//!
//! Each tick, both arms' unit lists are shuffled with a ChaCha8 RNG seeded from the tick's logged
//! pairing seed (and the metric, so two metrics do not share one permutation), then zipped. The
//! shuffle never looks at outcomes, so the pairs are exchangeable under H0. When the baseline has
//! at least twice as many units as the canary, each canary unit is compared with the mean of
//! k = ⌊n_b/n_c⌋ baseline units (rule C6); leftover units are dropped. Missing units (unscorable
//! evaluations, requests without a latency) are filtered out by the caller before pairing: they are
//! missing, never a pass.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::logic::hash::sha256_u64;
use serde::{Deserialize, Serialize};

/// Pair counts of one tick: `cells[yc][j]` counts pairs with canary outcome yc and j successes
/// among the k baseline units matched to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairTally {
    /// Baseline units per pair.
    pub k: u32,
    /// `[canary 0, canary 1]` rows of k + 1 counts each.
    pub cells: [Vec<u64>; 2],
}

impl PairTally {
    /// An empty tally for pairs of 1 canary and k baseline units.
    pub fn new(k: u32) -> PairTally {
        let k = k.max(1);
        let width = k as usize + 1;
        PairTally {
            k,
            cells: [vec![0; width], vec![0; width]],
        }
    }

    /// A 1:1 tally from the four pair-type counts (n11 = both succeed, n10 = canary only, …).
    pub fn from_counts(n11: u64, n10: u64, n01: u64, n00: u64) -> PairTally {
        PairTally {
            k: 1,
            cells: [vec![n00, n01], vec![n10, n11]],
        }
    }

    /// Adds one pair: a canary outcome and the number of successes among its k baseline units.
    pub fn add(&mut self, canary: bool, baseline_successes: u32) {
        let j = baseline_successes.min(self.k) as usize;
        self.cells[usize::from(canary)][j] += 1;
    }

    /// Number of pairs.
    pub fn pairs(&self) -> u64 {
        self.cells.iter().flatten().sum()
    }

    /// Canary successes.
    pub fn canary_successes(&self) -> u64 {
        self.cells[1].iter().sum()
    }

    /// Baseline units (k per pair).
    pub fn baseline_units(&self) -> u64 {
        self.pairs() * u64::from(self.k)
    }

    /// Baseline successes over all baseline units.
    pub fn baseline_successes(&self) -> u64 {
        self.cells
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(j, n)| j as u64 * n)
                    .sum::<u64>()
            })
            .sum()
    }
}

/// The seed of one metric's shuffle, derived from the tick's pairing seed.
pub fn metric_seed(tick_seed: u64, metric: &str) -> u64 {
    sha256_u64(&[&tick_seed.to_be_bytes(), metric.as_bytes()])
}

/// k for a tick: ⌊n_b/n_c⌋ when n_b ≥ 2·n_c, else 1 (never 0).
pub fn units_per_pair(n_canary: usize, n_baseline: usize) -> u32 {
    if n_canary == 0 || n_baseline < 2 * n_canary {
        return 1;
    }
    u32::try_from(n_baseline / n_canary).unwrap_or(u32::MAX)
}

/// Shuffles both arms with `seed` and pairs them (1:1, or 1:k when the baseline is over-sampled).
pub fn pair_units(canary: &[bool], baseline: &[bool], seed: u64) -> PairTally {
    let k = units_per_pair(canary.len(), baseline.len());
    let mut tally = PairTally::new(k);
    if canary.is_empty() || baseline.is_empty() {
        return tally;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut canary_units = canary.to_vec();
    let mut baseline_units = baseline.to_vec();
    canary_units.shuffle(&mut rng);
    baseline_units.shuffle(&mut rng);
    for (index, &yc) in canary_units.iter().enumerate() {
        let from = index * k as usize;
        let Some(group) = baseline_units.get(from..from + k as usize) else {
            break;
        };
        let successes = group.iter().filter(|&&ok| ok).count() as u32;
        tally.add(yc, successes);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_is_deterministic_for_a_seed() {
        let canary: Vec<bool> = (0..50).map(|i| i % 3 != 0).collect();
        let baseline: Vec<bool> = (0..50).map(|i| i % 5 != 0).collect();
        assert_eq!(
            pair_units(&canary, &baseline, 7),
            pair_units(&canary, &baseline, 7)
        );
    }

    #[test]
    fn pairing_keeps_every_unit_of_equal_arms() {
        let canary: Vec<bool> = (0..40).map(|i| i % 4 != 0).collect();
        let baseline: Vec<bool> = (0..40).map(|i| i % 10 != 0).collect();
        let tally = pair_units(&canary, &baseline, 11);
        assert_eq!(tally.k, 1);
        assert_eq!(tally.pairs(), 40);
        assert_eq!(tally.canary_successes(), 30);
        assert_eq!(tally.baseline_successes(), 36);
    }

    #[test]
    fn an_oversampled_baseline_gives_k_unit_pairs_and_drops_leftovers() {
        let canary = vec![true; 10];
        let baseline: Vec<bool> = (0..47).map(|i| i % 2 == 0).collect();
        let tally = pair_units(&canary, &baseline, 3);
        assert_eq!(tally.k, 4);
        assert_eq!(tally.pairs(), 10);
        assert_eq!(tally.baseline_units(), 40);
    }

    #[test]
    fn unequal_arms_below_twice_pair_one_to_one() {
        let tally = pair_units(&[true; 30], &[false; 45], 1);
        assert_eq!(tally.k, 1);
        assert_eq!(tally.pairs(), 30);
    }

    #[test]
    fn metric_seeds_differ_between_metrics() {
        assert_ne!(metric_seed(1, "pass_rate"), metric_seed(1, "error_rate"));
    }
}
