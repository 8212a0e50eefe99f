//! The deterministic executor. It feeds a run's history to the workflow future in workflow-task
//! sized batches, polls the future (and the update handlers running beside it) until they
//! block, and collects the commands it issued. On replay each command must match the event
//! recorded for it; a mismatch is a non-determinism error that names both sides.

use super::context::WorkflowContext;
use super::state::{ActivityOutcome, IssuedCommand, RunState};
use super::update_handlers::HandlerOutput;
use super::update_protocol::{self as protocol, DispatchError, Dispatched, Incoming};
use crate::activity::ActivityOptions;
use crate::definition::BoxFuture;
use crate::error::{ActivityFailed, Cancelled, WorkflowError};
use crate::failure::{application_failure, failure_text};
use crate::payload;
use crate::proto::command::{self as cmd, Command};
use crate::proto::common::{ActivityType, Payload as RawPayload, RetryPolicy as ProtoRetryPolicy};
use crate::proto::enums::{CommandType, EventType, TaskQueueKind};
use crate::proto::history::HistoryEvent;
use crate::proto::protocol::Message;
use crate::proto::taskqueue::TaskQueue;
use crate::proto::{CommandAttributes, EventAttributes};
use crate::proto::{duration_to_proto, event_type_name, time_from_proto};
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// The encoded outcome of a workflow body.
pub(crate) type RunOutput = Result<Vec<RawPayload>, WorkflowError>;

/// Why an activation could not produce commands. Either way the workflow task fails and the run
/// stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// Replay did not match the recorded history.
    #[error("non-deterministic workflow: {0}")]
    NonDeterminism(String),
    /// The workflow code panicked.
    #[error("workflow code panicked: {0}")]
    Panic(String),
    /// A signal the code received does not decode into its channel's type; the message names
    /// the signal and the type.
    #[error("{0}")]
    SignalPayload(String),
}

struct FlagWaker(AtomicBool);
impl FlagWaker {
    /// A flag that is set, so that what it belongs to is polled first thing.
    fn set() -> Arc<Self> {
        Arc::new(Self(AtomicBool::new(true)))
    }
    /// Whether it was woken since the last look; clears it.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}
impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What an activation answers the workflow task with.
#[derive(Debug, Default)]
pub(crate) struct Activation {
    pub(crate) commands: Vec<Command>,
    /// Protocol messages: update acceptances, rejections and responses.
    pub(crate) messages: Vec<Message>,
}

/// An accepted update whose handler runs as a coroutine of the run.
struct RunningUpdate {
    update_id: String,
    name: String,
    request_message_id: String,
    future: BoxFuture<HandlerOutput>,
    woken: Arc<FlagWaker>,
}

/// One workflow run held by a worker: its future and how far into its history it has got.
pub(crate) struct WorkflowRun {
    state: Arc<Mutex<RunState>>,
    future: Option<BoxFuture<RunOutput>>,
    body_woken: Arc<FlagWaker>,
    /// The handlers of accepted updates still running, in the order they were accepted.
    handlers: Vec<RunningUpdate>,
    /// The ids of the updates this run accepted, so that a request delivered again is not
    /// handled twice.
    accepted: HashSet<String>,
    /// The rejections of the current activation (they are messages without commands).
    rejections: Vec<Message>,
    /// Commands issued but not yet matched with recorded events, oldest first.
    unmatched: VecDeque<IssuedCommand>,
    /// The id of the last history event applied (ids are dense from 1).
    processed: i64,
    /// Whether the body has returned (its close command was issued).
    finished: bool,
    /// Whether every activation is a replay, even the last one's (a run rebuilt only to
    /// answer a query, whose commands are never sent).
    replay_only: bool,
}

impl std::fmt::Debug for WorkflowRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowRun")
            .field("processed", &self.processed)
            .field("finished", &self.finished)
            .finish()
    }
}

