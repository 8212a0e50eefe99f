//! `WorkflowInfo`: facts about the running workflow, which its context hands out and its state
//! keeps.

use std::time::SystemTime;

/// Facts about the running workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowInfo {
    /// The namespace.
    pub namespace: String,
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// The workflow type name.
    pub workflow_type: String,
    /// The task queue the workflow runs on.
    pub task_queue: String,
    /// The run's attempt number, from 1.
    pub attempt: i32,
    /// When the run started.
    pub start_time: SystemTime,
}
