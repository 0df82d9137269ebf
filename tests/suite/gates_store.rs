//! Contract tests of gate persistence on both backends: states survive a restart and a redone
//! window does not count twice; replay records keep the pairing seed; series upsert; halt signals.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};
use evalgate::adapters::store::{MetricRow, PassRateRow, Store};
use evalgate::domain::{Outcome, Role, Timestamp, Verdict};
use evalgate::logic::gates::GateSettings;
use evalgate::logic::gates::series::{metric_points, pass_rate_points};
use evalgate::logic::gates::{StagePlan, TelemetryRow, TickInput, evaluate_tick};

fn t0() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .expect("time")
}

fn tick(seed: u64, canary_pass: usize) -> TickInput {
    let mut input = TickInput {
        pairing_seed: seed,
        ..TickInput::default()
    };
    input.eval.wanted_per_arm = 50;
    let arm = |pass: usize| {
        let mut v = vec![Outcome::Pass; pass];
        v.extend(vec![Outcome::Fail; 50 - pass]);
        v
    };
    input.eval.arms.canary.overall = arm(canary_pass);
    input.eval.arms.baseline.overall = arm(45);
    input.telemetry.canary = vec![TelemetryRow {
        latency_ms: Some(120.0),
        error: true,
        ..TelemetryRow::default()
    }];
    input.telemetry.baseline = vec![TelemetryRow {
        latency_ms: Some(100.0),
        ..TelemetryRow::default()
    }];
    input
}

async fn gate_states_continue_after_a_restart_and_a_redo_does_not_double_count(store: Store) {
    let config = GateSettings::default();
    let plan = StagePlan::default();
    let w1 = t0();
    let w2 = w1 + Duration::minutes(15);
    let loaded = store.load_gate_states("r1", w1).await.expect("load");
    assert!(loaded.is_empty());
    let first = evaluate_tick(&config, &plan, &loaded, &tick(11, 44), w1);
    store
        .save_gate_tick(
            "r1",
            w1,
            &first.states,
            &first.updates,
            &first.verdicts,
            None,
        )
        .await
        .expect("save");

    let loaded = store.load_gate_states("r1", w2).await.expect("load");
    assert_eq!(loaded, first.states);
    let second = evaluate_tick(&config, &plan, &loaded, &tick(12, 40), w2);
    store
        .save_gate_tick(
            "r1",
            w2,
            &second.states,
            &second.updates,
            &second.verdicts,
            None,
        )
        .await
        .expect("save");
    // A crash after saving: the redo of w2 loads the states from before w2 …
    let redo_from = store.load_gate_states("r1", w2).await.expect("load");
    assert_eq!(redo_from, first.states);
    let redo = evaluate_tick(&config, &plan, &redo_from, &tick(12, 40), w2);
    store
        .save_gate_tick("r1", w2, &redo.states, &redo.updates, &redo.verdicts, None)
        .await
        .expect("save");
    // … and saving it again keeps that earlier state as the redo base.
    assert_eq!(
        store.load_gate_states("r1", w2).await.expect("load"),
        first.states
    );
    let after = store
        .load_gate_states("r1", w2 + Duration::minutes(15))
        .await
        .expect("load");
    assert_eq!(after["pass_rate"].ticks, 2);
    assert_eq!(after["pass_rate"].counts.canary_n, 100);

    let updates = store.gate_updates("r1", w2).await.expect("updates");
    assert_eq!(updates.len(), redo.updates.len());
    let pass = updates
        .iter()
        .find(|u| u.metric == "pass_rate")
        .expect("pass_rate update");
    assert_eq!(pass.pairing_seed, 12);
    assert_eq!(pass.tick, 2);
    assert!(pass.bet.is_some());
}

contract_test!(
    gate_state_round_trip,
    gate_states_continue_after_a_restart_and_a_redo_does_not_double_count
);

async fn a_large_pairing_seed_round_trips(store: Store) {
    let config = GateSettings::default();
    let eval = evaluate_tick(
        &config,
        &StagePlan::default(),
        &BTreeMap::new(),
        &tick(u64::MAX - 5, 45),
        t0(),
    );
    store
        .save_gate_tick(
            "r2",
            t0(),
            &eval.states,
            &eval.updates,
            &eval.verdicts,
            None,
        )
        .await
        .expect("save");
    let updates = store.gate_updates("r2", t0()).await.expect("updates");
    assert!(updates.iter().all(|u| u.pairing_seed == u64::MAX - 5));
}

contract_test!(pairing_seed_round_trip, a_large_pairing_seed_round_trips);

