//! The update handlers a run has registered, by name, with their types erased: what the
//! executor needs to decode an update's argument, validate it and start its handler. The typed
//! side (`ctx.on_update`) is in `update.rs`; the protocol that drives these is in
//! `update_protocol.rs`.

use crate::definition::BoxFuture;
use crate::proto::common::Payload as RawPayload;
use std::any::Any;
use std::collections::BTreeMap;

/// An update's decoded argument, of the handler's argument type.
pub(crate) type Args = Box<dyn Any + Send>;

/// What a handler ends with: its encoded result, or why it failed.
pub(crate) type HandlerOutput = Result<Vec<RawPayload>, String>;

/// Decodes an update's payloads into the handler's argument type, or says why not.
pub(crate) type Decode = Box<dyn Fn(&[RawPayload]) -> Result<Args, String> + Send>;
/// A validator: `Err` rejects the update with the message.
pub(crate) type Validate = Box<dyn Fn(&Args) -> Result<(), String> + Send>;
/// Starts the handler on a decoded argument.
pub(crate) type Start = Box<dyn Fn(Args) -> BoxFuture<HandlerOutput> + Send>;

/// One registered handler.
pub(crate) struct UpdateHandler {
    /// Which registration this is, so that a validator set through an old registration does
    /// not land on the handler that replaced it.
    pub(crate) registration: u64,
    pub(crate) decode: Decode,
    pub(crate) validator: Option<Validate>,
    pub(crate) start: Start,
}

/// The run's update handlers, by name; a second registration of a name replaces the first.
#[derive(Default)]
pub(crate) struct UpdateHandlers {
    by_name: BTreeMap<String, UpdateHandler>,
    registrations: u64,
}

impl std::fmt::Debug for UpdateHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

impl UpdateHandlers {
    /// Registers (or replaces) the handler of `name`; returns the registration's number.
    pub(crate) fn register(&mut self, name: &str, decode: Decode, start: Start) -> u64 {
        self.registrations += 1;
        let registration = self.registrations;
        self.by_name.insert(
            name.to_string(),
            UpdateHandler {
                registration,
                decode,
                validator: None,
                start,
            },
        );
        registration
    }

    /// Sets the validator of `name`'s handler, when it is still registration `registration`.
    pub(crate) fn set_validator(&mut self, name: &str, registration: u64, validator: Validate) {
        if let Some(h) = self.by_name.get_mut(name)
            && h.registration == registration
        {
            h.validator = Some(validator);
        }
    }

    /// Takes the handler of `name` out, so that it can be called without the run's state
    /// locked (its code may use the context); [`restore`](Self::restore) puts it back.
    pub(crate) fn take(&mut self, name: &str) -> Option<UpdateHandler> {
        self.by_name.remove(name)
    }

    /// Puts back a handler [`take`](Self::take) took, unless the code registered another one of
    /// the same name meanwhile (the newer one stays).
    pub(crate) fn restore(&mut self, name: &str, handler: UpdateHandler) {
        self.by_name.entry(name.to_string()).or_insert(handler);
    }

    /// The registered names, sorted, for a message about an unknown update.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}
