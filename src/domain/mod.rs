//! Plain data types shared by every layer: requests and feedback from the log store, scores,
//! verdicts, rollout state. No I/O, no clock, no async: these are values.

pub mod duration;
pub mod feedback;
pub mod flag;
pub mod plan;
pub mod request;
pub mod rollout;
pub mod score;
pub mod summary;
pub mod verdict;

pub use duration::HumanDuration;
pub use feedback::{FeedbackEvent, FeedbackKind};
pub use flag::{SplitRecord, SplitWrite};
pub use request::{Arm, Request, RequestStatus};
pub use score::{Outcome, Score, ScoreRef};
pub use verdict::{Evidence, InconclusiveReason, MetricVerdict, Role, Verdict};

/// A point in time, always UTC. Pure code receives it as `now`; it never reads a clock.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