async fn series_rows_upsert_instead_of_duplicating(store: Store) {
    let input = tick(1, 40);
    let end = t0() + Duration::minutes(15);
    let rows: Vec<PassRateRow> = pass_rate_points(&input)
        .into_iter()
        .map(|point| PassRateRow {
            window_start: t0(),
            window_end: end,
            evaluator_version: "v1".into(),
            point,
        })
        .collect();
    store
        .upsert_pass_rate_series("r3", &rows)
        .await
        .expect("upsert");
    store
        .upsert_pass_rate_series("r3", &rows)
        .await
        .expect("upsert again");
    let stored = store.pass_rate_series("r3").await.expect("read");
    assert_eq!(stored.len(), 2);
    let canary = stored
        .iter()
        .find(|r| r.point.arm == evalgate::domain::Arm::Canary)
        .expect("canary");
    assert_eq!(
        (canary.point.n, canary.point.passes, canary.point.fails),
        (50, 40, 10)
    );
    assert_eq!(canary.point.interval_kind, "single-look");
    assert!(canary.point.wilson_low.expect("low") < 0.8);

    let metrics: Vec<MetricRow> = metric_points(&input)
        .into_iter()
        .map(|point| MetricRow {
            window_start: t0(),
            window_end: end,
            point,
        })
        .collect();
    store
        .upsert_metric_series("r3", &metrics)
        .await
        .expect("metrics");
    store
        .upsert_metric_series("r3", &metrics)
        .await
        .expect("metrics again");
    let stored = store.metric_series("r3").await.expect("read metrics");
    assert_eq!(stored.len(), metrics.len());
    let err = stored
        .iter()
        .find(|r| r.point.metric == "error_rate" && r.point.arm == evalgate::domain::Arm::Canary)
        .expect("error rate");
    assert_eq!(err.point.value, Some(1.0));
    assert_eq!(err.point.extra["errors"], 1);
}

contract_test!(series_upsert, series_rows_upsert_instead_of_duplicating);

async fn halt_signals_keep_role_reason_and_evidence(store: Store) {
    let config = GateSettings::default();
    let mut states = BTreeMap::new();
    let mut halted = None;
    for t in 0..8u32 {
        let window = t0() + Duration::minutes(15 * i64::from(t));
        let eval = evaluate_tick(
            &config,
            &StagePlan::default(),
            &states,
            &tick(u64::from(t), 25),
            window,
        );
        states = eval.states;
        if eval
            .verdicts
            .iter()
            .any(|v| v.metric == "pass_rate" && v.verdict.is_halt())
        {
            halted = Some((window, eval.verdicts));
            break;
        }
    }
    let (window, verdicts) = halted.expect("a 45% drop halts within 8 ticks");
    let new = store
        .record_halt_signals("r4", 0, window, window, &verdicts)
        .await
        .expect("record");
    assert!(new >= 1);
    let again = store
        .record_halt_signals("r4", 0, window, window, &verdicts)
        .await
        .expect("record again");
    assert_eq!(again, 0);
    let signals = store.halt_signals("r4").await.expect("read");
    let pass = signals
        .iter()
        .find(|s| s.metric == "pass_rate")
        .expect("pass_rate signal");
    assert_eq!(pass.role, Role::Rollback);
    assert!(pass.reason.contains("e-value"));
    assert!(pass.evidence["ln_e_value"].as_f64().expect("ln e") >= 100f64.ln());
    let expected = verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Halt { .. }))
        .count();
    assert_eq!(signals.len(), expected);
}

contract_test!(halt_signal_rows, halt_signals_keep_role_reason_and_evidence);

async fn gate_history_lists_every_tick_with_its_e_value_and_threshold(store: Store) {
    let config = GateSettings::default();
    let plan = StagePlan::default();
    let mut states = BTreeMap::new();
    let mut saved = Vec::new();
    for (i, canary_pass) in [44, 30, 25].into_iter().enumerate() {
        let window = t0() + Duration::minutes(15 * i as i64);
        let eval = evaluate_tick(
            &config,
            &plan,
            &states,
            &tick(i as u64, canary_pass),
            window,
        );
        store
            .save_gate_tick(
                "r4",
                window,
                &eval.states,
                &eval.updates,
                &eval.verdicts,
                None,
            )
            .await
            .expect("save");
        saved.push((window, eval.clone()));
        states = eval.states;
    }
    let history = store.gate_history("r4").await.expect("history");
    let pass_rate: Vec<_> = history.iter().filter(|t| t.metric == "pass_rate").collect();
    assert_eq!(pass_rate.len(), 3, "one row per tick");
    for ((window, eval), row) in saved.iter().zip(&pass_rate) {
        let update = eval
            .updates
            .iter()
            .find(|u| u.metric == "pass_rate")
            .expect("pass_rate update");
        let verdict = eval
            .verdicts
            .iter()
            .find(|v| v.metric == "pass_rate")
            .expect("pass_rate verdict");
        assert_eq!(row.window_start, *window);
        assert_eq!(row.ln_e_value, update.ln_e_value);
        assert_eq!(row.verdict, update.verdict);
        assert_eq!(row.ln_threshold, verdict.evidence.ln_threshold);
        assert_eq!(row.reason, verdict.verdict.reason());
    }
    assert!(
        pass_rate[0].ln_threshold.is_some(),
        "the halting test has a 1/α line"
    );
    assert!(
        history
            .windows(2)
            .all(|w| w[0].window_start <= w[1].window_start),
        "oldest first"
    );
    assert!(store.gate_history("none").await.expect("empty").is_empty());
}

contract_test!(
    gate_history_rows,
    gate_history_lists_every_tick_with_its_e_value_and_threshold
);
