//! `ActivityContext`: heartbeats, cancellation delivery, and facts about the attempt.

use crate::error::ActivityError;
use crate::payload;
use crate::proto::common::Payload as RawPayload;
use parking_lot::Mutex;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Facts about the running activity attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityInfo {
    /// The activity id within its workflow.
    pub activity_id: String,
    /// The activity type name.
    pub activity_type: String,
    /// The calling workflow's id.
    pub workflow_id: String,
    /// The calling workflow's run id.
    pub run_id: String,
    /// The calling workflow's type.
    pub workflow_type: String,
    /// The attempt number, from 1.
    pub attempt: i32,
    /// The heartbeat timeout, if any.
    pub heartbeat_timeout: Option<Duration>,
    /// When this attempt must finish (start-to-close), if known.
    pub deadline: Option<SystemTime>,
    /// The task queue.
    pub task_queue: String,
    /// The last heartbeat details of the previous attempt.
    pub heartbeat_details: Vec<RawPayload>,
}

#[derive(Debug, Default)]
pub(crate) struct HeartbeatSlot {
    pub(crate) details: Option<Vec<RawPayload>>,
    pub(crate) count: u64,
}

#[derive(Debug)]
pub(crate) struct ActivityShared {
    pub(crate) info: ActivityInfo,
    pub(crate) cancel: CancellationToken,
    /// Set when the cancel came from the engine (a real cancel request), not from a shutdown.
    pub(crate) cancel_reason: Mutex<Option<String>>,
    pub(crate) heartbeat: Mutex<HeartbeatSlot>,
    pub(crate) heartbeat_signal: Notify,
}

/// The context an activity body receives. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ActivityContext {
    pub(crate) shared: Arc<ActivityShared>,
}

/// Controls a context made by [`ActivityContext::for_test`].
#[derive(Clone, Debug)]
pub struct TestActivityHandle {
    shared: Arc<ActivityShared>,
}

impl TestActivityHandle {
    /// Delivers a cancel to the activity, as a heartbeat response would.
    pub fn cancel(&self) {
        self.shared.deliver_cancel("cancelled by the test");
    }
    /// How many times the activity called `heartbeat`.
    pub fn heartbeats(&self) -> u64 {
        self.shared.heartbeat.lock().count
    }
    /// The details of the latest heartbeat, as JSON text.
    pub fn last_details(&self) -> Option<String> {
        let hb = self.shared.heartbeat.lock();
        hb.details.as_ref().map(|d| {
            d.iter()
                .map(payload::display)
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

impl ActivityShared {
    pub(crate) fn new(info: ActivityInfo) -> Self {
        Self {
            info,
            cancel: CancellationToken::new(),
            cancel_reason: Mutex::new(None),
            heartbeat: Mutex::new(HeartbeatSlot::default()),
            heartbeat_signal: Notify::new(),
        }
    }

    /// Records why the activity is cancelled and wakes everything waiting on it.
    pub(crate) fn deliver_cancel(&self, reason: &str) {
        let mut r = self.cancel_reason.lock();
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        drop(r);
        self.cancel.cancel();
    }
}

impl ActivityContext {
    pub(crate) fn new(shared: Arc<ActivityShared>) -> Self {
        Self { shared }
    }

    /// A context for calling an activity body directly in a unit test, with a handle that can
    /// cancel it and read its heartbeats.
    pub fn for_test(info: ActivityInfo) -> (Self, TestActivityHandle) {
        let shared = Arc::new(ActivityShared::new(info));
        (
            Self {
                shared: shared.clone(),
            },
            TestActivityHandle { shared },
        )
    }

    /// Facts about this attempt.
    pub fn info(&self) -> &ActivityInfo {
        &self.shared.info
    }

    /// Records progress. Call as often as you like: the worker sends at most one heartbeat per
    /// 0.8 x heartbeat timeout and always the latest details.
    ///
    /// # Errors
    /// A cancelled error once a cancel reached this attempt; return it with `?`.
    pub async fn heartbeat<D: Serialize>(&self, details: D) -> Result<(), ActivityError> {
        let encoded = payload::encode(&details).map_err(ActivityError::from)?;
        {
            let mut hb = self.shared.heartbeat.lock();
            hb.details = Some(vec![encoded]);
            hb.count += 1;
        }
        self.shared.heartbeat_signal.notify_one();
        self.check_cancelled()
    }

    /// Whether a cancel reached this attempt.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// Resolves when a cancel reaches this attempt.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping it loses nothing.
    pub async fn cancelled(&self) {
        self.shared.cancel.cancelled().await
    }

    /// Sleeps, ending early with a cancelled error if a cancel arrives.
    ///
    /// # Errors
    /// A cancelled error when a cancel arrives first.
    pub async fn sleep(&self, duration: Duration) -> Result<(), ActivityError> {
        self.cancellable(tokio::time::sleep(duration)).await
    }

    /// Runs a future, ending early with a cancelled error if a cancel arrives first.
    ///
    /// # Errors
    /// A cancelled error when a cancel arrives first.
    pub async fn cancellable<F: Future>(&self, fut: F) -> Result<F::Output, ActivityError> {
        tokio::select! {
            biased;
            _ = self.shared.cancel.cancelled() => Err(self.cancelled_error()),
            out = fut => Ok(out),
        }
    }

    fn check_cancelled(&self) -> Result<(), ActivityError> {
        if self.is_cancelled() {
            Err(self.cancelled_error())
        } else {
            Ok(())
        }
    }

    fn cancelled_error(&self) -> ActivityError {
        let reason = self
            .shared
            .cancel_reason
            .lock()
            .clone()
            .unwrap_or_else(|| "cancelled".to_string());
        ActivityError::cancelled(format!(
            "activity `{}` {reason}",
            self.shared.info.activity_type
        ))
    }
}
