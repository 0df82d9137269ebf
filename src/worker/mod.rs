//! Orchestration: each CLI command's `run`, the tick pipeline, the scheduler loop, rescore,
//! backtest and the demo. Loops are short and call a pub `*_once` twin that tests drive.

pub mod backtest;
pub mod controller;
pub mod demo;
pub mod display;
pub mod drill;
pub mod evals_cmd;
pub mod evals_lines;
pub mod evals_output;
pub mod evals_run;
pub mod evals_stream;
pub mod fail_safe;
pub mod failpoint;
pub mod gatebench;
pub mod ingest;
pub mod pipeline;
pub mod plan_power;
pub mod rescore;
pub mod rollout_cmd;
pub mod rollout_day2;
pub mod rollout_retry;
pub mod rollout_review;
pub mod rollout_status;
pub mod rollout_wait;
pub mod route;
pub mod sample;
pub mod scheduler;
pub mod scoring;
pub mod serve;
pub mod synth;
pub mod tick;
pub mod web;
