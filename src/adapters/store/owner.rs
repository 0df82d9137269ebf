//! The SQL form of the attribution rule (`logic::attribution::belongs_to`): which `requests`
//! rows are a rollout's traffic. Every read that selects a rollout's requests (the window reads,
//! history pages, the review) builds its condition here and binds
//! `logic::attribution::OwnerBinds` with [`bind_owner!`], so the rule is written once in SQL;
//! the store contract tests compare it with `belongs_to` on both backends.
//!
//! The condition only filters: the window reads bound their scan by `arm = … AND ts` ranges
//! first, so they stay on the `(arm, ts, …)` index.

/// The condition "row `alias` belongs to the rollout" with the four [`OwnerBinds`] numbered
/// `$first` … `$first + 3` (rollout id, since, baseline model, canary model). It is NULL for a
/// row without a rollout id that the rollout does not claim, so negate it through
/// [`not_owned_by`].
///
/// [`OwnerBinds`]: crate::logic::attribution::OwnerBinds
pub(super) fn owned_by(alias: &str, first: usize) -> String {
    let (id, since, baseline, canary) = (first, first + 1, first + 2, first + 3);
    format!(
        "({alias}.rollout_id = ${id} OR ({alias}.rollout_id IS NULL AND {alias}.ts >= ${since} \
         AND (({alias}.arm = 'baseline' AND {alias}.model = ${baseline}) \
         OR ({alias}.arm = 'canary' AND {alias}.model = ${canary}))))"
    )
}

/// The condition "row `alias` does not belong to the rollout", never NULL.
pub(super) fn not_owned_by(alias: &str, first: usize) -> String {
    format!("NOT COALESCE({}, FALSE)", owned_by(alias, first))
}

/// Binds an `OwnerBinds` to a query built with [`owned_by`], in its parameter order.
macro_rules! bind_owner {
    ($query:expr, $binds:expr) => {{
        let binds: $crate::logic::attribution::OwnerBinds<'_> = $binds;
        $query
            .bind(binds.rollout_id)
            .bind(binds.since)
            .bind(binds.baseline_model)
            .bind(binds.canary_model)
    }};
}
pub(super) use bind_owner;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_numbers_its_four_parameters_from_the_first() {
        let sql = owned_by("r", 4);
        assert!(sql.contains("r.rollout_id = $4"), "{sql}");
        assert!(sql.contains("r.ts >= $5"), "{sql}");
        assert!(sql.contains("r.model = $6"), "{sql}");
        assert!(sql.contains("r.model = $7"), "{sql}");
        assert!(!sql.contains("$8"), "{sql}");
        assert!(not_owned_by("r", 1).starts_with("NOT COALESCE((r.rollout_id = $1"));
    }
}
