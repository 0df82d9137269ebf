//! The rollout tables (migration 0004) behave the same on SQLite and PostgreSQL: rollouts with an
//! optimistic version, audit rows, traffic splits with a generation counter, drills.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use chrono::{DateTime, Duration, Utc};
use evalgate::adapters::store::{
    DrillRow, NewRollout, RolloutEvent, StateUpdate, Store, rollout_format,
};
use evalgate::domain::SplitWrite;
use evalgate::domain::rollout::{PhaseName, Plan, RolloutState};
use evalgate::worker::controller::LoadedRollout;
use serde_json::json;

fn at(hour: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::hours(hour)
}

fn new_rollout(id: &str) -> NewRollout {
    NewRollout {
        id: id.to_string(),
        flag_key: format!("{id}-flag"),
        owner: Some("team-support".into()),
        webhook: None,
        suite: Some("support".into()),
        baseline_target: "bot@v41".into(),
        canary_target: "bot@v42".into(),
        salt: format!("{id}-flag"),
        always_tenants: vec!["internal".into()],
        never_tenants: vec![],
        plan: json!({"stages": [{"basis_points": 100}]}),
        state: json!({"phase": "running", "stage": 0}),
        phase: PhaseName::Running,
        created_at: at(0),
    }
}

fn event(rollout_id: &str, id: &str, hour: i64, is_override: bool) -> RolloutEvent {
    RolloutEvent {
        id: id.to_string(),
        rollout_id: rollout_id.to_string(),
        at: at(hour),
        actor: "alice".into(),
        action: "promote".into(),
        reason: "gates green".into(),
        before: json!({"stage": 0}),
        after: json!({"stage": 1}),
        evidence: json!({"pass_rate": 0.93}),
        is_override,
    }
}

async fn rollouts_round_trip_and_list_only_active_ones(store: Store) {
    assert!(store.create_rollout(&new_rollout("r1")).await.unwrap());
    assert!(
        !store.create_rollout(&new_rollout("r1")).await.unwrap(),
        "a second create with the same id is refused"
    );
    assert!(store.create_rollout(&new_rollout("r2")).await.unwrap());

    let row = store.get_rollout("r1").await.unwrap().unwrap();
    assert_eq!(row.flag_key, "r1-flag");
    assert_eq!(row.owner.as_deref(), Some("team-support"));
    assert_eq!(row.plan, json!({"stages": [{"basis_points": 100}]}));
    assert_eq!(row.version, 0);
    assert!(row.active);
    assert_eq!(row.always_tenants, vec!["internal".to_string()]);
    assert_eq!(row.salt, "r1-flag");
    assert_eq!(row.wake_at, None);
    assert_eq!(row.created_at, at(0));
    assert!(store.get_rollout("nope").await.unwrap().is_none());

    let update = StateUpdate {
        expected_version: 0,
        state: json!({"phase": "killed"}),
        phase: PhaseName::Killed,
        active: false,
        wake_at: None,
        last_reason: "killed".into(),
        last_evidence: json!([]),
        at: at(1),
    };
    assert!(
        store
            .update_rollout_state("r2", &update, &[])
            .await
            .unwrap()
    );
    let active: Vec<String> = store
        .list_active_rollouts()
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(active, vec!["r1".to_string()]);
    assert_eq!(store.list_rollouts().await.unwrap().len(), 2);
}

contract_test!(
    rollouts_round_trip,
    rollouts_round_trip_and_list_only_active_ones
);

async fn a_stale_writer_cannot_apply_a_transition(store: Store) {
    store.create_rollout(&new_rollout("r1")).await.unwrap();
    let first = StateUpdate {
        expected_version: 0,
        state: json!({"phase": "running", "stage": 1}),
        phase: PhaseName::Running,
        active: true,
        wake_at: Some(at(6)),
        last_reason: "promoted".into(),
        last_evidence: json!([{"metric": "pass_rate"}]),
        at: at(5),
    };
    let second = StateUpdate {
        state: json!({"phase": "rolled_back"}),
        phase: PhaseName::RolledBack,
        ..first.clone()
    };
    let applied = store
        .update_rollout_state("r1", &first, &[event("r1", "e1", 5, false)])
        .await
        .unwrap();
    assert!(applied);
    let stale = store
        .update_rollout_state("r1", &second, &[event("r1", "e2", 5, false)])
        .await
        .unwrap();
    assert!(!stale, "the second writer read version 0 too and must lose");

    let row = store.get_rollout("r1").await.unwrap().unwrap();
    assert_eq!(row.version, 1);
    assert_eq!(row.state, json!({"phase": "running", "stage": 1}));
    assert_eq!(row.updated_at, at(5));
    assert_eq!(row.wake_at, Some(at(6)));
    assert_eq!(row.last_reason, "promoted");
    assert_eq!(row.last_evidence, json!([{"metric": "pass_rate"}]));
    let events = store.list_rollout_events("r1").await.unwrap();
    assert_eq!(events.len(), 1, "the loser's audit row is not written");
    assert_eq!(events[0].id, "e1");
}

