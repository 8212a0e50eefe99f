//! Messages to a running workflow, defined once as typed constants that the workflow and its
//! clients both use: the compiler checks the value's type at both ends and the name is written
//! in one place.
//!
//! On the wire a message is its plain name and its value as one `json/plain` payload, as in
//! every Temporal SDK, so a Python or Go client can send `approve` to a dacapo workflow and a
//! dacapo client can signal a workflow written with another SDK.

use std::marker::PhantomData;

/// A signal: a one-way message with a value of type `T`, recorded in the run's history as
/// `WorkflowExecutionSignaled` and read by the workflow with
/// [`WorkflowContext::signal_channel`](crate::WorkflowContext::signal_channel).
///
/// ```
/// use dacapo::Signal;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Approval {
///     pub by: String,
/// }
///
/// pub const APPROVE: Signal<Approval> = Signal::new("approve");
/// assert_eq!(APPROVE.name(), "approve");
/// ```
pub struct Signal<T> {
    name: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T> Signal<T> {
    /// A signal named `name` (the name on the wire) carrying values of type `T`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            _value: PhantomData,
        }
    }

    /// The name on the wire.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

// Derives would require `T: Clone` and `T: Debug`; a signal is only a name.
impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Signal<T> {}

impl<T> std::fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;

    const PING: Signal<u32> = Signal::new("ping");

    #[test]
    fn a_signal_is_its_name_and_copies_freely() {
        let copy = PING;
        assert_eq!(copy.name(), "ping");
        assert_eq!(PING.name(), "ping");
        let shown = format!("{PING:?}");
        assert!(shown.contains("ping") && shown.contains("u32"), "{shown}");
    }
}