impl WorkflowRun {
    /// A run whose body is built by `start` from a context.
    pub(crate) fn new(
        state: RunState,
        start: impl FnOnce(WorkflowContext) -> BoxFuture<RunOutput>,
    ) -> Self {
        let state = Arc::new(Mutex::new(state));
        let future = start(WorkflowContext::new(state.clone()));
        Self {
            state,
            future: Some(future),
            body_woken: FlagWaker::set(),
            handlers: Vec::new(),
            accepted: HashSet::new(),
            rejections: Vec::new(),
            unmatched: VecDeque::new(),
            processed: 0,
            finished: false,
            replay_only: false,
        }
    }

    /// Whether `history` (the whole history, or only its newest events as a sticky task
    /// carries them) continues what this cached run has seen: the event after the last task it
    /// handled must be that task's `WorkflowTaskCompleted`.
    pub(crate) fn can_continue_with(&self, history: &[HistoryEvent]) -> bool {
        self.processed > 0
            && history
                .iter()
                .find(|e| e.event_id == self.processed + 1)
                .is_some_and(|e| e.event_type == EventType::WorkflowTaskCompleted as i32)
    }

    /// The id of the last history event applied: the `WorkflowTaskStarted` of the last task
    /// the run handled.
    pub(crate) fn processed(&self) -> i64 {
        self.processed
    }

    /// Answers query `name` with `args` from the run's current state, leaving the run as it
    /// was: the answer's payloads, or the message the query fails with.
    pub(crate) fn answer_query(
        &self,
        name: &str,
        args: &[RawPayload],
    ) -> Result<Vec<RawPayload>, String> {
        super::query::answer(&self.state, name, args)
    }

    /// Replays `history` to rebuild the run for a query, up to the workflow task started at
    /// event `last_completed` (the last one that completed) and the events of its commands:
    /// every activation runs as a replay (the code sees `is_replaying`, nothing is logged as
    /// new), each command must match its recorded event as on any replay, and nothing is sent.
    /// The events after those (a task in flight, signals it will deliver) are left out, so the
    /// run is in the state its last completed task left.
    ///
    /// # Errors
    /// As [`WorkflowRun::activate`], and a non-determinism error when the code issued a command
    /// in that last task that the history does not record.
    pub(crate) fn replay_for_query(
        &mut self,
        history: &[HistoryEvent],
        last_completed: i64,
    ) -> Result<(), ActivationError> {
        self.replay_only = true;
        let end = history
            .iter()
            .position(|e| {
                let kind = EventType::try_from(e.event_type).ok();
                e.event_id > last_completed
                    && kind != Some(EventType::WorkflowTaskCompleted)
                    && !kind.is_some_and(is_command_event)
            })
            .unwrap_or(history.len());
        self.activate(&history[..end])?;
        match self.unrecorded_commands().first() {
            None => Ok(()),
            Some(command) => Err(ActivationError::NonDeterminism(format!(
                "the workflow code issued {command} in the workflow task started at event \
                 {last_completed}, but the history has no event for it"
            ))),
        }
    }

    /// Whether the body has returned (its close command was issued).
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The commands the code issued that no event of the history applied so far records,
    /// described for a non-determinism message. After a whole completed workflow task every
    /// command must be recorded, so replaying a history up to such a task leaves this empty.
    pub(crate) fn unrecorded_commands(&self) -> Vec<String> {
        self.unmatched.iter().map(IssuedCommand::describe).collect()
    }

    /// Applies the events not yet seen and returns the commands for the current workflow task
    /// (the one whose `WorkflowTaskStarted` ends `history`). `history` is the whole history or
    /// any suffix of it that starts at or before the first event not yet applied.
    pub(crate) fn activate(
        &mut self,
        history: &[HistoryEvent],
    ) -> Result<Vec<Command>, ActivationError> {
        Ok(self.activate_with_messages(history, &[])?.commands)
    }

