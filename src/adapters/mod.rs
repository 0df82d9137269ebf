//! Everything that touches the outside world: the store, the judge HTTP client, flag sinks,
//! notifications and the HTTP server. Adapters translate; they do not decide.

<<<<<<< HEAD
pub mod http;
=======
pub mod flags;
pub mod jsonl;
pub mod notify;
>>>>>>> main
pub mod store;
