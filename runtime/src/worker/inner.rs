//! `WorkerInner`: the state a worker's pollers and tasks share, and the task queues it polls.

use super::cache::Cache;
use super::cancel_shortcut::CancelShortcut;
use super::options::WorkerOptions;
use super::registry::Registry;
use super::running::RunningActivities;
use crate::proto::ServiceHandle;
use crate::proto::enums::TaskQueueKind;
use crate::proto::taskqueue::{StickyExecutionAttributes, TaskQueue};
use tokio_util::sync::CancellationToken;

/// What a worker's pollers and the tasks they start share: where and as whom it polls, what
/// is registered, the cached runs, the running activity attempts, the shutdown signal
/// and the in-process cancel shortcut.
pub(crate) struct WorkerInner {
    pub(crate) service: ServiceHandle,
    pub(crate) namespace: String,
    pub(crate) task_queue: String,
    pub(crate) identity: String,
    pub(crate) sticky_queue: String,
    pub(crate) registry: Registry,
    pub(crate) options: WorkerOptions,
    pub(crate) cache: Cache,
    pub(crate) running: RunningActivities,
    pub(crate) attempts: parking_lot::Mutex<tokio::task::JoinSet<()>>,
    pub(crate) shutdown: CancellationToken,
    /// Where an engine in this process names attempts to stop at once, if it does.
    pub(crate) cancel_shortcut: Option<CancelShortcut>,
}

impl WorkerInner {
    pub(crate) fn sticky_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: self.sticky_queue.clone(),
            kind: TaskQueueKind::Sticky as i32,
            normal_name: self.task_queue.clone(),
        })
    }

    pub(crate) fn sticky_attributes(&self) -> Option<StickyExecutionAttributes> {
        self.options
            .sticky_schedule_to_start
            .map(|d| StickyExecutionAttributes {
                worker_task_queue: self.sticky_queue(),
                schedule_to_start_timeout: Some(crate::proto::duration_to_proto(d)),
            })
    }

    pub(crate) fn task_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: self.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        })
    }
}
