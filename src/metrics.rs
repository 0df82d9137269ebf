//! The one file that names Prometheus metrics (INTEGRATION.md §2).
//!
//! Two halves make up `/metrics`:
//! - process-wide metrics (judge requests, tokens and latency, ticks, ingest lag, drills) go
//!   through the `metrics` facade and the `metrics-exporter-prometheus` recorder;
//! - per-rollout metrics (pass ratio, samples, scored responses, canary split, halted, halt
//!   signals, status, phase, stage, e-values) and the judge cost (a fractional counter, which the
//!   facade cannot hold) are kept in a [`Registry`] of our own and rendered after the exporter's
//!   text. The `metrics` crate cannot unregister a label set, so this is how a finished rollout's
//!   series disappear: [`sync_rollouts`] replaces the whole per-rollout state with the active
//!   rollouts and the recently finished ones, which keep only their status, phase and stage
//!   ([`status`]).
//!
//! Everything here is a no-op until [`install`] has run (CLI commands other than `serve` never
//! install the recorder).

use crate::domain::rollout::PhaseName;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub mod status;

use crate::domain::{Outcome, Timestamp};

/// `evalgate_build_info{version}` = 1.
pub const BUILD_INFO: &str = "evalgate_build_info";
/// Pass ratio of the latest window per rollout, arm and evaluator (0..1).
pub const PASS_RATIO: &str = "evalgate_pass_ratio";
/// Scored samples behind the latest pass ratio.
pub const WINDOW_SAMPLES: &str = "evalgate_window_samples";
/// Scored responses by verdict.
pub const SCORED_RESPONSES: &str = "evalgate_scored_responses_total";
/// Judge requests by outcome.
pub const JUDGE_REQUESTS: &str = "evalgate_judge_requests_total";
/// Judge tokens by type (prompt, completion).
pub const JUDGE_TOKENS: &str = "evalgate_judge_tokens_total";
/// Estimated judge cost in US dollars.
pub const JUDGE_COST: &str = "evalgate_judge_cost_dollars_total";
/// Judge request latency histogram.
pub const JUDGE_DURATION: &str = "evalgate_judge_request_duration_seconds";
/// The controller's current canary share of traffic (0..1).
pub const CANARY_TRAFFIC: &str = "evalgate_canary_traffic_ratio";
/// 1 while a rollout is halted or rolled back.
pub const ROLLOUT_HALTED: &str = "evalgate_rollout_halted";
/// Consecutive tick windows whose tick failed, per active rollout (0 while ticks decide).
pub const ROLLOUT_FAILED_WINDOWS: &str = "evalgate_rollout_failed_windows";
/// Notifications in the outbox not yet delivered.
pub const NOTIFY_PENDING: &str = "evalgate_notifications_pending";
/// Halt signals raised per rollout and gate metric.
pub const HALT_SIGNALS: &str = "evalgate_halt_signals_total";
/// The rollout's status as a state set (running, succeeded, failed, held), kept after it ends.
pub const ROLLOUT_STATUS: &str = "evalgate_rollout_status";
/// The rollout's phase as a state set, kept after it ends.
pub const ROLLOUT_PHASE: &str = "evalgate_rollout_phase";
/// The rollout's stage number (1-based).
pub const ROLLOUT_STAGE: &str = "evalgate_rollout_stage";
/// The current e-value of each gating metric's halting test.
pub const GATE_E_VALUE: &str = "evalgate_gate_e_value";
/// 1/α of each gating metric's halting test.
pub const GATE_E_VALUE_THRESHOLD: &str = "evalgate_gate_e_value_threshold";
/// Unix time of the last completed tick.
pub const LAST_TICK: &str = "evalgate_last_tick_timestamp_seconds";
/// Ticks run by outcome (ok, error).
pub const TICKS: &str = "evalgate_ticks_total";
/// Age of the newest request row when the last tick ran.
pub const INGEST_LAG: &str = "evalgate_log_ingest_lag_seconds";
/// Unix time of the last successful rollback drill.
pub const LAST_DRILL: &str = "evalgate_last_successful_drill_timestamp_seconds";
/// 1 when this process holds the scheduler.
pub const SCHEDULER_LEADER: &str = "evalgate_scheduler_leader";
/// Rows pushed to `serve` by source (push, otlp) and outcome (inserted, duplicate).
pub const INGEST_ROWS: &str = "evalgate_ingest_rows_total";
/// Pushed documents rejected, by reject kind.
pub const INGEST_REJECTS: &str = "evalgate_ingest_rejected_total";

