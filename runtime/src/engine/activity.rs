//! Activity attempts: polling, heartbeats, outcomes, timeouts and retries.
//!
//! Starting an attempt changes only mutable state (visible in describe). When the activity
//! closes, `ActivityTaskStarted` is written immediately before its close event, so a retried
//! attempt leaves no trace in the history: only the final outcome is written, carrying the
//! attempt number and the previous attempt's failure. After a cancel was requested, failures and
//! timeouts are final.

use super::clock::{now_ms, opt_dur, opt_ts, ts};
use super::core::Core;
use super::effects::{ActEntry, Effects, QueueKey};
use super::failures::timeout_failure;
use super::retry::{self, Decision, timeout_type_name};
use super::rpc_error::{activity_task_not_found, clip, failed_precondition, workflow_completed};
use super::run::Run;
use super::state::State;
use super::token::{TaskKind, TaskToken};
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::common::{Payloads, WorkflowExecution, WorkflowType};
use crate::proto::enums::{RetryState, TimeoutType};
use crate::proto::failure::{Failure, failure::FailureInfo};
use crate::proto::history::{
    ActivityTaskCanceledEventAttributes, ActivityTaskCompletedEventAttributes,
    ActivityTaskFailedEventAttributes, ActivityTaskStartedEventAttributes,
    ActivityTaskTimedOutEventAttributes,
};
use crate::proto::service::{PollActivityTaskQueueRequest, PollActivityTaskQueueResponse};
use crate::store::{ActivityRecord, nesting};
use tonic::Status;

/// `PollActivityTaskQueue`: waits up to the long-poll timeout for an attempt to run.
pub(crate) async fn poll(
    core: &Core,
    req: PollActivityTaskQueueRequest,
) -> Result<PollActivityTaskQueueResponse, Status> {
    core.poll_queue(
        &req.namespace,
        &req.task_queue,
        TaskKind::Activity,
        |st, key| take(core, st, key, &req.identity),
    )
    .await
}

fn take(
    core: &Core,
    st: &mut State,
    key: &QueueKey,
    identity: &str,
) -> Option<(PollActivityTaskQueueResponse, u64)> {
    while let Some(entry) = st.pop_act(key) {
        if st.is_damaged(&entry.run_id) {
            continue;
        }
        let Some(run) = st.runs.get_mut(&entry.run_id) else {
            continue;
        };
        let live = run
            .activities
            .get(&entry.scheduled_event_id)
            .is_some_and(|a| a.attempt == entry.attempt && !a.is_started() && a.retry_at_ms == 0);
        if !live {
            continue;
        }
        let now = now_ms();
        let Some(act) = run.activity_mut(entry.scheduled_event_id) else {
            continue;
        };
        act.started_ms = now;
        act.started_identity = identity.to_string();
        act.started_request_id = uuid::Uuid::new_v4().to_string();
        act.last_heartbeat_ms = 0;
        act.last_worker_identity = identity.to_string();
        let act = act.clone();
        let resp = PollActivityTaskQueueResponse {
            task_token: run.activity_token(&act),
            workflow_namespace: run.rec.namespace.clone(),
            workflow_type: Some(WorkflowType {
                name: run.rec.workflow_type.clone(),
            }),
            workflow_execution: Some(run.execution()),
            activity_type: act.activity_type.clone(),
            activity_id: act.activity_id.clone(),
            header: act.header.clone(),
            input: act.input.clone(),
            heartbeat_details: act.heartbeat_details.clone(),
            scheduled_time: Some(ts(act.first_scheduled_ms)),
            current_attempt_scheduled_time: Some(ts(act.attempt_scheduled_ms)),
            started_time: Some(ts(now)),
            attempt: act.attempt,
            schedule_to_close_timeout: opt_dur(act.schedule_to_close_ms),
            start_to_close_timeout: opt_dur(act.start_to_close_ms),
            heartbeat_timeout: opt_dur(act.heartbeat_ms),
            retry_policy: act.retry_policy.clone(),
            ..Default::default()
        };
        let mut fx = Effects::default();
        fx.touch(&entry.run_id);
        let seq = core.finish(st, fx);
        return Some((resp, seq));
    }
    None
}

