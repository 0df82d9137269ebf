//! The clock seam: the system clock in production, a manual clock in tests, backtests and the
//! demo. This is the only file that reads the wall clock.

use std::sync::{Arc, Mutex};

use crate::domain::Timestamp;

/// Something that tells the time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        let mut guard = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = to;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut guard = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Parses an RFC 3339 time given on the command line, naming the flag on error.
pub fn parse_time(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.with_timezone(&chrono::Utc))
        .map_err(|err| {
            anyhow::anyhow!(
                "{flag} `{text}` is not an RFC 3339 time ({err}); e.g. 2026-11-26T12:00:00Z"
            )
        })
}
