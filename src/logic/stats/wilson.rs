//! The Wilson score interval, for display only: it is a single-look interval and is invalid when
//! re-checked every tick (STATS.md A.4). Stored series label it `single-look`.

/// The label stored beside every Wilson interval.
pub const INTERVAL_KIND: &str = "single-look";

/// Wilson interval for x successes in n trials at two-sided level 1 − α; `None` when n = 0.
pub fn wilson_interval(successes: u64, n: u64, alpha: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = super::z_upper(alpha / 2.0);
    let nf = n as f64;
    let p = successes.min(n) as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_reference_values() {
        let (lo, hi) = wilson_interval(150, 200, 0.05).unwrap();
        assert!((lo - 0.6857).abs() < 5e-4, "{lo}");
        assert!((hi - 0.8054).abs() < 5e-4, "{hi}");
    }

    #[test]
    fn wilson_stays_inside_zero_one_at_the_edges() {
        let (lo, hi) = wilson_interval(0, 10, 0.05).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 1.0);
        let (lo, hi) = wilson_interval(10, 10, 0.05).unwrap();
        assert!(lo < 1.0 && hi == 1.0);
        assert_eq!(wilson_interval(0, 0, 0.05), None);
    }
}
