//! `WorkflowContext`: what workflow code uses to call activities, sleep, read the time and learn
//! of cancellation, all deterministically so that replay lands in the same state.

use super::info::WorkflowInfo;
use super::query;
use super::shared_state::WorkflowState;
use super::signal::SignalChannel;
use super::state::{ActivityOutcome, ActivitySlot, IssuedCommand, RunState, TimerSlot};
use crate::activity::{ActivityOptions, Cancellation, RetryPolicy};
use crate::definition::ActivityDefinition;
use crate::error::{Cancelled, WorkflowError};
use crate::message::{Query, Signal};
use crate::payload::{self, Payload};
use parking_lot::Mutex;
use rand::Rng;
use rand::distr::{Distribution, StandardUniform};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

/// The context a workflow body receives. Cheap to clone.
///
/// # Determinism
/// Everything on the context is recorded in or derived from the history, so replay gives the
/// same answers: use `ctx.now()`, `ctx.sleep()`, `ctx.random()` and `ctx.uuid()` instead of the
/// clock, timers and random sources of the standard library.
#[derive(Clone)]
pub struct WorkflowContext {
    pub(crate) state: Arc<Mutex<RunState>>,
    /// A disconnected context never sees the run's cancellation.
    disconnected: bool,
}

impl std::fmt::Debug for WorkflowContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("WorkflowContext")
            .field("workflow_id", &s.info.workflow_id)
            .field("run_id", &s.info.run_id)
            .field("disconnected", &self.disconnected)
            .finish()
    }
}

impl WorkflowContext {
    pub(crate) fn new(state: Arc<Mutex<RunState>>) -> Self {
        Self {
            state,
            disconnected: false,
        }
    }

    /// Calls an activity. The input and output types are those of the activity's definition;
    /// the returned builder sets per-call options and is awaited for the result.
    ///
    /// ```
    /// use dacapo::prelude::*;
    /// use std::time::Duration;
    ///
    /// #[activity]
    /// async fn greet(name: String) -> Result<String, ActivityError> {
    ///     Ok(format!("hello, {name}"))
    /// }
    ///
    /// #[workflow]
    /// async fn hello(ctx: WorkflowContext) -> WorkflowResult<String> {
    ///     let out = ctx
    ///         .activity(greet, "world".to_string())
    ///         .start_to_close(Duration::from_secs(10))
    ///         .await?;
    ///     Ok(out)
    /// }
    /// ```
    pub fn activity<A: ActivityDefinition>(&self, _def: A, input: A::Input) -> ActivityCall<A> {
        ActivityCall {
            ctx: self.clone(),
            input: Some(input),
            options: A::options(),
            _def: PhantomData,
        }
    }

