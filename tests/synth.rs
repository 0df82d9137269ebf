//! `evalgate synth` end to end: its JSONL is exactly what the ingest parser reads, and
//! `--into-store` loads the same events into either backend, idempotently.
#![allow(clippy::unwrap_used)] // test bodies are plain async fns, outside #[test]

mod common;

use evalgate::adapters::jsonl::{ParseLimits, Record, parse_line};
use evalgate::adapters::store::Store;
use evalgate::domain::{Arm, HumanDuration};
use evalgate::logic::sampling::{self, SamplePlan};
use evalgate::logic::synth::{Regression, SynthEvent, SynthSpec, SynthStream};
use evalgate::worker::synth::{insert_into_store, write_jsonl};

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
        per_tenant_cap: 5,
        seed: 1,
    };
    let from = spec().start + chrono::Duration::minutes(60);
    let to = from + chrono::Duration::minutes(15);
    for arm in Arm::ALL {
        let candidates = store
            .window_candidates(Some("support-bot-v42"), arm, from, to)
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
