//! The Grafana feed: both shipped dashboards (`evalgate-canary.json` on PostgreSQL and Prometheus,
//! `evalgate-prometheus.json` on Prometheus alone, for SQLite deployments) are valid against the
//! JSON schema generated from npm's `@grafana/schema` (grafana/schema/), pass structural lints
//! (unique ids, grid, data source uids from the provisioning file, `$__timeFilter` on SQL time
//! series), every Prometheus query names only metrics that `/metrics` exposes (rendered by the
//! real exporter and registry), the e-value panels draw 1/α on a log axis, the pass-rate panels draw
//! Wilson bands on an axis that shows a 5-point difference, and every SQL panel, variable and
//! annotation query runs on a migrated PostgreSQL after Grafana's macros are expanded the way
//! Grafana expands them.

use crate::common;
use evalgate::domain::rollout::PhaseName;

use std::collections::BTreeSet;

use serde_json::Value;

const DASHBOARD: &str = "grafana/dashboards/evalgate-canary.json";
const PROMETHEUS_DASHBOARD: &str = "grafana/dashboards/evalgate-prometheus.json";
const DASHBOARDS: [&str; 2] = [DASHBOARD, PROMETHEUS_DASHBOARD];
const SCHEMA: &str = "grafana/schema/dashboard.schema.json";
const DATASOURCES: &str = "grafana/provisioning/datasources/evalgate.yaml";
const PROVIDERS: &str = "grafana/provisioning/dashboards/evalgate.yaml";
const PROMETHEUS_ONLY_DATASOURCES: &str =
    "grafana/provisioning-prometheus-only/datasources/evalgate.yaml";

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("parse {path}: {err}"))
}

fn dashboard() -> Value {
    read_json(DASHBOARD)
}

/// Every (kind, raw SQL) of the dashboard: panel targets, variables and annotations.
fn sql_queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            if let Some(sql) = target["rawSql"].as_str() {
                out.push((format!("panel {}", panel["title"]), sql.to_string()));
            }
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if var["datasource"]["uid"] == "evalgate-pg" {
            out.push((
                format!("variable {}", var["name"]),
                var["query"].as_str().unwrap().to_string(),
            ));
        }
    }
    for anno in dash["annotations"]["list"].as_array().unwrap() {
        if let Some(sql) = anno["target"]["rawSql"].as_str() {
            out.push((format!("annotation {}", anno["name"]), sql.to_string()));
        }
    }
    out
}

#[test]
fn the_dashboard_is_valid_against_the_grafana_schema() {
    let schema = read_json(SCHEMA);
    let validator = jsonschema::draft7::new(&schema).expect("the committed schema compiles");
    for path in DASHBOARDS {
        let dash = read_json(path);
        let errors: Vec<String> = validator
            .iter_errors(&dash)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{path}: dashboard schema errors:\n{}",
            errors.join("\n")
        );
        assert_eq!(dash["schemaVersion"], 39);
    }
}

#[test]
fn the_schema_check_catches_a_broken_dashboard() {
    let schema = read_json(SCHEMA);
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let mut broken = dashboard();
    broken["graphTooltip"] = Value::from("sometimes");
    assert!(!validator.is_valid(&broken));
    let mut typo = dashboard();
    let panel = typo["panels"][0].as_object_mut().unwrap();
    let grid = panel.remove("gridPos").unwrap();
    panel.insert("gridpos".to_string(), grid);
    assert!(
        !validator.is_valid(&typo),
        "the strict schema must reject key typos"
    );
}