    /// A durable timer: resolves after `duration` of workflow time, or with a cancelled error if
    /// this context is cancelled first.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep {
            ctx: self.clone(),
            duration,
            seq: None,
        }
    }

    /// The current workflow time: the time the current workflow task started. Stable on replay.
    pub fn now(&self) -> SystemTime {
        self.state.lock().now
    }

    /// A random value from the run's deterministic generator.
    pub fn random<T>(&self) -> T
    where
        StandardUniform: Distribution<T>,
    {
        let mut s = self.state.lock();
        if s.refuse_in_query("draw a random value (`ctx.random`)") {
            // The run's generator does not move; the query fails.
            return s.rng.clone().random();
        }
        s.rng.random()
    }

    /// A random (v4) UUID from the run's deterministic generator.
    pub fn uuid(&self) -> uuid::Uuid {
        let mut s = self.state.lock();
        let bytes: [u8; 16] = if s.refuse_in_query("draw a random UUID (`ctx.uuid`)") {
            s.rng.clone().random()
        } else {
            s.rng.random()
        };
        drop(s);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// Facts about the running workflow.
    pub fn info(&self) -> WorkflowInfo {
        self.state.lock().info.clone()
    }

    /// Whether the workflow is replaying recorded history (useful to silence logs).
    pub fn is_replaying(&self) -> bool {
        self.state.lock().replaying
    }

    /// Whether a cancel of this context was requested. Always false on a disconnected context.
    pub fn is_cancel_requested(&self) -> bool {
        !self.disconnected && self.state.lock().cancel_requested
    }

    /// A future that resolves when this context is cancelled (never, on a disconnected context).
    pub fn cancelled(&self) -> CancelledFuture {
        CancelledFuture { ctx: self.clone() }
    }

    /// The receiver of the signals named by `signal`, decoded into its type.
    ///
    /// Signals sent before the channel was asked for are kept, not lost: the first `recv`
    /// returns the oldest unread one. Channels asked for on a disconnected context (in
    /// `on_cancel!` cleanup) keep waiting after the run's cancel; on the root context a `recv`
    /// with nothing unread returns a cancelled error once the cancel is requested.
    ///
    /// ```
    /// use dacapo::prelude::*;
    /// use serde::{Deserialize, Serialize};
    /// use std::time::Duration;
    ///
    /// #[derive(Serialize, Deserialize)]
    /// pub struct Approval {
    ///     pub by: String,
    /// }
    ///
    /// pub const APPROVE: Signal<Approval> = Signal::new("approve");
    ///
    /// #[workflow]
    /// async fn approval(ctx: WorkflowContext) -> WorkflowResult<String> {
    ///     let mut approvals = ctx.signal_channel(APPROVE);
    ///     dacapo::select! {
    ///         a = approvals.recv() => Ok(format!("approved by {}", a?.by)),
    ///         t = ctx.sleep(Duration::from_secs(24 * 3600)) => { t?; Ok("timed out".into()) }
    ///     }
    /// }
    /// ```
    ///
    /// # Determinism
    /// Signals are delivered in history order; see [`SignalChannel`].
    pub fn signal_channel<T: Payload>(&self, signal: Signal<T>) -> SignalChannel<T> {
        SignalChannel::new(self.state.clone(), self.disconnected, signal)
    }

    /// A value shared by the workflow body and its query and update handlers, starting as
    /// `init`. See [`WorkflowState`].
    pub fn state<T: Send + 'static>(&self, init: T) -> WorkflowState<T> {
        WorkflowState::new(self.state.clone(), init)
    }

    /// Answers `query` with `handler`, from now on: a client's
    /// [`WorkflowHandle::query`](crate::WorkflowHandle::query) of this run (open or closed)
    /// returns what the handler returns. Registering a name again replaces the handler.
    ///
    /// The handler is a plain closure: it reads the workflow's state (a [`WorkflowState`] it
    /// captured, say) and returns at once. Its `Err(e)` fails the query with `e`'s text.
    ///
    /// ```
    /// use dacapo::prelude::*;
    ///
    /// pub const STATUS: Query<(), String> = Query::new("status");
    /// pub const ITEM: Query<usize, String> = Query::new("item");
    ///
    /// #[workflow]
    /// async fn order(ctx: WorkflowContext, items: Vec<String>) -> WorkflowResult<()> {
    ///     let status = ctx.state("received".to_string());
    ///     ctx.on_query(STATUS, {
    ///         let status = status.clone();
    ///         move |()| Ok::<_, String>(status.get())
    ///     });
    ///     ctx.on_query(ITEM, move |i: usize| items.get(i).cloned().ok_or("no such item"));
    ///     status.set("packed".to_string());
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Determinism
    /// A query never changes the run, so it cannot change what the workflow does: from a
    /// handler, changing a [`WorkflowState`], calling an activity, sleeping, reading a signal,
    /// drawing a random value or registering a handler changes nothing and fails the query
    /// with an error that says what was tried. A panic in a handler fails the query, not the
    /// worker. A query is answered from the state after the last workflow task that
    /// completed: on a cached run from its memory, otherwise (and on a closed run) by replaying
    /// its history, which writes nothing.
    pub fn on_query<A, R, E, F>(&self, query: Query<A, R>, handler: F)
    where
        A: Payload,
        R: Payload,
        E: std::fmt::Display,
        F: Fn(A) -> Result<R, E> + Send + 'static,
    {
        query::register(&self.state, query, handler);
    }

    /// A context with the same run and options but not the cancellation: activities and timers
    /// started on it run normally after the workflow was cancelled. `on_cancel!` blocks run on one.
    pub fn disconnected(&self) -> WorkflowContext {
        Self {
            state: self.state.clone(),
            disconnected: true,
        }
    }
}

