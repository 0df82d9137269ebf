//! The few distributions the traffic generator needs, drawn from a seeded RNG: exponential gaps
//! (Poisson arrivals), lognormal telemetry, geometric counts and a Zipf-like tenant table.
//! Pure: the caller owns the RNG.

use rand::Rng;

/// A uniform draw in the open interval (0, 1), safe to take the logarithm of.
fn open_unit<R: Rng>(rng: &mut R) -> f64 {
    loop {
        let draw: f64 = rng.random();
        if draw > 0.0 {
            return draw;
        }
    }
}

/// A standard normal draw (Box–Muller; one of the pair is discarded to keep the stream simple).
pub fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
    let radius = (-2.0 * open_unit(rng).ln()).sqrt();
    let angle = std::f64::consts::TAU * rng.random::<f64>();
    radius * angle.cos()
}

/// A lognormal draw with the given median and log-scale standard deviation `sigma`.
pub fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * standard_normal(rng)).exp()
}

/// An exponential draw with the given mean (the gap between Poisson arrivals).
pub fn exponential<R: Rng>(rng: &mut R, mean: f64) -> f64 {
    -mean * open_unit(rng).ln()
}

/// A geometric count `>= 1` with the given mean (`mean >= 1`).
pub fn geometric_at_least_one<R: Rng>(rng: &mut R, mean: f64) -> u32 {
    if mean <= 1.0 {
        return 1;
    }
    let stop = 1.0 / mean;
    let mut count = 1;
    while count < 1_000 && rng.random::<f64>() >= stop {
        count += 1;
    }
    count
}

/// Tenant popularity: tenant `k` (0-based rank) is chosen with weight `1 / (k + 1)^exponent`.
#[derive(Debug, Clone)]
pub struct ZipfTable {
    cumulative: Vec<f64>,
}

impl ZipfTable {
    /// A table over `size >= 1` ranks.
    pub fn new(size: u32, exponent: f64) -> ZipfTable {
        let mut cumulative = Vec::with_capacity(size as usize);
        let mut total = 0.0;
        for rank in 0..size.max(1) {
            total += 1.0 / f64::from(rank + 1).powf(exponent);
            cumulative.push(total);
        }
        ZipfTable { cumulative }
    }

    /// Draws a rank in `0..size`.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = rng.random::<f64>() * total;
        let index = self.cumulative.partition_point(|&bound| bound <= target);
        index.min(self.cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lognormal_median_and_spread_match_the_parameters() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut logs: Vec<f64> = (0..20_000)
            .map(|_| lognormal(&mut rng, 800.0, 0.6).ln())
            .collect();
        logs.sort_by(f64::total_cmp);
        let median = logs[logs.len() / 2].exp();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / logs.len() as f64;
        assert!((median - 800.0).abs() < 30.0, "median {median}");
        assert!((var.sqrt() - 0.6).abs() < 0.02, "sigma {}", var.sqrt());
    }

    #[test]
    fn exponential_and_geometric_means_match() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let n = 20_000;
        let exp_mean = (0..n).map(|_| exponential(&mut rng, 2.5)).sum::<f64>() / n as f64;
        assert!((exp_mean - 2.5).abs() < 0.1, "exponential mean {exp_mean}");
        let geo_mean = (0..n)
            .map(|_| f64::from(geometric_at_least_one(&mut rng, 3.0)))
            .sum::<f64>()
            / n as f64;
        assert!((geo_mean - 3.0).abs() < 0.1, "geometric mean {geo_mean}");
    }

    #[test]
    fn zipf_table_favours_low_ranks_and_stays_in_range() {
        let table = ZipfTable::new(50, 1.1);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut counts = [0u32; 50];
        for _ in 0..20_000 {
            counts[table.draw(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[49]);
        assert!(counts[49] > 0);
    }
}
