//! Queries in the worker: those attached to a workflow task, answered after the task's
//! activation in its completion, and query tasks (a poll response with `query` set), answered
//! with `RespondQueryTaskCompleted` from the cached run or from a replay of the history the
//! task carries. Answering never sends a command, writes nothing, and leaves a cached run as
//! it was.

use super::inner::WorkerInner;
use super::workflow_tasks::{full_history, new_run, whole_history};
use crate::failure::application_failure;
use crate::payload;
use crate::proto::EventAttributes;
use crate::proto::common::{Payload as RawPayload, WorkflowExecution};
use crate::proto::enums::QueryResultType;
use crate::proto::history::HistoryEvent;
use crate::proto::query::{WorkflowQuery, WorkflowQueryResult};
use crate::proto::service::{PollWorkflowTaskQueueResponse, RespondQueryTaskCompletedRequest};
use crate::workflow::executor::WorkflowRun;
use std::collections::HashMap;

/// The answers to the queries a workflow task carried, by query id, from the run's state after
/// the task's activation. Each query is answered on its own; none changes the run.
pub(super) fn answer_attached(
    run: &WorkflowRun,
    queries: &HashMap<String, WorkflowQuery>,
) -> HashMap<String, WorkflowQueryResult> {
    // A query cannot change the run, so the order does not change any answer; by id keeps
    // logs and tests repeatable.
    let mut ids: Vec<&String> = queries.keys().collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let query = &queries[id];
            let result = query_result(answer(run, query));
            (id.clone(), result)
        })
        .collect()
}

/// Answers a query task: from the cached run when it has handled exactly the workflow tasks
/// the history records as completed, otherwise from a run rebuilt by replaying that history.
pub(super) async fn handle_query_task(w: &WorkerInner, mut task: PollWorkflowTaskQueueResponse) {
    let Some(query) = task.query.take() else {
        return;
    };
    let execution = task.workflow_execution.clone().unwrap_or_default();
    let outcome = match full_history(w, &mut task).await {
        Ok(history) => {
            let last_completed = last_completed_task(&history, task.previous_started_event_id);
            answer_task(w, &execution, history, last_completed, &query).await
        }
        Err(status) => Err(format!(
            "could not read the history of workflow `{}` to answer query `{}`: {status}",
            execution.workflow_id, query.query_type
        )),
    };
    if let Err(message) = &outcome {
        tracing::debug!(workflow_id = %execution.workflow_id, query = %query.query_type, "query failed: {message}");
    }
    let result = query_result(outcome);
    let req = RespondQueryTaskCompletedRequest {
        task_token: task.task_token,
        completed_type: result.result_type,
        query_result: result.answer,
        error_message: result.error_message,
        namespace: w.namespace.clone(),
        failure: result.failure,
        ..Default::default()
    };
    if let Err(status) = w
        .service
        .respond_query_task_completed(tonic::Request::new(req))
        .await
    {
        // The caller stopped waiting, or the engine gave up on the query.
        tracing::debug!(workflow_id = %execution.workflow_id, "query answer not taken: {status}");
    }
}

/// The answer to `query` from the run whose last completed workflow task started at event
/// `last_completed`.
async fn answer_task(
    w: &WorkerInner,
    execution: &WorkflowExecution,
    history: Vec<HistoryEvent>,
    last_completed: i64,
    query: &WorkflowQuery,
) -> Result<Vec<RawPayload>, String> {
    if let Some(run) = w.cache.take(&execution.run_id) {
        if run.processed() == last_completed {
            let answer = answer(&run, query);
            w.cache.put_back(
                execution.run_id.clone(),
                run,
                w.options.max_cached_workflows,
            );
            return answer;
        }
        // Behind or ahead of the history the task carries: answer from a replay instead, and
        // keep the cached run for its next workflow task.
        w.cache.put_back(
            execution.run_id.clone(),
            run,
            w.options.max_cached_workflows,
        );
    }
    if last_completed <= 0 {
        return Err(format!(
            "workflow `{}` has completed no workflow task: there is no state to answer query `{}` from",
            execution.workflow_id, query.query_type
        ));
    }
    // A sticky query task carries only the newest events: read the rest.
    let mut history = match history.first().map(|e| e.event_id) {
        Some(first) if first > 1 => whole_history(w, execution, last_completed).await.map_err(
            |status| {
                format!(
                    "could not read the history of workflow `{}` to answer query `{}`: {status}",
                    execution.workflow_id, query.query_type
                )
            },
        )?,
        _ => history,
    };
    history.retain(|e| e.event_id <= last_completed);
    let mut run = new_run(w, execution, &history)?;
    run.replay_for_query(&history).map_err(|e| {
        format!(
            "could not replay workflow `{}` to answer query `{}`: {e}",
            execution.workflow_id, query.query_type
        )
    })?;
    answer(&run, query)
}

/// The `WorkflowTaskStarted` event id of the last workflow task `history` records as
/// completed, or `previous_started` (the task's own say) when the history shows none.
fn last_completed_task(history: &[HistoryEvent], previous_started: i64) -> i64 {
    history
        .iter()
        .rev()
        .find_map(|e| match &e.attributes {
            Some(EventAttributes::WorkflowTaskCompletedEventAttributes(a)) => {
                Some(a.started_event_id)
            }
            _ => None,
        })
        .unwrap_or(previous_started)
}

fn answer(run: &WorkflowRun, query: &WorkflowQuery) -> Result<Vec<RawPayload>, String> {
    run.answer_query(&query.query_type, payload::payload_list(&query.query_args))
}

/// A query's outcome as the wire carries it: the answer, or the failure's message (in both
/// `error_message` and `failure`, for servers and SDKs that read either).
fn query_result(outcome: Result<Vec<RawPayload>, String>) -> WorkflowQueryResult {
    match outcome {
        Ok(answer) => WorkflowQueryResult {
            result_type: QueryResultType::Answered as i32,
            answer: Some(crate::proto::common::Payloads { payloads: answer }),
            ..Default::default()
        },
        Err(message) => WorkflowQueryResult {
            result_type: QueryResultType::Failed as i32,
            failure: Some(application_failure(&message, "QueryFailed", true)),
            error_message: message,
            ..Default::default()
        },
    }
}
