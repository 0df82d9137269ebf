//! The paired betting e-process for two binary arms, with the start-time mixture (STATS.md §2, C3-SM).
//!
//! Each tick pairs canary and baseline units (see [`super::pairing`]); a pair gives a bounded
//! contrast D = a·Yc + b·Ȳb + c, where Ȳb is the mean of the k baseline units matched to one
//! canary unit (k = 1 normally). The null is H0: E[D] ≥ 0 and the wealth
//!
//! > ln K_t = ln K_{t−1} + Σ_pairs ln(1 − λ_t·D)
//!
//! is a test supermartingale under H0 for any predictable bet λ_t ∈ [0, cap/max D]. Ville's
//! inequality gives P(sup K ≥ 1/α) ≤ α, so the test may be checked every tick.
//!
//! The contrasts used by the gates ([`Contrast`]):
//!
//! | use | D | H0 |
//! |---|---|---|
//! | higher-is-better rate, ratio r0 | Yc − r0·Yb | pc ≥ r0·pb |
//! | lower-is-better rate / exceedance, ratio k0 | k0·Yb − Yc | pc ≤ k0·pb |
//! | lower-is-better rate, additive δ0 | Yb − Yc + δ0 | pc ≤ pb + δ0 |
//! | promotion (mirrored), higher-is-better, margin m | m·Yb − Yc | pc ≤ m·pb |
//! | promotion, lower-is-better, ratio m | Yc − m·Yb | pc ≥ m·pb |
//! | promotion, lower-is-better, additive m | Yc − Yb − m | pc ≥ pb + m |
//!
//! **Bet size.** λ_t maximises E_alt[ln(1 − λ·D)] over [0, cap/max D] with pb = p̂b, the
//! smoothed cumulative baseline rate (S_b + n0·p_hist)/(n_b + n0) of *earlier* ticks, and pc the
//! must-catch alternative ([`Alternative`]). For the pass-rate contrast with r0 = 1 and k = 1 the
//! closed form λ* = (pb − pc)/(pb + pc − 2·pc·pb) is used; otherwise 45 bisection steps on the
//! derivative. λ_t is fixed before the tick's outcomes are read: the predictability condition.
//!
//! **Start-time mixture.** With L_t = ln K_t, weights π_1 = w and π_s = (1 − w)/(T − 1) for
//! 2 ≤ s ≤ T (0 after T, e.g. in an extension), M_t = Σ_{s≤t} π_s·e^{L_t − L_{s−1}} + Σ_{s>t} π_s,
//! computed in O(1): ln A_t = logaddexp(ln A_{t−1}, ln π_t − L_{t−1}),
//! ln M_t = logaddexp(L_t + ln A_t, ln Σ_{s>t} π_s). Halt when ln M_t ≥ ln(1/α).

use serde::{Deserialize, Serialize};

pub use super::pairing::PairTally;
use super::{always_valid_p, log_add_exp};

/// The linear contrast D = a·Yc + b·Ȳb + c of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contrast {
    /// Coefficient of the canary outcome.
    pub a: f64,
    /// Coefficient of the (mean) baseline outcome.
    pub b: f64,
    /// Constant.
    pub c: f64,
}

impl Contrast {
    /// Harm test for a higher-is-better rate: H0 pc ≥ r0·pb.
    pub fn higher_is_better(r0: f64) -> Contrast {
        Contrast {
            a: 1.0,
            b: -r0,
            c: 0.0,
        }
    }

    /// Harm test for a lower-is-better rate or an exceedance: H0 pc ≤ k0·pb.
    pub fn lower_is_better(k0: f64) -> Contrast {
        Contrast {
            a: -1.0,
            b: k0,
            c: 0.0,
        }
    }

    /// Harm test for a lower-is-better rate on the absolute scale: H0 pc ≤ pb + δ0.
    pub fn lower_is_better_additive(delta0: f64) -> Contrast {
        Contrast {
            a: -1.0,
            b: 1.0,
            c: delta0,
        }
    }

    /// Mirrored promotion test for a higher-is-better rate: H0 pc ≤ m·pb.
    pub fn promote_higher(m: f64) -> Contrast {
        Contrast {
            a: -1.0,
            b: m,
            c: 0.0,
        }
    }

