//! The commands of a workflow task completion, turned into events in command order.
//!
//! Supported: ScheduleActivityTask, RequestCancelActivityTask, StartTimer, CancelTimer,
//! RecordMarker, CompleteWorkflowExecution, FailWorkflowExecution, CancelWorkflowExecution,
//! ProtocolMessage (an update's acceptance or response: see [`super::protocol`]).
//! A command that is invalid, or of another type, fails the whole workflow task with a cause and
//! a message (nothing of the completion is kept); so does a close command while events are held
//! or updates wait to be delivered (cause UnhandledCommand), so that the workflow sees them
//! before it closes.
//!
//! A completion may carry at most `Limits::max_commands_per_workflow_task` commands, and a run
//! may have at most `max_pending_activities` activities and `max_pending_timers` timers pending;
//! past a limit the task fails with a cause and a message that name it. Every command costs
//! constant or logarithmic time (activity ids are indexed, held events are looked at once per
//! completion), so the largest completion holds the engine lock for a bounded time.

use super::clock::{duration_ms, opt_dur};
use super::effects::{ActEntry, Effects};
use super::limits::Limits;
use super::protocol::Protocol;
use super::retry;
use super::rpc_error::clip;
use super::run::Run;
use crate::proto::CommandAttributes;
use crate::proto::EventAttributes;
use crate::proto::command::Command;
use crate::proto::command::{
    RequestCancelActivityTaskCommandAttributes, ScheduleActivityTaskCommandAttributes,
};
use crate::proto::enums::{
    CommandType, RetryState, TaskQueueKind, WorkflowExecutionStatus,
    WorkflowTaskFailedCause as Cause,
};
use crate::proto::history::*;
use crate::proto::service::RespondWorkflowTaskCompletedRequest;
use crate::proto::taskqueue::TaskQueue;
use crate::store::{ActivityRecord, TimerRecord};
use prost::Message;
use std::collections::{HashMap, HashSet};

/// Details of the `ActivityTaskCanceled` written for an activity that never started.
const NOT_STARTED_DETAILS: &str = "ACTIVITY_ID_NOT_STARTED";

/// Why a completion was rejected.
#[derive(Debug)]
pub(crate) struct CommandError {
    pub cause: Cause,
    pub message: String,
}

fn reject(cause: Cause, message: impl Into<String>) -> CommandError {
    let message = format!("{}: {}", cause_name(cause), message.into());
    CommandError { cause, message }
}

fn cause_name(cause: Cause) -> String {
    format!("{cause:?}")
}

fn command_name(command_type: i32) -> String {
    CommandType::try_from(command_type)
        .map(|t| format!("{t:?}"))
        .unwrap_or_else(|_| format!("command type {command_type}"))
}

/// What the commands of one completion need besides the run.
#[derive(Debug)]
pub(crate) struct CommandContext<'a> {
    completed_id: i64,
    identity: &'a str,
    has_held: bool,
    payload_limit: usize,
    limits: &'a Limits,
    /// Set when an activity that never started was cancelled: the workflow must see it.
    pub activity_not_started_cancelled: bool,
    /// What the held events say, read once when a command first needs it.
    held: Option<HeldOutcomes>,
    fx: Effects,
    /// The completion's protocol messages (update acceptances, rejections, responses).
    pub protocol: Protocol,
    /// Set when updates arrived while the task ran: the run may not close before the workflow
    /// sees them (Temporal fails such a close with UnhandledCommand too).
    pub updates_waiting: bool,
}

/// The outcomes among a run's held events that commands refer to.
#[derive(Debug)]
struct HeldOutcomes {
    /// Timers whose `TimerFired` is held, not yet cancelled by this completion.
    timers_fired: HashMap<String, i64>,
    /// Scheduled event ids of activities whose close is held.
    activity_closes: HashSet<i64>,
    /// Timers whose held `TimerFired` this completion cancelled, to drop from the held events.
    unheld: HashSet<String>,
}

impl<'a> CommandContext<'a> {
    pub(crate) fn new(
        completed_id: i64,
        identity: &'a str,
        has_held: bool,
        limits: &'a Limits,
    ) -> Self {
        Self {
            completed_id,
            identity,
            has_held,
            payload_limit: limits.max_payload_bytes,
            limits,
            activity_not_started_cancelled: false,
            held: None,
            fx: Effects::default(),
            protocol: Protocol::default(),
            updates_waiting: false,
        }
    }

