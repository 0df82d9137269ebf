//! Telling a plain duplicate from a conflict after a batch insert of requests: a row whose
//! `request_id` was already stored (or came earlier in the batch) is a duplicate when its content
//! equals the stored row, and a conflict when it differs. The first row stays either way
//! (README "evalgate ingest"); conflicts are counted and listed so they are not lost in silence.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Store, StoreResult};
use crate::domain::Request;

impl Store {
    /// The subset of `skipped` (indices into `rows`) whose content differs from the stored row.
    pub(super) async fn conflicting_rows(
        &self,
        rows: &[Request],
        skipped: &[usize],
    ) -> StoreResult<Vec<usize>> {
        if skipped.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = skipped
            .iter()
            .map(|index| rows[*index].request_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let stored: HashMap<String, Request> = self
            .get_requests(&ids)
            .await?
            .into_iter()
            .map(|row| (row.request_id.clone(), row))
            .collect();
        let mut conflicting = Vec::new();
        for index in skipped {
            let row = &rows[*index];
            let differs = match stored.get(&row.request_id) {
                Some(kept) => !same_content(row, kept),
                None => false,
            };
            if differs {
                conflicting.push(*index);
            }
        }
        Ok(conflicting)
    }
}

/// The indices of `rows` that were not inserted, given the ids the insert returned: for each id
/// only its first row in `rows` can have been inserted.
pub fn skipped_rows(rows: &[Request], inserted_ids: &HashSet<String>) -> Vec<usize> {
    let mut claimed: HashSet<&str> = HashSet::with_capacity(inserted_ids.len());
    let mut skipped = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let id = row.request_id.as_str();
        if inserted_ids.contains(id) && claimed.insert(id) {
            continue;
        }
        skipped.push(index);
    }
    skipped
}

/// True when `incoming` holds the same content as `stored`, allowing for what a backend
/// normalises (JSON numbers `1.5e10` and `15000000000` are the same number in `jsonb`).
pub fn same_content(incoming: &Request, stored: &Request) -> bool {
    incoming.request_id == stored.request_id
        && incoming.ts == stored.ts
        && incoming.tenant_id == stored.tenant_id
        && incoming.arm == stored.arm
        && incoming.model == stored.model
        && incoming.rollout_id == stored.rollout_id
        && incoming.input == stored.input
        && incoming.output == stored.output
        && incoming.reference == stored.reference
        && incoming.status == stored.status
        && incoming.error == stored.error
        && incoming.latency_ms == stored.latency_ms
        && incoming.ttft_ms == stored.ttft_ms
        && incoming.prompt_tokens == stored.prompt_tokens
        && incoming.completion_tokens == stored.completion_tokens
        && incoming.cost_usd == stored.cost_usd
        && same_json(&incoming.metadata, &stored.metadata)
}

fn same_json(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => left == right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Arm, RequestStatus};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn row(id: &str, output: &str) -> Request {
        Request {
            request_id: id.to_string(),
            ts: Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap(),
            tenant_id: "t".to_string(),
            arm: Arm::Canary,
            model: "m".to_string(),
            rollout_id: None,
            input: "q".to_string(),
            output: output.to_string(),
            reference: None,
            status: RequestStatus::Ok,
            error: None,
            latency_ms: None,
            ttft_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
            metadata: json!({"n": 1.5e10}),
        }
    }

    #[test]
    fn only_the_first_row_of_an_inserted_id_counts_as_inserted() {
        let rows = vec![row("a", "1"), row("b", "2"), row("a", "3"), row("c", "4")];
        let inserted: HashSet<String> = ["a".to_string(), "c".to_string()].into();
        assert_eq!(skipped_rows(&rows, &inserted), vec![1, 2]);
    }

    #[test]
    fn content_differs_on_any_column_but_not_on_json_number_spelling() {
        let stored = row("a", "yes");
        let mut normalised = stored.clone();
        normalised.metadata = json!({"n": 15_000_000_000_u64});
        assert!(same_content(&normalised, &stored));
        assert!(!same_content(&row("a", "no"), &stored));
        let mut other_meta = stored.clone();
        other_meta.metadata = json!({"n": 1});
        assert!(!same_content(&other_meta, &stored));
    }
}
