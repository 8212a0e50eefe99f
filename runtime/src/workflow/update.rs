//! Updates as workflow code handles them: `ctx.on_update(UPDATE, handler)` registers a typed
//! handler (and, through the registration it returns, a validator) in the run's state, where
//! the executor finds it when an update request arrives.

use super::state::RunState;
use super::update_handlers::{Args, Decode, Start, Validate};
use crate::message::Update;
use crate::payload::{self, Payload, PayloadError};
use parking_lot::Mutex;
use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// The registration of an update handler, from
/// [`WorkflowContext::on_update`](crate::WorkflowContext::on_update): the handler is registered
/// already; [`validator`](Self::validator) adds a validator to it.
pub struct UpdateRegistration<A> {
    state: Arc<Mutex<RunState>>,
    name: &'static str,
    registration: u64,
    _args: PhantomData<fn(A)>,
}

impl<A> std::fmt::Debug for UpdateRegistration<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateRegistration")
            .field("name", &self.name)
            .field("args", &std::any::type_name::<A>())
            .finish()
    }
}

impl<A: Payload> UpdateRegistration<A> {
    /// Adds a validator: it runs when a new update arrives, before the update is accepted, and
    /// an `Err` rejects the update with the error's text (the caller gets
    /// [`ClientError::UpdateFailed`](crate::ClientError::UpdateFailed)); nothing of a rejected
    /// update is written to the history. A validator that panics rejects the update too.
    ///
    /// # Determinism
    /// Validators do not run on replay (the history records only accepted updates), so a
    /// validator must only look at its argument and the workflow's state, never change them.
    pub fn validator<F, E>(self, validator: F) -> Self
    where
        F: Fn(&A) -> Result<(), E> + Send + 'static,
        E: Display,
    {
        let name = self.name;
        let erased: Validate = Box::new(move |args: &Args| match args.downcast_ref::<A>() {
            Some(a) => validator(a).map_err(|e| e.to_string()),
            None => Err(format!(
                "update `{name}`: the argument is not a `{}`",
                std::any::type_name::<A>()
            )),
        });
        self.state
            .lock()
            .updates
            .set_validator(self.name, self.registration, erased);
        self
    }

    /// The update's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Registers `handler` for `update` on the run behind `state`.
pub(crate) fn register<A, R, E, F, Fut>(
    state: Arc<Mutex<RunState>>,
    update: Update<A, R>,
    handler: F,
) -> UpdateRegistration<A>
where
    A: Payload,
    R: Payload,
    E: Display,
    F: Fn(A) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let name = update.name();
    let decode: Decode = Box::new(move |raw| match payload::decode::<A>(raw, 0) {
        Ok(a) => Ok(Box::new(a) as Args),
        Err(e) => {
            let why = match e {
                PayloadError::Decode { message, .. } => message,
                other => other.to_string(),
            };
            Err(format!(
                "update `{name}` carries an argument that does not decode into `{}`: {why}",
                std::any::type_name::<A>()
            ))
        }
    });
    let start: Start = Box::new(move |args: Args| {
        let started = args.downcast::<A>().map(|a| handler(*a));
        Box::pin(async move {
            let Ok(future) = started else {
                return Err(format!(
                    "update `{name}`: the argument is not a `{}`",
                    std::any::type_name::<A>()
                ));
            };
            match future.await {
                Ok(result) => payload::encode(&result)
                    .map(|p| vec![p])
                    .map_err(|e| format!("the result of update `{name}` does not encode: {e}")),
                Err(e) => Err(e.to_string()),
            }
        })
    });
    let registration = {
        let mut s = state.lock();
        if s.refuse_in_query(&format!("register an update handler (`{name}`)")) {
            // No registration has number 0: a validator added through this one sets nothing.
            0
        } else {
            s.updates.register(name, decode, start)
        }
    };
    UpdateRegistration {
        state,
        name,
        registration,
        _args: PhantomData,
    }
}
