//! Synthetic user feedback: which events follow a request, how many minutes later, and how much
//! worse they get when the response was defective or failed.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::dist::{geometric_at_least_one, lognormal};
use crate::domain::{FeedbackEvent, FeedbackKind, Timestamp};

/// How a served request went, as far as the user's reaction is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// A healthy response.
    Clean,
    /// A response with one of the defects.
    Defective,
    /// The request failed.
    Failed,
}

/// The chance of each reaction for one quality class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReactionRates {
    /// Probability of a thumbs event.
    pub thumbs: f64,
    /// Probability that a thumbs event is +1.
    pub thumbs_up: f64,
    /// Probability of a regenerate.
    pub regenerated: f64,
    /// Probability of an escalation to a human.
    pub escalated: f64,
    /// Probability of a refund.
    pub refunded: f64,
    /// Probability that a session length is reported.
    pub session_length: f64,
    /// Mean session length in turns when reported.
    pub mean_session_turns: f64,
}

/// Feedback behaviour: reaction rates per quality class and the median delay of each kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackModel {
    /// After a healthy response.
    pub clean: ReactionRates,
    /// After a defective response.
    pub defective: ReactionRates,
    /// After a failed request.
    pub failed: ReactionRates,
    /// Median delay of thumbs events, in seconds (regenerate is faster, refunds much slower).
    pub median_delay_secs: f64,
    /// No event arrives later than this after its request, in seconds.
    pub max_delay_secs: f64,
}

impl Default for FeedbackModel {
    fn default() -> FeedbackModel {
        FeedbackModel {
            clean: ReactionRates {
                thumbs: 0.12,
                thumbs_up: 0.90,
                regenerated: 0.03,
                escalated: 0.02,
                refunded: 0.003,
                session_length: 0.5,
                mean_session_turns: 2.0,
            },
            defective: ReactionRates {
                thumbs: 0.25,
                thumbs_up: 0.20,
                regenerated: 0.30,
                escalated: 0.15,
                refunded: 0.03,
                session_length: 0.5,
                mean_session_turns: 4.0,
            },
            failed: ReactionRates {
                thumbs: 0.20,
                thumbs_up: 0.10,
                regenerated: 0.40,
                escalated: 0.10,
                refunded: 0.005,
                session_length: 0.5,
                mean_session_turns: 3.0,
            },
            median_delay_secs: 180.0,
            max_delay_secs: 6.0 * 3600.0,
        }
    }
}

impl FeedbackModel {
    /// The rates for one quality class.
    pub fn rates(&self, quality: Quality) -> &ReactionRates {
        match quality {
            Quality::Clean => &self.clean,
            Quality::Defective => &self.defective,
            Quality::Failed => &self.failed,
        }
    }

    /// Every rate, for validation.
    pub fn probabilities(&self) -> Vec<(&'static str, f64)> {
        let mut all = Vec::new();
        for rates in [&self.clean, &self.defective, &self.failed] {
            all.extend([
                ("feedback.thumbs", rates.thumbs),
                ("feedback.thumbs_up", rates.thumbs_up),
                ("feedback.regenerated", rates.regenerated),
                ("feedback.escalated", rates.escalated),
                ("feedback.refunded", rates.refunded),
                ("feedback.session_length", rates.session_length),
            ]);
        }
        all
    }

    /// Draws the events that follow a request served at `ts`, in no particular order.
    pub fn draw<R: Rng>(
        &self,
        rng: &mut R,
        request_id: &str,
        ts: Timestamp,
        quality: Quality,
    ) -> Vec<FeedbackEvent> {
        let rates = self.rates(quality);
        let mut events = Vec::new();
        // (kind, probability, delay as a multiple of the median thumbs delay)
        let plan = [
            (FeedbackKind::Regenerated, rates.regenerated, 0.3),
            (FeedbackKind::Thumbs, rates.thumbs, 1.0),
            (FeedbackKind::SessionLength, rates.session_length, 3.0),
            (FeedbackKind::Escalated, rates.escalated, 4.0),
            (FeedbackKind::Refunded, rates.refunded, 15.0),
        ];
        for (kind, probability, delay_scale) in plan {
            if !rng.random_bool(probability) {
                continue;
            }
            let value = match kind {
                FeedbackKind::Thumbs if rng.random_bool(rates.thumbs_up) => 1.0,
                FeedbackKind::Thumbs => -1.0,
                FeedbackKind::SessionLength => {
                    f64::from(geometric_at_least_one(rng, rates.mean_session_turns))
                }
                _ => 1.0,
            };
            let delay_secs = lognormal(rng, self.median_delay_secs * delay_scale, 0.8)
                .clamp(5.0, self.max_delay_secs.max(5.0));
            // Millisecond precision, like the requests.
            let delay = chrono::Duration::milliseconds((delay_secs * 1000.0).round() as i64);
            events.push(FeedbackEvent {
                request_id: request_id.to_string(),
                at: ts + delay,
                kind,
                value,
            });
        }
        events
    }
}