/// Which attempt a request is about.
#[derive(Debug)]
pub(crate) enum Target {
    /// The attempt a task token names.
    Token(TaskToken),
    /// The current attempt of an activity, by ids.
    Id {
        /// Workflow id.
        workflow_id: String,
        /// Run id; empty for the latest run.
        run_id: String,
        /// Activity id.
        activity_id: String,
    },
}

/// What a worker reports about an attempt.
// Short-lived and moved once; boxing the failure would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Report {
    Heartbeat(Option<Payloads>),
    Completed(Option<Payloads>),
    Failed {
        failure: Option<Failure>,
        last_heartbeat_details: Option<Payloads>,
    },
    Canceled(Option<Payloads>),
}

impl Report {
    /// Cuts the cause chain of a reported failure to `max_depth` levels.
    fn truncate_failure(&mut self, max_depth: usize) {
        if let Report::Failed { failure, .. } = self {
            validate::truncate_causes(failure, max_depth);
        }
    }

    fn check_sizes(&self, limit: usize) -> Result<(), Status> {
        match self {
            Report::Heartbeat(d) => validate::payloads(d, "heartbeat details", limit),
            Report::Completed(r) => validate::payloads(r, "activity result", limit),
            Report::Canceled(d) => validate::payloads(d, "cancellation details", limit),
            Report::Failed {
                failure,
                last_heartbeat_details,
            } => {
                validate::failure(failure, "activity failure", limit)?;
                validate::payloads(last_heartbeat_details, "last heartbeat details", limit)
            }
        }
    }
}