/// Resolves when the context is cancelled. See [`WorkflowContext::cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CancelledFuture {
    ctx: WorkflowContext,
}

impl Future for CancelledFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.ctx.disconnected {
            return Poll::Pending;
        }
        let mut s = self.ctx.state.lock();
        if s.cancel_requested {
            Poll::Ready(())
        } else {
            s.cancel_wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A pending activity call: set options, then `.await` it.
#[must_use = "an activity call does nothing unless awaited"]
pub struct ActivityCall<A: ActivityDefinition> {
    ctx: WorkflowContext,
    input: Option<A::Input>,
    options: ActivityOptions,
    _def: PhantomData<fn() -> A>,
}

impl<A: ActivityDefinition> std::fmt::Debug for ActivityCall<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityCall")
            .field("activity", &A::NAME)
            .field("options", &self.options)
            .finish()
    }
}

impl<A: ActivityDefinition> ActivityCall<A> {
    /// Overrides the start-to-close timeout.
    pub fn start_to_close(mut self, d: Duration) -> Self {
        self.options = self.options.start_to_close(d);
        self
    }
    /// Overrides the schedule-to-close timeout.
    pub fn schedule_to_close(mut self, d: Duration) -> Self {
        self.options = self.options.schedule_to_close(d);
        self
    }
    /// Overrides the schedule-to-start timeout.
    pub fn schedule_to_start(mut self, d: Duration) -> Self {
        self.options = self.options.schedule_to_start(d);
        self
    }
    /// Overrides the heartbeat timeout.
    pub fn heartbeat_timeout(mut self, d: Duration) -> Self {
        self.options = self.options.heartbeat_timeout(d);
        self
    }
    /// Overrides the retry policy.
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.options = self.options.retry_policy(p);
        self
    }
    /// Overrides the cancellation type.
    pub fn cancellation(mut self, c: Cancellation) -> Self {
        self.options = self.options.cancellation(c);
        self
    }
    /// Overrides the task queue.
    pub fn task_queue(mut self, q: impl Into<String>) -> Self {
        self.options = self.options.task_queue(q);
        self
    }
    /// Replaces all options at once.
    pub fn options(mut self, o: ActivityOptions) -> Self {
        self.options = o;
        self
    }
}

impl<A: ActivityDefinition> IntoFuture for ActivityCall<A> {
    type Output = Result<A::Output, WorkflowError>;
    type IntoFuture = ActivityFuture<A>;
    fn into_future(self) -> ActivityFuture<A> {
        ActivityFuture {
            call: self,
            seq: None,
            done: false,
        }
    }
}

/// The future of an activity call. Issues its command when first polled.
#[must_use = "futures do nothing unless awaited"]
pub struct ActivityFuture<A: ActivityDefinition> {
    call: ActivityCall<A>,
    seq: Option<u64>,
    done: bool,
}

impl<A: ActivityDefinition> std::fmt::Debug for ActivityFuture<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityFuture")
            .field("activity", &A::NAME)
            .field("seq", &self.seq)
            .finish()
    }
}

impl<A: ActivityDefinition> Unpin for ActivityFuture<A> {}

fn cancelled_err(what: &str) -> WorkflowError {
    WorkflowError::from(Cancelled::new(format!("{what} was cancelled")))
}

