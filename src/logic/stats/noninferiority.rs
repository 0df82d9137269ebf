//! Promotion tests at the planned look (STATS.md §6): is the canary *confidently not much worse*?
//!
//! - [`farrington_manning_z`]: the Farrington–Manning score test of H0 pc ≤ m·pb (higher is
//!   better) or H0 pc ≥ m·pb (lower is better) with the restricted MLE under pc = m·pb:
//!   p̃b = (−B − √(B² − 4AC))/(2A), p̃c = m·p̃b, A = m(nc+nb), B = −(m·nc + xc + nb + m·xb),
//!   C = xc + xb. Promote when z > z_{1−αp}.
//! - [`difference_z`]: H0 pc ≥ pb + m for lower-is-better rates on the absolute scale (errors),
//!   a score-type z with Agresti–Caffo smoothed variances p̃ = (x+1)/(n+2).
//! - [`mean_z`]: the planned-look z for a mean contrast (cost, tokens).
//!
//! These are fixed-horizon tests: valid for ONE planned look only. When the look is data-dependent
//! (after an extension), the gates switch to the mirrored e-process of [`super::betting`] or the
//! mirrored mixture of [`super::mixture`], which stay valid at any stopping time.

/// Farrington–Manning z for a ratio margin m. `higher_is_better` selects H0 pc ≤ m·pb (z > 0 when
/// the canary is clearly above m·pb) versus H0 pc ≥ m·pb (z > 0 when clearly below). `None` when an
/// arm is empty or the variance vanishes.
pub fn farrington_manning_z(
    xc: u64,
    nc: u64,
    xb: u64,
    nb: u64,
    m: f64,
    higher_is_better: bool,
) -> Option<f64> {
    if nc == 0 || nb == 0 || m <= 0.0 {
        return None;
    }
    let (xcf, ncf, xbf, nbf) = (xc as f64, nc as f64, xb as f64, nb as f64);
    let a = m * (ncf + nbf);
    let b = -(m * ncf + xcf + nbf + m * xbf);
    let c = xcf + xbf;
    let disc = (b * b - 4.0 * a * c).max(0.0);
    let pb_tilde = ((-b - disc.sqrt()) / (2.0 * a)).clamp(0.0, 1.0);
    let pc_tilde = (m * pb_tilde).clamp(0.0, 1.0);
    let var = pc_tilde * (1.0 - pc_tilde) / ncf + m * m * pb_tilde * (1.0 - pb_tilde) / nbf;
    if var <= 0.0 {
        return None;
    }
    let diff = xcf / ncf - m * xbf / nbf;
    let signed = if higher_is_better { diff } else { -diff };
    Some(signed / var.sqrt())
}

/// z for H0 pc ≥ pb + m (lower is better, absolute margin m); z > 0 when pc is clearly below.
pub fn difference_z(xc: u64, nc: u64, xb: u64, nb: u64, m: f64) -> Option<f64> {
    if nc == 0 || nb == 0 {
        return None;
    }
    let smooth = |x: u64, n: u64| (x as f64 + 1.0) / (n as f64 + 2.0);
    let (pc, pb) = (smooth(xc, nc), smooth(xb, nb));
    let var = pc * (1.0 - pc) / nc as f64 + pb * (1.0 - pb) / nb as f64;
    let diff = xc as f64 / nc as f64 - xb as f64 / nb as f64;
    Some((m - diff) / var.sqrt())
}

/// z = θ̂/σ̂ for a mean contrast at a planned look; `None` when σ̂² ≤ 0.
pub fn mean_z(theta: f64, var: f64) -> Option<f64> {
    (var > 0.0).then(|| theta / var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::stats::z_upper;

    #[test]
    fn equal_rates_at_n_800_prove_non_inferiority_at_a_20_percent_margin() {
        let z = farrington_manning_z(720, 800, 720, 800, 0.8, true).unwrap();
        assert!(z > z_upper(0.05), "z = {z}");
    }

    #[test]
    fn a_20_percent_drop_does_not_prove_non_inferiority() {
        let z = farrington_manning_z(576, 800, 720, 800, 0.8, true).unwrap();
        assert!(z < z_upper(0.05), "z = {z}");
    }

    #[test]
    fn the_restricted_mle_satisfies_the_constraint_score_equation() {
        // With xc/nc exactly m·xb/nb the statistic is zero.
        let z = farrington_manning_z(40, 100, 50, 100, 0.8, true).unwrap();
        assert!(z.abs() < 1e-12);
    }

    #[test]
    fn lower_is_better_flips_the_sign() {
        let up = farrington_manning_z(50, 1000, 50, 1000, 1.2, false).unwrap();
        assert!(up > 0.0);
    }

    #[test]
    fn an_error_rate_within_the_margin_gives_positive_z() {
        let z = difference_z(10, 2000, 10, 2000, 0.01).unwrap();
        assert!(z > z_upper(0.05));
        let worse = difference_z(60, 2000, 10, 2000, 0.01).unwrap();
        assert!(worse < 0.0);
    }

    #[test]
    fn mean_z_is_none_without_variance() {
        assert_eq!(mean_z(1.0, 0.0), None);
        assert_eq!(mean_z(2.0, 4.0), Some(1.0));
    }
}
