//! The cache of running workflows a worker keeps between their tasks, so that a new event costs
//! one poll of the cached future instead of a full replay.

use crate::workflow::executor::WorkflowRun;
use parking_lot::Mutex;
use std::collections::HashMap;

/// Running workflows kept between tasks, by run id.
#[derive(Default)]
pub(crate) struct Cache {
    runs: Mutex<HashMap<String, WorkflowRun>>,
}

impl Cache {
    /// Takes the run out of the cache; a task in hand owns it until it is put back.
    pub(super) fn take(&self, run_id: &str) -> Option<WorkflowRun> {
        self.runs.lock().remove(run_id)
    }
    /// Keeps the run for its next task, evicting another when `max` runs are held.
    pub(super) fn put(&self, run_id: String, run: WorkflowRun, max: usize) {
        let mut runs = self.runs.lock();
        if runs.len() >= max
            && let Some(k) = runs.keys().next().cloned()
        {
            // Any evicted run is rebuilt from its history on its next task.
            runs.remove(&k);
        }
        runs.insert(run_id, run);
    }
    /// Returns a run taken only to answer a query, unless a workflow task put a newer one
    /// of the same run back meanwhile.
    pub(super) fn put_back(&self, run_id: String, run: WorkflowRun, max: usize) {
        if self.runs.lock().contains_key(&run_id) {
            return;
        }
        self.put(run_id, run, max);
    }
}
