//! The in-process cancel shortcut: an engine in the same process names each started activity
//! attempt whose cancel (or whose workflow's close) it has just committed, and the worker stops
//! that attempt at once instead of at its next heartbeat.
//!
//! A cancel reaches an activity by heartbeat on every backend (the embedded engine, `dacapo
//! server`, Temporal); this shortcut only makes it sooner, and the history is the same either
//! way. `Embedded` is what wires it, for its own worker and for those built with
//! `Embedded::worker_builder`.

use super::running::RunningActivities;
use tokio::sync::broadcast;

/// The task tokens of attempts to stop at once, byte-equal to the `task_token` each attempt was
/// polled with.
pub(crate) struct CancelShortcut(broadcast::Receiver<Vec<u8>>);

impl CancelShortcut {
    pub(crate) fn new(tokens: broadcast::Receiver<Vec<u8>>) -> Self {
        Self(tokens)
    }

    /// The same feed, from now on, for one more run of the worker.
    pub(super) fn resubscribe(&self) -> Self {
        Self(self.0.resubscribe())
    }

    /// Delivers each cancel to the attempt it names, when that attempt runs here. Tokens missed
    /// while lagging behind are left to the heartbeat. Returns when the engine is gone.
    async fn deliver(mut self, running: &RunningActivities) {
        loop {
            match self.0.recv().await {
                Ok(token) => {
                    running.cancel(&token, "was cancelled");
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Runs `work` and delivers cancels to `running` meanwhile, until `work` returns.
    pub(super) async fn alongside<F: Future>(
        self,
        running: &RunningActivities,
        work: F,
    ) -> F::Output {
        let deliver = self.deliver(running);
        tokio::pin!(work, deliver);
        tokio::select! {
            out = &mut work => out,
            () = &mut deliver => work.await,
        }
    }
}
