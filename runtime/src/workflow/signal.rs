//! Signals as workflow code reads them: a typed receiver per signal name over the run's inbox,
//! which the executor fills from `WorkflowExecutionSignaled` events in history order.

use super::state::RunState;
use crate::error::{Cancelled, WorkflowError};
use crate::message::Signal;
use crate::payload::{self, Payload, PayloadError};
use parking_lot::Mutex;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
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
    receiver: Receiver,
    _value: PhantomData<fn() -> T>,
}

/// What a channel and its receives share: the run, whether the context the channel was asked
/// for on is disconnected (never cancelled), and the name.
#[derive(Clone)]
struct Receiver {
    state: Arc<Mutex<RunState>>,
    disconnected: bool,
    name: &'static str,
}

impl Receiver {
    /// Takes and decodes the oldest unread signal. A value that does not decode marks the
    /// workflow task failed (the executor reports it) and gives nothing.
    fn take<T: Payload>(&self) -> Option<T> {
        let name = self.name;
        let mut s = self.state.lock();
        if s.refuse_in_query(&format!("read signal `{name}`")) {
            return None;
        }
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
}

impl<T> std::fmt::Debug for SignalChannel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalChannel")
            .field("name", &self.receiver.name)
            .field("type", &std::any::type_name::<T>())
            .field("disconnected", &self.receiver.disconnected)
            .finish()
    }
}

impl<T: Payload> SignalChannel<T> {
    /// The channel of `signal` on the run behind `state`, for a context that is `disconnected`
    /// or not.
    pub(crate) fn new(state: Arc<Mutex<RunState>>, disconnected: bool, signal: Signal<T>) -> Self {
        Self {
            receiver: Receiver {
                state,
                disconnected,
                name: signal.name(),
            },
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
            receiver: self.receiver.clone(),
            _value: PhantomData,
        }
    }

    /// The next unread signal of this name, if one has been delivered; never waits.
    pub fn try_recv(&mut self) -> Option<T> {
        self.receiver.take()
    }

    /// The signal's name.
    pub fn name(&self) -> &'static str {
        self.receiver.name
    }
}

/// The future of [`SignalChannel::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<T> {
    receiver: Receiver,
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Recv<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv")
            .field("name", &self.receiver.name)
            .finish()
    }
}

impl<T> Unpin for Recv<T> {}

impl<T: Payload> Future for Recv<T> {
    type Output = Result<T, WorkflowError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let receiver = &self.receiver;
        if let Some(value) = receiver.take() {
            return Poll::Ready(Ok(value));
        }
        let mut s = receiver.state.lock();
        if s.answering_query() {
            let what = format!("read signal `{}`", receiver.name);
            return Poll::Ready(Err(super::query::refused_error(&what)));
        }
        if s.task_failure.is_some() {
            // The task fails; nothing more runs in it.
            return Poll::Pending;
        }
        if !receiver.disconnected && s.cancel_requested {
            let message = format!("waiting for signal `{}` was cancelled", receiver.name);
            return Poll::Ready(Err(WorkflowError::from(Cancelled::new(message))));
        }
        s.signals.wait(cx.waker());
        Poll::Pending
    }
}
