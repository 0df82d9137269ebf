//! The one-sided normal-mixture mSPRT for means (STATS.md §4 and Appendix A.2).
//!
//! For a contrast θ = a·μc + b·μb (harm when θ > 0, e.g. a = 1, b = −k0 for "cost rose by more than
//! k0"), with θ̂ = a·x̄c + b·x̄b and σ̂² = a²·s²c/nc + b²·s²b/nb, mixing the likelihood ratio over a
//! half-normal prior of scale τ gives
//!
//! > ln Λ⁺ = ln 2 + ln Φ(θ̂τ/(σ̂·√(σ̂²+τ²))) + ½·ln(σ̂²/(σ̂²+τ²)) + θ̂²τ²/(2σ̂²(σ̂²+τ²)).
//!
//! Halt when ln Λ⁺ ≥ ln(1/α); the always-valid p-value is min(1, 1/max Λ⁺). The test is exact for
//! Gaussian data with known variance and asymptotic otherwise, hence the warm-up minimum (100 per
//! arm) before any decision. Heavy tails can be tamed by winsorising both arms at a cap frozen
//! before the stage; the raw means are kept for display. State: Welford moments per arm (O(1)).

use serde::{Deserialize, Serialize};

use super::ln_normal_cdf;

/// Count, mean and sum of squared deviations (Welford), plus the raw (unwinsorised) sum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningMoments {
    /// Observations.
    pub n: u64,
    /// Mean of the (possibly winsorised) values.
    pub mean: f64,
    /// Σ (x − mean)².
    pub m2: f64,
    /// Σ of the raw values, before winsorising.
    pub raw_sum: f64,
}

impl RunningMoments {
    /// Adds one value, winsorised at `cap` when given.
    pub fn push(&mut self, raw: f64, cap: Option<f64>) {
        let x = cap.map_or(raw, |c| raw.min(c));
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        self.raw_sum += raw;
    }

    /// Sample variance (n − 1 denominator); 0 below two observations.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// Mean of the raw values.
    pub fn raw_mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.raw_sum / self.n as f64)
    }
}

/// θ = a·μc + b·μb; harm (or, mirrored, proof) when θ > 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanContrast {
    /// Coefficient of the canary mean.
    pub a: f64,
    /// Coefficient of the baseline mean.
    pub b: f64,
}

impl MeanContrast {
    /// Harm test for a lower-is-better mean: θ = μc − k0·μb.
    pub fn increase(k0: f64) -> MeanContrast {
        MeanContrast { a: 1.0, b: -k0 }
    }

    /// Harm test for a higher-is-better mean: θ = k0·μb − μc.
    pub fn decrease(k0: f64) -> MeanContrast {
        MeanContrast { a: -1.0, b: k0 }
    }

    /// θ̂ and σ̂² from the arms' moments; `None` below two observations per arm.
    pub fn estimate(
        &self,
        canary: &RunningMoments,
        baseline: &RunningMoments,
    ) -> Option<(f64, f64)> {
        if canary.n < 2 || baseline.n < 2 {
            return None;
        }
        let theta = self.a * canary.mean + self.b * baseline.mean;
        let var = self.a * self.a * canary.variance() / canary.n as f64
            + self.b * self.b * baseline.variance() / baseline.n as f64;
        Some((theta, var))
    }
}

/// ln Λ⁺ of the one-sided normal mixture; `None` when σ̂² or τ is not positive.
pub fn ln_lambda_one_sided(theta: f64, var: f64, tau: f64) -> Option<f64> {
    if !(var > 0.0 && tau > 0.0 && theta.is_finite()) {
        return None;
    }
    let tau2 = tau * tau;
    let sigma = var.sqrt();
    let total = var + tau2;
    let arg = theta * tau / (sigma * total.sqrt());
    Some(
        std::f64::consts::LN_2
            + ln_normal_cdf(arg)
            + 0.5 * (var / total).ln()
            + theta * theta * tau2 / (2.0 * var * total),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_the_two_pass_variance() {
        let xs = [1.0, 4.0, 2.5, 8.0, 3.0];
        let mut m = RunningMoments::default();
        for x in xs {
            m.push(x, None);
        }
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((m.mean - mean).abs() < 1e-12);
        assert!((m.variance() - var).abs() < 1e-12);
    }

    #[test]
    fn winsorising_caps_the_value_but_keeps_the_raw_mean() {
        let mut m = RunningMoments::default();
        m.push(1.0, Some(2.0));
        m.push(10.0, Some(2.0));
        assert!((m.mean - 1.5).abs() < 1e-12);
        assert_eq!(m.raw_mean(), Some(5.5));
    }

    #[test]
    fn no_effect_gives_a_small_statistic_and_a_large_effect_a_large_one() {
        let small = ln_lambda_one_sided(0.0, 0.01, 0.2).unwrap();
        // At θ̂ = 0: ln 2 + ln ½ + ½ ln(σ²/(σ²+τ²)) < 0.
        assert!(small < 0.0);
        let large = ln_lambda_one_sided(0.5, 0.01, 0.2).unwrap();
        assert!(large > 100f64.ln());
        let wrong_way = ln_lambda_one_sided(-0.5, 0.01, 0.2).unwrap();
        assert!(wrong_way < 0.0);
    }
}
