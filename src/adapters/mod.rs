//! Everything that touches the outside world: the store, the judge HTTP client, flag sinks,
//! notifications and the HTTP server. Adapters translate; they do not decide.

pub mod flags;
pub mod formats;
pub mod holder;
pub mod http;
pub mod http_client;
pub mod jsonl;
pub mod judge_cache;
pub mod judge_client;
pub mod judge_limits;
pub mod judge_tick;
pub mod line_reader;
pub mod notify;
pub mod otlp;
pub mod store;
