//! The Grafana feed: the shipped dashboard is valid against the JSON schema generated from npm's
//! `@grafana/schema` (grafana/schema/), passes structural lints (unique ids, grid, data source
//! uids from the provisioning file, `$__timeFilter` on SQL time series, Prometheus metric names
//! that `/metrics` exports), and every SQL panel, variable and annotation query runs on a migrated
//! PostgreSQL after Grafana's macros are expanded the way Grafana expands them (INTEGRATION.md §1.4).

use crate::common;

use std::collections::BTreeSet;

use serde_json::Value;

const DASHBOARD: &str = "grafana/dashboards/evalgate-canary.json";
const SCHEMA: &str = "grafana/schema/dashboard.schema.json";
const DATASOURCES: &str = "grafana/provisioning/datasources/evalgate.yaml";
const PROVIDERS: &str = "grafana/provisioning/dashboards/evalgate.yaml";

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
    let dash = dashboard();
    let errors: Vec<String> = validator
        .iter_errors(&dash)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "dashboard schema errors:\n{}",
        errors.join("\n")
    );
    assert_eq!(dash["schemaVersion"], 39);
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
    let mut ids = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
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

#[test]
fn prometheus_panels_use_metric_names_that_metrics_rs_exports() {
    let exported = [
        evalgate::metrics::PASS_RATIO,
        evalgate::metrics::CANARY_TRAFFIC,
        evalgate::metrics::ROLLOUT_HALTED,
        evalgate::metrics::JUDGE_COST,
        evalgate::metrics::LAST_TICK,
        evalgate::metrics::LAST_DRILL,
    ];
    let dash = dashboard();
    let mut seen = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            seen += 1;
            let known = exported.iter().any(|name| expr.contains(name))
                || expr.contains(&format!("{}_bucket", evalgate::metrics::JUDGE_DURATION));
            assert!(
                known,
                "expression uses no metric that /metrics exports: {expr}"
            );
        }
    }
    assert!(seen >= 5);
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
     ('r1', 'canary', 'error_rate', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 500, 0.01, '{}'), \
     ('r1', 'canary', 'thumbs_up_rate', '2026-11-25T05:45:00Z', '2026-11-25T06:00:00Z', 80, 0.7, '{}')",
    "INSERT INTO halt_signals (rollout_id, stage, metric, role, at, window_start, reason, evidence) \
     VALUES ('r1', 1, 'pass_rate:overall', 'rollback', '2026-11-25T06:01:00Z', '2026-11-25T05:45:00Z', 'canary pass rate below baseline', '{}')",
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
