//! Rollback drills (`evalgate drill` in `commands::drill`, and monthly from the daemon through `drill_once`): the
//! real rollback path (`FlagSinks::write_verified`, the one the controller uses) against a drill
//! flag through every sink: arm it above 0% when it is not, write 0%, read it back, measure the
//! time until each sink shows it, and restore each sink's previous value. The drill also reports
//! DRIFT: every flag whose latest rollout's split (active or over) a sink does not hold. The
//! result is recorded in `drills`; a failed sink or any drift makes the drill fail (exit 1).

use anyhow::Context as _;
use serde::Serialize;

use crate::adapters::flags::{FlagSinks, SinkOutcome, SinkWriteReport};
use crate::adapters::store::{DrillRow, Store};
use crate::context::Services;
use crate::domain::rollout::Phase;
use crate::domain::{SplitRecord, SplitWrite, Timestamp};
use crate::worker::controller::LoadedRollout;

/// Who drill writes are attributed to in the sinks.
const DRILL_ACTOR: &str = "evalgate-drill";
/// The split a drill flag is armed at when it holds 0% or nothing (so 0% is a real change).
const ARMED_BASIS_POINTS: u32 = 100;

/// One sink's part in the drill.
#[derive(Debug, Clone, Serialize)]
pub struct SinkDrill {
    /// The sink.
    pub sink: String,
    /// What it held before the drill.
    pub previous_basis_points: Option<u32>,
    /// True when the rollback to 0% was verified.
    pub rolled_back: bool,
    /// From the rollback write until the sink showed 0%, in milliseconds.
    pub time_to_visible_ms: Option<u64>,
    /// True when the previous value is back (or there was none and 0% was left).
    pub restored: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One sink that does not hold an active rollout's split.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// The rollout.
    pub rollout_id: String,
    /// Its flag.
    pub flag_key: String,
    /// The split the controller holds.
    pub controller_basis_points: u32,
    /// The sink.
    pub sink: String,
    /// What the sink holds (None: nothing or unreadable).
    pub sink_basis_points: Option<u32>,
    /// What differs.
    pub detail: String,
}

/// What a drill found.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The drill id.
    pub id: String,
    /// The drill flag.
    pub flag_key: String,
    /// When it ran.
    pub at: Timestamp,
    /// True when every sink rolled back and restored, and nothing drifted.
    pub ok: bool,
    /// Per sink.
    pub sinks: Vec<SinkDrill>,
    /// The slowest sink's time to visible, when every sink showed the rollback.
    pub time_to_visible_ms: Option<u64>,
    /// Drift between the controller's state and the sinks.
    pub drift: Vec<Drift>,
}

fn outcome_error(report: &SinkWriteReport) -> Option<String> {
    match &report.outcome {
        SinkOutcome::Failed { error, .. } => Some(error.clone()),
        SinkOutcome::Verified { .. } => None,
    }
}

fn write_of(
    base: Option<&SplitRecord>,
    flag: &str,
    basis_points: u32,
    now: Timestamp,
) -> SplitWrite {
    match base {
        Some(record) => SplitWrite {
            basis_points,
            ..record.to_write(now, DRILL_ACTOR)
        },
        None => SplitWrite {
            basis_points,
            salt: flag.to_string(),
            always: Vec::new(),
            never: Vec::new(),
            updated_at: now,
            updated_by: DRILL_ACTOR.to_string(),
        },
    }
}

/// Runs the rollback path on `flag` through `sinks` and records the result.
#[tracing::instrument(skip_all, fields(flag = %flag))]
pub async fn drill_with(
    store: &Store,
    sinks: &FlagSinks,
    flag: &str,
    now: Timestamp,
) -> anyhow::Result<DrillReport> {
    let previous = sinks.read_all(flag).await;
    let mut results = Vec::new();
    for (sink, (name, read)) in sinks.sinks().iter().zip(previous) {
        let mut result = SinkDrill {
            sink: name,
            previous_basis_points: None,
            rolled_back: false,
            time_to_visible_ms: None,
            restored: false,
            error: None,
        };
        let previous_opt = match read {
            Ok(record_opt) => record_opt,
            Err(err) => {
                result.error = Some(format!("cannot read before the drill: {err}"));
                None
            }
        };
        result.previous_basis_points = previous_opt.as_ref().map(|r| r.basis_points);
        let needs_arming = previous_opt.as_ref().is_none_or(|r| r.basis_points == 0);
        if needs_arming {
            let arm = write_of(previous_opt.as_ref(), flag, ARMED_BASIS_POINTS, now);
            let armed = sinks.write_one(sink.as_ref(), flag, &arm).await;
            if let Some(error) = outcome_error(&armed) {
                result.error = Some(format!("cannot arm the drill flag: {error}"));
            }
        }
        let rollback = write_of(previous_opt.as_ref(), flag, 0, now);
        let rolled = sinks.write_one(sink.as_ref(), flag, &rollback).await;
        match &rolled.outcome {
            SinkOutcome::Verified {
                visible_after_ms, ..
            } => {
                result.rolled_back = true;
                result.time_to_visible_ms = Some(*visible_after_ms);
            }
            SinkOutcome::Failed { error, .. } => {
                result.error = Some(format!("rollback to 0% failed: {error}"));
            }
        }
        result.restored = match &previous_opt {
            Some(record) if record.basis_points > 0 => {
                let restore = record.to_write(now, DRILL_ACTOR);
                let restored = sinks.write_one(sink.as_ref(), flag, &restore).await;
                if let Some(error) = outcome_error(&restored) {
                    result.error = Some(format!(
                        "cannot restore {} bp: {error}",
                        record.basis_points
                    ));
                }
                restored.is_verified()
            }
            // Nothing (or 0%) before: 0% is the previous value.
            _ => result.rolled_back,
        };
        results.push(result);
    }
    let drift = find_drift(store, sinks).await?;
    let all_visible = results.iter().all(|r| r.rolled_back);
    let time_to_visible_ms = if all_visible {
        results.iter().filter_map(|r| r.time_to_visible_ms).max()
    } else {
        None
    };
    let ok = !results.is_empty()
        && results
            .iter()
            .all(|r| r.rolled_back && r.restored && r.error.is_none())
        && drift.is_empty();
    let report = DrillReport {
        id: uuid::Uuid::now_v7().to_string(),
        flag_key: flag.to_string(),
        at: now,
        ok,
        sinks: results,
        time_to_visible_ms,
        drift,
    };
    store
        .record_drill(&DrillRow {
            id: report.id.clone(),
            flag_key: report.flag_key.clone(),
            at: now,
            ok,
            results: serde_json::to_value(&report.sinks)?,
            time_to_visible_ms: time_to_visible_ms.and_then(|ms| i64::try_from(ms).ok()),
            drift: serde_json::to_value(&report.drift)?,
        })
        .await
        .context("cannot record the drill")?;
    if !ok {
        tracing::error!(flag, drift = report.drift.len(), "rollback drill failed");
    }
    Ok(report)
}