    /// As [`activate`](Self::activate), with the protocol messages the current task carries
    /// (update requests), and the messages to answer with.
    pub(crate) fn activate_with_messages(
        &mut self,
        history: &[HistoryEvent],
        messages: &[Message],
    ) -> Result<Activation, ActivationError> {
        if let Some(first) = history.first()
            && first.event_id > self.processed + 1
        {
            return Err(ActivationError::NonDeterminism(format!(
                "the history given starts at event {} but the run has applied only up to event {}",
                first.event_id, self.processed
            )));
        }
        for (i, event) in history.iter().enumerate() {
            if event.event_id <= self.processed {
                continue;
            }
            let Ok(kind) = EventType::try_from(event.event_type) else {
                continue;
            };
            match kind {
                EventType::WorkflowTaskStarted => {
                    let next = history.get(i + 1).map(|e| e.event_type);
                    if next.is_none() {
                        self.run_activation(event, false, protocol::requests_in(messages))?;
                    } else if next == Some(EventType::WorkflowTaskCompleted as i32) {
                        let accepted = protocol::accepted_by_task(history, i)
                            .map_err(ActivationError::NonDeterminism)?;
                        self.run_activation(event, true, accepted)?;
                    }
                    // A task that failed or timed out produced nothing: its events fold into
                    // the next task's batch, as they did for the worker that retried it.
                }
                _ if is_command_event(kind) => self.match_command(event, kind)?,
                _ => self.apply_event(event, kind),
            }
            self.processed = event.event_id;
        }
        let started_id = history.last().map(|e| e.event_id).unwrap_or(0);
        let (commands, mut messages) = self.outgoing_commands(started_id);
        messages.append(&mut self.rejections);
        Ok(Activation { commands, messages })
    }

    /// Runs the code of one workflow task, after checking that every earlier command was
    /// recorded: update requests whose handler is registered are dispatched first, then the body
    /// and the running handlers are polled until they block, then the requests that had no
    /// handler yet are dispatched (so a handler the body registers in this task gets them, as
    /// in Temporal's SDKs) and what they started is polled in turn.
    fn run_activation(
        &mut self,
        started: &HistoryEvent,
        replaying: bool,
        incoming: Vec<Incoming>,
    ) -> Result<(), ActivationError> {
        if let Some(c) = self.unmatched.front() {
            return Err(ActivationError::NonDeterminism(format!(
                "the workflow code issued {} before event {}, but the history has no event for it",
                c.describe(),
                started.event_id
            )));
        }
        {
            let mut s = self.state.lock();
            if let Some(t) = &started.event_time {
                s.now = time_from_proto(t);
            }
            s.replaying = replaying || self.replay_only;
        }
        self.rejections.clear();
        // Wakers kept from the last task point at its flags: everything is polled once anew.
        self.body_woken = FlagWaker::set();
        for h in &mut self.handlers {
            h.woken = FlagWaker::set();
        }
        let mut waiting = Vec::new();
        for request in incoming {
            if let Some(request) = self.dispatch(request, replaying, false)? {
                waiting.push(request);
            }
        }
        self.poll_until_blocked()?;
        if !waiting.is_empty() {
            for request in waiting {
                self.dispatch(request, replaying, true)?;
            }
            self.poll_until_blocked()?;
        }
        let mut s = self.state.lock();
        if let Some(failure) = s.task_failure.take() {
            return Err(ActivationError::SignalPayload(failure));
        }
        let issued: Vec<IssuedCommand> = std::mem::take(&mut s.commands);
        drop(s);
        self.unmatched.extend(issued);
        Ok(())
    }

