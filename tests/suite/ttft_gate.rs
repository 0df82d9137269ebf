//! Time to first token end to end on both backends: `ttft_ms` logged in the requests table
//! reaches the gates through the window telemetry (unstreamed requests missing, not 0), the
//! `ttft_p95`/`ttft_p99` gates write replay records and series points, and `/metrics` exposes
//! their e-values.

use chrono::{Duration, TimeZone};
use evalgate::adapters::store::{MetricRow, Store};
use evalgate::domain::{Arm, Request, Timestamp};
use evalgate::logic::gates::metric::history_references;
use evalgate::logic::gates::series::metric_points;
use evalgate::logic::gates::{GateSettings, StagePlan, TelemetryRow, TickInput, evaluate_tick};
use evalgate::metrics::{GateEValue, Registry, RolloutSnapshot};

fn t0() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .expect("time")
}

fn request(id: String, arm: Arm, ttft_ms: Option<f64>) -> Request {
    Request {
        ts: t0() + Duration::seconds(1),
        tenant_id: "tenant-1".to_string(),
        model: "support-bot@v42".to_string(),
        rollout_id: Some("r1".to_string()),
        input: r#"[{"role":"user","content":"hi"}]"#.to_string(),
        output: "hello".to_string(),
        latency_ms: Some(900.0),
        ttft_ms,
        prompt_tokens: Some(21),
        completion_tokens: Some(11),
        cost_usd: Some(0.0001),
        metadata: serde_json::json!({}),
        ..crate::common::request(&id, arm)
    }
}

async fn telemetry(store: &Store, arm: Arm) -> Vec<TelemetryRow> {
    let rows = store
        .window_telemetry(None, arm, t0(), t0() + Duration::minutes(15))
        .await
        .expect("telemetry");
    rows.iter().map(TelemetryRow::from).collect()
}

async fn ttft_reaches_the_gates_the_series_and_metrics(store: Store) {
    let mut rows = Vec::new();
    for i in 0..40 {
        rows.push(request(
            format!("c{i}"),
            Arm::Canary,
            Some(300.0 + f64::from(i)),
        ));
        rows.push(request(
            format!("b{i}"),
            Arm::Baseline,
            Some(200.0 + f64::from(i)),
        ));
    }
    for i in 0..10 {
        rows.push(request(format!("u{i}"), Arm::Canary, None));
    }
    store.insert_requests(&rows).await.expect("insert");

    let mut input = TickInput {
        pairing_seed: 7,
        ..TickInput::default()
    };
    input.telemetry.canary = telemetry(&store, Arm::Canary).await;
    input.telemetry.baseline = telemetry(&store, Arm::Baseline).await;
    let logged = input
        .telemetry
        .canary
        .iter()
        .filter(|r| r.ttft_ms.is_some())
        .count();
    assert_eq!((input.telemetry.canary.len(), logged), (50, 40));

    // The stage's references, frozen from the baseline's history (here: this window's).
    let settings = GateSettings::default();
    let plan = StagePlan {
        references: history_references(&settings, &input.telemetry.baseline),
        ..StagePlan::default()
    };
    assert!(plan.references.latency.contains_key("ttft_p95"));
    let evaluation = evaluate_tick(&settings, &plan, &Default::default(), &input, t0());
    for name in ["ttft_p95", "ttft_p99"] {
        assert!(
            evaluation.updates.iter().any(|u| u.metric == name),
            "{name}"
        );
    }
    store
        .save_gate_tick(
            "r1",
            t0(),
            &evaluation.states,
            &evaluation.updates,
            &evaluation.verdicts,
            None,
        )
        .await
        .expect("save");

    let points: Vec<MetricRow> = metric_points(&input)
        .into_iter()
        .map(|point| MetricRow {
            window_start: t0(),
            window_end: t0() + Duration::minutes(15),
            point,
        })
        .collect();
    store
        .upsert_metric_series("r1", &points)
        .await
        .expect("series");
    let series = store.metric_series("r1").await.expect("read series");
    let canary_p95 = series
        .iter()
        .find(|row| row.point.metric == "ttft_p95" && row.point.arm == Arm::Canary)
        .expect("a ttft_p95 point");
    assert_eq!(
        canary_p95.point.n, 40,
        "unstreamed requests are missing, not 0"
    );
    assert_eq!(canary_p95.point.value, Some(337.0), "the 38th of 40 values");

    // What `serve` exports: the latest replay record of each gate.
    let mut snapshot = RolloutSnapshot {
        rollout_id: "r1".to_string(),
        phase: evalgate::domain::rollout::PhaseName::Running,
        ..RolloutSnapshot::default()
    };
    for update in store.latest_gate_updates("r1").await.expect("updates") {
        let metric = update["metric"].as_str().expect("metric").to_string();
        snapshot.e_values.push(GateEValue {
            metric,
            e_value: update["ln_e_value"].as_f64().map(f64::exp),
            threshold: update["evidence"]["ln_threshold"].as_f64().map(f64::exp),
        });
    }
    let registry = Registry::default();
    registry.upsert(snapshot);
    let text = registry.render();
    for name in ["ttft_p95", "ttft_p99"] {
        let line = format!("evalgate_gate_e_value{{rollout=\"r1\",metric=\"{name}\"}}");
        assert!(
            text.contains(&line),
            "{name} missing from /metrics:\n{text}"
        );
    }
}

contract_test!(
    ttft_end_to_end,
    ttft_reaches_the_gates_the_series_and_metrics
);