#[test]
fn panels_have_unique_ids_fit_the_grid_and_use_provisioned_data_sources() {
    let dash = dashboard();
    let provisioned = std::fs::read_to_string(DATASOURCES).unwrap();
    // Port and TLS come from the environment, and the README names every variable the file reads.
    assert!(provisioned.contains("url: ${EVALGATE_PG_HOST}:${EVALGATE_PG_PORT}"));
    assert!(provisioned.contains("sslmode: ${EVALGATE_PG_SSLMODE}"));
    let readme = std::fs::read_to_string("README.md").unwrap();
    for var in provisioned.split("${").skip(1) {
        let name = var.split('}').next().unwrap();
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not name {name}"
        );
    }
    let providers = std::fs::read_to_string(PROVIDERS).unwrap();
    assert!(providers.contains("type: file") && providers.contains("apiVersion: 1"));
    let prometheus = read_json(PROMETHEUS_DASHBOARD);
    assert_ne!(dash["uid"], prometheus["uid"], "two dashboards, two uids");
    for dash in [dash, prometheus] {
        lint_panels(&dash, &provisioned);
    }
}

fn lint_panels(dash: &Value, provisioned: &str) {
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        let grid = &panel["gridPos"];
        let at = |key: &str| grid[key].as_i64().unwrap();
        for x in at("x")..at("x") + at("w") {
            for y in at("y")..at("y") + at("h") {
                assert!(
                    cells.insert((x, y)),
                    "panel {} overlaps another",
                    panel["title"]
                );
            }
        }
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "duplicate panel id {}",
            panel["id"]
        );
        let grid = &panel["gridPos"];
        let right = grid["x"].as_i64().unwrap() + grid["w"].as_i64().unwrap();
        assert!(
            right <= 24,
            "panel {} overflows the 24-column grid",
            panel["title"]
        );
        let uid = panel["datasource"]["uid"].as_str().unwrap();
        assert!(
            provisioned.contains(&format!("uid: {uid}")),
            "data source {uid} is not provisioned"
        );
        for target in panel["targets"].as_array().unwrap() {
            if panel["type"] == "timeseries"
                && let Some(sql) = target["rawSql"].as_str()
            {
                assert!(
                    sql.contains("$__timeFilter("),
                    "time series SQL without $__timeFilter: {sql}"
                );
                assert!(
                    sql.contains("ORDER BY 1"),
                    "time series SQL must be ordered by time: {sql}"
                );
            }
        }
    }
}

/// The `/metrics` text the real code renders for one running rollout with a gate, after a tick,
/// a drill, a judge call and a push: the exporter's families (through a recorder local to this
/// test, so the process-wide one other tests assert on is not touched) and the per-rollout
/// registry's.
fn exposition() -> String {
    use evalgate::metrics::{self as m, GateEValue, RolloutSnapshot, SeriesGauge};
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(m::JUDGE_DURATION.to_string()),
            m::JUDGE_BUCKETS,
        )
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
        .unwrap()
        .to_utc();
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!(m::BUILD_INFO, "version" => "test").set(1.0);
        m::record_tick(at);
        m::record_tick_failure();
        m::set_ingest_lag(3.0);
        m::set_last_drill(at);
        m::set_leader(true);
        m::set_notifications_pending(0);
        m::record_judge_request("judge", "ok", 0.8);
        m::record_ingest_rows("push", 1, 0, 0);
        m::record_ingest_reject("schema");
    });
    let registry = m::Registry::default();
    registry.add_judge_cost("judge", 0.01);
    let series = |arm: &str, ratio| SeriesGauge {
        arm: arm.into(),
        evaluator: "overall".into(),
        ratio: Some(ratio),
        samples: 200,
    };
    registry.upsert(RolloutSnapshot {
        rollout_id: "r1".into(),
        phase: PhaseName::Running,
        stage: Some(1),
        e_values: vec![GateEValue {
            metric: "pass_rate".into(),
            e_value: Some(0.5),
            threshold: Some(142.86),
        }],
        canary_ratio: Some(0.01),
        series: vec![series("canary", 0.85), series("baseline", 0.9)],
        scored: vec![(
            "canary".into(),
            "overall".into(),
            evalgate::domain::Outcome::Pass,
            170,
        )],
        halt_signals: vec![("pass_rate".into(), 1)],
        ..RolloutSnapshot::default()
    });
    format!("{}\n{}", handle.render(), registry.render())
}