    /// Dispatches one update request; gives it back when it has no handler yet and this is not
    /// its `last_chance`. After the body returned, a new request is rejected: nothing would run
    /// its handler.
    fn dispatch(
        &mut self,
        request: Incoming,
        replaying: bool,
        last_chance: bool,
    ) -> Result<Option<Incoming>, ActivationError> {
        if self.accepted.contains(request.update_id()) {
            tracing::debug!(update_id = %request.update_id(), "an update delivered again after it was accepted; ignored");
            return Ok(None);
        }
        if self.future.is_none() {
            if replaying {
                return Err(ActivationError::NonDeterminism(format!(
                    "the history accepts update `{}` (id \"{}\") after the workflow returned",
                    request.name(),
                    request.update_id()
                )));
            }
            let why = format!(
                "the workflow returned before it could handle update `{}`",
                request.name()
            );
            self.rejections.push(protocol::rejection(&request, &why));
            return Ok(None);
        }
        let request_message_id = request.message_id.clone();
        match protocol::dispatch(&self.state, request, replaying, last_chance) {
            Ok(Dispatched::NoHandler(request)) => Ok(Some(request)),
            Ok(Dispatched::Rejected(message)) => {
                self.rejections.push(message);
                Ok(None)
            }
            Ok(Dispatched::Accepted {
                update_id,
                name,
                future,
            }) => {
                self.accepted.insert(update_id.clone());
                self.handlers.push(RunningUpdate {
                    update_id,
                    name,
                    request_message_id,
                    future,
                    woken: FlagWaker::set(),
                });
                // Its first commands follow its acceptance.
                let index = self.handlers.len() - 1;
                self.poll_handler(index)?;
                Ok(None)
            }
            Err(DispatchError::NonDeterminism(why)) => Err(ActivationError::NonDeterminism(why)),
            Err(DispatchError::Panic(why)) => Err(ActivationError::Panic(why)),
        }
    }

    /// Polls the body and the running update handlers, each when it was woken (the body first,
    /// then the handlers in the order they were accepted), until none is. When the body returns,
    /// its close command is issued and the handlers still running are dropped.
    fn poll_until_blocked(&mut self) -> Result<(), ActivationError> {
        loop {
            let mut polled = false;
            if self.future.is_some() && self.body_woken.take() {
                polled = true;
                if self.poll_body()? {
                    return Ok(());
                }
            }
            let mut i = 0;
            while i < self.handlers.len() {
                if self.handlers[i].woken.take() {
                    polled = true;
                    if self.poll_handler(i)? {
                        continue;
                    }
                }
                i += 1;
            }
            if !polled {
                return Ok(());
            }
        }
    }

