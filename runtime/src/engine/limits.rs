//! What one request, one run and one task may hold. Every limit has a default that follows
//! Temporal's (where Temporal has one), so that a workflow that runs on one runs on the other;
//! each can be changed through [`EngineConfig::limits`](super::EngineConfig::limits).

/// Limits the engine enforces on requests and runs. Past a limit a request gets
/// `InvalidArgument` (or, for a workflow task completion, a failed workflow task with a cause
/// that names the limit); nothing of it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload (input, result, details, failure) one field of a request may carry.
    /// Default 2 MiB (Temporal: `limit.blobSize.error`).
    pub max_payload_bytes: usize,
    /// Longest id or name: workflow id, workflow type, task queue, activity id and type, timer
    /// id, signal name, marker name, identity, request id, namespace, and the reason of a
    /// cancel or terminate request. Default 1,000 bytes (Temporal: `limit.maxIDLength`).
    pub max_id_bytes: usize,
    /// Deepest failure cause chain kept: a failure's causes past this depth are cut off (the
    /// last kept cause says so). Default 20 (Temporal truncates at the same depth).
    pub max_failure_depth: usize,
    /// Most commands one workflow task completion may carry. Default 10,000.
    pub max_commands_per_workflow_task: usize,
    /// Most activities one run may have pending at once. Default 2,000 (Temporal:
    /// `limit.numPendingActivities.error`).
    pub max_pending_activities: usize,
    /// Most timers one run may have pending at once. Default 2,000.
    pub max_pending_timers: usize,
    /// Most child workflows one run may have pending at once. Default 2,000 (Temporal:
    /// `limit.numPendingChildExecutions.error`).
    pub max_pending_children: usize,
    /// Most signals one run may receive over its life. Default 10,000 (Temporal:
    /// `history.maximumSignalsPerExecution`).
    pub max_signals_per_run: usize,
    /// History size at which the engine logs a warning for a run. Default 10 MiB (Temporal:
    /// `limit.historySize.warn`).
    pub history_size_warn_bytes: u64,
    /// History size past which a run is terminated with a cause that says so. Default 50 MiB
    /// (Temporal: `limit.historySize.error`).
    pub history_size_limit_bytes: u64,
    /// Event count at which the engine logs a warning for a run. Default 10,240 (Temporal:
    /// `limit.historyCount.warn`).
    pub history_count_warn: u64,
    /// Event count past which a run is terminated with a cause that says so. Default 51,200
    /// (Temporal: `limit.historyCount.error`).
    pub history_count_limit: u64,
    /// Largest page a list or history read answers with, whatever the request asks for.
    /// Default 1,000 (Temporal: `frontend.visibilityMaxPageSize`).
    pub max_page_size: usize,
    /// Most events the first page of a workflow task's history carries; the worker reads the
    /// rest with `GetWorkflowExecutionHistory`. Default 256 (Temporal:
    /// `matching.historyMaxPageSize`).
    pub poll_history_page_events: usize,
    /// Most bytes of events a history page carries (at least one event is always sent).
    /// Default 4 MiB.
    pub history_page_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 2 * 1024 * 1024,
            max_id_bytes: 1000,
            max_failure_depth: 20,
            max_commands_per_workflow_task: 10_000,
            max_pending_activities: 2000,
            max_pending_timers: 2000,
            max_pending_children: 2000,
            max_signals_per_run: 10_000,
            history_size_warn_bytes: 10 * 1024 * 1024,
            history_size_limit_bytes: 50 * 1024 * 1024,
            history_count_warn: 10 * 1024,
            history_count_limit: 50 * 1024,
            max_page_size: 1000,
            poll_history_page_events: 256,
            history_page_bytes: 4 * 1024 * 1024,
        }
    }
}
