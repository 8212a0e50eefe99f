//! Signals as workflow code reads them: a typed receiver per signal name over the run's inbox,
//! which the executor fills from `WorkflowExecutionSignaled` events in history order.

use super::context::{WorkflowContext, cancelled_err};
use crate::error::WorkflowError;
use crate::message::Signal;
use crate::payload::{self, Payload, PayloadError};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The receiving end of one signal name, from
/// [`WorkflowContext::signal_channel`](crate::WorkflowContext::signal_channel).
///
/// Signals are kept from the start of the run, whether or not a channel was asked for yet, and
/// every channel of the same name reads the same queue: each signal is received once.
///
/// # Determinism
/// Signals are received in the order the history records them, and a receive resolves only in
/// the workflow task whose events delivered the signal, so replay receives the same values at
/// the same points.
pub struct SignalChannel<T> {
    ctx: WorkflowContext,
    name: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SignalChannel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalChannel")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Payload> SignalChannel<T> {
    pub(crate) fn new(ctx: WorkflowContext, signal: Signal<T>) -> Self {
        Self {
            ctx,
            name: signal.name(),
            _value: PhantomData,
        }
    }

    /// The next signal of this name: at once if one is unread, otherwise when one arrives.
    ///
    /// # Errors
    /// A cancelled error (`waiting for signal \`NAME\` was cancelled`) when no signal is unread
    /// and the channel's context is cancelled, so that no wait on a cancelled context hangs. A
    /// channel asked for on a disconnected context (in `on_cancel!` cleanup) is never
    /// cancelled: it waits for the next signal.
    ///
    /// A signal whose value does not decode into `T` is not an error of this call: it fails
    /// the workflow task with a message naming the signal and the type, and the run stays open
    /// until a worker whose code reads the value takes it.
    ///
    /// # Cancel safety
    /// A signal is taken only when the future resolves; dropping it (a `select!` branch that
    /// lost) leaves the signal for the next receive.
    pub fn recv(&mut self) -> Recv<T> {
        Recv {
            ctx: self.ctx.clone(),
            name: self.name,
            _value: PhantomData,
        }
    }

    /// The next unread signal of this name, if one has been delivered; never waits.
    pub fn try_recv(&mut self) -> Option<T> {
        take(&self.ctx, self.name)
    }

    /// The signal's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Takes and decodes the oldest unread signal `name`. A value that does not decode marks the
/// workflow task failed (the executor reports it) and gives nothing.
fn take<T: Payload>(ctx: &WorkflowContext, name: &str) -> Option<T> {
    let mut s = ctx.state.lock();
    let input = s.signals.take(name)?;
    match payload::decode::<T>(&input, 0) {
        Ok(value) => Some(value),
        Err(e) => {
            let type_name = std::any::type_name::<T>();
            let why = match e {
                PayloadError::Decode { message, .. } => message,
                other => other.to_string(),
            };
            s.task_failure.get_or_insert_with(|| {
                format!(
                    "signal `{name}` carries a value that does not decode into `{type_name}`: {why}"
                )
            });
            None
        }
    }
}

/// The future of [`SignalChannel::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<T> {
    ctx: WorkflowContext,
    name: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Recv<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv").field("name", &self.name).finish()
    }
}

impl<T> Unpin for Recv<T> {}

impl<T: Payload> Future for Recv<T> {
    type Output = Result<T, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(value) = take(&self.ctx, self.name) {
            return Poll::Ready(Ok(value));
        }
        let cancelled = self.ctx.is_cancel_requested();
        let mut s = self.ctx.state.lock();
        if s.task_failure.is_some() {
            // The task fails; nothing more runs in it.
            return Poll::Pending;
        }
        if cancelled {
            return Poll::Ready(Err(cancelled_err(&format!(
                "waiting for signal `{}`",
                self.name
            ))));
        }
        s.signals.wait(cx.waker());
        Poll::Pending
    }
}
