//! Simulation, pure like `logic`: synthetic production traffic (`synth`: requests, feedback and
//! a regression that starts when asked) and the decision-quality benchmark (`gatebench`: seeded
//! replicates of every gate against known truths). Both drive the production decisions in
//! `logic` with a seeded RNG and simulated time; they decide nothing themselves.

pub mod gatebench;
pub mod synth;
