//! The generator itself: Poisson arrivals, tenant and arm draws, one request at a time, with its
//! feedback held in a heap until its time comes, so events leave in time order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::content::{self, Defect};
use super::dist::{ZipfTable, exponential, lognormal};
use super::feedback::Quality;
use super::spec::{DefectRates, SynthSpec, SynthSpecError};
use crate::domain::{Arm, FeedbackEvent, Request, RequestStatus, Timestamp};
use crate::logic::gates::metric::synthesize;
use crate::logic::hash::sha256_u64;

/// Popularity skew of tenants: rank k is chosen with weight 1/(k+1)^1.1.
const TENANT_ZIPF_EXPONENT: f64 = 1.1;

/// One generated event.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // most events are requests: boxing would only add allocations
pub enum SynthEvent {
    /// A request as the gateway logged it.
    Request(Request),
    /// A feedback event about an earlier request.
    Feedback(FeedbackEvent),
}

impl SynthEvent {
    /// When the event happened (`ts` of a request, `at` of feedback).
    pub fn time(&self) -> Timestamp {
        match self {
            SynthEvent::Request(request) => request.ts,
            SynthEvent::Feedback(event) => event.at,
        }
    }
}

/// A feedback event waiting for the stream to reach its time; ordered by (time, creation order).
#[derive(Debug)]
struct Pending {
    at: Timestamp,
    order: u64,
    event: FeedbackEvent,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// The event stream: an iterator of [`SynthEvent`] in non-decreasing time order.
#[derive(Debug)]
pub struct SynthStream {
    spec: SynthSpec,
    rng: ChaCha8Rng,
    tenants: ZipfTable,
    /// Milliseconds after `start` of the next request; `None` once past the end.
    next_offset_ms: Option<f64>,
    end_offset_ms: f64,
    mean_gap_ms: f64,
    pending: BinaryHeap<Reverse<Pending>>,
    created: u64,
}

impl SynthStream {
    /// A stream for a validated `spec`.
    pub fn new(spec: SynthSpec) -> Result<SynthStream, SynthSpecError> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mean_gap_ms = 60_000.0 / spec.rpm;
        let end_offset_ms = spec.duration.as_secs() as f64 * 1000.0;
        let first = exponential(&mut rng, mean_gap_ms);
        let next_offset_ms = (first < end_offset_ms).then_some(first);
        Ok(SynthStream {
            tenants: ZipfTable::new(spec.tenants, TENANT_ZIPF_EXPONENT),
            spec,
            rng,
            next_offset_ms,
            end_offset_ms,
            mean_gap_ms,
            pending: BinaryHeap::new(),
            created: 0,
        })
    }

    /// The spec this stream was built from.
    pub fn spec(&self) -> &SynthSpec {
        &self.spec
    }

    /// Feedback events generated but not yet emitted (bounded by rpm × the longest delay).
    pub fn pending_feedback(&self) -> usize {
        self.pending.len()
    }

    fn offset_to_time(&self, offset_ms: f64) -> Timestamp {
        self.spec.start + chrono::Duration::milliseconds(offset_ms.floor() as i64)
    }

