//! Reading a run's history for a task: the pages a poll response did not carry, or the whole
//! history when a sticky task carried only its newest events.

use super::inner::WorkerInner;
use crate::proto::common::WorkflowExecution;
use crate::proto::history::HistoryEvent;
use crate::proto::service::{GetWorkflowExecutionHistoryRequest, PollWorkflowTaskQueueResponse};

/// The history of a run from its first event up to `up_to` (the current task's started event).
pub(super) async fn whole_history(
    w: &WorkerInner,
    execution: &WorkflowExecution,
    up_to: i64,
) -> Result<Vec<HistoryEvent>, tonic::Status> {
    let execution = Some(execution.clone());
    let (mut events, token) = history_page(w, &execution, Vec::new()).await?;
    more_pages(w, &execution, &mut events, token, up_to).await?;
    if up_to > 0 {
        events.retain(|e| e.event_id <= up_to);
    }
    Ok(events)
}

/// The task's history with the pages the poll response did not carry.
pub(super) async fn full_history(
    w: &WorkerInner,
    task: &mut PollWorkflowTaskQueueResponse,
) -> Result<Vec<HistoryEvent>, tonic::Status> {
    let mut events = task.history.take().map(|h| h.events).unwrap_or_default();
    let token = std::mem::take(&mut task.next_page_token);
    more_pages(w, &task.workflow_execution, &mut events, token, 0).await?;
    Ok(events)
}

/// One page of a run's history, from `token` (empty: the first page), and the next token.
async fn history_page(
    w: &WorkerInner,
    execution: &Option<WorkflowExecution>,
    token: Vec<u8>,
) -> Result<(Vec<HistoryEvent>, Vec<u8>), tonic::Status> {
    let req = GetWorkflowExecutionHistoryRequest {
        namespace: w.namespace.clone(),
        execution: execution.clone(),
        next_page_token: token,
        ..Default::default()
    };
    let page = w
        .service
        .get_workflow_execution_history(tonic::Request::new(req))
        .await?
        .into_inner();
    Ok((
        page.history.map(|h| h.events).unwrap_or_default(),
        page.next_page_token,
    ))
}

/// Appends the pages after `token` to `events`, until there are no more or (when `up_to` > 0)
/// event `up_to` has been read.
async fn more_pages(
    w: &WorkerInner,
    execution: &Option<WorkflowExecution>,
    events: &mut Vec<HistoryEvent>,
    mut token: Vec<u8>,
    up_to: i64,
) -> Result<(), tonic::Status> {
    let reached = |events: &Vec<HistoryEvent>| {
        up_to > 0 && events.last().is_some_and(|e| e.event_id >= up_to)
    };
    while !token.is_empty() && !reached(events) {
        let (page, next) = history_page(w, execution, token).await?;
        events.extend(page);
        token = next;
    }
    Ok(())
}
