//! evalgate gates canary rollouts of LLM changes on quality.
//!
//! Layers, from the inside out (DESIGN.md §2):
//! - [`domain`]: plain types (requests, scores, verdicts, rollout state).
//! - [`logic`]: pure, synchronous decisions: sampling, statistics, gates, the rollout state
//!   machine, routing. No I/O, no clock reads, no unseeded randomness.
//! - [`evaluators`]: rule assertions and the pure half of the LLM judge (prompt, parse).
//! - [`adapters`]: everything that touches the outside: the store, the judge HTTP client, flag
//!   sinks, notifications, the HTTP server.
//! - [`worker`]: orchestration of ticks, the scheduler loop, rescore, backtest, the demo.
//! - [`web`]: the read-only web view's pages (HTML and SVG), pure like `logic`: `worker::web`
//!   fills them from the store and `adapters::http::web` serves them.
//!
//! [`app`] maps CLI commands onto the worker; `main.rs` only parses and reports.

// No `unwrap` outside tests (clippy.toml allows it in `#[cfg(test)]` code). Set here rather than
// in Cargo.toml's `[lints]` so integration tests under `tests/` may unwrap freely.
#![warn(clippy::unwrap_used)]
// Print through `outln!`/`errln!` (src/out.rs): `println!` panics, exit 101, on a closed pipe.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod adapters;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod evaluators;
pub mod logic;
pub mod metrics;
pub mod out;
pub mod telemetry;
pub mod web;
pub mod worker;
