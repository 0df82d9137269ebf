//! Synthetic gateway traffic for tests, benchmarks and the demo: a seeded, deterministic stream
//! of requests for a baseline and a canary arm, with the user feedback that follows them.
//!
//! The stream is an [`Iterator`] in time order and uses constant memory whatever the duration:
//! requests arrive as a Poisson process, and feedback (which arrives minutes later) waits in a
//! small heap until the clock of the stream passes it. Pure: no clock, no I/O; all randomness
//! comes from one `ChaCha8Rng` seeded with `spec.seed`, so the same spec gives the same events.

pub mod content;
pub mod dist;
pub mod feedback;
pub mod spec;
mod stream;

pub use content::Defect;
pub use feedback::{FeedbackModel, ReactionRates};
pub use spec::{ArmProfile, DefectRates, Regression, SynthSpec, SynthSpecError};
pub use stream::{SynthEvent, SynthStream};
