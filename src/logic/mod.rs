//! Pure, synchronous decision code. Nothing here imports tokio, sqlx, reqwest or axum, reads the
//! clock or the environment: time arrives as `now`, randomness as a seeded RNG. That is what lets
//! the demo, backtests and `gatebench` run the production code in simulated time.

pub mod attribution;
pub mod gates;
pub mod hash;
pub mod rollout;
pub mod routing;
pub mod sampling;
pub mod schedule;
pub mod similarity;
pub mod stats;
pub mod unattributed;