impl<A: ActivityDefinition> Future for ActivityFuture<A> {
    type Output = Result<A::Output, WorkflowError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Pending;
        }
        let ctx_cancelled = this.call.ctx.is_cancel_requested();
        let mut s = this.call.ctx.state.lock();
        let what = format!("call activity `{}`", A::NAME);
        if s.refuse_in_query(&what) {
            this.done = true;
            return Poll::Ready(Err(query::refused_error(&what)));
        }
        let seq = match this.seq {
            Some(seq) => seq,
            None => {
                let Some(input) = this.call.input.take() else {
                    return Poll::Pending;
                };
                let input = match A::encode_input(&input) {
                    Ok(p) => p,
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Err(e.into()));
                    }
                };
                let seq = s.next_activity_seq;
                s.next_activity_seq += 1;
                this.seq = Some(seq);
                s.commands.push(IssuedCommand::ScheduleActivity {
                    seq,
                    activity_type: A::NAME.to_string(),
                    input,
                    options: this.call.options.clone(),
                });
                s.activities.insert(
                    seq,
                    ActivitySlot {
                        activity_type: A::NAME.to_string(),
                        scheduled_event_id: None,
                        outcome: None,
                        resolved: false,
                        cancel_requested: false,
                        waker: None,
                    },
                );
                if ctx_cancelled {
                    // New work on a cancelled context: scheduled and cancelled in one task.
                    s.commands
                        .push(IssuedCommand::RequestCancelActivity { seq });
                    if let Some(slot) = s.activities.get_mut(&seq) {
                        slot.cancel_requested = true;
                        slot.resolved = true;
                    }
                    this.done = true;
                    return Poll::Ready(Err(cancelled_err(&format!("activity `{}`", A::NAME))));
                }
                seq
            }
        };
        let cancellation = this.call.options.cancellation;
        let Some(slot) = s.activities.get_mut(&seq) else {
            return Poll::Pending;
        };
        if let Some(outcome) = slot.outcome.clone() {
            slot.resolved = true;
            this.done = true;
            drop(s);
            return Poll::Ready(match outcome {
                ActivityOutcome::Completed(payloads) => {
                    payload::decode::<A::Output>(&payloads, 0).map_err(WorkflowError::from)
                }
                ActivityOutcome::Failed(f) => Err(f.into()),
                ActivityOutcome::Cancelled(c) => Err(c.into()),
            });
        }
        if ctx_cancelled && !slot.cancel_requested {
            slot.cancel_requested = true;
            match cancellation {
                Cancellation::TryCancel => {
                    slot.resolved = true;
                    this.done = true;
                    s.commands
                        .push(IssuedCommand::RequestCancelActivity { seq });
                    return Poll::Ready(Err(cancelled_err(&format!("activity `{}`", A::NAME))));
                }
                Cancellation::WaitCompleted => {
                    s.commands
                        .push(IssuedCommand::RequestCancelActivity { seq });
                }
                Cancellation::Abandon => {
                    slot.resolved = true;
                    this.done = true;
                    return Poll::Ready(Err(cancelled_err(&format!("activity `{}`", A::NAME))));
                }
            }
        }
        if let Some(slot) = s.activities.get_mut(&seq) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A durable timer. See [`WorkflowContext::sleep`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    ctx: WorkflowContext,
    duration: Duration,
    seq: Option<u64>,
}

impl Future for Sleep {
    type Output = Result<(), WorkflowError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ctx_cancelled = self.ctx.is_cancel_requested();
        let ctx = self.ctx.clone();
        let mut s = ctx.state.lock();
        if s.refuse_in_query("sleep (`ctx.sleep`)") {
            return Poll::Ready(Err(query::refused_error("sleep (`ctx.sleep`)")));
        }
        let seq = match self.seq {
            Some(seq) => seq,
            None => {
                let seq = s.next_timer_seq;
                s.next_timer_seq += 1;
                self.seq = Some(seq);
                s.commands.push(IssuedCommand::StartTimer {
                    seq,
                    duration: self.duration,
                });
                s.timers.insert(seq, TimerSlot::default());
                seq
            }
        };
        let Some(slot) = s.timers.get_mut(&seq) else {
            return Poll::Pending;
        };
        if slot.fired {
            return Poll::Ready(Ok(()));
        }
        if slot.cancelled {
            return Poll::Ready(Err(cancelled_err("timer")));
        }
        if ctx_cancelled {
            slot.cancelled = true;
            s.commands.push(IssuedCommand::CancelTimer { seq });
            return Poll::Ready(Err(cancelled_err("timer")));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
