//! User feedback events, which arrive minutes or hours after the request they are about.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// Thumbs up (+1) or down (−1): `value` holds the sign.
    Thumbs,
    /// The user asked for the answer again.
    Regenerated,
    /// The conversation was escalated to a human.
    Escalated,
    /// A refund was issued.
    Refunded,
    /// The session's length in turns: `value` holds it.
    SessionLength,
}

impl FeedbackKind {
    /// Every kind, in storage order.
    pub const ALL: [FeedbackKind; 5] = [
        FeedbackKind::Thumbs,
        FeedbackKind::Regenerated,
        FeedbackKind::Escalated,
        FeedbackKind::Refunded,
        FeedbackKind::SessionLength,
    ];

    /// The snake_case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Thumbs => "thumbs",
            FeedbackKind::Regenerated => "regenerated",
            FeedbackKind::Escalated => "escalated",
            FeedbackKind::Refunded => "refunded",
            FeedbackKind::SessionLength => "session_length",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<FeedbackKind> {
        FeedbackKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One feedback event about one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    /// The request the feedback is about.
    pub request_id: String,
    /// When the feedback arrived.
    pub at: Timestamp,
    /// What happened.
    pub kind: FeedbackKind,
    /// +1/−1 for thumbs, the length for session_length, 1 otherwise.
    pub value: f64,
}