    fn held(&mut self, run: &Run) -> &mut HeldOutcomes {
        self.held.get_or_insert_with(|| {
            let (timers_fired, activity_closes) = run.held_outcomes();
            HeldOutcomes {
                timers_fired,
                activity_closes,
                unheld: HashSet::new(),
            }
        })
    }

    /// Drops the held `TimerFired` events that commands cancelled, before the held events are
    /// written or the completion ends.
    fn apply_unheld(&mut self, run: &mut Run) {
        if let Some(held) = self.held.as_mut() {
            run.unhold_timers_fired(&std::mem::take(&mut held.unheld));
        }
    }

    /// The effects to apply once the completion is accepted.
    pub(crate) fn into_effects(self) -> Effects {
        self.fx
    }

    fn check_size(&self, len: usize, what: &str) -> Result<(), CommandError> {
        if len > self.payload_limit {
            return Err(reject(
                Cause::PayloadsTooLarge,
                format!(
                    "{what} is {len} bytes, over the limit of {} bytes (Limits::max_payload_bytes)",
                    self.payload_limit
                ),
            ));
        }
        Ok(())
    }
}

/// Cuts the cause chains of the failures that commands carry into the history (a workflow's
/// failure, a marker's failure, the failure a continued run starts with) to `max_depth` levels;
/// see [`validate::truncate_causes`](super::validate::truncate_causes).
pub(crate) fn truncate_failures(commands: &mut [Command], max_depth: usize) {
    use super::validate::truncate_causes;
    for command in commands {
        match command.attributes.as_mut() {
            Some(CommandAttributes::FailWorkflowExecutionCommandAttributes(a)) => {
                truncate_causes(&mut a.failure, max_depth);
            }
            Some(CommandAttributes::RecordMarkerCommandAttributes(a)) => {
                truncate_causes(&mut a.failure, max_depth);
            }
            Some(CommandAttributes::ContinueAsNewWorkflowExecutionCommandAttributes(a)) => {
                truncate_causes(&mut a.failure, max_depth);
            }
            _ => {}
        }
    }
}

/// Refuses one more pending item of a kind once a run has `limit` of them, the way Temporal
/// words it. Child workflows, once supported, are held to `Limits::max_pending_children` here
/// too, with cause `PendingChildWorkflowsLimitExceeded`.
fn check_pending(
    pending: usize,
    limit: usize,
    what: &str,
    field: &str,
    cause: Cause,
) -> Result<(), CommandError> {
    if pending < limit {
        return Ok(());
    }
    Err(reject(
        cause,
        format!(
            "the number of {what}, {pending}, has reached the per-run limit of {limit} (Limits::{field})"
        ),
    ))
}

/// Checks what a completion carries besides its commands' attributes: how many commands, and
/// the size of the SDK metadata written into its `WorkflowTaskCompleted`.
pub(crate) fn check_completion(
    req: &RespondWorkflowTaskCompletedRequest,
    limits: &Limits,
) -> Result<(), CommandError> {
    let limit = limits.max_commands_per_workflow_task;
    if req.commands.len() > limit {
        // Temporal has no cause of its own for this; the completion is too large.
        return Err(reject(
            Cause::GrpcMessageTooLarge,
            format!(
                "the completion carries {} commands, over the limit of {limit} commands per workflow task (Limits::max_commands_per_workflow_task); complete with fewer and let the workflow issue the rest in its next task",
                req.commands.len()
            ),
        ));
    }
    let metadata = req.sdk_metadata.as_ref().map_or(0, Message::encoded_len);
    if metadata > limits.max_payload_bytes {
        return Err(reject(
            Cause::PayloadsTooLarge,
            format!(
                "sdk metadata is {metadata} bytes, over the limit of {} bytes (Limits::max_payload_bytes)",
                limits.max_payload_bytes
            ),
        ));
    }
    Ok(())
}

/// Applies `commands` to `run` in order.
pub(crate) fn handle_all(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    commands: &[Command],
) -> Result<(), CommandError> {
    check_sequence(commands)?;
    let messages = |ctx: &mut CommandContext<'_>, run: &mut Run| {
        ctx.protocol
            .apply_rest(run, now)
            .map_err(|m| reject(Cause::BadUpdateWorkflowExecutionMessage, m))
    };
    for command in commands {
        if close_cause(command.command_type).is_some() {
            // Messages no command named are applied before the run closes.
            messages(ctx, run)?;
        }
        handle(run, ctx, now, command)?;
    }
    if run.is_open() {
        messages(ctx, run)?;
    }
    ctx.apply_unheld(run);
    Ok(())
}