/// Upper bounds of the judge latency buckets, in seconds.
pub const JUDGE_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Installs the global recorder (idempotent) and describes every metric so that the output passes
/// `promtool check metrics`.
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(JUDGE_DURATION.to_string()),
            JUDGE_BUCKETS,
        )?
        .install_recorder()?;
    if HANDLE.set(handle).is_err() {
        return Ok(()); // another thread won the race; its recorder is the one installed
    }
    describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(())
}

fn describe() {
    metrics::describe_gauge!(BUILD_INFO, "evalgate build information, always 1");
    metrics::describe_counter!(
        JUDGE_REQUESTS,
        "LLM judge requests by judge model and outcome"
    );
    metrics::describe_counter!(
        JUDGE_TOKENS,
        "LLM judge tokens by judge model and type (prompt, completion)"
    );
    metrics::describe_histogram!(
        JUDGE_DURATION,
        metrics::Unit::Seconds,
        "LLM judge request latency in seconds"
    );
    metrics::describe_gauge!(
        LAST_TICK,
        "unix time of the last completed tick (alert on time() minus this)"
    );
    metrics::describe_counter!(TICKS, "scheduler ticks by outcome (ok, error)");
    metrics::describe_gauge!(
        INGEST_LAG,
        "age in seconds of the newest request row when the last tick ran"
    );
    metrics::describe_gauge!(
        LAST_DRILL,
        "unix time of the last successful rollback drill"
    );
    metrics::describe_gauge!(SCHEDULER_LEADER, "1 when this process holds the scheduler");
    metrics::describe_gauge!(
        NOTIFY_PENDING,
        "notifications written to the outbox and not yet delivered"
    );
    metrics::describe_counter!(
        INGEST_ROWS,
        "rows pushed to /v1/ingest and /v1/traces by source and outcome (inserted, duplicate)"
    );
    metrics::describe_counter!(INGEST_REJECTS, "pushed documents rejected, by reject kind");
}

/// The full `/metrics` text: the exporter's output followed by the per-rollout metrics.
pub fn render() -> String {
    let mut out = HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&registry().render());
    out
}

/// Drains histogram buffers; `serve` calls it every few seconds.
pub fn run_upkeep() {
    if let Some(handle) = HANDLE.get() {
        handle.run_upkeep();
    }
}

/// The process-wide per-rollout registry.
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(Registry::default)
}

/// Records a completed tick at `at`.
pub fn record_tick(at: Timestamp) {
    metrics::counter!(TICKS, "outcome" => "ok").increment(1);
    metrics::gauge!(LAST_TICK).set(unix_seconds(at));
}

/// Records a tick that failed.
pub fn record_tick_failure() {
    metrics::counter!(TICKS, "outcome" => "error").increment(1);
}

/// Sets the ingest lag (age of the newest request row) in seconds.
pub fn set_ingest_lag(seconds: f64) {
    metrics::gauge!(INGEST_LAG).set(seconds.max(0.0));
}

/// Counts the rows one push inserted, found already stored, and found stored with different
/// content (conflicts).
pub fn record_ingest_rows(source: &'static str, inserted: u64, duplicates: u64, conflicts: u64) {
    metrics::counter!(INGEST_ROWS, "source" => source, "outcome" => "inserted").increment(inserted);
    metrics::counter!(INGEST_ROWS, "source" => source, "outcome" => "duplicate")
        .increment(duplicates);
    metrics::counter!(INGEST_ROWS, "source" => source, "outcome" => "conflict")
        .increment(conflicts);
}

/// Counts one rejected pushed document.
pub fn record_ingest_reject(kind: &'static str) {
    metrics::counter!(INGEST_REJECTS, "kind" => kind).increment(1);
}

/// Sets the time of the last successful rollback drill.
pub fn set_last_drill(at: Timestamp) {
    metrics::gauge!(LAST_DRILL).set(unix_seconds(at));
}

/// Sets how many notifications wait in the outbox.
pub fn set_notifications_pending(count: i64) {
    metrics::gauge!(NOTIFY_PENDING).set(count.max(0) as f64);
}

/// Sets whether this process holds the scheduler.
pub fn set_leader(leader: bool) {
    metrics::gauge!(SCHEDULER_LEADER).set(if leader { 1.0 } else { 0.0 });
}

