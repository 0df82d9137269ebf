//! The engine: the tick pipeline (sample, score, gate), the scoring engine shared with
//! rescore, the rollout controller, the scheduler loop and the fail-safe. It takes its services
//! from [`crate::context`] and never imports the CLI layer ([`crate::commands`]). Loops are short
//! and call a pub `*_once` twin that tests drive.

pub mod controller;
pub mod drill;
pub mod fail_safe;
pub mod failpoint;
pub mod pipeline;
pub mod scheduler;
pub mod scoring;
pub mod tick;