    /// Polls the body once; true when it returned.
    fn poll_body(&mut self) -> Result<bool, ActivationError> {
        let Some(fut) = self.future.as_mut() else {
            return Ok(true);
        };
        let waker = Waker::from(self.body_woken.clone());
        let mut cx = Context::from_waker(&waker);
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => Ok(false),
            Ok(Poll::Ready(out)) => {
                self.future = None;
                self.finished = true;
                let close = close_command(out);
                let mut s = self.state.lock();
                s.commands.push(close);
                log_unread_signals(&s);
                warn_unfinished_updates(&s, &self.handlers);
                drop(s);
                self.handlers.clear();
                Ok(true)
            }
            Err(panic) => {
                self.future = None;
                Err(ActivationError::Panic(super::panic::message(&panic)))
            }
        }
    }

    /// Polls the handler at `index` once; when it finished, issues its completion, removes it
    /// and returns true.
    fn poll_handler(&mut self, index: usize) -> Result<bool, ActivationError> {
        let h = &mut self.handlers[index];
        let waker = Waker::from(h.woken.clone());
        let mut cx = Context::from_waker(&waker);
        match std::panic::catch_unwind(AssertUnwindSafe(|| h.future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => Ok(false),
            Ok(Poll::Ready(outcome)) => {
                let h = self.handlers.remove(index);
                self.state
                    .lock()
                    .commands
                    .push(IssuedCommand::CompleteUpdate {
                        name: h.name,
                        update_id: h.update_id,
                        request_message_id: h.request_message_id,
                        outcome,
                    });
                Ok(true)
            }
            Err(panic) => Err(ActivationError::Panic(format!(
                "the handler of update `{}` panicked: {}",
                h.name,
                super::panic::message(&panic)
            ))),
        }
    }

    fn match_command(
        &mut self,
        event: &HistoryEvent,
        kind: EventType,
    ) -> Result<(), ActivationError> {
        let mismatch = |issued: Option<&IssuedCommand>| {
            ActivationError::NonDeterminism(format!(
                "history event {} is {}{} but the workflow code issued {}",
                event.event_id,
                event_type_name(event.event_type),
                event_detail(event),
                issued
                    .map(|c| c.describe())
                    .unwrap_or_else(|| "no command".to_string())
            ))
        };
        let Some(issued) = self.unmatched.front() else {
            return Err(mismatch(None));
        };
        let mut s = self.state.lock();
        let ok = match (issued, &event.attributes) {
            (
                IssuedCommand::ScheduleActivity {
                    seq, activity_type, ..
                },
                Some(EventAttributes::ActivityTaskScheduledEventAttributes(a)),
            ) => {
                let same = a.activity_id == seq.to_string()
                    && a.activity_type.as_ref().map(|t| t.name.as_str())
                        == Some(activity_type.as_str());
                if same && let Some(slot) = s.activities.get_mut(seq) {
                    slot.scheduled_event_id = Some(event.event_id);
                }
                same
            }
            (
                IssuedCommand::RequestCancelActivity { seq },
                Some(EventAttributes::ActivityTaskCancelRequestedEventAttributes(a)),
            ) => s
                .activities
                .get(seq)
                .is_some_and(|slot| slot.scheduled_event_id == Some(a.scheduled_event_id)),
            (
                IssuedCommand::StartTimer { seq, .. },
                Some(EventAttributes::TimerStartedEventAttributes(a)),
            ) => a.timer_id == seq.to_string(),
            (
                IssuedCommand::CancelTimer { seq },
                Some(EventAttributes::TimerCanceledEventAttributes(a)),
            ) => a.timer_id == seq.to_string(),
            (IssuedCommand::Complete { .. }, _) => kind == EventType::WorkflowExecutionCompleted,
            (IssuedCommand::Fail { .. }, _) => kind == EventType::WorkflowExecutionFailed,
            (IssuedCommand::Cancel { .. }, _) => kind == EventType::WorkflowExecutionCanceled,
            (
                c @ (IssuedCommand::AcceptUpdate { .. } | IssuedCommand::CompleteUpdate { .. }),
                _,
            ) => protocol::records(c, event),
            _ => false,
        };
        drop(s);
        if !ok {
            return Err(mismatch(self.unmatched.front()));
        }
        self.unmatched.pop_front();
        Ok(())
    }

    /// Applies an event that is not the result of a command: resolutions and signals.
    fn apply_event(&mut self, event: &HistoryEvent, kind: EventType) {
        let mut s = self.state.lock();
        let resolve = |s: &mut RunState, scheduled: i64, outcome: ActivityOutcome| {
            if let Some(slot) = s.activity_by_event(scheduled)
                && !slot.resolved
                && slot.outcome.is_none()
            {
                slot.outcome = Some(outcome);
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        };
        match (kind, &event.attributes) {
            (_, Some(EventAttributes::ActivityTaskCompletedEventAttributes(a))) => {
                let result = payload::payload_list(&a.result).to_vec();
                resolve(
                    &mut s,
                    a.scheduled_event_id,
                    ActivityOutcome::Completed(result),
                );
            }
            (_, Some(EventAttributes::ActivityTaskFailedEventAttributes(a))) => {
                let reason = format!("failed: {}", failure_text(a.failure.as_ref()));
                let f = activity_failed(&s, a.scheduled_event_id, reason);
                resolve(&mut s, a.scheduled_event_id, ActivityOutcome::Failed(f));
            }
            (_, Some(EventAttributes::ActivityTaskTimedOutEventAttributes(a))) => {
                let reason = format!("timed out: {}", failure_text(a.failure.as_ref()));
                let f = activity_failed(&s, a.scheduled_event_id, reason);
                resolve(&mut s, a.scheduled_event_id, ActivityOutcome::Failed(f));
            }
            (_, Some(EventAttributes::ActivityTaskCanceledEventAttributes(a))) => {
                let name = s
                    .activity_by_event(a.scheduled_event_id)
                    .map(|slot| slot.activity_type.clone())
                    .unwrap_or_default();
                let c = Cancelled::new(format!("activity `{name}` was cancelled"));
                resolve(&mut s, a.scheduled_event_id, ActivityOutcome::Cancelled(c));
            }
            (_, Some(EventAttributes::TimerFiredEventAttributes(a))) => {
                if let Ok(seq) = a.timer_id.parse::<u64>()
                    && let Some(slot) = s.timers.get_mut(&seq)
                    && !slot.cancelled
                {
                    slot.fired = true;
                    if let Some(w) = slot.waker.take() {
                        w.wake();
                    }
                }
            }
            (_, Some(EventAttributes::WorkflowExecutionSignaledEventAttributes(a))) => {
                let input = payload::payload_list(&a.input).to_vec();
                s.signals.deliver(&a.signal_name, input);
            }
            (EventType::WorkflowExecutionCancelRequested, _) => s.request_cancel(),
            _ => {}
        }
    }

    /// The commands to send for the current task (every issued command not yet recorded) and
    /// the protocol messages the update commands among them name.
    fn outgoing_commands(&self, started_event_id: i64) -> (Vec<Command>, Vec<Message>) {
        let s = self.state.lock();
        // Events of this task's commands start right after its WorkflowTaskCompleted, one per
        // command (an unstarted activity's ActivityTaskCanceled follows them all). An activity
        // scheduled and cancelled in the same task needs its future `ActivityTaskScheduled` id.
        let mut next_event_id = started_event_id + 2;
        let mut predicted: std::collections::HashMap<u64, i64> = Default::default();
        let mut out = Vec::with_capacity(self.unmatched.len());
        let mut messages = Vec::new();
        for c in &self.unmatched {
            if let Some((command, message)) = protocol::protocol_command(c) {
                next_event_id += 1;
                out.push(command);
                messages.push(message);
                continue;
            }
            let (command, events) = match c {
                IssuedCommand::ScheduleActivity {
                    seq,
                    activity_type,
                    input,
                    options,
                } => {
                    predicted.insert(*seq, next_event_id);
                    let attrs = schedule_attributes(
                        *seq,
                        activity_type,
                        input,
                        options,
                        &s.info.task_queue,
                    );
                    (
                        command(
                            CommandType::ScheduleActivityTask,
                            CommandAttributes::ScheduleActivityTaskCommandAttributes(attrs),
                        ),
                        1,
                    )
                }
                IssuedCommand::RequestCancelActivity { seq } => {
                    let id = s
                        .activities
                        .get(seq)
                        .and_then(|slot| slot.scheduled_event_id)
                        .or_else(|| predicted.get(seq).copied())
                        .unwrap_or(0);
                    (
                        command(
                            CommandType::RequestCancelActivityTask,
                            CommandAttributes::RequestCancelActivityTaskCommandAttributes(
                                cmd::RequestCancelActivityTaskCommandAttributes {
                                    scheduled_event_id: id,
                                },
                            ),
                        ),
                        1,
                    )
                }
                IssuedCommand::StartTimer { seq, duration } => (
                    command(
                        CommandType::StartTimer,
                        CommandAttributes::StartTimerCommandAttributes(
                            cmd::StartTimerCommandAttributes {
                                timer_id: seq.to_string(),
                                start_to_fire_timeout: Some(duration_to_proto(*duration)),
                            },
                        ),
                    ),
                    1,
                ),
                IssuedCommand::CancelTimer { seq } => (
                    command(
                        CommandType::CancelTimer,
                        CommandAttributes::CancelTimerCommandAttributes(
                            cmd::CancelTimerCommandAttributes {
                                timer_id: seq.to_string(),
                            },
                        ),
                    ),
                    1,
                ),
                IssuedCommand::Complete { result } => (
                    command(
                        CommandType::CompleteWorkflowExecution,
                        CommandAttributes::CompleteWorkflowExecutionCommandAttributes(
                            cmd::CompleteWorkflowExecutionCommandAttributes {
                                result: payload::to_payloads(result.clone()),
                            },
                        ),
                    ),
                    1,
                ),
                IssuedCommand::Fail { message, type_name } => (
                    command(
                        CommandType::FailWorkflowExecution,
                        CommandAttributes::FailWorkflowExecutionCommandAttributes(
                            cmd::FailWorkflowExecutionCommandAttributes {
                                failure: Some(application_failure(message, type_name, false)),
                            },
                        ),
                    ),
                    1,
                ),
                IssuedCommand::Cancel { message } => (
                    command(
                        CommandType::CancelWorkflowExecution,
                        CommandAttributes::CancelWorkflowExecutionCommandAttributes(
                            cmd::CancelWorkflowExecutionCommandAttributes {
                                details: payload::encode(message)
                                    .ok()
                                    .map(|p| crate::proto::common::Payloads { payloads: vec![p] }),
                            },
                        ),
                    ),
                    1,
                ),
                IssuedCommand::AcceptUpdate { .. } | IssuedCommand::CompleteUpdate { .. } => {
                    continue;
                }
            };
            next_event_id += events;
            out.push(command);
        }
        (out, messages)
    }
}

fn command(kind: CommandType, attributes: CommandAttributes) -> Command {
    Command {
        command_type: kind as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}

fn schedule_attributes(
    seq: u64,
    activity_type: &str,
    input: &[RawPayload],
    o: &ActivityOptions,
    workflow_queue: &str,
) -> cmd::ScheduleActivityTaskCommandAttributes {
    cmd::ScheduleActivityTaskCommandAttributes {
        activity_id: seq.to_string(),
        activity_type: Some(ActivityType {
            name: activity_type.to_string(),
        }),
        task_queue: Some(TaskQueue {
            name: o
                .task_queue
                .clone()
                .unwrap_or_else(|| workflow_queue.to_string()),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: payload::to_payloads(input.to_vec()),
        schedule_to_close_timeout: o.schedule_to_close_timeout.map(duration_to_proto),
        schedule_to_start_timeout: o.schedule_to_start_timeout.map(duration_to_proto),
        start_to_close_timeout: o.start_to_close_timeout.map(duration_to_proto),
        heartbeat_timeout: o.heartbeat_timeout.map(duration_to_proto),
        retry_policy: o.retry_policy.as_ref().map(|p| ProtoRetryPolicy {
            initial_interval: Some(duration_to_proto(p.initial_interval)),
            backoff_coefficient: p.backoff_coefficient,
            maximum_interval: p.maximum_interval.map(duration_to_proto),
            maximum_attempts: p.maximum_attempts,
            non_retryable_error_types: p.non_retryable_error_types.clone(),
        }),
        ..Default::default()
    }
}

/// The close command for a body's outcome: the return value decides, never the cancel request.
fn close_command(out: RunOutput) -> IssuedCommand {
    match out {
        Ok(result) => IssuedCommand::Complete { result },
        Err(e) if e.is_cancelled() => IssuedCommand::Cancel {
            message: e.to_string(),
        },
        Err(e) => IssuedCommand::Fail {
            message: e.to_string(),
            type_name: "WorkflowError".to_string(),
        },
    }
}

/// Warns (when the body returns, not on replay) of the update handlers still running, as
/// Temporal's SDKs do: they are dropped, and the engine answers their callers with a failure.
fn warn_unfinished_updates(s: &RunState, handlers: &[RunningUpdate]) {
    if s.replaying || handlers.is_empty() {
        return;
    }
    let names: Vec<String> = handlers
        .iter()
        .map(|h| format!("`{}` (id \"{}\")", h.name, h.update_id))
        .collect();
    warn_at_return(
        s,
        "the workflow returned while update handlers were still running; their callers get a failure",
        &names,
    );
}

/// Warns, once per run (when its body returns, not on replay), of the signals it never read,
/// as Temporal's Go SDK does: they stay in the history, but no code saw them.
fn log_unread_signals(s: &RunState) {
    if s.replaying {
        return;
    }
    let unread = s.signals.unread_counts();
    if unread.is_empty() {
        return;
    }
    let names: Vec<String> = unread
        .iter()
        .map(|(name, n)| format!("`{name}` ({n})"))
        .collect();
    warn_at_return(
        s,
        "the workflow returned with signals it never read",
        &names,
    );
}

/// Warns `what`, then `names`, for the run behind `s` as its body returns.
fn warn_at_return(s: &RunState, what: &str, names: &[String]) {
    tracing::warn!(
        workflow_id = %s.info.workflow_id,
        run_id = %s.info.run_id,
        "{what}: {}",
        names.join(", ")
    );
}

fn activity_failed(s: &RunState, scheduled: i64, reason: String) -> ActivityFailed {
    let (activity_type, activity_id) = s
        .activities
        .iter()
        .find(|(_, slot)| slot.scheduled_event_id == Some(scheduled))
        .map(|(seq, slot)| (slot.activity_type.clone(), seq.to_string()))
        .unwrap_or_default();
    ActivityFailed {
        activity_type,
        activity_id,
        reason,
    }
}

/// Events written because the workflow issued a command.
fn is_command_event(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::ActivityTaskScheduled
            | EventType::ActivityTaskCancelRequested
            | EventType::TimerStarted
            | EventType::TimerCanceled
            | EventType::WorkflowExecutionCompleted
            | EventType::WorkflowExecutionFailed
            | EventType::WorkflowExecutionCanceled
            | EventType::WorkflowExecutionContinuedAsNew
            | EventType::MarkerRecorded
            | EventType::StartChildWorkflowExecutionInitiated
            | EventType::SignalExternalWorkflowExecutionInitiated
            | EventType::RequestCancelExternalWorkflowExecutionInitiated
            | EventType::UpsertWorkflowSearchAttributes
            | EventType::WorkflowPropertiesModified
            | EventType::WorkflowExecutionUpdateAccepted
            | EventType::WorkflowExecutionUpdateCompleted
    )
}

fn event_detail(event: &HistoryEvent) -> String {
    match &event.attributes {
        Some(EventAttributes::ActivityTaskScheduledEventAttributes(a)) => format!(
            " [{}] (activity id {})",
            a.activity_type
                .as_ref()
                .map(|t| t.name.as_str())
                .unwrap_or(""),
            a.activity_id
        ),
        Some(EventAttributes::TimerStartedEventAttributes(a)) => {
            format!(" (timer id {})", a.timer_id)
        }
        Some(EventAttributes::TimerCanceledEventAttributes(a)) => {
            format!(" (timer id {})", a.timer_id)
        }
        Some(EventAttributes::ActivityTaskCancelRequestedEventAttributes(a)) => {
            format!(" (scheduled event {})", a.scheduled_event_id)
        }
        Some(EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
            format!(" (update id \"{}\")", a.protocol_instance_id)
        }
        Some(EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(a)) => format!(
            " (update id \"{}\")",
            a.meta.as_ref().map_or("", |m| m.update_id.as_str())
        ),
        _ => String::new(),
    }
}