    /// Mirrored promotion test for a lower-is-better rate: H0 pc ≥ m·pb.
    pub fn promote_lower(m: f64) -> Contrast {
        Contrast {
            a: 1.0,
            b: -m,
            c: 0.0,
        }
    }

    /// Mirrored promotion test on the absolute scale: H0 pc ≥ pb + m.
    pub fn promote_lower_additive(m: f64) -> Contrast {
        Contrast {
            a: 1.0,
            b: -1.0,
            c: -m,
        }
    }

    /// D for one pair.
    pub fn value(&self, yc: f64, yb: f64) -> f64 {
        self.a * yc + self.b * yb + self.c
    }

    /// The largest value D can take (Yc ∈ {0, 1}, Ȳb ∈ [0, 1]).
    pub fn max_value(&self) -> f64 {
        self.a.max(0.0) + self.b.max(0.0) + self.c
    }

    /// True for the pass-rate contrast with r0 = 1, which has a closed-form bet.
    fn is_plain_difference(&self) -> bool {
        self.a == 1.0 && self.b == -1.0 && self.c == 0.0
    }
}

/// The alternative the bet is sized for, as a function of the smoothed baseline rate p̂b.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alternative {
    /// pc = r·p̂b (must-catch ratio, e.g. 0.8 or 1.2).
    Ratio { r: f64 },
    /// pc = p̂b + delta (additive must-catch).
    Additive { delta: f64 },
}

impl Alternative {
    /// The alternative canary rate for a baseline rate, clamped into (0, 1).
    pub fn canary_rate(&self, pb: f64) -> f64 {
        let pc = match *self {
            Alternative::Ratio { r } => r * pb,
            Alternative::Additive { delta } => pb + delta,
        };
        pc.clamp(1e-9, 1.0 - 1e-9)
    }
}

/// Fixed parameters of one betting e-process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BettingParams {
    /// The pair contrast; H0: E[D] ≥ 0.
    pub contrast: Contrast,
    /// What the bet is sized for.
    pub alternative: Alternative,
    /// Historical baseline rate p_hist (the prior of p̂b).
    pub prior_rate: f64,
    /// Prior weight n0 of p_hist, in units.
    pub prior_n: f64,
    /// λ ≤ cap / max D (0.95 keeps 1 − λD ≥ 0.05).
    pub lambda_cap: f64,
    /// π_1, the weight of the start at tick 1 (½).
    pub first_start_weight: f64,
    /// T, the number of ticks the start weights are spread over (16).
    pub ticks_per_stage: u32,
}

/// The O(1) state of one betting e-process; serialisable so a restart continues the same test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BettingState {
    /// Ticks ingested in this stage (t).
    pub tick: u32,
    /// L_t = ln K_t, the single-start wealth.
    pub ln_k: f64,
    /// ln A_t of the start-time mixture; `None` is ln 0.
    pub ln_a: Option<f64>,
    /// ln M_t, the mixture e-value.
    pub ln_m: f64,
    /// max over ticks of ln M_t (for the always-valid p-value).
    pub max_ln_m: f64,
    /// Baseline successes ingested so far (for p̂b).
    pub baseline_successes: u64,
    /// Baseline units ingested so far.
    pub baseline_units: u64,
    /// Canary successes ingested so far.
    pub canary_successes: u64,
    /// Canary units ingested so far.
    pub canary_units: u64,
    /// The bet of the latest tick.
    pub last_bet: f64,
}

impl Default for BettingState {
    fn default() -> Self {
        BettingState {
            tick: 0,
            ln_k: 0.0,
            ln_a: None,
            ln_m: 0.0,
            max_ln_m: 0.0,
            baseline_successes: 0,
            baseline_units: 0,
            canary_successes: 0,
            canary_units: 0,
            last_bet: 0.0,
        }
    }
}

impl BettingState {
    /// p̂b = (S_b + n0·p_hist)/(n_b + n0), from ticks already ingested.
    pub fn smoothed_baseline_rate(&self, params: &BettingParams) -> f64 {
        (self.baseline_successes as f64 + params.prior_n * params.prior_rate)
            / (self.baseline_units as f64 + params.prior_n)
    }

    /// The bet for the next tick, given its k; depends only on earlier ticks.
    pub fn next_bet(&self, params: &BettingParams, k: u32) -> f64 {
        let pb = self.smoothed_baseline_rate(params).clamp(1e-9, 1.0 - 1e-9);
        let pc = params.alternative.canary_rate(pb);
        optimal_bet(&params.contrast, pc, pb, k.max(1), params.lambda_cap)
    }