/// Records one judge request: `outcome` is one of ok, rate_limited, timeout, http_error,
/// unparseable; `seconds` its latency.
pub fn record_judge_request(judge_model: &str, outcome: &'static str, seconds: f64) {
    let model = judge_model.to_string();
    metrics::counter!(JUDGE_REQUESTS, "judge_model" => model.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(JUDGE_DURATION, "judge_model" => model).record(seconds);
}

/// Records the tokens and estimated cost of one judge reply.
pub fn record_judge_usage(judge_model: &str, prompt_tokens: u64, completion_tokens: u64, usd: f64) {
    let model = judge_model.to_string();
    metrics::counter!(JUDGE_TOKENS, "judge_model" => model.clone(), "type" => "prompt")
        .increment(prompt_tokens);
    metrics::counter!(JUDGE_TOKENS, "judge_model" => model, "type" => "completion")
        .increment(completion_tokens);
    registry().add_judge_cost(judge_model, usd);
}

/// Replaces the per-rollout metrics with the given active rollouts; every other rollout's label
/// sets disappear from `/metrics`.
pub fn sync_rollouts(rollouts: Vec<RolloutSnapshot>) {
    registry().sync(rollouts);
}

fn unix_seconds(at: Timestamp) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// The latest pass ratio of one (arm, evaluator) of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesGauge {
    /// `baseline` or `canary`.
    pub arm: String,
    /// The evaluator name.
    pub evaluator: String,
    /// Passes over scored samples; `None` when nothing was scorable.
    pub ratio: Option<f64>,
    /// Samples behind the ratio.
    pub samples: u64,
}

/// The halting test of one gating metric, as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateEValue {
    /// The metric (`pass_rate`, `pass_rate:valid_json`, `latency_p95`, …).
    pub metric: String,
    /// The current e-value.
    pub e_value: Option<f64>,
    /// 1/α: the e-value that halts.
    pub threshold: Option<f64>,
}

/// Everything `/metrics` shows about one rollout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutSnapshot {
    /// The rollout id (a bounded label: only active and recently finished rollouts are kept).
    pub rollout_id: String,
    /// A finished rollout kept for its final status: only the status, phase and stage families
    /// show it.
    pub finished: bool,
    /// The phase (`running`, `rolled_back`, …).
    pub phase: PhaseName,
    /// The stage number (1-based), when known.
    pub stage: Option<u64>,
    /// The current e-value and threshold of each gating metric.
    pub e_values: Vec<GateEValue>,
    /// The canary share of traffic (0..1), if known.
    pub canary_ratio: Option<f64>,
    /// Whether the rollout is halted or rolled back.
    pub halted: bool,
    /// Consecutive tick windows whose tick failed.
    pub failed_windows: u64,
    /// Latest pass ratio per arm and evaluator.
    pub series: Vec<SeriesGauge>,
    /// Cumulative scored responses per (arm, evaluator, outcome).
    pub scored: Vec<(String, String, Outcome, u64)>,
    /// Cumulative halt signals per gate metric.
    pub halt_signals: Vec<(String, u64)>,
}

/// Per-rollout metrics and the judge cost, rendered by hand in the text exposition format.
#[derive(Debug, Default)]
pub struct Registry {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rollouts: BTreeMap<String, RolloutSnapshot>,
    judge_cost: BTreeMap<String, f64>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces every rollout's state with `rollouts`.
    pub fn sync(&self, rollouts: Vec<RolloutSnapshot>) {
        let mut state = self.lock();
        state.rollouts = rollouts
            .into_iter()
            .map(|snapshot| (snapshot.rollout_id.clone(), snapshot))
            .collect();
    }

    /// Sets (or replaces) one rollout's state.
    pub fn upsert(&self, snapshot: RolloutSnapshot) {
        let mut state = self.lock();
        state.rollouts.insert(snapshot.rollout_id.clone(), snapshot);
    }

    /// The rollout ids currently exported.
    pub fn rollout_ids(&self) -> Vec<String> {
        self.lock().rollouts.keys().cloned().collect()
    }

    /// Adds judge cost in US dollars (negative or non-finite amounts are ignored).
    pub fn add_judge_cost(&self, judge_model: &str, usd: f64) {
        if !usd.is_finite() || usd < 0.0 {
            return;
        }
        *self
            .lock()
            .judge_cost
            .entry(judge_model.to_string())
            .or_insert(0.0) += usd;
    }