contract_test!(optimistic_update, a_stale_writer_cannot_apply_a_transition);

async fn audit_rows_keep_their_fields_and_order(store: Store) {
    store.create_rollout(&new_rollout("r1")).await.unwrap();
    store
        .append_rollout_event(&event("r1", "b", 2, true))
        .await
        .unwrap();
    store
        .append_rollout_event(&event("r1", "a", 1, false))
        .await
        .unwrap();
    store
        .append_rollout_event(&event("other", "c", 1, false))
        .await
        .unwrap();
    let events = store.list_rollout_events("r1").await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], event("r1", "a", 1, false));
    assert_eq!(events[1], event("r1", "b", 2, true));
}

contract_test!(audit_rows, audit_rows_keep_their_fields_and_order);

fn split(basis_points: u32, hour: i64) -> SplitWrite {
    SplitWrite {
        basis_points,
        salt: "salt".into(),
        always: vec!["internal".into()],
        never: vec!["vip-1".into(), "vip-2".into()],
        updated_at: at(hour),
        updated_by: "controller".into(),
    }
}

async fn every_split_write_bumps_the_generation(store: Store) {
    assert!(store.get_split("f").await.unwrap().is_none());
    let first = store.put_split("f", &split(100, 1)).await.unwrap();
    assert_eq!(first.generation, 1);
    let second = store.put_split("f", &split(1000, 2)).await.unwrap();
    assert_eq!(second.generation, 2);
    let same_value_again = store.put_split("f", &split(1000, 3)).await.unwrap();
    assert_eq!(same_value_again.generation, 3);
    store.put_split("g", &split(0, 3)).await.unwrap();

    let read = store.get_split("f").await.unwrap().unwrap();
    assert_eq!(read, same_value_again);
    assert_eq!(read.basis_points, 1000);
    assert_eq!(read.never, vec!["vip-1".to_string(), "vip-2".to_string()]);
    let keys: Vec<String> = store
        .list_splits()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.flag_key)
        .collect();
    assert_eq!(keys, vec!["f".to_string(), "g".to_string()]);
}

contract_test!(split_generation, every_split_write_bumps_the_generation);

async fn drills_are_listed_newest_first(store: Store) {
    for (index, ok) in [true, false, true].into_iter().enumerate() {
        let drill = DrillRow {
            id: format!("d{index}"),
            flag_key: "evalgate-drill".into(),
            at: at(index as i64),
            ok,
            results: json!([{"sink": "table", "ok": ok}]),
            time_to_visible_ms: if ok { Some(3) } else { None },
            drift: json!([]),
        };
        store.record_drill(&drill).await.unwrap();
    }
    let drills = store.list_drills(2).await.unwrap();
    assert_eq!(drills.len(), 2);
    assert_eq!(drills[0].id, "d2");
    assert_eq!(drills[1].id, "d1");
    assert!(!drills[1].ok);
    assert_eq!(drills[1].time_to_visible_ms, None);
    assert_eq!(drills[0].results, json!([{"sink": "table", "ok": true}]));
}

// See: issue 13 (the last-successful-drill gauge was missing after a restart).
async fn the_last_successful_drill_skips_failed_ones(store: Store) {
    assert_eq!(store.last_successful_drill().await.unwrap(), None);
    for (index, ok) in [true, true, false].into_iter().enumerate() {
        let drill = DrillRow {
            id: format!("d{index}"),
            flag_key: "evalgate-drill".into(),
            at: at(index as i64),
            ok,
            results: json!([]),
            time_to_visible_ms: None,
            drift: json!([]),
        };
        store.record_drill(&drill).await.unwrap();
    }
    assert_eq!(store.last_successful_drill().await.unwrap(), Some(at(1)));
}

contract_test!(
    last_successful_drill,
    the_last_successful_drill_skips_failed_ones
);

contract_test!(drills, drills_are_listed_newest_first);

