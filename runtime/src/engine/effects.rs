//! What one change does besides mutating runs ([`Effects`]), and the task queue entries it
//! hands out: a change collects them under the state lock, and the commit step applies them.

use std::collections::BTreeSet;

/// A task queue: (namespace, queue name).
pub(crate) type QueueKey = (String, String);

/// A workflow task waiting in a queue, or a query task (`query_id` set). Checked against the
/// run (or the waiting query) when taken: it may be stale.
#[derive(Debug, Clone)]
pub(crate) struct WftEntry {
    pub run_id: String,
    pub scheduled_event_id: i64,
    pub query_id: Option<String>,
}

/// An activity attempt waiting in a queue. Checked against the run when taken.
#[derive(Debug, Clone)]
pub(crate) struct ActEntry {
    pub run_id: String,
    pub scheduled_event_id: i64,
    pub attempt: i32,
}

/// What one change does besides mutating runs: runs to write out, tasks to enqueue, cancels to
/// announce once committed.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub touched: BTreeSet<String>,
    pub wft_ready: Vec<(QueueKey, WftEntry)>,
    pub act_ready: Vec<(QueueKey, ActEntry)>,
    pub cancel_tokens: Vec<Vec<u8>>,
}

impl Effects {
    /// Adds the effects of a nested change that succeeded.
    pub(crate) fn extend(&mut self, other: Effects) {
        self.touched.extend(other.touched);
        self.wft_ready.extend(other.wft_ready);
        self.act_ready.extend(other.act_ready);
        self.cancel_tokens.extend(other.cancel_tokens);
    }

    pub(crate) fn touch(&mut self, run_id: &str) {
        if !self.touched.contains(run_id) {
            self.touched.insert(run_id.to_string());
        }
    }
}