/// Every flag whose latest started rollout (active or over: a rolled-back canary must stay at
/// 0%) a sink does not hold at the controller's split.
pub async fn find_drift(store: &Store, sinks: &FlagSinks) -> anyhow::Result<Vec<Drift>> {
    let mut latest_by_flag = std::collections::BTreeMap::new();
    for row in store.list_rollouts().await? {
        let rollout = LoadedRollout::from_row(row)?;
        if rollout.state.phase == Phase::Pending {
            continue;
        }
        // Oldest first, so the newest rollout of a flag wins.
        latest_by_flag.insert(rollout.row.flag_key.clone(), rollout);
    }
    let mut drift = Vec::new();
    for rollout in latest_by_flag.into_values() {
        let wanted = rollout.state.split_bp;
        let expected = rollout.split_write(wanted, DRILL_ACTOR, rollout.row.updated_at);
        for (sink, read) in sinks.read_all(&rollout.row.flag_key).await {
            let (held, detail) = match read {
                Ok(Some(record)) if record.routes_like(&expected) => continue,
                Ok(Some(record)) if record.basis_points != wanted => (
                    Some(record.basis_points),
                    format!(
                        "holds {} bp, controller holds {wanted} bp",
                        record.basis_points
                    ),
                ),
                Ok(Some(record)) => (
                    Some(record.basis_points),
                    "same split, different salt or cohorts".to_string(),
                ),
                Ok(None) => (None, format!("holds nothing, controller holds {wanted} bp")),
                Err(err) => (None, format!("cannot be read: {err}")),
            };
            drift.push(Drift {
                rollout_id: rollout.row.id.clone(),
                flag_key: rollout.row.flag_key.clone(),
                controller_basis_points: wanted,
                sink,
                sink_basis_points: held,
                detail,
            });
        }
    }
    Ok(drift)
}

/// One drill of the configured drill flag through the configured sinks (the daemon's monthly
/// schedule calls this).
pub async fn drill_once(services: &Services, now: Timestamp) -> anyhow::Result<DrillReport> {
    let flag = &services.ctx.config.flags.drill_flag;
    drill_with(&services.store, &services.sinks, flag, now).await
}

/// Renders a report for people.
pub fn render(report: &DrillReport) -> String {
    let verdict = if report.ok { "OK" } else { "FAILED" };
    let mut out = format!(
        "drill {} on flag `{}`: {verdict}\n",
        report.id, report.flag_key
    );
    for sink in &report.sinks {
        let previous = sink
            .previous_basis_points
            .map_or_else(|| "nothing".to_string(), |bp| format!("{bp} bp"));
        let visible = sink.time_to_visible_ms.map_or_else(
            || "not visible".to_string(),
            |ms| format!("visible after {ms} ms"),
        );
        let restored = if sink.restored {
            "restored"
        } else {
            "NOT restored"
        };
        out.push_str(&format!(
            "  sink {:<6} previous {previous}; rollback {visible}; {restored}\n",
            sink.sink
        ));
        if let Some(error) = &sink.error {
            out.push_str(&format!("    error: {error}\n"));
        }
    }
    if let Some(ms) = report.time_to_visible_ms {
        out.push_str(&format!("  time to visible (slowest sink): {ms} ms\n"));
    }
    if report.drift.is_empty() {
        out.push_str("  drift: none\n");
    }
    for drift in &report.drift {
        out.push_str(&format!(
            "  DRIFT rollout {} flag {} sink {}: {}\n",
            drift.rollout_id, drift.flag_key, drift.sink, drift.detail
        ));
    }
    out
}