/// The metric families an exposition declares (`# TYPE`), with a histogram's series names.
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
        names.insert(name.to_string());
    }
    names
}

/// Every PromQL expression of a dashboard: panel targets, variables and annotations.
fn promql(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((format!("panel {}", panel["title"]), expr.to_string()));
            }
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if var["datasource"]["uid"] == "evalgate-prom" {
            let query = var["query"].as_str().unwrap().to_string();
            out.push((format!("variable {}", var["name"]), query));
        }
    }
    for anno in dash["annotations"]["list"].as_array().unwrap() {
        if let Some(expr) = anno["target"]["expr"].as_str() {
            out.push((format!("annotation {}", anno["name"]), expr.to_string()));
        }
    }
    out
}

/// The `evalgate_…` metric names an expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("evalgate_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_prometheus_query_names_a_metric_that_metrics_exposes() {
    let text = exposition();
    let exposed = exposed_names(&text);
    for name in [
        evalgate::metrics::GATE_E_VALUE,
        evalgate::metrics::GATE_E_VALUE_THRESHOLD,
        evalgate::metrics::PASS_RATIO,
        evalgate::metrics::WINDOW_SAMPLES,
        evalgate::metrics::JUDGE_DURATION,
    ] {
        assert!(exposed.contains(name), "{name} missing from:\n{text}");
    }
    for path in DASHBOARDS {
        let dash = read_json(path);
        let queries = promql(&dash);
        assert!(!queries.is_empty(), "{path} has no PromQL");
        for (what, expr) in &queries {
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "{path} {what} reads no evalgate metric: {expr}"
            );
            for name in names {
                assert!(
                    exposed.contains(&name),
                    "{path} {what} reads `{name}`, which /metrics does not expose: {expr}"
                );
            }
        }
    }
    // The check bites: a renamed metric is caught.
    assert!(!exposed.contains("evalgate_gate_evalue"));
}

#[test]
fn the_prometheus_dashboard_needs_no_postgres() {
    let text = std::fs::read_to_string(PROMETHEUS_DASHBOARD).unwrap();
    assert!(
        !text.contains("evalgate-pg") && !text.contains("postgres") && !text.contains("rawSql"),
        "the Prometheus-only dashboard must not touch PostgreSQL"
    );
    let dash = read_json(PROMETHEUS_DASHBOARD);
    let mut sources = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        sources.insert(panel["datasource"]["uid"].as_str().unwrap().to_string());
        for target in panel["targets"].as_array().unwrap() {
            sources.insert(target["datasource"]["uid"].as_str().unwrap().to_string());
            assert!(target["expr"].is_string(), "{}", panel["title"]);
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        sources.insert(var["datasource"]["uid"].as_str().unwrap().to_string());
    }
    for anno in dash["annotations"]["list"].as_array().unwrap() {
        sources.insert(anno["datasource"]["uid"].as_str().unwrap().to_string());
    }
    assert_eq!(sources, BTreeSet::from(["evalgate-prom".to_string()]));
    // Its provisioning file for SQLite deployments provisions that uid and nothing of PostgreSQL.
    let provisioned = std::fs::read_to_string(PROMETHEUS_ONLY_DATASOURCES).unwrap();
    assert!(provisioned.contains("uid: evalgate-prom") && provisioned.contains("type: prometheus"));
    assert!(!provisioned.contains("postgres") && !provisioned.contains("EVALGATE_PG_"));
    lint_panels(&dash, &provisioned);
    let titles: Vec<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Status",
        "Phase",
        "Stage",
        "Pass rate",
        "E-value",
        "Halt signals",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(wanted)),
            "no `{wanted}` panel in {titles:?}"
        );
    }
}

/// The panels that repeat per value of `variable`.
fn repeated<'a>(dash: &'a Value, variable: &str) -> Vec<&'a Value> {
    dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["repeat"] == variable)
        .collect()
}

