//! The one-sample hard-ceiling SPRT for the error rate (STATS.md §3, part 2).
//!
//! H0: e_c ≤ c_max against the point alternative c_alt > c_max, on the canary arm alone (no
//! baseline, so it catches breakage even when the baseline is degraded too):
//!
//! > ln K_t = x·ln(c_alt/c_max) + (n − x)·ln((1 − c_alt)/(1 − c_max))
//!
//! a Wald/Ville likelihood ratio, a test martingale at e = c_max and a supermartingale for
//! e < c_max. Halt when ln K_t ≥ ln(1/α). State: x, n and the running maximum (O(1)).

use serde::{Deserialize, Serialize};

use super::always_valid_p;

/// Running state of the ceiling test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CeilingState {
    /// Errors seen on the canary.
    pub errors: u64,
    /// Canary requests seen.
    pub requests: u64,
    /// ln K_t now.
    pub ln_k: f64,
    /// Running maximum of ln K_t.
    pub max_ln_k: f64,
}

impl CeilingState {
    /// Adds a tick's canary counts and returns the new ln K_t.
    pub fn ingest(&mut self, errors: u64, requests: u64, c_max: f64, c_alt: f64) -> f64 {
        self.errors += errors;
        self.requests += requests;
        self.ln_k = ceiling_ln_k(self.errors, self.requests, c_max, c_alt);
        self.max_ln_k = self.max_ln_k.max(self.ln_k);
        self.ln_k
    }

    /// The always-valid p-value.
    pub fn p_value(&self) -> f64 {
        always_valid_p(self.max_ln_k)
    }
}

/// ln K for x errors in n requests.
pub fn ceiling_ln_k(errors: u64, requests: u64, c_max: f64, c_alt: f64) -> f64 {
    let failures = requests.saturating_sub(errors) as f64;
    errors as f64 * (c_alt / c_max).ln() + failures * ((1.0 - c_alt) / (1.0 - c_max)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_at_the_alternative_rate_cross_ln_100_and_a_low_rate_does_not() {
        let mut broken = CeilingState::default();
        let mut healthy = CeilingState::default();
        for _ in 0..10 {
            broken.ingest(40, 1000, 0.02, 0.03);
            healthy.ingest(10, 1000, 0.02, 0.03);
        }
        assert!(broken.max_ln_k > 100f64.ln());
        assert!(healthy.max_ln_k < 100f64.ln());
        assert!(healthy.p_value() > 0.5);
    }

    #[test]
    fn the_ceiling_likelihood_ratio_has_the_closed_form() {
        let got = ceiling_ln_k(3, 10, 0.02, 0.03);
        let want = 3.0 * (1.5f64).ln() + 7.0 * (0.97f64 / 0.98).ln();
        assert!((got - want).abs() < 1e-12);
    }
}

/// A one-sample betting test of H0: P(X = 1) ≥ p0 (X binary), bet sized for the alternative
/// p_alt < p0 with the fixed Kelly bet λ = (p0 − p_alt)/(p0·(1 − p0)) capped at cap/(1 − p0):
/// K_t = Π (1 − λ·(X − p0)). Used for the one-sample latency promotion test
/// H0: P(L_c > m·c_q) ≥ 1 − q (STATS.md §5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OneSampleState {
    /// Successes (X = 1) seen.
    pub hits: u64,
    /// Observations seen.
    pub n: u64,
    /// ln K_t now.
    pub ln_k: f64,
    /// Running maximum of ln K_t.
    pub max_ln_k: f64,
}

impl OneSampleState {
    /// Adds a tick's counts and returns the new ln K_t.
    pub fn ingest(&mut self, hits: u64, n: u64, p0: f64, p_alt: f64, cap: f64) -> f64 {
        let lambda = one_sample_bet(p0, p_alt, cap);
        let misses = n.saturating_sub(hits) as f64;
        self.ln_k += hits as f64 * (-lambda * (1.0 - p0)).ln_1p() + misses * (lambda * p0).ln_1p();
        self.hits += hits;
        self.n += n;
        self.max_ln_k = self.max_ln_k.max(self.ln_k);
        self.ln_k
    }
}

/// The Kelly bet of [`OneSampleState`].
pub fn one_sample_bet(p0: f64, p_alt: f64, cap: f64) -> f64 {
    if !(p0 > 0.0 && p0 < 1.0) || p_alt >= p0 {
        return 0.0;
    }
    ((p0 - p_alt) / (p0 * (1.0 - p0))).clamp(0.0, cap / (1.0 - p0))
}

#[cfg(test)]
mod one_sample_tests {
    use super::*;

    #[test]
    fn rare_exceedances_prove_the_one_sample_bound_and_common_ones_do_not() {
        let mut good = OneSampleState::default();
        let mut bad = OneSampleState::default();
        for _ in 0..10 {
            good.ingest(5, 200, 0.05, 0.0257, 0.95);
            bad.ingest(12, 200, 0.05, 0.0257, 0.95);
        }
        assert!(good.ln_k > 20f64.ln(), "{}", good.ln_k);
        assert!(bad.ln_k < 0.0);
    }
}
