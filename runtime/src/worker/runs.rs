//! Building a workflow run from the history that records it: the registered workflow its
//! `WorkflowExecutionStarted` names, with the info, input and random seed that history gives.

use super::inner::WorkerInner;
use super::registry::ErasedWorkflow;
use crate::proto::EventAttributes;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::EventType;
use crate::proto::history::HistoryEvent;
use crate::proto::time_from_proto;
use crate::workflow::WorkflowInfo;
use crate::workflow::executor::WorkflowRun;
use crate::workflow::state::RunState;

/// Builds a run from the `WorkflowExecutionStarted` event that opens `history`.
pub(super) fn new_run(
    w: &WorkerInner,
    execution: &WorkflowExecution,
    history: &[HistoryEvent],
) -> Result<WorkflowRun, String> {
    let type_name = started_type(history).unwrap_or_default();
    let Some(entry) = w.registry.workflows.get(type_name).cloned() else {
        return Err(format!(
            "workflow type `{type_name}` is not registered on this worker (task queue `{}`); registered workflow types: {}",
            w.task_queue,
            w.registry.workflow_names()
        ));
    };
    start_run(
        entry.as_ref(),
        &w.namespace,
        &w.task_queue,
        execution,
        history,
    )
}

/// The workflow type named by the `WorkflowExecutionStarted` event that opens `history`.
pub(crate) fn started_type(history: &[HistoryEvent]) -> Option<&str> {
    match history.first().map(|e| &e.attributes) {
        Some(Some(EventAttributes::WorkflowExecutionStartedEventAttributes(started))) => {
            started.workflow_type.as_ref().map(|t| t.name.as_str())
        }
        _ => None,
    }
}

/// Builds the run of `entry` that `history` records, exactly as a worker does before its first
/// activation: the same info, input and random seed, so that replay takes the same path.
pub(crate) fn start_run(
    entry: &dyn ErasedWorkflow,
    namespace: &str,
    default_task_queue: &str,
    execution: &WorkflowExecution,
    history: &[HistoryEvent],
) -> Result<WorkflowRun, String> {
    let first = history.first();
    let Some(Some(EventAttributes::WorkflowExecutionStartedEventAttributes(started))) =
        first.map(|e| &e.attributes)
    else {
        return Err(format!(
            "the history of workflow `{}` does not begin with WorkflowExecutionStarted",
            execution.workflow_id
        ));
    };
    debug_assert_eq!(
        first.map(|e| e.event_type),
        Some(EventType::WorkflowExecutionStarted as i32)
    );
    let type_name = started
        .workflow_type
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let info = WorkflowInfo {
        namespace: namespace.to_string(),
        workflow_id: execution.workflow_id.clone(),
        run_id: execution.run_id.clone(),
        workflow_type: type_name,
        task_queue: started
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .unwrap_or_else(|| default_task_queue.to_string()),
        attempt: started.attempt.max(1),
        start_time: first
            .and_then(|e| e.event_time.as_ref())
            .map(time_from_proto)
            .unwrap_or(std::time::UNIX_EPOCH),
    };
    let seed_source = if started.first_execution_run_id.is_empty() {
        execution.run_id.clone()
    } else {
        started.first_execution_run_id.clone()
    };
    let input = crate::payload::payload_list(&started.input).to_vec();
    Ok(WorkflowRun::new(
        RunState::new(info, stable_seed(&seed_source)),
        move |ctx| entry.start(ctx, &input),
    ))
}

/// FNV-1a: a seed that stays the same across Rust releases, unlike the std hasher.
fn stable_seed(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
