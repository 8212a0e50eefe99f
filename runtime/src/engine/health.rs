//! Whether the engine takes changes: what a health check reports.

use std::fmt;
use std::sync::Arc;

/// Whether the engine takes changes; [`Engine::health`](super::Engine::health) follows it.
///
/// Whatever the value, reads of what was committed are served; only requests that would change
/// something are refused, with `Unavailable` naming the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The store writes; every request is served.
    Serving,
    /// The store cannot write for now: the disk is full, the file system is read-only or
    /// reports I/O errors, or the database file was deleted or replaced. The engine keeps the
    /// change that failed and retries it (with a growing pause, at most a few seconds) until
    /// it is written, then serves again by itself.
    StoreUnwritable {
        /// What the store reported.
        cause: Arc<str>,
    },
    /// The store failed in a way that retrying does not mend (a damaged file, a write the store
    /// refuses): the engine takes no more changes until it is restarted.
    StoreFailed {
        /// What the store reported.
        cause: Arc<str>,
    },
    /// The engine was shut down.
    Stopped,
}

impl Health {
    /// Whether every request is served.
    pub fn is_serving(&self) -> bool {
        matches!(self, Health::Serving)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Serving => f.write_str("serving"),
            Health::StoreUnwritable { cause } => {
                write!(f, "taking no changes while the store cannot write: {cause}")
            }
            Health::StoreFailed { cause } => {
                write!(f, "taking no changes since the store failed: {cause}")
            }
            Health::Stopped => f.write_str("stopped"),
        }
    }
}