/// The series names a panel's targets produce: a PromQL legend, or a SQL `AS metric` label
/// (`arm || ' low'` names `canary low` and `baseline low`).
fn series_names(panel: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for target in panel["targets"].as_array().unwrap() {
        let pattern = if let Some(legend) = target["legendFormat"].as_str() {
            legend.replace("{{arm}}", "ARM")
        } else {
            let sql = target["rawSql"].as_str().unwrap();
            let label = sql
                .split(" AS metric")
                .next()
                .unwrap()
                .rsplit("\"time\", ")
                .next()
                .unwrap()
                .trim();
            if label.starts_with('\'') {
                label.trim_matches('\'').to_string()
            } else {
                label
                    .replace("arm || '", "ARM")
                    .replace('\'', "")
                    .replace("arm", "ARM")
            }
        };
        for arm in ["canary", "baseline"] {
            names.insert(pattern.replace("ARM", arm));
        }
    }
    names
}

fn override_value<'a>(panel: &'a Value, series: &str, property: &str) -> Option<&'a Value> {
    panel["fieldConfig"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["matcher"]["id"] == "byName" && o["matcher"]["options"] == series)
        .flat_map(|o| o["properties"].as_array().unwrap())
        .find(|p| p["id"] == property)
        .map(|p| &p["value"])
}

#[test]
fn e_value_panels_draw_one_over_alpha_on_a_log_axis_per_gating_metric() {
    for path in DASHBOARDS {
        let dash = read_json(path);
        let panels = repeated(&dash, "metric");
        assert_eq!(
            panels.len(),
            1,
            "{path}: one e-value panel, repeated per gating metric"
        );
        let panel = panels[0];
        let vars = dash["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["name"] == "metric" && v["multi"] == true),
            "{path}: no multi-valued `metric` variable to repeat over"
        );
        let custom = &panel["fieldConfig"]["defaults"]["custom"];
        assert_eq!(custom["scaleDistribution"]["type"], "log", "{path}");
        assert_eq!(custom["scaleDistribution"]["log"], 10, "{path}");
        let names = series_names(panel);
        assert!(names.contains("e-value"), "{path}: {names:?}");
        assert!(names.contains("1/α threshold"), "{path}: {names:?}");
        let dashed = override_value(panel, "1/α threshold", "custom.lineStyle")
            .unwrap_or_else(|| panic!("{path}: the threshold line has no style"));
        assert_eq!(dashed["fill"], "dash");
        let queries = panel["targets"].to_string();
        if path == PROMETHEUS_DASHBOARD {
            assert!(queries.contains(evalgate::metrics::GATE_E_VALUE_THRESHOLD));
        } else {
            assert!(queries.contains("ln_e_value") && queries.contains("ln_threshold"));
        }
    }
}

