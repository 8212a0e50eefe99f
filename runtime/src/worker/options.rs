//! `WorkerOptions`: a worker's tunables and their defaults.

use std::time::Duration;

/// Tunables of a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Concurrent workflow task polls.
    pub workflow_pollers: usize,
    /// Concurrent activity task polls.
    pub activity_pollers: usize,
    /// Workflow tasks handled at once, at most (tasks of different runs; a run has at most one
    /// workflow task at a time).
    pub max_concurrent_workflow_tasks: usize,
    /// Activities run at once, at most.
    pub max_concurrent_activities: usize,
    /// Running workflows kept in memory between tasks, at most.
    pub max_cached_workflows: usize,
    /// Heartbeat throttle for activities without a heartbeat timeout.
    pub default_heartbeat_throttle: Duration,
    /// How long [`Worker::run`](crate::Worker::run) waits, after a shutdown, for cancelled activities to return.
    pub shutdown_grace: Duration,
    /// Ask the server to send a cached run's next tasks to this worker's own queue, with only
    /// the new events (Temporal's sticky execution). `None` turns it off; the value is how long
    /// such a task may wait before the server sends it to the normal queue instead.
    pub sticky_schedule_to_start: Option<Duration>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            workflow_pollers: 2,
            activity_pollers: 2,
            max_concurrent_workflow_tasks: 100,
            max_concurrent_activities: 200,
            max_cached_workflows: 10_000,
            default_heartbeat_throttle: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            sticky_schedule_to_start: Some(Duration::from_secs(5)),
        }
    }
}
