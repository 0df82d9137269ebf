//! `evalgate synth` end to end: its JSONL is exactly what the ingest parser reads, and
//! `--into-store` loads the same events into either backend, idempotently.
#![allow(clippy::unwrap_used)] // test bodies are plain async fns, outside #[test]

use std::collections::BTreeSet;
use std::path::Path;

use evalgate::adapters::jsonl::{ParseLimits, Record, parse_line};
use evalgate::adapters::store::Store;
use evalgate::commands::synth::{insert_into_store, write_jsonl};
use evalgate::domain::{Arm, HumanDuration, Outcome, RequestStatus};
use evalgate::evaluators::{load_suites, suite_outcome};
use evalgate::logic::attribution::RolloutTargets;
use evalgate::logic::sampling::{self, SamplePlan};
use evalgate::sim::synth::{Regression, SynthEvent, SynthSpec, SynthStream};

fn spec() -> SynthSpec {
    SynthSpec {
        seed: 99,
        duration: HumanDuration::from_mins(90),
        rpm: 40.0,
        canary_share: 0.3,
        rollout_id: Some("support-bot-v42".to_string()),
        regression: Some(Regression::new(
            SynthSpec::default().start + chrono::Duration::minutes(45),
            4.0,
        )),
        ..SynthSpec::default()
    }
}

#[test]
fn every_synth_line_parses_back_into_the_event_it_was_written_from() {
    let mut bytes = Vec::new();
    let summary = write_jsonl(SynthStream::new(spec()).unwrap(), &mut bytes).unwrap();
    let events: Vec<SynthEvent> = SynthStream::new(spec()).unwrap().collect();
    let lines: Vec<&[u8]> = bytes
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines.len(), events.len());
    assert_eq!(summary.requests + summary.feedback, events.len() as u64);
    let limits = ParseLimits {
        max_field_bytes: 64 * 1024,
    };
    for (line, event) in lines.iter().zip(&events) {
        let record = parse_line(line, &limits).unwrap_or_else(|reject| {
            panic!("rejected: {reject}: {}", String::from_utf8_lossy(line))
        });
        match (record, event) {
            (Record::Request(parsed), SynthEvent::Request(written)) => {
                assert_eq!(*parsed, *written)
            }
            (Record::Feedback(parsed), SynthEvent::Feedback(written)) => {
                assert_eq!(parsed, *written)
            }
            (record, event) => panic!("{record:?} parsed from {event:?}"),
        }
    }
}

async fn into_store_loads_every_event_once_and_sampling_finds_both_arms(store: Store) {
    let first = insert_into_store(&store, spec(), 250).await.unwrap();
    assert!(first.generated.requests > 3_000);
    assert_eq!(first.requests.inserted, first.generated.requests);
    assert_eq!(first.feedback.inserted, first.generated.feedback);
    assert_eq!(
        store.count_requests().await.unwrap(),
        first.generated.requests
    );
    assert_eq!(
        store.count_feedback().await.unwrap(),
        first.generated.feedback
    );

    let again = insert_into_store(&store, spec(), 1_000).await.unwrap();
    assert_eq!(again.requests.inserted, 0);
    assert_eq!(again.requests.duplicates, first.generated.requests);
    assert_eq!(again.feedback.duplicates, first.generated.feedback);
    assert_eq!(
        store.count_requests().await.unwrap(),
        first.generated.requests
    );

    let plan = SamplePlan {
        n_per_arm: 50,
        baseline_multiplier: 1,
        per_tenant_cap: 5,
        seed: 1,
    };
    let from = spec().start + chrono::Duration::minutes(60);
    let to = from + chrono::Duration::minutes(15);
    let rollout = RolloutTargets {
        rollout_id: "support-bot-v42".to_string(),
        baseline_model: spec().baseline.model,
        canary_model: spec().canary.model,
        started_at: spec().start,
    };
    for arm in Arm::ALL {
        let candidates = store
            .window_candidates(Some(&rollout), arm, from, to)
            .await
            .unwrap();
        let picked = sampling::sample(&plan, "synth-test", &candidates);
        assert_eq!(picked.selected.len(), 50, "{arm}");
    }
}
contract_test!(
    into_store_is_idempotent_and_samplable,
    into_store_loads_every_event_once_and_sampling_finds_both_arms
);

#[test]
fn the_starter_suite_fails_exactly_the_responses_synth_marked_defective() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let suites = load_suites(&dir, &BTreeSet::new()).expect("the shipped suites load");
    let suite = suites
        .into_iter()
        .find(|suite| suite.name == "support")
        .unwrap();
    let mut checked = [0usize; 2];
    for event in SynthStream::new(spec()).unwrap() {
        let SynthEvent::Request(request) = event else {
            continue;
        };
        if request.status == RequestStatus::Error {
            continue;
        }
        let mut per_assertion = Vec::new();
        let mut failed = Vec::new();
        for (index, assertion) in suite.assertions.iter().enumerate() {
            let result = assertion.evaluate_rule(&request).unwrap();
            if result.outcome != Outcome::Pass && assertion.gating {
                failed.push(assertion.id.clone());
            }
            per_assertion.push((index, result.outcome, result.score));
        }
        let outcome = suite_outcome(&suite, &per_assertion).0;
        let defects = request.metadata["synth"]["defects"].as_array().unwrap();
        let Some(defect) = defects.first().and_then(|value| value.as_str()) else {
            assert_eq!(outcome, Outcome::Pass, "{failed:?} on {}", request.output);
            checked[0] += 1;
            continue;
        };
        let expected = match defect {
            "invalid_json" | "missing_field" => "valid_answer_json",
            "refusal" => "no_refusal",
            "over_long" => "answer_length",
            "wrong_order_id" => "right_order_id",
            other => panic!("unknown defect {other}"),
        };
        assert_eq!(outcome, Outcome::Fail, "{defect}: {}", request.output);
        assert!(
            failed.contains(&expected.to_string()),
            "{defect}: {failed:?}"
        );
        checked[1] += 1;
    }
    assert!(checked[0] > 2_000 && checked[1] > 200, "{checked:?}");
}
