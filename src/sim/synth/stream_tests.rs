//! Tests of the synthetic traffic stream: determinism, time order, rates and the regression.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::domain::{FeedbackKind, HumanDuration};
use crate::sim::synth::spec::Regression;

fn spec(seed: u64, hours: i64, rpm: f64) -> SynthSpec {
    SynthSpec {
        seed,
        duration: HumanDuration::from_hours(hours),
        rpm,
        canary_share: 0.3,
        ..SynthSpec::default()
    }
}

fn requests(events: &[SynthEvent]) -> Vec<&Request> {
    events
        .iter()
        .filter_map(|event| match event {
            SynthEvent::Request(request) => Some(request),
            SynthEvent::Feedback(_) => None,
        })
        .collect()
}

fn defects_of(request: &Request) -> Vec<String> {
    request.metadata["synth"]["defects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_same_seed_gives_identical_events_and_another_seed_does_not() {
    let first: Vec<SynthEvent> = SynthStream::new(spec(7, 1, 120.0)).unwrap().collect();
    let second: Vec<SynthEvent> = SynthStream::new(spec(7, 1, 120.0)).unwrap().collect();
    let other: Vec<SynthEvent> = SynthStream::new(spec(8, 1, 120.0)).unwrap().collect();
    assert!(first.len() > 100);
    assert_eq!(first, second);
    assert_ne!(first, other);
}

#[test]
fn events_come_in_time_order_and_feedback_follows_its_request() {
    let events: Vec<SynthEvent> = SynthStream::new(spec(1, 2, 200.0)).unwrap().collect();
    let mut seen: HashMap<&str, Timestamp> = HashMap::new();
    let mut feedback = 0;
    for pair in events.windows(2) {
        assert!(pair[0].time() <= pair[1].time(), "out of order");
    }
    for event in &events {
        match event {
            SynthEvent::Request(request) => {
                assert!(
                    seen.insert(&request.request_id, request.ts).is_none(),
                    "dup id"
                );
            }
            SynthEvent::Feedback(fb) => {
                feedback += 1;
                let asked = seen
                    .get(fb.request_id.as_str())
                    .expect("request came first");
                assert!(fb.at > *asked);
                assert!(fb.at - *asked <= chrono::Duration::hours(6));
            }
        }
    }
    assert!(feedback > 100, "only {feedback} feedback events");
}

#[test]
fn requests_stay_inside_the_window_at_about_the_configured_rate() {
    let spec = spec(3, 10, 100.0);
    let end = spec.start + spec.duration.to_chrono();
    let events: Vec<SynthEvent> = SynthStream::new(spec.clone()).unwrap().collect();
    let rows = requests(&events);
    // 60,000 expected; a Poisson count has sd ≈ 245.
    assert!(
        (58_500..=61_500).contains(&rows.len()),
        "{} rows",
        rows.len()
    );
    assert!(rows.iter().all(|row| row.ts >= spec.start && row.ts < end));
    let canary = rows.iter().filter(|row| row.arm == Arm::Canary).count();
    let share = canary as f64 / rows.len() as f64;
    assert!((share - 0.3).abs() < 0.01, "canary share {share}");
    let tenants: HashSet<&str> = rows.iter().map(|row| row.tenant_id.as_str()).collect();
    assert!(tenants.len() > 300, "{} tenants", tenants.len());
    for row in &rows {
        let expected = if row.arm == Arm::Canary {
            "support-bot@v42"
        } else {
            "support-bot@v41"
        };
        assert_eq!(row.model, expected);
    }
}

#[test]
fn defect_and_error_rates_match_each_arms_configuration() {
    let mut spec = spec(11, 10, 200.0);
    spec.canary_share = 0.5;
    spec.canary.defects.refusal = 0.10;
    spec.canary.defects.wrong_order_id = 0.0;
    spec.baseline.error_rate = 0.05;
    let events: Vec<SynthEvent> = SynthStream::new(spec.clone()).unwrap().collect();
    let rows = requests(&events);
    for arm in Arm::ALL {
        let arm_rows: Vec<&&Request> = rows.iter().filter(|row| row.arm == arm).collect();
        let served: Vec<&&&Request> = arm_rows
            .iter()
            .filter(|row| row.status == RequestStatus::Ok)
            .collect();
        let errors = arm_rows.len() - served.len();
        let profile = spec.profile(arm);
        let error_rate = errors as f64 / arm_rows.len() as f64;
        assert!(
            (error_rate - profile.error_rate).abs() < 0.005,
            "{arm} error rate {error_rate}"
        );
        for defect in Defect::ALL {
            let count = served
                .iter()
                .filter(|row| defects_of(row).contains(&defect.as_str().to_string()))
                .count();
            let rate = count as f64 / served.len() as f64;
            let expected = profile.defects.get(defect);
            assert!(
                (rate - expected).abs() < 0.005,
                "{arm} {} rate {rate}, expected {expected}",
                defect.as_str()
            );
        }
    }
    for row in rows.iter().filter(|row| row.status == RequestStatus::Error) {
        assert!(row.output.is_empty() && row.error.is_some());
        assert!(defects_of(row).is_empty());
    }
}

#[test]
fn the_regression_shows_in_canary_defects_only_after_it_starts() {
    let mut spec = spec(5, 8, 200.0);
    spec.canary_share = 0.5;
    let onset = spec.start + chrono::Duration::hours(4);
    spec.regression = Some(Regression::new(onset, 3.0));
    let events: Vec<SynthEvent> = SynthStream::new(spec.clone()).unwrap().collect();
    let rows = requests(&events);
    let rate = |arm: Arm, after: bool| {
        let group: Vec<&&Request> = rows
            .iter()
            .filter(|row| row.arm == arm && row.status == RequestStatus::Ok)
            .filter(|row| (row.ts >= onset) == after)
            .collect();
        let defective = group
            .iter()
            .filter(|row| !defects_of(row).is_empty())
            .count();
        defective as f64 / group.len() as f64
    };
    let base_total = spec.canary.defects.total();
    assert!((rate(Arm::Canary, false) - base_total).abs() < 0.01);
    assert!((rate(Arm::Canary, true) - 3.0 * base_total).abs() < 0.02);
    assert!((rate(Arm::Baseline, true) - base_total).abs() < 0.01);
}

#[test]
fn defective_responses_draw_worse_feedback() {
    let events: Vec<SynthEvent> = SynthStream::new(spec(9, 10, 100.0)).unwrap().collect();
    let mut defective: HashSet<String> = HashSet::new();
    let mut clean: HashSet<String> = HashSet::new();
    for row in requests(&events) {
        if row.status != RequestStatus::Ok {
            continue;
        }
        if defects_of(row).is_empty() {
            clean.insert(row.request_id.clone());
        } else {
            defective.insert(row.request_id.clone());
        }
    }
    let regen_rate = |ids: &HashSet<String>| {
        let count = events
            .iter()
            .filter(|event| match event {
                SynthEvent::Feedback(fb) => {
                    fb.kind == FeedbackKind::Regenerated && ids.contains(&fb.request_id)
                }
                SynthEvent::Request(_) => false,
            })
            .count();
        count as f64 / ids.len() as f64
    };
    assert!(regen_rate(&defective) > 5.0 * regen_rate(&clean));
}

#[test]
fn a_long_stream_keeps_little_feedback_in_memory() {
    let mut stream = SynthStream::new(spec(2, 24, 600.0)).unwrap();
    let mut most_pending = 0;
    for _ in 0..200_000 {
        if stream.next().is_none() {
            break;
        }
        most_pending = most_pending.max(stream.pending_feedback());
    }
    // 600 rpm × a few minutes of typical delay; never anywhere near the 200k events seen.
    assert!(most_pending < 20_000, "{most_pending} pending");
}