fn close_cause(command_type: i32) -> Option<Cause> {
    match CommandType::try_from(command_type).ok()? {
        CommandType::CompleteWorkflowExecution => {
            Some(Cause::BadCompleteWorkflowExecutionAttributes)
        }
        CommandType::FailWorkflowExecution => Some(Cause::BadFailWorkflowExecutionAttributes),
        CommandType::CancelWorkflowExecution => Some(Cause::BadCancelWorkflowExecutionAttributes),
        CommandType::ContinueAsNewWorkflowExecution => Some(Cause::BadContinueAsNewAttributes),
        _ => None,
    }
}

/// A command that closes the run must be the last one.
fn check_sequence(commands: &[Command]) -> Result<(), CommandError> {
    let Some(pos) = commands
        .iter()
        .position(|c| close_cause(c.command_type).is_some())
    else {
        return Ok(());
    };
    if pos + 1 == commands.len() {
        return Ok(());
    }
    let names: Vec<String> = commands
        .iter()
        .map(|c| command_name(c.command_type))
        .collect();
    let closing = &commands[pos];
    Err(reject(
        close_cause(closing.command_type).unwrap_or(Cause::Unspecified),
        format!(
            "invalid command sequence [{}]: {} must be the last command",
            names.join(", "),
            command_name(closing.command_type)
        ),
    ))
}

fn handle(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    command: &Command,
) -> Result<(), CommandError> {
    let kind = CommandType::try_from(command.command_type).unwrap_or(CommandType::Unspecified);
    let missing = |cause: Cause| {
        reject(
            cause,
            format!(
                "the attributes of {} are not set",
                command_name(command.command_type)
            ),
        )
    };
    match (kind, &command.attributes) {
        (
            CommandType::ScheduleActivityTask,
            Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)),
        ) => schedule_activity(run, ctx, now, a),
        (CommandType::ScheduleActivityTask, _) => {
            Err(missing(Cause::BadScheduleActivityAttributes))
        }
        (
            CommandType::RequestCancelActivityTask,
            Some(CommandAttributes::RequestCancelActivityTaskCommandAttributes(a)),
        ) => cancel_activity(run, ctx, now, a),
        (CommandType::RequestCancelActivityTask, _) => {
            Err(missing(Cause::BadRequestCancelActivityAttributes))
        }
        (CommandType::StartTimer, Some(CommandAttributes::StartTimerCommandAttributes(a))) => {
            start_timer(run, ctx, now, &a.timer_id, &a.start_to_fire_timeout)
        }
        (CommandType::StartTimer, _) => Err(missing(Cause::BadStartTimerAttributes)),
        (CommandType::CancelTimer, Some(CommandAttributes::CancelTimerCommandAttributes(a))) => {
            cancel_timer(run, ctx, now, &a.timer_id)
        }
        (CommandType::CancelTimer, _) => Err(missing(Cause::BadCancelTimerAttributes)),
        (CommandType::RecordMarker, Some(CommandAttributes::RecordMarkerCommandAttributes(a))) => {
            if a.marker_name.is_empty() {
                return Err(reject(
                    Cause::BadRecordMarkerAttributes,
                    "marker_name is not set",
                ));
            }
            let size = a.details.values().map(Message::encoded_len).sum::<usize>()
                + a.failure.as_ref().map_or(0, Message::encoded_len);
            ctx.check_size(size, "marker details")?;
            ctx.check_size(
                a.header.as_ref().map_or(0, Message::encoded_len),
                "marker header",
            )?;
            let attrs = MarkerRecordedEventAttributes {
                marker_name: a.marker_name.clone(),
                details: a.details.clone(),
                workflow_task_completed_event_id: ctx.completed_id,
                header: a.header.clone(),
                failure: a.failure.clone(),
            };
            run.append(now, EventAttributes::MarkerRecordedEventAttributes(attrs));
            Ok(())
        }
        (CommandType::RecordMarker, _) => Err(missing(Cause::BadRecordMarkerAttributes)),
        (CommandType::CompleteWorkflowExecution, attrs) => {
            let result = match attrs {
                Some(CommandAttributes::CompleteWorkflowExecutionCommandAttributes(a)) => {
                    a.result.clone()
                }
                _ => None,
            };
            ctx.check_size(
                result.as_ref().map_or(0, Message::encoded_len),
                "workflow result",
            )?;
            close(run, ctx, now, WorkflowExecutionStatus::Completed, |wtc| {
                EventAttributes::WorkflowExecutionCompletedEventAttributes(
                    WorkflowExecutionCompletedEventAttributes {
                        result,
                        workflow_task_completed_event_id: wtc,
                        new_execution_run_id: String::new(),
                    },
                )
            })
        }
        (CommandType::FailWorkflowExecution, attrs) => {
            let failure = match attrs {
                Some(CommandAttributes::FailWorkflowExecutionCommandAttributes(a)) => {
                    a.failure.clone()
                }
                _ => None,
            };
            ctx.check_size(
                failure.as_ref().map_or(0, Message::encoded_len),
                "workflow failure",
            )?;
            close(run, ctx, now, WorkflowExecutionStatus::Failed, |wtc| {
                EventAttributes::WorkflowExecutionFailedEventAttributes(
                    WorkflowExecutionFailedEventAttributes {
                        failure,
                        retry_state: RetryState::RetryPolicyNotSet as i32,
                        workflow_task_completed_event_id: wtc,
                        new_execution_run_id: String::new(),
                    },
                )
            })
        }
        (CommandType::CancelWorkflowExecution, attrs) => {
            let details = match attrs {
                Some(CommandAttributes::CancelWorkflowExecutionCommandAttributes(a)) => {
                    a.details.clone()
                }
                _ => None,
            };
            ctx.check_size(
                details.as_ref().map_or(0, Message::encoded_len),
                "cancellation details",
            )?;
            close(run, ctx, now, WorkflowExecutionStatus::Canceled, |wtc| {
                EventAttributes::WorkflowExecutionCanceledEventAttributes(
                    WorkflowExecutionCanceledEventAttributes {
                        workflow_task_completed_event_id: wtc,
                        details,
                    },
                )
            })
        }
        (
            CommandType::ProtocolMessage,
            Some(CommandAttributes::ProtocolMessageCommandAttributes(a)),
        ) => ctx
            .protocol
            .apply_named(run, now, &a.message_id)
            .map_err(|m| reject(Cause::BadUpdateWorkflowExecutionMessage, m)),
        (CommandType::ProtocolMessage, _) => Err(missing(Cause::BadUpdateWorkflowExecutionMessage)),
        _ => Err(reject(
            Cause::FeatureDisabled,
            format!(
                "{} commands are not supported by the dacapo engine",
                command_name(command.command_type)
            ),
        )),
    }
}

