//! The statistical tests of STATS.md as pure functions over small, serialisable states.
//!
//! Every gating metric is decided by one of a few anytime-valid constructions, each in its own file:
//!
//! - [`betting`]: the paired two-proportion betting e-process with the start-time mixture (C3-SM),
//!   used for pass rates, feedback rates, latency exceedances, the error-rate additive margin and
//!   the mirrored promotion e-process;
//! - [`pairing`]: the outcome-blind seeded shuffle-then-zip pairing (k-unit when n_b ≥ 2·n_c);
//! - [`mixture`]: the one-sided normal-mixture mSPRT for means (cost, tokens, session length);
//! - [`sprt`]: the one-sample Wald/Ville SPRT for the error-rate hard ceiling;
//! - [`noninferiority`]: Farrington–Manning and the planned-look z test for promotion;
//! - [`wilson`]: the Wilson interval, for display only (single look);
//! - [`power`]: Appendix B information bounds and the minimum-sample rule behind "underpowered".
//!
//! All arithmetic on e-values is in natural-log space. States never hold infinities (JSON cannot):
//! ln 0 is represented by `None`.

pub mod betting;
pub mod mixture;
pub mod noninferiority;
pub mod pairing;
pub mod power;
pub mod sprt;
pub mod summary;
pub mod wilson;

use statrs::function::erf::{erfc, erfc_inv};

/// ln(e^a + e^b) without overflow; `None` stands for ln 0 = −∞.
pub fn log_add_exp(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, other) | (other, None) => other,
        (Some(x), Some(y)) => {
            let hi = x.max(y);
            let lo = x.min(y);
            Some(hi + (lo - hi).exp().ln_1p())
        }
    }
}

/// The always-valid p-value of an e-process whose running maximum of ln e is `max_ln_e`:
/// min(1, e^{−max ln e}).
pub fn always_valid_p(max_ln_e: f64) -> f64 {
    (-max_ln_e).exp().min(1.0)
}

/// ln(1/α), the halting threshold of an e-process at level α.
pub fn ln_threshold(alpha: f64) -> f64 {
    -alpha.ln()
}

/// The standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// ln Φ(x), accurate far into the lower tail (asymptotic series below −30).
pub fn ln_normal_cdf(x: f64) -> f64 {
    if x > -30.0 {
        return normal_cdf(x).ln();
    }
    let x2 = x * x;
    -0.5 * x2 - (-x).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
        + (1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2)).ln()
}

/// The upper quantile z with P(Z > z) = p, for p in (0, 1).
pub fn z_upper(p: f64) -> f64 {
    let clamped = p.clamp(1e-300, 1.0 - 1e-16);
    std::f64::consts::SQRT_2 * erfc_inv(2.0 * clamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_add_exp_matches_the_direct_sum() {
        let got = log_add_exp(Some(1.0_f64.ln()), Some(2.0_f64.ln())).unwrap();
        assert!((got - 3.0_f64.ln()).abs() < 1e-15);
        assert_eq!(log_add_exp(None, Some(0.5)), Some(0.5));
        assert_eq!(log_add_exp(None, None), None);
    }

    #[test]
    fn normal_quantiles_and_cdf_agree() {
        assert!((z_upper(0.05) - 1.6448536269514722).abs() < 1e-9);
        assert!((normal_cdf(1.6448536269514722) - 0.95).abs() < 1e-9);
        assert!((ln_normal_cdf(-40.0) - (-804.6084420137697)).abs() < 1e-6);
        assert!((ln_normal_cdf(-29.99) - normal_cdf(-29.99).ln()).abs() < 1e-6);
    }

    #[test]
    fn always_valid_p_is_capped_at_one() {
        assert_eq!(always_valid_p(-3.0), 1.0);
        assert!((always_valid_p(100.0_f64.ln()) - 0.01).abs() < 1e-15);
    }
}