#[test]
fn wilson_intervals_are_bands_and_the_axis_shows_a_five_point_difference() {
    for path in DASHBOARDS {
        let dash = read_json(path);
        let panels = repeated(&dash, "evaluator");
        assert_eq!(
            panels.len(),
            1,
            "{path}: one pass-rate panel, repeated per evaluator"
        );
        let panel = panels[0];
        let names = series_names(panel);
        for arm in ["canary", "baseline"] {
            let (low, high) = (format!("{arm} low"), format!("{arm} high"));
            assert!(
                names.contains(arm) && names.contains(&low) && names.contains(&high),
                "{path}: the queries do not name `{arm}`, `{low}` and `{high}`: {names:?}"
            );
            assert_eq!(
                override_value(panel, &high, "custom.fillBelowTo").and_then(Value::as_str),
                Some(low.as_str()),
                "{path}: `{high}` does not fill down to `{low}`"
            );
            assert_eq!(
                override_value(panel, &low, "custom.lineWidth"),
                Some(&Value::from(0))
            );
        }
        // No pass-rate panel pins its axis to 0–100%: the axis fits the data.
        for panel in dash["panels"].as_array().unwrap() {
            let defaults = &panel["fieldConfig"]["defaults"];
            let title = panel["title"].as_str().unwrap();
            if title.starts_with("Pass r") {
                assert!(
                    !(defaults["min"] == 0 && defaults["max"] == 1),
                    "{path}: {} pins its axis to 0–100%",
                    panel["title"]
                );
            }
        }
        let diff = dash["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["title"]
                    .as_str()
                    .unwrap()
                    .starts_with("Pass-rate difference")
            })
            .unwrap_or_else(|| panic!("{path}: no difference panel"));
        let custom = &diff["fieldConfig"]["defaults"]["custom"];
        let (min, max) = (
            custom["axisSoftMin"].as_f64().unwrap(),
            custom["axisSoftMax"].as_f64().unwrap(),
        );
        assert!(
            (-0.2..=-0.05).contains(&min) && (0.05..=0.2).contains(&max),
            "{path}: the difference axis [{min}, {max}] must make 5 points a large share of it"
        );
        let steps = diff["fieldConfig"]["defaults"]["thresholds"]["steps"].to_string();
        assert!(
            steps.contains("-0.05"),
            "{path}: no line at −5 points: {steps}"
        );
    }
}

/// Grafana's PostgreSQL macros (pkg/tsdb/grafana-postgresql-datasource/macros.go) and the
/// dashboard variables, expanded for a fixed range.
fn expand(sql: &str, from: &str, to: &str, interval_secs: i64) -> String {
    let mut out = sql.to_string();
    out = out.replace("$__interval", &format!("'{interval_secs}s'"));
    out = out.replace("$__timeFrom()", &format!("'{from}'"));
    out = out.replace("$__timeTo()", &format!("'{to}'"));
    out = out.replace("$rollout", "r1");
    out = out.replace("($evaluator)", "('overall','judge_helpful')");
    out = out.replace("($metric)", "('pass_rate')");
    for (macro_name, with_alias) in [("$__timeGroupAlias(", true), ("$__timeGroup(", false)] {
        while let Some(start) = out.find(macro_name) {
            let args_start = start + macro_name.len();
            let end = args_start + out[args_start..].find(')').unwrap();
            let column = out[args_start..end]
                .split(',')
                .next()
                .unwrap()
                .trim()
                .to_string();
            let alias = if with_alias { " AS \"time\"" } else { "" };
            let expansion = format!(
                "floor(extract(epoch from {column})/{interval_secs})*{interval_secs}{alias}"
            );
            out.replace_range(start..=end, &expansion);
        }
    }
    while let Some(start) = out.find("$__timeFilter(") {
        let args_start = start + "$__timeFilter(".len();
        let end = args_start + out[args_start..].find(')').unwrap();
        let column = out[args_start..end].trim().to_string();
        out.replace_range(
            start..=end,
            &format!("{column} BETWEEN '{from}' AND '{to}'"),
        );
    }
    assert!(
        !out.contains('$'),
        "unexpanded macro or variable left in: {out}"
    );
    out
}