    /// Ingests one tick's pairs: fixes λ_t first, then adds the log-wealth and updates the mixture.
    /// Returns the bet used.
    pub fn ingest(&mut self, params: &BettingParams, tally: &PairTally) -> f64 {
        let lambda = self.next_bet(params, tally.k);
        let t = self.tick + 1;
        let increment = log_wealth_increment(&params.contrast, lambda, tally);
        let ln_pi = start_weight(params, t).map(f64::ln);
        let previous_ln_k = self.ln_k;
        self.ln_a = log_add_exp(self.ln_a, ln_pi.map(|lp| lp - previous_ln_k));
        self.ln_k += increment;
        let rest = remaining_weight(params, t);
        let rest_ln = (rest > 0.0).then(|| rest.ln());
        let started = self.ln_a.map(|ln_a| self.ln_k + ln_a);
        self.ln_m = log_add_exp(started, rest_ln).unwrap_or(f64::MIN);
        self.max_ln_m = self.max_ln_m.max(self.ln_m);
        self.tick = t;
        self.baseline_successes += tally.baseline_successes();
        self.baseline_units += tally.baseline_units();
        self.canary_successes += tally.canary_successes();
        self.canary_units += tally.pairs();
        self.last_bet = lambda;
        lambda
    }

    /// Restarts the start-time mixture for a new stage, keeping the baseline counts (for p̂b).
    pub fn restart_mixture(&mut self) {
        *self = BettingState {
            baseline_successes: self.baseline_successes,
            baseline_units: self.baseline_units,
            ..BettingState::default()
        };
    }

    /// The always-valid p-value min(1, e^{−max ln M}).
    pub fn p_value(&self) -> f64 {
        always_valid_p(self.max_ln_m)
    }
}

/// π_t of the start-time mixture (`None` when 0).
fn start_weight(params: &BettingParams, t: u32) -> Option<f64> {
    let big_t = params.ticks_per_stage.max(1);
    if t == 1 {
        return Some(if big_t == 1 {
            1.0
        } else {
            params.first_start_weight
        });
    }
    if t > big_t {
        return None;
    }
    Some((1.0 - params.first_start_weight) / f64::from(big_t - 1))
}

/// Σ_{s>t} π_s.
fn remaining_weight(params: &BettingParams, t: u32) -> f64 {
    let big_t = params.ticks_per_stage.max(1);
    if t >= big_t {
        return 0.0;
    }
    f64::from(big_t - t) * (1.0 - params.first_start_weight) / f64::from(big_t - 1)
}

/// Σ_pairs ln(1 − λ·D) for a tick.
pub fn log_wealth_increment(contrast: &Contrast, lambda: f64, tally: &PairTally) -> f64 {
    let k = f64::from(tally.k);
    let mut total = 0.0;
    for (yc, row) in tally.cells.iter().enumerate() {
        for (j, &count) in row.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let d = contrast.value(yc as f64, j as f64 / k);
            if d != 0.0 {
                total += count as f64 * (-lambda * d).ln_1p();
            }
        }
    }
    total
}

/// The λ maximising E[ln(1 − λD)] when Yc ~ Bern(pc) and k·Ȳb ~ Bin(k, pb), on [0, cap/max D].
pub fn optimal_bet(contrast: &Contrast, pc: f64, pb: f64, k: u32, cap: f64) -> f64 {
    let max_d = contrast.max_value();
    if max_d <= 0.0 {
        return 0.0;
    }
    let hi = cap / max_d;
    if k == 1 && contrast.is_plain_difference() {
        let lambda = (pb - pc) / (pb + pc - 2.0 * pc * pb);
        return if lambda.is_finite() {
            lambda.clamp(0.0, hi)
        } else {
            0.0
        };
    }
    let outcomes = outcome_distribution(contrast, pc, pb, k);
    let derivative = |lambda: f64| -> f64 {
        outcomes
            .iter()
            .map(|&(d, p)| -p * d / (1.0 - lambda * d))
            .sum()
    };
    if derivative(0.0) <= 0.0 {
        return 0.0;
    }
    if derivative(hi) >= 0.0 {
        return hi;
    }
    let (mut lo, mut up) = (0.0, hi);
    for _ in 0..45 {
        let mid = 0.5 * (lo + up);
        if derivative(mid) > 0.0 {
            lo = mid;
        } else {
            up = mid;
        }
    }
    0.5 * (lo + up)
}

