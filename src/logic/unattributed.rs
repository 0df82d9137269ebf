//! Requests in a tick's window that no active rollout claims (`logic::attribution::belongs_to`
//! of none of them): how many per arm, the largest groups by what they were logged with (model,
//! rollout id), and the hint `tick` and `rollout status` print when a rollout's sample is short
//! or such requests exist. A gateway that logs another rollout id, or a model the rollout was not
//! started with, shows up here instead of as a silent "sampled 0/0".
//!
//! Pure: the store counts the groups, this file summarises and words them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::logic::attribution::RolloutTargets;

/// How many groups a summary keeps.
pub const TOP_GROUPS: usize = 3;

/// Requests logged with one (model, rollout id) that no active rollout claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnattributedGroup {
    /// The served model as logged.
    pub model: String,
    /// The rollout id as logged (None: the row has none).
    pub rollout_id: Option<String>,
    /// How many requests.
    pub count: u64,
}

/// The requests of a tick's windows (baseline and canary) that match no active rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unattributed {
    /// In the baseline arm's window.
    pub baseline: u64,
    /// In the canary arm's window.
    pub canary: u64,
    /// The largest groups over both arms, largest first (at most [`TOP_GROUPS`]).
    pub top: Vec<UnattributedGroup>,
}

impl Unattributed {
    /// Sums each arm's groups and keeps the `limit` largest over both arms (ties by model, then
    /// rollout id, so the summary does not depend on the order the store returned).
    pub fn summarize(
        baseline: &[UnattributedGroup],
        canary: &[UnattributedGroup],
        limit: usize,
    ) -> Unattributed {
        let mut merged: BTreeMap<(&str, Option<&str>), u64> = BTreeMap::new();
        for group in baseline.iter().chain(canary) {
            *merged
                .entry((group.model.as_str(), group.rollout_id.as_deref()))
                .or_default() += group.count;
        }
        let mut top: Vec<UnattributedGroup> = merged
            .into_iter()
            .map(|((model, rollout_id), count)| UnattributedGroup {
                model: model.to_string(),
                rollout_id: rollout_id.map(str::to_string),
                count,
            })
            .collect();
        // BTreeMap order is (model, rollout id); a stable sort by count keeps it for ties.
        top.sort_by_key(|group| std::cmp::Reverse(group.count));
        top.truncate(limit);
        Unattributed {
            baseline: baseline.iter().map(|group| group.count).sum(),
            canary: canary.iter().map(|group| group.count).sum(),
            top,
        }
    }

    /// Both arms together.
    pub fn total(&self) -> u64 {
        self.baseline + self.canary
    }

    /// What to tell the operator about the window, or None when there is nothing to say: shown
    /// when unattributed requests exist, or when an arm sampled fewer than `n_per_arm`
    /// (`sampled` is baseline, canary).
    pub fn hint(
        &self,
        targets: &RolloutTargets,
        sampled: (usize, usize),
        n_per_arm: u64,
    ) -> Option<String> {
        let wanted = n_per_arm;
        let short = (sampled.0 as u64) < wanted || (sampled.1 as u64) < wanted;
        if self.total() == 0 && !short {
            return None;
        }
        let rule = rule_text(targets);
        if self.total() == 0 {
            return Some(format!(
                "sampled canary {} / baseline {} of {wanted} per arm, and no request in the \
                 window is left unattributed: the gateway logged little traffic for this \
                 rollout ({rule})",
                sampled.1, sampled.0
            ));
        }
        let mut text = format!(
            "{} requests in the window not attributed to this rollout nor to another active one \
             (baseline {}, canary {}), e.g. ",
            self.total(),
            self.baseline,
            self.canary
        );
        for (index, group) in self.top.iter().enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            let logged = match &group.rollout_id {
                Some(rollout_id) => format!("rollout_id {rollout_id}"),
                None => "no rollout_id".to_string(),
            };
            let _ = write!(text, "{} × model {} ({logged})", group.count, group.model);
        }
        let _ = write!(text, "; {rule}");
        Some(text)
    }
}

/// How a row counts for the rollout, in words.
fn rule_text(targets: &RolloutTargets) -> String {
    format!(
        "a row counts for {0} when its rollout_id is `{0}`, or it has none and served `{1}` on \
         the baseline arm or `{2}` on the canary arm since {3}",
        targets.rollout_id,
        targets.baseline_model,
        targets.canary_model,
        targets
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn group(model: &str, rollout_id: Option<&str>, count: u64) -> UnattributedGroup {
        UnattributedGroup {
            model: model.to_string(),
            rollout_id: rollout_id.map(str::to_string),
            count,
        }
    }

    fn targets() -> RolloutTargets {
        RolloutTargets {
            rollout_id: "r1".to_string(),
            baseline_model: "bot@v41".to_string(),
            canary_model: "bot@v42".to_string(),
            started_at: Utc
                .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
        }
    }

    #[test]
    fn the_summary_counts_each_arm_and_merges_groups_across_arms() {
        let summary = Unattributed::summarize(
            &[group("bot@v40", Some("r-old"), 300), group("x", None, 1)],
            &[
                group("bot@v40", Some("r-old"), 12),
                group("bot@v41", None, 100),
                group("a", None, 1),
            ],
            3,
        );
        assert_eq!(summary.baseline, 301);
        assert_eq!(summary.canary, 113);
        assert_eq!(summary.total(), 414);
        assert_eq!(
            summary.top,
            vec![
                group("bot@v40", Some("r-old"), 312),
                group("bot@v41", None, 100),
                group("a", None, 1),
            ]
        );
    }

    #[test]
    fn there_is_no_hint_when_both_arms_sampled_fully_and_nothing_is_unattributed() {
        let summary = Unattributed::default();
        assert_eq!(summary.hint(&targets(), (16, 16), 16), None);
    }

    #[test]
    fn the_hint_names_the_foreign_groups_and_the_rule() {
        let summary = Unattributed::summarize(&[group("bot@v40", Some("r-old"), 412)], &[], 3);
        let hint = summary.hint(&targets(), (0, 0), 16).expect("a hint");
        assert!(
            hint.starts_with("412 requests in the window not attributed"),
            "{hint}"
        );
        assert!(
            hint.contains("412 × model bot@v40 (rollout_id r-old)"),
            "{hint}"
        );
        assert!(hint.contains("its rollout_id is `r1`"), "{hint}");
        assert!(hint.contains("`bot@v42` on the canary arm"), "{hint}");
    }

    #[test]
    fn unattributed_requests_are_shown_even_when_the_sample_is_full() {
        let summary = Unattributed::summarize(&[], &[group("bot@v40", None, 2)], 3);
        let hint = summary.hint(&targets(), (16, 16), 16).expect("a hint");
        assert!(hint.contains("2 × model bot@v40 (no rollout_id)"), "{hint}");
    }

    #[test]
    fn a_short_sample_without_foreign_traffic_says_the_traffic_is_low() {
        let hint = Unattributed::default()
            .hint(&targets(), (16, 3), 16)
            .expect("a hint");
        assert!(
            hint.starts_with("sampled canary 3 / baseline 16 of 16 per arm"),
            "{hint}"
        );
        assert!(hint.contains("left unattributed"), "{hint}");
    }
}
