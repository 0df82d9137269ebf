//! The integration suite, built as one test binary (issue 16: one link instead of 49, a fraction
//! of the disk and build time). Each module is one area; `cargo test --test suite <module>::`
//! runs one of them, e.g. `cargo test --test suite soak::`.

#[macro_use]
mod common;
mod rollout_support;

mod attribution_store;
mod closed_pipes;
mod config_example;
mod controller;
mod drill_gauge;
mod evals_check;
mod evals_run;
mod faults;
mod flag_sinks;
mod fuzz_parsers;
mod gates_golden;
mod gates_props;
mod gates_store;
mod grafana_dashboard;
mod history_store;
mod http_api;
mod http_limits;
mod ingest_cli;
mod ingest_formats;
mod ingest_hardening;
mod judge_client;
mod judge_outcomes;
mod litellm_hook;
mod litellm_loop;
mod metrics_exposition;
mod notify;
mod prometheus_e2e;
mod push_ingest;
mod replicas;
mod rescore_cli;
mod rescore_kill;
mod rollout_cli;
mod rollout_day2;
mod rollout_machine;
mod rollout_props;
mod rollout_reasons;
mod rollout_review;
mod rollout_store;
mod route_cli;
mod routing_vectors;
mod scheduler;
mod scoring_store;
mod soak;
mod starter_suite;
mod store_contract;
mod store_migrate;
mod synth;
mod tick_budgets;
mod tick_crash;
mod tick_report;
mod ticks_store;
mod ttft_gate;
mod web_view;
