//! evalgate gates canary rollouts of LLM changes on quality.
//!
//! Layers, from the inside out (DESIGN.md §2):
//! - [`domain`]: plain types (requests, scores, verdicts, rollout state).
//! - [`logic`]: pure, synchronous decisions: sampling, statistics, gates, the rollout state
//!   machine, routing. No I/O, no clock reads, no unseeded randomness.
//! - [`sim`]: simulation, pure like `logic`: synthetic traffic (`synth`) and the decision-quality
//!   benchmark (`gatebench`), driving `logic` with a seeded RNG in simulated time.
//! - [`evaluators`]: rule assertions and the pure half of the LLM judge (prompt, parse).
//! - [`adapters`]: everything that touches the outside: the store, the judge HTTP client, flag
//!   sinks, notifications, the HTTP server.
//! - [`context`]: the composition root: the config and clock, and the services a process builds
//!   once (store, flag sinks, notifier) that the engine and the commands share.
//! - [`worker`]: the engine: the tick pipeline, scoring, the rollout controller, the scheduler,
//!   the fail-safe and the rollback drill. It never imports the CLI layer.
//! - [`web`]: the read-only web view's pages (HTML and SVG), pure like `logic`:
//!   `commands::web` fills them from the store and `adapters::http::web` serves them.
//! - [`commands`]: the CLI layer, one handler per command; `main.rs` only parses and reports.
//!   `.ci/run` checks that nothing below it imports it.

// No `unwrap` outside tests (clippy.toml allows it in `#[cfg(test)]` code). Set here rather than
// in Cargo.toml's `[lints]` so integration tests under `tests/` may unwrap freely.
#![warn(clippy::unwrap_used)]
// Print through `outln!`/`errln!` (src/out.rs): `println!` panics, exit 101, on a closed pipe.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod adapters;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod context;
pub mod domain;
pub mod evaluators;
pub mod logic;
pub mod metrics;
pub mod out;
pub mod sim;
pub mod telemetry;
pub mod web;
pub mod worker;
