//! The built-in read-only web view of `evalgate serve`, rendered on the server: the rollouts
//! list, one rollout (stage timeline, per-metric series with Wilson bands, the e-value against
//! its 1/α line, halt signals, flag sinks, audit trail) and the 50% review packet. HTML and SVG
//! are written by hand; the pages run no script and reload themselves every 15 s.
//!
//! Pure like `logic`: the pages take plain data ([`view`]) and `now`, and return HTML in which
//! every piece of user data is escaped. `commands::web` reads the store and fills the views;
//! `adapters::http::web` serves them.

pub mod html;
pub mod pages;
pub mod review;
pub mod svg;
pub mod view;

pub use pages::{rollout_page, rollouts_page};
pub use review::review_page;