fn close(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    status: WorkflowExecutionStatus,
    event: impl FnOnce(i64) -> EventAttributes,
) -> Result<(), CommandError> {
    if ctx.has_held {
        return Err(reject(
            Cause::UnhandledCommand,
            "new events arrived while the workflow task ran; the workflow must handle them before it closes",
        ));
    }
    if ctx.updates_waiting {
        return Err(reject(
            Cause::UnhandledCommand,
            "an update arrived while the workflow task ran; the workflow must handle it before it closes",
        ));
    }
    // Events held during this completion (a never-started activity's cancel) precede the close.
    ctx.apply_unheld(run);
    run.flush_held();
    run.append(now, event(ctx.completed_id));
    run.close(&mut ctx.fx, now, status);
    Ok(())
}

/// Timeouts as Temporal fills them: a schedule-to-close timeout bounds the others; without one,
/// the run timeout stands in; heartbeat never exceeds start-to-close.
fn activity_timeouts(
    a: &ScheduleActivityTaskCommandAttributes,
    run_timeout: i64,
) -> Result<[i64; 4], String> {
    let mut s2c = duration_ms(&a.schedule_to_close_timeout, "schedule_to_close_timeout")?;
    let mut s2s = duration_ms(&a.schedule_to_start_timeout, "schedule_to_start_timeout")?;
    let mut stc = duration_ms(&a.start_to_close_timeout, "start_to_close_timeout")?;
    let mut hb = duration_ms(&a.heartbeat_timeout, "heartbeat_timeout")?;
    if s2c > 0 {
        s2s = if s2s > 0 { s2s.min(s2c) } else { s2c };
        stc = if stc > 0 { stc.min(s2c) } else { s2c };
    } else if stc > 0 {
        s2c = run_timeout;
        if s2s == 0 {
            s2s = run_timeout;
        }
    } else {
        return Err(format!(
            "activity \"{}\" of type \"{}\" sets neither start_to_close_timeout nor schedule_to_close_timeout; set at least one",
            clip(&a.activity_id),
            clip(
                a.activity_type
                    .as_ref()
                    .map(|t| t.name.as_str())
                    .unwrap_or_default()
            )
        ));
    }
    if run_timeout > 0 {
        for t in [&mut s2c, &mut s2s, &mut stc, &mut hb] {
            if *t > run_timeout {
                *t = run_timeout;
            }
        }
    }
    if hb > stc {
        hb = stc;
    }
    Ok([s2c, s2s, stc, hb])
}

