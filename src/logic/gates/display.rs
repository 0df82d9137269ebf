//! How gate numbers are written in reasons: enough significant digits for small values (a cost
//! of $0.000166 is not "0.0002"), and ratios spelled out with the arms named.

/// `x` with four significant digits, in plain notation for 1e-6 ≤ |x| < 1e9.
pub fn sig(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let magnitude = x.abs().log10().floor();
    if !(-6.0..9.0).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    format!("{x:.decimals$}")
}

/// `Some(v)` to three decimals, `None` as `n/a`.
pub fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// "canary/baseline = 1.258×" (or "baseline is 0" when the ratio is undefined).
pub fn ratio_text(canary: f64, baseline: f64) -> String {
    if baseline == 0.0 || !canary.is_finite() || !baseline.is_finite() {
        return "canary/baseline undefined".to_string();
    }
    format!("canary/baseline = {:.3}×", canary / baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_costs_keep_their_digits() {
        assert_eq!(sig(0.000166), "0.0001660");
        assert_eq!(sig(0.000132), "0.0001320");
        assert_eq!(sig(1234.5678), "1235");
        assert_eq!(sig(12.345678), "12.35");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(1e-9), "1.000e-9");
        assert_eq!(ratio_text(0.000166, 0.000132), "canary/baseline = 1.258×");
        assert_eq!(ratio_text(1.0, 0.0), "canary/baseline undefined");
    }
}