/// Applies a worker's report on an attempt. Returns whether a cancel was requested for it.
pub(crate) async fn report(
    core: &Core,
    namespace: &str,
    target: Target,
    identity: &str,
    mut report: Report,
) -> Result<bool, Status> {
    core.check_namespace(namespace)?;
    if let Target::Id {
        workflow_id,
        run_id,
        activity_id,
    } = &target
    {
        validate::required(workflow_id, "workflow_id")?;
        validate::run_id(run_id)?;
        validate::required(activity_id, "activity_id")?;
    }
    report.truncate_failure(core.cfg.limits.max_failure_depth);
    report.check_sizes(core.cfg.limits.max_payload_bytes)?;
    let (cancel_requested, seq) = {
        let mut st = core.state.lock();
        let (run_id, scheduled) = locate(&st, namespace, &target)?;
        st.check_intact(&run_id)?;
        let Some(run) = st.runs.get_mut(&run_id) else {
            return Err(workflow_completed());
        };
        let mut fx = Effects::default();
        fx.touch(&run_id);
        let cancel_requested = apply(run, &mut fx, now_ms(), scheduled, identity, report)?;
        (cancel_requested, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    Ok(cancel_requested)
}

/// Finds the run and scheduled event id of a started attempt.
fn locate(st: &State, namespace: &str, target: &Target) -> Result<(String, i64), Status> {
    let (run_id, act) = match target {
        Target::Token(token) => {
            let Some(run) = st.runs.get(&token.run_id).filter(|r| token.names(&r.rec)) else {
                return Err(
                    if st.closed.get(&token.run_id).is_some_and(|r| token.names(r)) {
                        workflow_completed()
                    } else {
                        activity_task_not_found()
                    },
                );
            };
            let act = run
                .activities
                .get(&token.scheduled_event_id)
                .filter(|a| a.attempt == token.attempt && a.activity_id == token.activity_id);
            (token.run_id.clone(), act)
        }
        Target::Id {
            workflow_id,
            run_id,
            activity_id,
        } => {
            let exec = WorkflowExecution {
                workflow_id: workflow_id.clone(),
                run_id: run_id.clone(),
            };
            let run_id = st.resolve(namespace, &exec)?;
            let Some(run) = st.runs.get(&run_id) else {
                return Err(workflow_completed());
            };
            let act = run.activities.by_activity_id(activity_id);
            (run_id, act)
        }
    };
    match act {
        Some(act) if act.is_started() => Ok((run_id, act.scheduled_event_id)),
        _ => Err(activity_task_not_found()),
    }
}

fn apply(
    run: &mut Run,
    fx: &mut Effects,
    now: i64,
    scheduled: i64,
    identity: &str,
    report: Report,
) -> Result<bool, Status> {
    let Some(act) = run.activity_mut(scheduled) else {
        return Err(activity_task_not_found());
    };
    let cancel_requested = act.cancel_requested;
    match report {
        Report::Heartbeat(details) => {
            act.last_heartbeat_ms = now;
            act.heartbeat_details = details;
        }
        Report::Completed(result) => {
            let done = ActivityTaskCompletedEventAttributes {
                result,
                scheduled_event_id: scheduled,
                identity: identity.to_string(),
                ..Default::default()
            };
            close(
                run,
                fx,
                now,
                scheduled,
                EventAttributes::ActivityTaskCompletedEventAttributes(done),
            );
        }
        Report::Failed {
            failure,
            last_heartbeat_details,
        } => {
            if last_heartbeat_details.is_some() {
                act.heartbeat_details = last_heartbeat_details;
            }
            match decide(act, failure.as_ref(), now) {
                Decision::Retry(delay) => retry(run, fx, now, scheduled, failure, delay),
                Decision::Stop(state) => {
                    let failed = ActivityTaskFailedEventAttributes {
                        failure,
                        scheduled_event_id: scheduled,
                        identity: identity.to_string(),
                        retry_state: state as i32,
                        ..Default::default()
                    };
                    close(
                        run,
                        fx,
                        now,
                        scheduled,
                        EventAttributes::ActivityTaskFailedEventAttributes(failed),
                    );
                }
            }
        }
        Report::Canceled(details) => {
            if !act.cancel_requested {
                return Err(failed_precondition(format!(
                    "activity \"{}\" cannot be reported canceled: no cancel was requested for it; report it completed or failed instead",
                    clip(&act.activity_id)
                )));
            }
            let canceled = ActivityTaskCanceledEventAttributes {
                details,
                latest_cancel_requested_event_id: act.cancel_requested_event_id,
                scheduled_event_id: scheduled,
                identity: identity.to_string(),
                ..Default::default()
            };
            close(
                run,
                fx,
                now,
                scheduled,
                EventAttributes::ActivityTaskCanceledEventAttributes(canceled),
            );
        }
    }
    Ok(cancel_requested)
}

/// Removes a pending activity and writes its outcome: `ActivityTaskStarted` (when the attempt
/// started) then the close event, held while a workflow task runs.
fn close(run: &mut Run, fx: &mut Effects, now: i64, scheduled: i64, outcome: EventAttributes) {
    let Some(act) = run.remove_activity(scheduled) else {
        return;
    };
    let mut batch = Vec::with_capacity(2);
    if act.is_started() {
        batch.push(EventAttributes::ActivityTaskStartedEventAttributes(
            ActivityTaskStartedEventAttributes {
                scheduled_event_id: act.scheduled_event_id,
                identity: act.started_identity.clone(),
                request_id: act.started_request_id.clone(),
                attempt: act.attempt,
                last_failure: act.last_failure.clone(),
                ..Default::default()
            },
        ));
    }
    batch.push(outcome);
    run.add_events(fx, now, batch);
}

/// Whether a failed attempt runs again.
fn decide(act: &ActivityRecord, failure: Option<&Failure>, now: i64) -> Decision {
    if act.cancel_requested {
        return Decision::Stop(RetryState::CancelRequested);
    }
    if let Some(FailureInfo::TimeoutFailureInfo(t)) = failure.and_then(|f| f.failure_info.as_ref())
    {
        let kind = TimeoutType::try_from(t.timeout_type).unwrap_or(TimeoutType::Unspecified);
        if matches!(
            kind,
            TimeoutType::ScheduleToStart | TimeoutType::ScheduleToClose
        ) {
            return Decision::Stop(RetryState::Timeout);
        }
    }
    let expiration = if act.schedule_to_close_ms > 0 {
        act.first_scheduled_ms + act.schedule_to_close_ms
    } else {
        0
    };
    let policy = act.retry_policy.clone().unwrap_or_default();
    retry::decide(&policy, act.attempt, failure, now, expiration)
}

/// Schedules the next attempt after `delay` ms; no event is written.
fn retry(
    run: &mut Run,
    fx: &mut Effects,
    now: i64,
    scheduled: i64,
    failure: Option<Failure>,
    delay: i64,
) {
    let namespace = run.rec.namespace.clone();
    let Some(act) = run.activity_mut(scheduled) else {
        return;
    };
    act.attempt += 1;
    act.started_ms = 0;
    act.started_identity.clear();
    act.started_request_id.clear();
    act.last_heartbeat_ms = 0;
    act.last_failure = failure;
    bound_last_failure(act);
    act.last_attempt_complete_ms = now;
    act.attempt_scheduled_ms = now + delay;
    act.retry_at_ms = if delay > 0 { now + delay } else { 0 };
    if delay <= 0 {
        let entry = ActEntry {
            run_id: act.run_id.clone(),
            scheduled_event_id: scheduled,
            attempt: act.attempt,
        };
        fx.act_ready
            .push(((namespace, act.task_queue.clone()), entry));
    }
}

/// The net behind [`validate::truncate_causes`]: a record's last failure never nests deeper
/// than a stored record may (the record is one level above it).
fn bound_last_failure(act: &mut ActivityRecord) {
    let Some(failure) = act.last_failure.as_mut() else {
        return;
    };
    if nesting::bound_failure(failure, nesting::MAX_STORED_NESTING - 1) {
        tracing::error!(
            run_id = %act.run_id,
            activity_id = %act.activity_id,
            "the last failure of an activity nested deeper than a stored record may; its deepest parts were cut"
        );
    }
}

/// Handles a timeout or the end of a back-off of the activity scheduled at `scheduled`.
pub(crate) fn on_due(run: &mut Run, fx: &mut Effects, now: i64, scheduled: i64) {
    let Some(act) = run.activities.get(&scheduled).cloned() else {
        return;
    };
    let started = act.is_started();
    let expired = |start: i64, timeout: i64| timeout > 0 && now >= start + timeout;
    let timeout = if expired(act.first_scheduled_ms, act.schedule_to_close_ms) {
        Some(TimeoutType::ScheduleToClose)
    } else if started && expired(act.started_ms, act.start_to_close_ms) {
        Some(TimeoutType::StartToClose)
    } else if started && expired(act.started_ms.max(act.last_heartbeat_ms), act.heartbeat_ms) {
        Some(TimeoutType::Heartbeat)
    } else if !started
        && act.retry_at_ms == 0
        && expired(act.attempt_scheduled_ms, act.schedule_to_start_ms)
    {
        Some(TimeoutType::ScheduleToStart)
    } else {
        None
    };
    if let Some(kind) = timeout {
        time_out(run, fx, now, &act, kind);
    } else if !started && act.retry_at_ms > 0 && now >= act.retry_at_ms {
        let namespace = run.rec.namespace.clone();
        if let Some(act) = run.activity_mut(scheduled) {
            act.retry_at_ms = 0;
            let entry = ActEntry {
                run_id: act.run_id.clone(),
                scheduled_event_id: scheduled,
                attempt: act.attempt,
            };
            fx.act_ready
                .push(((namespace, act.task_queue.clone()), entry));
        }
    }
}

fn time_out(run: &mut Run, fx: &mut Effects, now: i64, act: &ActivityRecord, kind: TimeoutType) {
    let message = format!("activity {} timeout", timeout_type_name(kind));
    let failure = timeout_failure(message, kind, None);
    let state = match decide(act, Some(&failure), now) {
        Decision::Retry(delay) => {
            retry(run, fx, now, act.scheduled_event_id, Some(failure), delay);
            return;
        }
        Decision::Stop(state) => state,
    };
    let final_failure = if state == RetryState::Timeout
        && matches!(kind, TimeoutType::StartToClose | TimeoutType::Heartbeat)
    {
        timeout_failure(
            format!(
                "activity {} timeout, and too little of the ScheduleToClose timeout is left for another attempt",
                timeout_type_name(kind)
            ),
            TimeoutType::ScheduleToClose,
            act.heartbeat_details.clone(),
        )
    } else {
        timeout_failure(failure.message, kind, act.heartbeat_details.clone())
    };
    let timed_out = ActivityTaskTimedOutEventAttributes {
        failure: Some(final_failure),
        scheduled_event_id: act.scheduled_event_id,
        started_event_id: 0,
        retry_state: state as i32,
    };
    close(
        run,
        fx,
        now,
        act.scheduled_event_id,
        EventAttributes::ActivityTaskTimedOutEventAttributes(timed_out),
    );
}

/// `last_heartbeat_time` for describe.
pub(crate) fn last_heartbeat(act: &ActivityRecord) -> Option<prost_wkt_types::Timestamp> {
    opt_ts(act.last_heartbeat_ms)
}