fn schedule_activity(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    a: &ScheduleActivityTaskCommandAttributes,
) -> Result<(), CommandError> {
    let bad = |m: String| reject(Cause::BadScheduleActivityAttributes, m);
    if a.activity_id.is_empty() {
        return Err(bad("activity_id is not set".into()));
    }
    let type_name = a
        .activity_type
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    if type_name.is_empty() {
        return Err(bad(format!(
            "activity_type is not set on activity \"{}\"",
            clip(&a.activity_id)
        )));
    }
    if run.activities.by_activity_id(&a.activity_id).is_some() {
        return Err(reject(
            Cause::ScheduleActivityDuplicateId,
            format!(
                "activity id \"{}\" is already used by a pending activity",
                clip(&a.activity_id)
            ),
        ));
    }
    let [s2c, s2s, stc, hb] = activity_timeouts(a, run.rec.run_timeout_ms).map_err(bad)?;
    let retry_policy = retry::normalize(a.retry_policy.clone()).map_err(bad)?;
    ctx.check_size(
        a.input.as_ref().map_or(0, Message::encoded_len),
        "activity input",
    )?;
    ctx.check_size(
        a.header.as_ref().map_or(0, Message::encoded_len),
        "activity header",
    )?;
    ctx.check_size(retry_policy.encoded_len(), "activity retry policy")?;
    check_pending(
        run.activities.len(),
        ctx.limits.max_pending_activities,
        "pending activities",
        "max_pending_activities",
        Cause::PendingActivitiesLimitExceeded,
    )?;
    let task_queue = match &a.task_queue {
        Some(tq) if !tq.name.is_empty() => tq.name.clone(),
        _ => run.rec.task_queue.clone(),
    };
    let attrs = ActivityTaskScheduledEventAttributes {
        activity_id: a.activity_id.clone(),
        activity_type: a.activity_type.clone(),
        task_queue: Some(TaskQueue {
            name: task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        header: a.header.clone(),
        input: a.input.clone(),
        schedule_to_close_timeout: opt_dur(s2c),
        schedule_to_start_timeout: opt_dur(s2s),
        start_to_close_timeout: opt_dur(stc),
        heartbeat_timeout: opt_dur(hb),
        workflow_task_completed_event_id: ctx.completed_id,
        retry_policy: Some(retry_policy.clone()),
        priority: a.priority.clone(),
        ..Default::default()
    };
    let id = run.append(
        now,
        EventAttributes::ActivityTaskScheduledEventAttributes(attrs),
    );
    run.put_activity(ActivityRecord {
        run_id: run.rec.run_id.clone(),
        scheduled_event_id: id,
        activity_id: a.activity_id.clone(),
        activity_type: a.activity_type.clone(),
        task_queue: task_queue.clone(),
        input: a.input.clone(),
        header: a.header.clone(),
        schedule_to_close_ms: s2c,
        schedule_to_start_ms: s2s,
        start_to_close_ms: stc,
        heartbeat_ms: hb,
        retry_policy: Some(retry_policy),
        first_scheduled_ms: now,
        attempt: 1,
        attempt_scheduled_ms: now,
        ..Default::default()
    });
    let entry = ActEntry {
        run_id: run.rec.run_id.clone(),
        scheduled_event_id: id,
        attempt: 1,
    };
    ctx.fx
        .act_ready
        .push(((run.rec.namespace.clone(), task_queue), entry));
    Ok(())
}

fn cancel_activity(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    a: &RequestCancelActivityTaskCommandAttributes,
) -> Result<(), CommandError> {
    let scheduled = a.scheduled_event_id;
    let bad = |m: String| reject(Cause::BadRequestCancelActivityAttributes, m);
    if scheduled <= 0 {
        return Err(bad("scheduled_event_id is not set".into()));
    }
    let pending = run.activities.get(&scheduled).cloned();
    match &pending {
        None if !ctx.held(run).activity_closes.contains(&scheduled) => {
            return Err(bad(format!(
                "no pending activity was scheduled by event {scheduled}"
            )));
        }
        Some(act) if act.cancel_requested => {
            return Err(bad(format!(
                "a cancel was already requested for the activity scheduled by event {scheduled}"
            )));
        }
        _ => {}
    }
    let requested = ActivityTaskCancelRequestedEventAttributes {
        scheduled_event_id: scheduled,
        workflow_task_completed_event_id: ctx.completed_id,
    };
    let requested_id = run.append(
        now,
        EventAttributes::ActivityTaskCancelRequestedEventAttributes(requested),
    );
    // An activity whose outcome is already held just gets the request on record.
    let Some(act) = pending else { return Ok(()) };
    if act.is_started() {
        if let Some(act) = run.activity_mut(scheduled) {
            act.cancel_requested = true;
            act.cancel_requested_event_id = requested_id;
        }
        ctx.fx.cancel_tokens.push(run.activity_token(&act));
        return Ok(());
    }
    run.remove_activity(scheduled);
    let details = crate::payload::encode(NOT_STARTED_DETAILS)
        .ok()
        .map(|p| crate::proto::common::Payloads { payloads: vec![p] });
    let canceled = ActivityTaskCanceledEventAttributes {
        details,
        latest_cancel_requested_event_id: requested_id,
        scheduled_event_id: scheduled,
        started_event_id: 0,
        identity: ctx.identity.to_string(),
        ..Default::default()
    };
    // Like any event that is not a command's own, it follows the batch's command events (as
    // Temporal writes it), and it needs a new workflow task.
    run.hold_all(
        now,
        vec![EventAttributes::ActivityTaskCanceledEventAttributes(
            canceled,
        )],
    );
    if let Some(held) = ctx.held.as_mut() {
        held.activity_closes.insert(scheduled);
    }
    ctx.activity_not_started_cancelled = true;
    Ok(())
}

fn start_timer(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    timer_id: &str,
    timeout: &Option<prost_wkt_types::Duration>,
) -> Result<(), CommandError> {
    let bad = |m: String| reject(Cause::BadStartTimerAttributes, m);
    if timer_id.is_empty() {
        return Err(bad("timer_id is not set".into()));
    }
    let ms = duration_ms(timeout, "start_to_fire_timeout").map_err(bad)?;
    if run.timers.contains_key(timer_id) {
        return Err(reject(
            Cause::StartTimerDuplicateId,
            format!(
                "timer id \"{}\" is already used by a pending timer",
                clip(timer_id)
            ),
        ));
    }
    // Temporal has no cause of its own for this limit.
    check_pending(
        run.timers.len(),
        ctx.limits.max_pending_timers,
        "pending timers",
        "max_pending_timers",
        Cause::BadStartTimerAttributes,
    )?;
    let attrs = TimerStartedEventAttributes {
        timer_id: timer_id.to_string(),
        start_to_fire_timeout: *timeout,
        workflow_task_completed_event_id: ctx.completed_id,
    };
    let id = run.append(now, EventAttributes::TimerStartedEventAttributes(attrs));
    run.put_timer(TimerRecord {
        run_id: run.rec.run_id.clone(),
        timer_id: timer_id.to_string(),
        started_event_id: id,
        fire_at_ms: now.saturating_add(ms),
    });
    Ok(())
}

fn cancel_timer(
    run: &mut Run,
    ctx: &mut CommandContext<'_>,
    now: i64,
    timer_id: &str,
) -> Result<(), CommandError> {
    let bad = |m: String| reject(Cause::BadCancelTimerAttributes, m);
    if timer_id.is_empty() {
        return Err(bad("timer_id is not set".into()));
    }
    // A timer that fired while the task ran is cancelled by dropping its held TimerFired.
    let started_event_id = match run.remove_timer(timer_id) {
        Some(timer) => timer.started_event_id,
        None => {
            let held = ctx.held(run);
            match held.timers_fired.remove(timer_id) {
                Some(id) => {
                    held.unheld.insert(timer_id.to_string());
                    let remaining = run.held.len().saturating_sub(held.unheld.len());
                    ctx.has_held = remaining > 0;
                    id
                }
                None => {
                    return Err(bad(format!(
                        "no pending timer has id \"{}\"",
                        clip(timer_id)
                    )));
                }
            }
        }
    };
    let attrs = TimerCanceledEventAttributes {
        timer_id: timer_id.to_string(),
        started_event_id,
        workflow_task_completed_event_id: ctx.completed_id,
        identity: ctx.identity.to_string(),
    };
    run.append(now, EventAttributes::TimerCanceledEventAttributes(attrs));
    Ok(())
}
