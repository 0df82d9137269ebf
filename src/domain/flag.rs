//! Traffic-split flags as gateways read them: the canary's share in basis points, the routing
//! salt, the cohorts that always or never get the canary, and a generation counter that grows on
//! every write so a gateway can tell a new value from a stale one.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// The split a writer asks a sink to hold for one flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitWrite {
    /// The canary's share in basis points (0..=10000).
    pub basis_points: u32,
    /// The routing salt (DESIGN.md §6; by default the flag key).
    pub salt: String,
    /// Tenants that always get the canary while the split is above 0.
    pub always: Vec<String>,
    /// Tenants that never get the canary.
    pub never: Vec<String>,
    /// When the write happens.
    pub updated_at: Timestamp,
    /// Who or what wrote it (`controller`, `drill`, a user name).
    pub updated_by: String,
}

/// A flag's split as a sink holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// The flag key.
    pub flag_key: String,
    /// The canary's share in basis points (0..=10000).
    pub basis_points: u32,
    /// Grows by one on every write of this flag to this sink.
    pub generation: u64,
    /// The routing salt.
    pub salt: String,
    /// Tenants that always get the canary while the split is above 0.
    pub always: Vec<String>,
    /// Tenants that never get the canary.
    pub never: Vec<String>,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// Who or what wrote it.
    pub updated_by: String,
}

impl SplitRecord {
    /// True when this record routes exactly like `wanted` (split, salt and cohorts); the
    /// generation and the write metadata do not change routing.
    pub fn routes_like(&self, wanted: &SplitWrite) -> bool {
        self.basis_points == wanted.basis_points
            && self.salt == wanted.salt
            && self.always == wanted.always
            && self.never == wanted.never
    }

    /// The write that would reproduce this record's routing (used to restore a value).
    pub fn to_write(&self, updated_at: Timestamp, updated_by: &str) -> SplitWrite {
        SplitWrite {
            basis_points: self.basis_points,
            salt: self.salt.clone(),
            always: self.always.clone(),
            never: self.never.clone(),
            updated_at,
            updated_by: updated_by.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn routes_like_ignores_generation_and_metadata_but_not_cohorts() {
        let record = SplitRecord {
            flag_key: "f".into(),
            basis_points: 100,
            generation: 7,
            salt: "f".into(),
            always: vec!["internal".into()],
            never: vec![],
            updated_at: at(),
            updated_by: "a".into(),
        };
        let same = record.to_write(at() + chrono::Duration::hours(1), "b");
        assert!(record.routes_like(&same));
        let mut other_cohort = same.clone();
        other_cohort.never.push("vip".into());
        assert!(!record.routes_like(&other_cohort));
        let mut other_split = same;
        other_split.basis_points = 0;
        assert!(!record.routes_like(&other_split));
    }
}
