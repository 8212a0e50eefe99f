//! Workflow tasks: poll, replay or resume the cached run, answer with its commands, its update
//! protocol messages and the answers to the queries the task carried; query tasks go to
//! [`super::queries`].

use super::history::{full_history, whole_history};
use super::inner::WorkerInner;
use super::runs::new_run;
use crate::failure::application_failure;
use crate::proto::enums::WorkflowTaskFailedCause;
use crate::proto::service::respond_workflow_task_completed_request::Capabilities;
use crate::proto::service::{
    PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskFailedRequest,
};
use crate::workflow::executor::{Activation, ActivationError};
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
    match run.activate_with_messages(&history, &task.messages) {
        Ok(Activation { commands, messages }) => {
            let finished = commands.iter().any(|c| is_close(c.command_type));
            let req = RespondWorkflowTaskCompletedRequest {
                task_token: task.task_token.clone(),
                sticky_attributes: (!finished).then(|| w.sticky_attributes()).flatten(),
                commands,
                messages,
                query_results: super::queries::answer_attached(&run, &task.queries),
                identity: w.identity.clone(),
                namespace: w.namespace.clone(),
                // As Temporal's SDKs: a speculative task that only rejected updates may be
                // dropped even when events were written since the last task; the answer's
                // `reset_history_event_id` then says so.
                capabilities: Some(Capabilities {
                    discard_speculative_workflow_task_with_events: true,
                }),
                ..Default::default()
            };
            // Cached before the answer goes out: the query tasks the completion releases, and
            // the run's next task, find the run instead of replaying it.
            let processed = run.processed();
            if !finished {
                w.cache.put(
                    execution.run_id.clone(),
                    run,
                    w.options.max_cached_workflows,
                );
            }
            match w
                .service
                .respond_workflow_task_completed(tonic::Request::new(req))
                .await
            {
                // The server dropped the (speculative) task: the history no longer holds the
                // events the cached run applied last, so it is rebuilt on its next task.
                Ok(answer) if answer.get_ref().reset_history_event_id > 0 => {
                    w.cache.evict_at(&execution.run_id, processed);
                }
                Ok(_) => {}
                Err(status) => {
                    // The run is rebuilt from history on its next task.
                    w.cache.evict_at(&execution.run_id, processed);
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
