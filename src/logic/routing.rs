//! Tenant routing: which arm a gateway serves a tenant (DESIGN.md §6). This function is the
//! contract every gateway must match, in any language; `fixtures/routing_vectors.json` lets them
//! check themselves and `fixtures/ROUTING.md` explains how.
//!
//! The algorithm:
//! ```text
//! bucket(salt, tenant_id) = u64_be(SHA-256(utf8(salt) ":" utf8(tenant_id))[0..8]) mod 10000
//! canary                 iff bucket < canary_basis_points     (0..=10000; 50 = 0.5%)
//! ```
//! Raising the split only ever adds tenants: a tenant in the canary at `p` stays in it at any
//! `p' ≥ p`. Cohort targeting sits on top, in this order:
//! 1. `never` tenants always get the baseline;
//! 2. at 0 basis points everyone gets the baseline (rollback and kill mean 0%, even for the
//!    `always` cohort);
//! 3. `always` tenants (e.g. internal ones) get the canary whenever the split is above 0;
//! 4. everyone else by the hash.

use serde::{Deserialize, Serialize};

use crate::domain::Arm;
use crate::logic::hash::sha256_u64;

/// The number of buckets: one per basis point.
pub const BUCKETS: u32 = 10_000;

/// The tenant's bucket in `0..10000` under `salt`.
pub fn bucket(salt: &str, tenant_id: &str) -> u32 {
    let hash = sha256_u64(&[salt.as_bytes(), tenant_id.as_bytes()]);
    // The remainder is below 10_000, so it always fits.
    u32::try_from(hash % u64::from(BUCKETS)).unwrap_or(0)
}

/// The arm of a bucket at a split, by the hash alone.
pub fn arm_for_bucket(bucket: u32, basis_points: u32) -> Arm {
    if bucket < basis_points {
        Arm::Canary
    } else {
        Arm::Baseline
    }
}

/// What a gateway needs to route one flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRouting {
    /// The hash salt (by default the flag key).
    pub salt: String,
    /// The canary split in basis points.
    pub basis_points: u32,
    /// Tenants that get the canary whenever the split is above 0%.
    #[serde(default)]
    pub always: Vec<String>,
    /// Tenants that never get the canary.
    #[serde(default)]
    pub never: Vec<String>,
}

/// Why a tenant got its arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    /// The tenant is in the `never` cohort.
    NeverCanary,
    /// The split is 0%: everyone is on the baseline.
    SplitZero,
    /// The tenant is in the `always` cohort.
    AlwaysCanary,
    /// The bucket is below the split.
    BucketBelowSplit,
    /// The bucket is at or above the split.
    BucketAtOrAboveSplit,
}

impl RouteReason {
    /// A readable explanation.
    pub fn describe(self) -> &'static str {
        match self {
            RouteReason::NeverCanary => "tenant is in the never-canary cohort",
            RouteReason::SplitZero => "split is 0%: everyone is on the baseline",
            RouteReason::AlwaysCanary => "tenant is in the always-canary cohort",
            RouteReason::BucketBelowSplit => "bucket is below the split",
            RouteReason::BucketAtOrAboveSplit => "bucket is at or above the split",
        }
    }
}

/// The routing decision for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The tenant's bucket (whatever the cohort rules decided).
    pub bucket: u32,
    /// The arm to serve.
    pub arm: Arm,
    /// Why.
    pub reason: RouteReason,
}

/// Routes `tenant_id` under `flag`: cohorts first, then the hash.
pub fn route(flag: &FlagRouting, tenant_id: &str) -> RouteDecision {
    let bucket = bucket(&flag.salt, tenant_id);
    let (arm, reason) = if flag.never.iter().any(|t| t == tenant_id) {
        (Arm::Baseline, RouteReason::NeverCanary)
    } else if flag.basis_points == 0 {
        (Arm::Baseline, RouteReason::SplitZero)
    } else if flag.always.iter().any(|t| t == tenant_id) {
        (Arm::Canary, RouteReason::AlwaysCanary)
    } else {
        match arm_for_bucket(bucket, flag.basis_points) {
            Arm::Canary => (Arm::Canary, RouteReason::BucketBelowSplit),
            Arm::Baseline => (Arm::Baseline, RouteReason::BucketAtOrAboveSplit),
        }
    };
    RouteDecision {
        bucket,
        arm,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flag(bp: u32) -> FlagRouting {
        FlagRouting {
            salt: "support-bot".into(),
            basis_points: bp,
            always: vec!["internal-qa".into()],
            never: vec!["bank-of-x".into()],
        }
    }

    #[test]
    fn bucket_is_the_first_eight_bytes_of_sha256_mod_ten_thousand() {
        // `printf 'a:b' | sha256sum` starts 6783a31eabf68ccc.
        let expected = 0x6783_a31e_abf6_8ccc_u64 % 10_000;
        assert_eq!(u64::from(bucket("a", "b")), expected);
    }

    #[test]
    fn half_a_percent_is_fifty_basis_points_and_about_that_share_of_tenants() {
        let flag = FlagRouting {
            salt: "s".into(),
            basis_points: 50,
            ..FlagRouting::default()
        };
        let canary = (0..100_000)
            .filter(|i| route(&flag, &format!("tenant-{i}")).arm == Arm::Canary)
            .count();
        // Binomial(100000, 0.005): mean 500, sd ≈ 22.
        assert!((400..600).contains(&canary), "{canary}");
    }

    #[test]
    fn cohorts_apply_in_order_never_then_zero_then_always_then_hash() {
        assert_eq!(
            route(&flag(10_000), "bank-of-x").reason,
            RouteReason::NeverCanary
        );
        assert_eq!(route(&flag(0), "internal-qa").arm, Arm::Baseline);
        assert_eq!(
            route(&flag(0), "internal-qa").reason,
            RouteReason::SplitZero
        );
        assert_eq!(route(&flag(1), "internal-qa").arm, Arm::Canary);
        let both = FlagRouting {
            always: vec!["t".into()],
            never: vec!["t".into()],
            ..flag(5_000)
        };
        assert_eq!(route(&both, "t").arm, Arm::Baseline, "never wins");
        assert_eq!(route(&flag(10_000), "anyone").arm, Arm::Canary);
    }

    proptest! {
        #[test]
        fn raising_the_split_only_ever_adds_tenants(
            salt in ".{0,12}",
            tenant in ".{0,24}",
            p in 0u32..=10_000,
            q in 0u32..=10_000,
            in_always in any::<bool>(),
        ) {
            let (low, high) = (p.min(q), p.max(q));
            let mut cohort = FlagRouting { salt, basis_points: low, ..FlagRouting::default() };
            if in_always {
                cohort.always.push(tenant.clone());
            }
            let at_low = route(&cohort, &tenant).arm;
            cohort.basis_points = high;
            let at_high = route(&cohort, &tenant).arm;
            if at_low == Arm::Canary {
                prop_assert_eq!(at_high, Arm::Canary);
            }
            prop_assert!(route(&cohort, &tenant).bucket < BUCKETS);
        }
    }
}