    /// Renders the registry in the Prometheus text format (0.0.4): every family has HELP and TYPE
    /// lines even when it has no samples yet.
    pub fn render(&self) -> String {
        let state = self.lock();
        let mut out = String::new();
        let all: Vec<&RolloutSnapshot> = state.rollouts.values().collect();
        let rollouts: Vec<&RolloutSnapshot> = all.iter().copied().filter(|r| !r.finished).collect();

        family(
            &mut out,
            PASS_RATIO,
            "gauge",
            "pass ratio (0..1) of the latest scored window per rollout, arm and evaluator",
        );
        for r in &rollouts {
            for s in &r.series {
                if let Some(ratio) = s.ratio {
                    let labels = [
                        ("rollout", r.rollout_id.as_str()),
                        ("arm", &s.arm),
                        ("evaluator", &s.evaluator),
                    ];
                    sample(&mut out, PASS_RATIO, &labels, ratio);
                }
            }
        }
        family(
            &mut out,
            WINDOW_SAMPLES,
            "gauge",
            "scored samples behind the latest pass ratio (small n is noisy)",
        );
        for r in &rollouts {
            for s in &r.series {
                let labels = [
                    ("rollout", r.rollout_id.as_str()),
                    ("arm", &s.arm),
                    ("evaluator", &s.evaluator),
                ];
                sample(&mut out, WINDOW_SAMPLES, &labels, s.samples as f64);
            }
        }
        family(
            &mut out,
            SCORED_RESPONSES,
            "counter",
            "scored responses by rollout, arm, evaluator and verdict (pass, fail, unscorable)",
        );
        for r in &rollouts {
            for (arm, evaluator, outcome, total) in &r.scored {
                let labels = [
                    ("rollout", r.rollout_id.as_str()),
                    ("arm", arm),
                    ("evaluator", evaluator),
                    ("verdict", outcome.as_str()),
                ];
                sample(&mut out, SCORED_RESPONSES, &labels, *total as f64);
            }
        }
        family(
            &mut out,
            CANARY_TRAFFIC,
            "gauge",
            "the controller's current canary share of traffic (0..1)",
        );
        for r in &rollouts {
            if let Some(ratio) = r.canary_ratio {
                sample(
                    &mut out,
                    CANARY_TRAFFIC,
                    &[("rollout", r.rollout_id.as_str())],
                    ratio,
                );
            }
        }
        family(
            &mut out,
            ROLLOUT_HALTED,
            "gauge",
            "1 while the rollout is halted or rolled back",
        );
        for r in &rollouts {
            let value = if r.halted { 1.0 } else { 0.0 };
            sample(
                &mut out,
                ROLLOUT_HALTED,
                &[("rollout", r.rollout_id.as_str())],
                value,
            );
        }
        family(
            &mut out,
            ROLLOUT_FAILED_WINDOWS,
            "gauge",
            "consecutive tick windows whose tick failed (nothing gated them); 0 while ticks decide",
        );
        for r in &rollouts {
            sample(
                &mut out,
                ROLLOUT_FAILED_WINDOWS,
                &[("rollout", r.rollout_id.as_str())],
                r.failed_windows as f64,
            );
        }
        family(
            &mut out,
            HALT_SIGNALS,
            "counter",
            "halt signals raised by rollout and gate metric",
        );
        for r in &rollouts {
            for (metric, total) in &r.halt_signals {
                let labels = [
                    ("rollout", r.rollout_id.as_str()),
                    ("metric", metric.as_str()),
                ];
                sample(&mut out, HALT_SIGNALS, &labels, *total as f64);
            }
        }
        status::render(&mut out, &all);
        family(
            &mut out,
            JUDGE_COST,
            "counter",
            "estimated LLM judge cost in US dollars by judge model",
        );
        for (model, usd) in &state.judge_cost {
            sample(
                &mut out,
                JUDGE_COST,
                &[("judge_model", model.as_str())],
                *usd,
            );
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_value(value));
}

fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: &str) -> RolloutSnapshot {
        RolloutSnapshot {
            rollout_id: id.to_string(),
            finished: false,
            phase: PhaseName::Running,
            stage: Some(2),
            e_values: vec![GateEValue {
                metric: "pass_rate".into(),
                e_value: Some(3.5),
                threshold: Some(143.0),
            }],
            canary_ratio: Some(0.1),
            halted: false,
            failed_windows: 2,
            series: vec![SeriesGauge {
                arm: "canary".into(),
                evaluator: "judge_helpful".into(),
                ratio: Some(0.85),
                samples: 200,
            }],
            scored: vec![("canary".into(), "judge_helpful".into(), Outcome::Pass, 170)],
            halt_signals: vec![("pass_rate:judge_helpful".into(), 2)],
        }
    }

    #[test]
    fn registry_renders_every_per_rollout_family_with_labels() {
        let registry = Registry::default();
        registry.upsert(snapshot("r1"));
        let text = registry.render();
        assert!(text.contains(
            "evalgate_pass_ratio{rollout=\"r1\",arm=\"canary\",evaluator=\"judge_helpful\"} 0.85\n"
        ));
        assert!(text.contains("evalgate_window_samples{rollout=\"r1\",arm=\"canary\",evaluator=\"judge_helpful\"} 200\n"));
        assert!(text.contains("evalgate_scored_responses_total{rollout=\"r1\",arm=\"canary\",evaluator=\"judge_helpful\",verdict=\"pass\"} 170\n"));
        assert!(text.contains("evalgate_canary_traffic_ratio{rollout=\"r1\"} 0.1\n"));
        assert!(text.contains("evalgate_rollout_halted{rollout=\"r1\"} 0\n"));
        assert!(text.contains(
            "evalgate_halt_signals_total{rollout=\"r1\",metric=\"pass_rate:judge_helpful\"} 2\n"
        ));
        assert!(text.contains("evalgate_rollout_status{rollout=\"r1\",status=\"running\"} 1\n"));
        assert!(text.contains("evalgate_rollout_status{rollout=\"r1\",status=\"failed\"} 0\n"));
        assert!(text.contains("evalgate_rollout_phase{rollout=\"r1\",phase=\"running\"} 1\n"));
        assert!(text.contains("evalgate_rollout_stage{rollout=\"r1\"} 2\n"));
        assert!(text.contains("evalgate_gate_e_value{rollout=\"r1\",metric=\"pass_rate\"} 3.5\n"));
        assert!(text.contains(
            "evalgate_gate_e_value_threshold{rollout=\"r1\",metric=\"pass_rate\"} 143\n"
        ));
        assert!(text.contains("# TYPE evalgate_scored_responses_total counter\n"));
    }

    #[test]
    fn sync_removes_the_label_sets_of_rollouts_no_longer_active() {
        let registry = Registry::default();
        registry.sync(vec![snapshot("r1"), snapshot("r2")]);
        registry.sync(vec![snapshot("r2")]);
        let text = registry.render();
        assert!(!text.contains("rollout=\"r1\""), "{text}");
        assert!(text.contains("rollout=\"r2\""));
        registry.sync(Vec::new());
        assert!(!registry.render().contains("rollout=\"r2\""));
        assert!(registry.rollout_ids().is_empty());
    }

    #[test]
    fn a_finished_rollout_keeps_only_its_final_status_phase_and_stage() {
        let registry = Registry::default();
        let mut done = snapshot("r9");
        done.finished = true;
        done.phase = PhaseName::RolledBack;
        registry.sync(vec![done]);
        let text = registry.render();
        assert!(text.contains("evalgate_rollout_status{rollout=\"r9\",status=\"failed\"} 1\n"));
        assert!(text.contains("evalgate_rollout_status{rollout=\"r9\",status=\"running\"} 0\n"));
        assert!(text.contains("evalgate_rollout_phase{rollout=\"r9\",phase=\"rolled_back\"} 1\n"));
        assert!(text.contains("evalgate_rollout_stage{rollout=\"r9\"} 2\n"));
        for family in [
            PASS_RATIO,
            WINDOW_SAMPLES,
            CANARY_TRAFFIC,
            ROLLOUT_HALTED,
            HALT_SIGNALS,
            GATE_E_VALUE,
        ] {
            assert!(
                !text.contains(&format!("{family}{{rollout=\"r9\"")),
                "{family} must not keep a finished rollout:\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn judge_cost_accumulates_and_ignores_bad_amounts() {
        let registry = Registry::default();
        registry.add_judge_cost("gpt-x", 0.25);
        registry.add_judge_cost("gpt-x", 0.5);
        registry.add_judge_cost("gpt-x", f64::NAN);
        registry.add_judge_cost("gpt-x", -1.0);
        assert!(
            registry
                .render()
                .contains("evalgate_judge_cost_dollars_total{judge_model=\"gpt-x\"} 0.75\n")
        );
    }

    #[test]
    fn a_rollout_without_a_ratio_exports_samples_but_no_ratio() {
        let registry = Registry::default();
        let mut snap = snapshot("r3");
        snap.series[0].ratio = None;
        snap.series[0].samples = 0;
        registry.upsert(snap);
        let text = registry.render();
        assert!(!text.contains("evalgate_pass_ratio{"), "{text}");
        assert!(text.contains(
            "evalgate_window_samples{rollout=\"r3\",arm=\"canary\",evaluator=\"judge_helpful\"} 0\n"
        ));
    }
}