async fn rollout_targets_list_every_rollout_with_its_models_and_start(store: Store) {
    assert!(store.rollout_targets().await.unwrap().is_empty());
    let mut later = new_rollout("r2");
    later.baseline_target = "bot@v42".into();
    later.canary_target = "bot@v43".into();
    later.created_at = at(5);
    assert!(store.create_rollout(&later).await.unwrap());
    assert!(store.create_rollout(&new_rollout("r1")).await.unwrap());
    let update = StateUpdate {
        expected_version: 0,
        state: json!({"phase": "killed"}),
        phase: PhaseName::Killed,
        active: false,
        wake_at: None,
        last_reason: "killed".into(),
        last_evidence: json!([]),
        at: at(1),
    };
    assert!(
        store
            .update_rollout_state("r1", &update, &[])
            .await
            .unwrap()
    );

    let targets = store.rollout_targets().await.unwrap();
    let summary: Vec<(&str, &str, &str, DateTime<Utc>)> = targets
        .iter()
        .map(|target| {
            (
                target.rollout_id.as_str(),
                target.baseline_model.as_str(),
                target.canary_model.as_str(),
                target.started_at,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("r1", "bot@v41", "bot@v42", at(0)),
            ("r2", "bot@v42", "bot@v43", at(5)),
        ],
        "finished rollouts count too: their history still needs its arms"
    );
}
contract_test!(
    rollout_targets,
    rollout_targets_list_every_rollout_with_its_models_and_start
);

/// The `phase` column is read as a typed phase: a name no phase has (a newer binary's, or a
/// damaged row) fails the read and says which value and column, instead of passing as a string.
async fn an_unknown_stored_phase_fails_the_read_by_name(store: Store) {
    assert!(store.create_rollout(&new_rollout("r1")).await.unwrap());
    let sql = "UPDATE rollouts SET phase = $1 WHERE id = $2";
    match &store {
        Store::Sqlite(pool) => {
            sqlx::query(sql)
                .bind("warp_speed")
                .bind("r1")
                .execute(pool)
                .await
                .unwrap();
        }
        Store::Postgres(pool) => {
            sqlx::query(sql)
                .bind("warp_speed")
                .bind("r1")
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let err = store.get_rollout("r1").await.unwrap_err();
    let text = evalgate::out::error_chain(&anyhow::Error::from(err));
    assert!(
        text.contains("unknown rollout phase `warp_speed`"),
        "{text}"
    );
    assert!(text.contains("phase"), "{text}");
}
contract_test!(
    unknown_phase,
    an_unknown_stored_phase_fails_the_read_by_name
);

/// A rollout written through the stored format, with the format's version in both JSON columns.
fn versioned_rollout(id: &str) -> NewRollout {
    let state = RolloutState::new(id, &format!("{id}-flag"), "team-support", at(0));
    NewRollout {
        plan: rollout_format::encode_plan(&Plan::seed_default()).unwrap(),
        state: rollout_format::encode_state(&state).unwrap(),
        phase: state.phase.kind(),
        ..new_rollout(id)
    }
}

/// The stored plan and state carry their format version; rows written before it existed read
/// as version 1; a newer version fails the load naming the rollout and the column.
async fn the_stored_format_is_versioned_and_read_tolerantly(store: Store) {
    assert!(
        store
            .create_rollout(&versioned_rollout("r1"))
            .await
            .unwrap()
    );
    let row = store.get_rollout("r1").await.unwrap().unwrap();
    assert_eq!(row.plan[rollout_format::FORMAT_KEY], json!(1));
    assert_eq!(row.state[rollout_format::FORMAT_KEY], json!(1));
    let loaded = LoadedRollout::load(&store, "r1").await.unwrap();
    assert_eq!(loaded.plan, Plan::seed_default());
    assert_eq!(loaded.state.id, "r1");

    // Written before the version field: the same shape without it.
    let mut old = versioned_rollout("r2");
    for value in [&mut old.plan, &mut old.state] {
        value
            .as_object_mut()
            .unwrap()
            .remove(rollout_format::FORMAT_KEY);
    }
    assert!(store.create_rollout(&old).await.unwrap());
    let loaded = LoadedRollout::load(&store, "r2").await.unwrap();
    assert_eq!(loaded.plan, Plan::seed_default());
    assert_eq!(loaded.state.id, "r2");

    // A newer binary's state: refused by name, never read as the current shape.
    let mut newer = row.state.clone();
    newer[rollout_format::FORMAT_KEY] = json!(2);
    let update = StateUpdate {
        expected_version: 0,
        state: newer,
        phase: PhaseName::Running,
        active: true,
        wake_at: None,
        last_reason: "written by a newer evalgate".into(),
        last_evidence: json!([]),
        at: at(1),
    };
    assert!(
        store
            .update_rollout_state("r1", &update, &[])
            .await
            .unwrap()
    );
    let err = LoadedRollout::load(&store, "r1").await.unwrap_err();
    let text = evalgate::out::error_chain(&err);
    assert!(text.contains("rollout r1"), "{text}");
    assert!(text.contains("column `state`"), "{text}");
    assert!(text.contains("version 2"), "{text}");
}
contract_test!(
    stored_format,
    the_stored_format_is_versioned_and_read_tolerantly
);
