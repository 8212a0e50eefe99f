//! Workflow tasks: poll, replay or resume the cached run, answer with its commands and the
//! answers to the queries the task carried; query tasks go to [`super::queries`].

use super::inner::WorkerInner;
use super::registry::ErasedWorkflow;
use crate::failure::application_failure;
use crate::proto::EventAttributes;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::{EventType, WorkflowTaskFailedCause};
use crate::proto::history::HistoryEvent;
use crate::proto::service::{
    GetWorkflowExecutionHistoryRequest, PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse, RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest,
};
use crate::proto::time_from_proto;
use crate::workflow::WorkflowInfo;
use crate::workflow::executor::{ActivationError, WorkflowRun};
use crate::workflow::state::RunState;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Polls the worker's normal task queue, or (`sticky`) its own sticky queue, where the server
/// sends the next tasks of runs this worker has cached, with only their new events. A poll is
/// made only with a free slot of `limit`; each task runs on its own tokio task, so the poller
/// polls again while earlier tasks wait for their answers to be committed. At shutdown the
/// tasks in hand are finished before this returns.
pub(crate) async fn poll_loop(w: Arc<WorkerInner>, sticky: bool, limit: Arc<Semaphore>) {
    let mut in_hand = JoinSet::new();
    let poll = || {
        let req = PollWorkflowTaskQueueRequest {
            namespace: w.namespace.clone(),
            task_queue: if sticky {
                w.sticky_queue()
            } else {
                w.task_queue()
            },
            identity: w.identity.clone(),
            ..Default::default()
        };
        w.service.poll_workflow_task_queue(tonic::Request::new(req))
    };
    let run = |task: PollWorkflowTaskQueueResponse, permit| {
        while in_hand.try_join_next().is_some() {}
        let worker = w.clone();
        in_hand.spawn(async move {
            handle_task(&worker, task).await;
            drop(permit);
        });
    };
    super::poll::poll_tasks(&w, "workflow", &limit, poll, |t| &t.task_token, run).await;
    while in_hand.join_next().await.is_some() {}
}

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

async fn handle_task(w: &WorkerInner, mut task: PollWorkflowTaskQueueResponse) {
    if task.query.is_some() {
        return super::queries::handle_query_task(w, task).await;
    }
    let execution = task.workflow_execution.clone().unwrap_or_default();
    let history = match full_history(w, &mut task).await {
        Ok(h) => h,
        Err(status) => {
            tracing::warn!(workflow_id = %execution.workflow_id, "could not read the history: {status}");
            return;
        }
    };
    let cached = w
        .cache
        .take(&execution.run_id)
        .filter(|run| run.can_continue_with(&history));
    // A sticky task carries only the newest events; without the cached run, replay it all.
    let have_cached = cached.is_some();
    let history = match (have_cached, history.first().map(|e| e.event_id)) {
        (false, Some(first)) if first > 1 => {
            match whole_history(w, &execution, task.started_event_id).await {
                Ok(h) => h,
                Err(status) => {
                    tracing::warn!(workflow_id = %execution.workflow_id, "could not read the history: {status}");
                    return;
                }
            }
        }
        _ => history,
    };
    let mut run = match cached {
        Some(run) => run,
        None => match new_run(w, &execution, &history) {
            Ok(run) => run,
            Err(message) => {
                fail_task(
                    w,
                    &task.task_token,
                    WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure,
                    message,
                )
                .await;
                return;
            }
        },
    };
    match run.activate(&history) {
        Ok(commands) => {
            let finished = commands.iter().any(|c| is_close(c.command_type));
            let req = RespondWorkflowTaskCompletedRequest {
                task_token: task.task_token.clone(),
                sticky_attributes: (!finished).then(|| w.sticky_attributes()).flatten(),
                commands,
                query_results: super::queries::answer_attached(&run, &task.queries),
                identity: w.identity.clone(),
                namespace: w.namespace.clone(),
                ..Default::default()
            };
            match w
                .service
                .respond_workflow_task_completed(tonic::Request::new(req))
                .await
            {
                Ok(_) if !finished => w.cache.put(
                    execution.run_id.clone(),
                    run,
                    w.options.max_cached_workflows,
                ),
                Ok(_) => {}
                Err(status) => {
                    // The run is rebuilt from history on its next task.
                    tracing::debug!(workflow_id = %execution.workflow_id, "workflow task completion rejected: {status}");
                }
            }
        }
        Err(err) => {
            let cause = match err {
                ActivationError::NonDeterminism(_) => {
                    WorkflowTaskFailedCause::NonDeterministicError
                }
                ActivationError::Panic(_) | ActivationError::SignalPayload(_) => {
                    WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure
                }
            };
            tracing::error!(workflow_id = %execution.workflow_id, run_id = %execution.run_id, "{err}");
            fail_task(w, &task.task_token, cause, err.to_string()).await;
        }
    }
}

fn is_close(command_type: i32) -> bool {
    use crate::proto::enums::CommandType as C;
    [
        C::CompleteWorkflowExecution as i32,
        C::FailWorkflowExecution as i32,
        C::CancelWorkflowExecution as i32,
        C::ContinueAsNewWorkflowExecution as i32,
    ]
    .contains(&command_type)
}

async fn fail_task(w: &WorkerInner, token: &[u8], cause: WorkflowTaskFailedCause, message: String) {
    let req = RespondWorkflowTaskFailedRequest {
        task_token: token.to_vec(),
        cause: cause as i32,
        failure: Some(application_failure(&message, "WorkflowTaskFailure", false)),
        identity: w.identity.clone(),
        namespace: w.namespace.clone(),
        ..Default::default()
    };
    if let Err(status) = w
        .service
        .respond_workflow_task_failed(tonic::Request::new(req))
        .await
    {
        tracing::warn!("could not report a failed workflow task: {status}");
    }
}

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