#[test]
fn macro_expansion_matches_grafana() {
    let sql = "SELECT $__timeGroupAlias(window_end, $__interval), x FROM t WHERE $__timeFilter(window_end) AND a = '$rollout'";
    assert_eq!(
        expand(sql, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z", 300),
        "SELECT floor(extract(epoch from window_end)/300)*300 AS \"time\", x FROM t WHERE window_end BETWEEN '2026-11-25T00:00:00Z' AND '2026-11-26T00:00:00Z' AND a = 'r1'"
    );
}

const SEED: &[&str] = &[
    "INSERT INTO rollouts (id, flag_key, baseline_target, canary_target, salt, always_tenants, never_tenants, last_evidence, plan, state, phase, created_at, updated_at) \
     VALUES ('r1', 'checkout', 'bot@v1', 'bot@v2', 'checkout', '[]', '[]', '{}', '{}', '{\"split_bp\": 100}', 'running', '2026-11-25T00:00:00Z', '2026-11-25T06:00:00Z')",
    "INSERT INTO rollout_events (id, rollout_id, at, actor, action, reason, before, after, evidence) \
     VALUES ('e1', 'r1', '2026-11-25T04:00:00Z', 'controller', 'promote', 'gates green', '{\"split_bp\": 100}', '{\"split_bp\": 1000}', '{}')",
    "INSERT INTO pass_rate_series (rollout_id, arm, evaluator, evaluator_version, window_start, window_end, n, passes, fails, unscorable, rate, wilson_low, wilson_high) \
     VALUES ('r1', 'canary', 'overall', 'v1', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 200, 170, 28, 2, 0.858, 0.80, 0.90), \
            ('r1', 'baseline', 'overall', 'v1', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 200, 180, 20, 0, 0.9, 0.85, 0.93)",
    "INSERT INTO metric_series (rollout_id, arm, metric, window_start, window_end, n, value, extra) VALUES \
     ('r1', 'canary', 'cost_per_response', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 500, 0.002, '{}'), \
     ('r1', 'canary', 'latency_p95', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 500, 900, '{}'), \
     ('r1', 'canary', 'latency_p99', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 500, 1500, '{}'), \
     ('r1', 'canary', 'ttft_p95', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 430, 240, '{}'), \
     ('r1', 'canary', 'ttft_p99', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 430, 410, '{}'), \
     ('r1', 'canary', 'error_rate', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 500, 0.01, '{}'), \
     ('r1', 'canary', 'thumbs_up_rate', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 80, 0.7, '{}')",
    "INSERT INTO halt_signals (rollout_id, stage, metric, role, at, window_start, reason, evidence) \
     VALUES ('r1', 1, 'pass_rate:overall', 'rollback', '2026-11-25T06:01:00Z', '2026-11-25T05:45:00Z', 'canary pass rate below baseline', '{}')",
    "INSERT INTO gate_updates (rollout_id, window_start, metric, stage, tick, pairing_seed, bet, ln_e_value, verdict, reason, evidence, at) \
     VALUES ('r1', '2026-11-25T05:45:00Z', 'pass_rate', 0, 24, 7, 0.1, 1.5, 'inconclusive', 'not yet', '{\"ln_threshold\": 4.96}', '2026-11-25T06:00:00Z')",
    "INSERT INTO requests (request_id, ts, tenant_id, arm, model, rollout_id, input) \
     VALUES ('q1', '2026-11-25T05:50:00Z', 't1', 'canary', 'bot@v2', 'r1', '[]')",
    "INSERT INTO eval_scores (request_id, evaluator, evaluator_version, outcome, cost_usd, scored_at) \
     VALUES ('q1', 'judge_helpful', 'v1', 'pass', 0.0004, '2026-11-25T06:00:30Z')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_query_runs_on_postgres_with_macros_expanded() {
    let Some((_url, store)) = common::pg_store().await else {
        return;
    };
    let evalgate::adapters::store::Store::Postgres(pool) = &store else {
        panic!("expected a PostgreSQL store");
    };
    for statement in SEED {
        sqlx::query(*statement)
            .execute(pool)
            .await
            .unwrap_or_else(|err| panic!("seed failed: {err}\n{statement}"));
    }
    let dash = dashboard();
    let queries = sql_queries(&dash);
    assert!(
        queries.len() >= 12,
        "expected every SQL query, found {}",
        queries.len()
    );
    let mut empty = Vec::new();
    for (what, sql) in &queries {
        let expanded = expand(sql, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z", 900);
        let rows = sqlx::query(sqlx::AssertSqlSafe(expanded.clone()))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|err| panic!("{what} failed on PostgreSQL: {err}\n{expanded}"));
        if rows.is_empty() {
            empty.push(what.clone());
        }
    }
    assert!(
        empty.is_empty(),
        "queries returned no rows for seeded data: {empty:?}"
    );
}