/// (D, probability) over the 2·(k + 1) outcomes of a pair.
fn outcome_distribution(contrast: &Contrast, pc: f64, pb: f64, k: u32) -> Vec<(f64, f64)> {
    let kf = f64::from(k);
    let mut out = Vec::with_capacity(2 * (k as usize + 1));
    for j in 0..=k {
        let pj = binomial_pmf(k, j, pb);
        for (yc, p_yc) in [(0.0, 1.0 - pc), (1.0, pc)] {
            out.push((contrast.value(yc, f64::from(j) / kf), p_yc * pj));
        }
    }
    out
}

fn binomial_pmf(k: u32, j: u32, p: f64) -> f64 {
    let mut ln_choose = 0.0;
    for i in 0..j {
        ln_choose += f64::from(k - i).ln() - f64::from(i + 1).ln();
    }
    (ln_choose + f64::from(j) * p.ln() + f64::from(k - j) * (1.0 - p).ln()).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass_rate_params(r0: f64) -> BettingParams {
        BettingParams {
            contrast: Contrast::higher_is_better(r0),
            alternative: Alternative::Ratio { r: 0.8 },
            prior_rate: 0.9,
            prior_n: 20.0,
            lambda_cap: 0.95,
            first_start_weight: 0.5,
            ticks_per_stage: 16,
        }
    }

    #[test]
    fn closed_form_bet_matches_bisection() {
        let contrast = Contrast::higher_is_better(1.0);
        let closed = optimal_bet(&contrast, 0.72, 0.9, 1, 0.95);
        // Same contrast written with an epsilon so it takes the bisection path.
        let nudged = Contrast {
            a: 1.0,
            b: -1.0,
            c: 1e-15,
        };
        let bisected = optimal_bet(&nudged, 0.72, 0.9, 1, 0.95);
        assert!((closed - bisected).abs() < 1e-9, "{closed} vs {bisected}");
        assert!(closed > 0.0 && closed < 0.95);
    }

    #[test]
    fn the_bet_is_zero_when_the_alternative_is_not_harmful() {
        let contrast = Contrast::higher_is_better(1.0);
        assert_eq!(optimal_bet(&contrast, 0.95, 0.9, 1, 0.95), 0.0);
        assert_eq!(optimal_bet(&contrast, 0.9, 0.9, 3, 0.95), 0.0);
    }

    #[test]
    fn a_k_unit_tally_counts_baseline_units_and_successes() {
        let mut tally = PairTally::new(3);
        tally.add(true, 2);
        tally.add(false, 3);
        assert_eq!(tally.pairs(), 2);
        assert_eq!(tally.baseline_units(), 6);
        assert_eq!(tally.baseline_successes(), 5);
        assert_eq!(tally.canary_successes(), 1);
    }

    #[test]
    fn a_clear_regression_drives_the_mixture_over_the_threshold() {
        let params = pass_rate_params(1.0);
        let mut state = BettingState::default();
        for _ in 0..6 {
            state.ingest(&params, &PairTally::from_counts(30, 3, 15, 2));
        }
        assert!(state.ln_m > (100.0_f64).ln(), "ln M = {}", state.ln_m);
        assert!(state.p_value() < 0.01);
    }

    #[test]
    fn an_extension_beyond_t_keeps_the_mixture_valid() {
        let mut params = pass_rate_params(1.0);
        params.ticks_per_stage = 2;
        let mut state = BettingState::default();
        for _ in 0..4 {
            state.ingest(&params, &PairTally::from_counts(45, 3, 2, 0));
        }
        assert!(state.ln_m.is_finite());
        assert!(state.ln_m <= state.max_ln_m);
    }

    #[test]
    fn restarting_the_mixture_keeps_the_baseline_prior() {
        let params = pass_rate_params(1.0);
        let mut state = BettingState::default();
        state.ingest(&params, &PairTally::from_counts(40, 5, 5, 0));
        let before = state.smoothed_baseline_rate(&params);
        state.restart_mixture();
        assert_eq!(state.tick, 0);
        assert_eq!(state.ln_k, 0.0);
        assert_eq!(state.smoothed_baseline_rate(&params), before);
    }
}
