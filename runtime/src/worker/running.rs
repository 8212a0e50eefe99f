//! The activity attempts running in this process, by task token, so that a cancel or a shutdown
//! can reach them.

use crate::activity::context::ActivityShared;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Attempts running in this process, by task token.
#[derive(Default)]
pub(crate) struct RunningActivities {
    map: Mutex<HashMap<Vec<u8>, Arc<ActivityShared>>>,
}

impl RunningActivities {
    /// Records an attempt that has started here.
    pub(super) fn insert(&self, token: Vec<u8>, shared: Arc<ActivityShared>) {
        self.map.lock().insert(token, shared);
    }
    /// Forgets an attempt that has returned.
    pub(super) fn remove(&self, token: &[u8]) {
        self.map.lock().remove(token);
    }
    /// Delivers a cancel to the attempt with this task token. Returns whether it runs here.
    pub(crate) fn cancel(&self, token: &[u8], reason: &str) -> bool {
        match self.map.lock().get(token) {
            Some(shared) => {
                shared.deliver_cancel(reason);
                true
            }
            None => false,
        }
    }
    /// Stops every attempt for a shutdown. No cancel was requested, so they report as failed
    /// and the retry policy runs them again.
    pub(crate) fn cancel_all(&self) {
        for shared in self.map.lock().values() {
            shared.cancel.cancel();
        }
    }
}