    /// Generates the request at `ts`, queues its feedback and returns it.
    fn make_request(&mut self, ts: Timestamp) -> Request {
        let rank = self.tenants.draw(&mut self.rng);
        let tenant_id = format!("tenant-{:04}", rank + 1);
        let arm = if self.rng.random_bool(self.spec.canary_share) {
            Arm::Canary
        } else {
            Arm::Baseline
        };
        let regressed = arm == Arm::Canary
            && self
                .spec
                .regression
                .is_some_and(|regression| ts >= regression.at);
        let (defect_factor, latency_factor, cost_factor) = match (regressed, self.spec.regression) {
            (true, Some(regression)) => (
                regression.factor,
                regression.latency_factor,
                regression.cost_factor,
            ),
            _ => (1.0, 1.0, 1.0),
        };
        let profile = self.spec.profile(arm).clone();

        let mut id_bytes = [0u8; 10];
        self.rng.fill(&mut id_bytes);
        let millis = u64::try_from(ts.timestamp_millis()).unwrap_or(0);
        let request_id = uuid::Builder::from_unix_timestamp_millis(millis, &id_bytes)
            .into_uuid()
            .to_string();

        let order = content::draw_order(&mut self.rng);
        let input = content::input_messages(&mut self.rng, &order);
        let failed = self.rng.random_bool(profile.error_rate);
        let defect_opt = if failed {
            None
        } else {
            draw_defect(&mut self.rng, &profile.defects.scaled(defect_factor))
        };
        let (output, error_opt, quality) = if failed {
            let text = content::error_text(&mut self.rng).to_string();
            (String::new(), Some(text), Quality::Failed)
        } else {
            match defect_opt {
                Some(defect) => (
                    content::defective_output(&mut self.rng, &order, defect),
                    None,
                    Quality::Defective,
                ),
                None => (
                    content::healthy_output(&mut self.rng, &order),
                    None,
                    Quality::Clean,
                ),
            }
        };

        let slow_down = if defect_opt == Some(Defect::OverLong) {
            1.6
        } else {
            1.0
        };
        let latency = lognormal(
            &mut self.rng,
            profile.latency_median_ms * latency_factor * slow_down,
            profile.latency_sigma,
        );
        let cost = if failed {
            0.0
        } else {
            lognormal(
                &mut self.rng,
                profile.cost_median_usd * cost_factor,
                profile.cost_sigma,
            )
        };
        let prompt_tokens = content::approx_tokens(&input) + self.rng.random_range(0..16);
        let completion_tokens = content::approx_tokens(&output);
        let defects: Vec<&str> = defect_opt.iter().map(|defect| defect.as_str()).collect();

        let events = self
            .spec
            .feedback
            .draw(&mut self.rng, &request_id, ts, quality);
        for event in events {
            self.created += 1;
            self.pending.push(Reverse(Pending {
                at: event.at,
                order: self.created,
                event,
            }));
        }

        // The registry's generated telemetry (e.g. time to first token) draws from a stream of
        // the request's own, so it never shifts the draws above.
        let mut extra = ChaCha8Rng::seed_from_u64(sha256_u64(&[
            &self.spec.seed.to_be_bytes(),
            request_id.as_bytes(),
        ]));
        let mut request = Request {
            request_id,
            ts,
            tenant_id,
            arm,
            model: profile.model,
            rollout_id: self.spec.rollout_id.clone(),
            input,
            output,
            reference: Some(order.id),
            status: if failed {
                RequestStatus::Error
            } else {
                RequestStatus::Ok
            },
            error: error_opt,
            latency_ms: Some((latency * 10.0).round() / 10.0),
            ttft_ms: None,
            prompt_tokens: Some(prompt_tokens),
            completion_tokens: Some(completion_tokens),
            cost_usd: Some((cost * 1e8).round() / 1e8),
            metadata: serde_json::json!({"synth": {"defects": defects}}),
        };
        synthesize(&mut request, || extra.random::<f64>());
        request
    }
}

/// Draws at most one defect: defect i with probability `rates[i]`, none with 1 − total.
fn draw_defect<R: Rng>(rng: &mut R, rates: &DefectRates) -> Option<Defect> {
    let roll: f64 = rng.random();
    let mut bound = 0.0;
    for defect in Defect::ALL {
        bound += rates.get(defect);
        if roll < bound {
            return Some(defect);
        }
    }
    None
}

impl Iterator for SynthStream {
    type Item = SynthEvent;

    fn next(&mut self) -> Option<SynthEvent> {
        let next_request_opt = self.next_offset_ms.map(|ms| self.offset_to_time(ms));
        let feedback_due = match (self.pending.peek(), next_request_opt) {
            (Some(Reverse(pending)), Some(request_ts)) => pending.at <= request_ts,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if feedback_due {
            return self
                .pending
                .pop()
                .map(|Reverse(pending)| SynthEvent::Feedback(pending.event));
        }
        let offset_ms = self.next_offset_ms?;
        let ts = self.offset_to_time(offset_ms);
        let request = self.make_request(ts);
        let next = offset_ms + exponential(&mut self.rng, self.mean_gap_ms);
        self.next_offset_ms = (next < self.end_offset_ms).then_some(next);
        Some(SynthEvent::Request(request))
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
