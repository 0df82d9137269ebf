//! Display summaries of a sample, in one place: the mean and the nearest-rank quantile that the
//! series points, the stage references (historical quantiles, winsorisation caps, mean
//! references) and the benchmark's naive rules all use. Display and reference values only: the
//! gates decide with their sequential tests, never with these.

/// The arithmetic mean; `None` for an empty sample.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// The nearest-rank `q`-quantile of the finite values: the ⌈q·n⌉-th smallest (at least the
/// first); `None` when no value is finite.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let sorted = sorted_finite(values);
    nearest_rank(&sorted, q)
}

/// The finite values in ascending order.
pub fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The nearest-rank `q`-quantile of an already sorted sample; `None` when it is empty.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rank_quantile_takes_the_ceiling_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&xs, 0.95), Some(95.0));
        assert_eq!(quantile(&xs, 0.995), Some(100.0));
        assert_eq!(quantile(&xs, 0.0), Some(1.0));
        assert_eq!(quantile(&[f64::NAN, 3.0], 0.5), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_mean_of_nothing_is_none() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }
}
