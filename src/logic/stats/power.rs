//! Information-theoretic limits (STATS.md Appendix B) and the "underpowered stage" rule.
//!
//! Any sequential test with error rates (α, β) needs E1[n] ≥ c(α,β)/I observations, with
//! c(α,β) = (1−β)·ln((1−β)/α) + β·ln(β/(1−α)) (4.177 nats at α = 0.01, β = 0.05) and I the
//! information per observation against the least favourable null point. For the two-sample pass
//! rate, I2 = inf over qb of KL(pc1‖r0·qb) + KL(pb1‖qb) per pair (convex in qb: ternary search).
//!
//! A stage is flagged underpowered at its start when the canary units it expects,
//! N·T_min, fall short of `max(n_min, 3 × the Appendix B bound)`: the bound is an *expected*
//! delay, and 95% detection takes about three times it (5 ticks against 1.54 at N = 50).

/// KL(Bern(p) ‖ Bern(q)) in nats.
pub fn kl_bernoulli(p: f64, q: f64) -> f64 {
    let term = |x: f64, y: f64| if x <= 0.0 { 0.0 } else { x * (x / y).ln() };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// Wald's constant c(α, β) in nats.
pub fn wald_constant(alpha: f64, beta: f64) -> f64 {
    (1.0 - beta) * ((1.0 - beta) / alpha).ln() + beta * (beta / (1.0 - alpha)).ln()
}

/// I2: information per canary unit, paired with `k` baseline units (1 unless the baseline is
/// over-sampled, `[sampling].baseline_multiplier`), against H0 pc = r0·pb, when truly pb1 and
/// pc1 = (1 − drop)·pb1: inf over qb of KL(pc1‖r0·qb) + k·KL(pb1‖qb).
pub fn two_sample_information(pb1: f64, drop: f64, r0: f64, k: f64) -> f64 {
    let pc1 = (1.0 - drop) * pb1;
    let upper = (1.0 / r0).min(1.0) - 1e-12;
    let k = k.max(1.0);
    let objective = |qb: f64| kl_bernoulli(pc1, r0 * qb) + k * kl_bernoulli(pb1, qb);
    let (mut lo, mut hi) = (1e-12, upper);
    for _ in 0..200 {
        let m1 = lo + (hi - lo) / 3.0;
        let m2 = hi - (hi - lo) / 3.0;
        if objective(m1) < objective(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    objective(0.5 * (lo + hi))
}

/// The design of a paired pass-rate test whose power is asked: baseline rate, the r0 of H0, the
/// halting α, and k baseline units per canary unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDesign {
    /// Baseline pass rate p0.
    pub p0: f64,
    /// The tolerance r0 of H0: pc ≥ r0·pb.
    pub r0: f64,
    /// The halting α.
    pub alpha: f64,
    /// Baseline units per canary unit (1: paired 1:1).
    pub k: f64,
}

/// Lower bound on the expected number of canary units to detect `drop` (Appendix B, two-sample)
/// with power 1 − β.
pub fn min_expected_pairs(design: &PairedDesign, drop: f64, beta: f64) -> f64 {
    wald_constant(design.alpha, beta) / two_sample_information(design.p0, drop, design.r0, design.k)
}

/// The canary units a stage needs for its design to be adequately powered.
pub fn required_stage_units(n_min: u64, bound_units: f64) -> u64 {
    let bound = (3.0 * bound_units).ceil();
    if bound.is_finite() && bound > n_min as f64 {
        bound as u64
    } else {
        n_min
    }
}

/// The smallest relative drop of a pass rate p0 that `units` canary units detect under the
/// underpowered rule: the drop, in 0.5-point steps, whose required units
/// (`required_stage_units(0, bound)`, three times the Appendix B bound) fit in `units`. `None`
/// when even a 99% drop does not fit.
pub fn min_detectable_drop(design: &PairedDesign, units: f64) -> Option<f64> {
    (1..=198).map(|i| f64::from(i) * 0.005).find(|&drop| {
        let bound = min_expected_pairs(design, drop, 0.05);
        (required_stage_units(0, bound) as f64) <= units
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(p0: f64, alpha: f64, k: f64) -> PairedDesign {
        PairedDesign {
            p0,
            r0: 1.0,
            alpha,
            k,
        }
    }

    #[test]
    fn over_sampling_the_baseline_adds_information_up_to_the_one_sample_limit() {
        // k → ∞ knows pb exactly: the one-sample KL(pc1 ‖ pb1) is the ceiling.
        let one_sample = kl_bernoulli(0.72, 0.9);
        let mut last = 0.0;
        for k in [1.0, 2.0, 4.0, 8.0, 1000.0] {
            let i = two_sample_information(0.9, 0.2, 1.0, k);
            assert!(i > last && i < one_sample, "k = {k}: {i}");
            last = i;
        }
        assert!(one_sample - last < 1e-3);
        // At k = 4 a canary unit carries about 1.7× the information of a 1:1 pair.
        let gain =
            two_sample_information(0.9, 0.2, 1.0, 4.0) / two_sample_information(0.9, 0.2, 1.0, 1.0);
        assert!((1.6..1.8).contains(&gain), "{gain}");
    }

    #[test]
    fn wald_constant_matches_appendix_b() {
        assert!((wald_constant(0.01, 0.05) - 4.177).abs() < 1e-3);
    }

    #[test]
    fn two_sample_bounds_match_appendix_b() {
        // p0, I2 at r0 = 1, pairs at r0 = 1, I2 at r0 = 0.9.
        let rows = [
            (0.95, 0.0783, 53.4, 0.0218),
            (0.9, 0.0544, 76.8, 0.0151),
            (0.8, 0.0321, 130.2, 0.0089),
        ];
        for (p0, i2, pairs, i2_tolerant) in rows {
            assert!(
                (two_sample_information(p0, 0.2, 1.0, 1.0) - i2).abs() < 1e-4,
                "{p0}"
            );
            assert!(
                (min_expected_pairs(&design(p0, 0.01, 1.0), 0.2, 0.05) - pairs).abs() < 0.1,
                "{p0}"
            );
            assert!(
                (two_sample_information(p0, 0.2, 0.9, 1.0) - i2_tolerant).abs() < 1e-4,
                "{p0}"
            );
        }
    }

    #[test]
    fn the_oracle_kl_matches_appendix_b() {
        assert!((kl_bernoulli(0.72, 0.9) - 0.1276).abs() < 1e-4);
    }

    #[test]
    fn the_detectable_drop_shrinks_with_units_and_matches_the_bound() {
        // 16 ticks × 50: 800 units detect a 20% drop at p0 = 0.9 (needs 231).
        let d = design(0.9, 0.01, 1.0);
        let big = min_detectable_drop(&d, 800.0).unwrap();
        let small = min_detectable_drop(&d, 160.0).unwrap();
        assert!(big < 0.2 && small > 0.2, "{big} {small}");
        // Consistent with the bound: at the returned drop the rule holds, 0.5 points less not.
        let need = |drop| required_stage_units(0, min_expected_pairs(&d, drop, 0.05)) as f64;
        assert!(need(small) <= 160.0 && need(small - 0.005) > 160.0);
        assert_eq!(min_detectable_drop(&d, 1.0), None);
        // Over-sampling the baseline 4× lowers the detectable drop.
        let over = min_detectable_drop(&design(0.9, 0.01, 4.0), 160.0).unwrap();
        assert!(over < small, "{over} {small}");
    }

    #[test]
    fn required_units_take_the_larger_of_n_min_and_three_bounds() {
        assert_eq!(required_stage_units(100, 76.8), 231);
        assert_eq!(required_stage_units(500, 76.8), 500);
    }
}
