//! Activity tasks: poll, run the body with a context that learns of cancels, heartbeat in the
//! background, and report the outcome.

use super::inner::WorkerInner;
use crate::activity::ActivityContext;
use crate::activity::ActivityInfo;
use crate::activity::context::ActivityShared;
use crate::error::ActivityError;
use crate::failure::application_failure;
use crate::payload;
use crate::proto::service::{
    PollActivityTaskQueueRequest, PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatRequest, RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedRequest, RespondActivityTaskFailedRequest,
};
use crate::proto::{duration_from_proto, time_from_proto};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub(crate) async fn poll_loop(w: Arc<WorkerInner>, limit: Arc<Semaphore>) {
    let poll = || {
        let req = PollActivityTaskQueueRequest {
            namespace: w.namespace.clone(),
            task_queue: w.task_queue(),
            identity: w.identity.clone(),
            ..Default::default()
        };
        w.service.poll_activity_task_queue(tonic::Request::new(req))
    };
    let run = |task: PollActivityTaskQueueResponse, permit| {
        let worker = w.clone();
        w.attempts.lock().spawn(async move {
            run_attempt(&worker, task).await;
            drop(permit);
        });
    };
    super::poll::poll_tasks(&w, "activity", &limit, poll, |t| &t.task_token, run).await;
}

fn info_of(w: &WorkerInner, t: &PollActivityTaskQueueResponse) -> ActivityInfo {
    let execution = t.workflow_execution.clone().unwrap_or_default();
    ActivityInfo {
        activity_id: t.activity_id.clone(),
        activity_type: t
            .activity_type
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        workflow_id: execution.workflow_id,
        run_id: execution.run_id,
        workflow_type: t
            .workflow_type
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        attempt: t.attempt.max(1),
        heartbeat_timeout: t
            .heartbeat_timeout
            .as_ref()
            .map(duration_from_proto)
            .filter(|d| !d.is_zero()),
        deadline: match (&t.started_time, &t.start_to_close_timeout) {
            (Some(s), Some(d)) => Some(time_from_proto(s) + duration_from_proto(d)),
            _ => None,
        },
        task_queue: w.task_queue.clone(),
        heartbeat_details: payload::payload_list(&t.heartbeat_details).to_vec(),
    }
}

async fn run_attempt(w: &Arc<WorkerInner>, task: PollActivityTaskQueueResponse) {
    let info = info_of(w, &task);
    let token = task.task_token.clone();
    let Some(entry) = w.registry.activities.get(&info.activity_type).cloned() else {
        let message = format!(
            "activity type `{}` is not registered on this worker (task queue `{}`); registered activity types: {}",
            info.activity_type,
            w.task_queue,
            w.registry.activity_names()
        );
        report_failed(w, &token, &ActivityError::retryable(message), None).await;
        return;
    };
    let throttle = info
        .heartbeat_timeout
        .map(|t| t.mul_f64(0.8))
        .unwrap_or(w.options.default_heartbeat_throttle);
    let shared = Arc::new(ActivityShared::new(info));
    w.running.insert(token.clone(), shared.clone());
    let done = CancellationToken::new();
    let heartbeater = tokio::spawn(heartbeat_loop(
        w.clone(),
        shared.clone(),
        token.clone(),
        throttle,
        done.clone(),
    ));

    let input = payload::payload_list(&task.input).to_vec();
    let body = entry.start(ActivityContext::new(shared.clone()), &input);
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    done.cancel();
    let _ = heartbeater.await;
    w.running.remove(&token);

    let details = shared.heartbeat.lock().details.clone();
    let cancel_requested = shared.cancel_reason.lock().is_some();
    match outcome {
        Ok(Ok(result)) => {
            let req = RespondActivityTaskCompletedRequest {
                task_token: token,
                result: payload::to_payloads(result),
                identity: w.identity.clone(),
                namespace: w.namespace.clone(),
                ..Default::default()
            };
            log_response(
                w.service
                    .respond_activity_task_completed(tonic::Request::new(req))
                    .await,
            );
        }
        Ok(Err(e)) if e.is_cancelled() && cancel_requested => {
            let req = RespondActivityTaskCanceledRequest {
                task_token: token,
                details: details.and_then(payload::to_payloads),
                identity: w.identity.clone(),
                namespace: w.namespace.clone(),
                ..Default::default()
            };
            log_response(
                w.service
                    .respond_activity_task_canceled(tonic::Request::new(req))
                    .await,
            );
        }
        Ok(Err(e)) => report_failed(w, &token, &e, details).await,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            report_failed(
                w,
                &token,
                &ActivityError::retryable(format!("activity panicked: {msg}")),
                details,
            )
            .await;
        }
    }
}

async fn report_failed(
    w: &WorkerInner,
    token: &[u8],
    e: &ActivityError,
    details: Option<Vec<crate::proto::common::Payload>>,
) {
    let req = RespondActivityTaskFailedRequest {
        task_token: token.to_vec(),
        failure: Some(application_failure(
            &e.to_string(),
            &e.type_name(),
            e.is_non_retryable(),
        )),
        identity: w.identity.clone(),
        namespace: w.namespace.clone(),
        last_heartbeat_details: details.and_then(payload::to_payloads),
        ..Default::default()
    };
    log_response(
        w.service
            .respond_activity_task_failed(tonic::Request::new(req))
            .await,
    );
}

fn log_response<T>(r: Result<T, tonic::Status>) {
    if let Err(status) = r {
        // NotFound: the workflow closed or the attempt timed out meanwhile; nothing to do.
        tracing::debug!("activity result not accepted: {status}");
    }
}

/// Sends the latest heartbeat details, the first at once and then at most one per `throttle`,
/// and turns "cancel requested" (or an attempt the server no longer knows) into a cancel.
async fn heartbeat_loop(
    w: Arc<WorkerInner>,
    shared: Arc<ActivityShared>,
    token: Vec<u8>,
    throttle: Duration,
    done: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = shared.heartbeat_signal.notified() => {}
        }
        let details = shared.heartbeat.lock().details.clone();
        let req = RecordActivityTaskHeartbeatRequest {
            task_token: token.clone(),
            details: details.and_then(payload::to_payloads),
            identity: w.identity.clone(),
            namespace: w.namespace.clone(),
            ..Default::default()
        };
        match w
            .service
            .record_activity_task_heartbeat(tonic::Request::new(req))
            .await
        {
            Ok(resp) if resp.get_ref().cancel_requested => shared.deliver_cancel("was cancelled"),
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::NotFound => {
                shared.deliver_cancel(
                    "was stopped: its workflow is closed or the attempt is no longer current",
                );
            }
            Err(status) => tracing::debug!("heartbeat not recorded: {status}"),
        }
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(throttle) => {}
        }
    }
}
