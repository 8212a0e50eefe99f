//! What an engine is configured with: its namespaces, long-poll, task and query timeouts, and
//! limits.

use super::limits::Limits;
use std::time::Duration;

/// How an [`Engine`](super::Engine) behaves.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Namespaces that exist; requests naming any other get `NotFound`. Default `["default"]`.
    pub namespaces: Vec<String>,
    /// How long a poll for a task, or a history read with `wait_new_event`, waits before it
    /// answers empty. Default 60 s.
    pub long_poll_timeout: Duration,
    /// Start-to-close timeout of a workflow task when the start request sets none. Default 10 s.
    pub default_workflow_task_timeout: Duration,
    /// How long `QueryWorkflow` waits for a worker's answer before it gives up with
    /// `DeadlineExceeded` (no worker polls the run's task queue, or the one that took the query
    /// did not answer). Default 30 s.
    pub query_timeout: Duration,
    /// What one request, run and task may hold: see [`Limits`].
    pub limits: Limits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            namespaces: vec!["default".to_string()],
            long_poll_timeout: Duration::from_secs(60),
            default_workflow_task_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}
