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

/// A query: a question with an argument of type `A` and an answer of type `R`, answered by a
/// handler the workflow registers with `WorkflowContext::on_query` from the workflow's state.
/// Nothing about a query is written to the history.
///
/// `A` is `()` for a query without an argument: it then travels as no payload at all, as a
/// query without parameters does in every Temporal SDK.
///
/// ```
/// use dacapo::Query;
///
/// pub const STATUS: Query<(), String> = Query::new("status");
/// assert_eq!(STATUS.name(), "status");
/// ```
pub struct Query<A, R> {
    name: &'static str,
    _value: PhantomData<fn(A) -> R>,
}

/// An update: a request with an argument of type `A` that the workflow's handler (registered
/// with `WorkflowContext::on_update`) may validate, then accept and run, answering with a
/// result of type `R`. An accepted update is written to the history
/// (`WorkflowExecutionUpdateAccepted`, then `WorkflowExecutionUpdateCompleted`); one its
/// validator rejects is not.
///
/// `A` is `()` for an update without an argument (no payload on the wire).
///
/// ```
/// use dacapo::Update;
///
/// pub const SET_LIMIT: Update<u32, u32> = Update::new("set_limit");
/// assert_eq!(SET_LIMIT.name(), "set_limit");
/// ```
pub struct Update<A, R> {
    name: &'static str,
    _value: PhantomData<fn(A) -> R>,
}

/// The constructor, the name, and the `Clone`, `Copy` and `Debug` impls every message constant
/// has. Derives would require the value types to be `Clone` and `Debug`; a message is only a
/// name.
macro_rules! message_constant {
    ($kind:ident <$($param:ident),+>, $what:literal) => {
        impl<$($param),+> $kind<$($param),+> {
            #[doc = concat!("A ", $what, " named `name` (the name on the wire).")]
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

        impl<$($param),+> Clone for $kind<$($param),+> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<$($param),+> Copy for $kind<$($param),+> {}

        impl<$($param),+> std::fmt::Debug for $kind<$($param),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($kind));
                d.field("name", &self.name);
                $(d.field(stringify!($param), &std::any::type_name::<$param>());)+
                d.finish()
            }
        }
    };
}

message_constant!(Signal<T>, "signal");
message_constant!(Query<A, R>, "query");
message_constant!(Update<A, R>, "update");

#[cfg(test)]
mod tests {
    use super::{Query, Signal, Update};

    const PING: Signal<u32> = Signal::new("ping");
    const ASK: Query<(), String> = Query::new("ask");
    const SET: Update<u8, bool> = Update::new("set");

    #[test]
    fn a_signal_is_its_name_and_copies_freely() {
        let copy = PING;
        assert_eq!(copy.name(), "ping");
        assert_eq!(PING.name(), "ping");
        let shown = format!("{PING:?}");
        assert!(shown.contains("ping") && shown.contains("u32"), "{shown}");
    }

    #[test]
    fn queries_and_updates_show_their_name_and_both_types() {
        let (ask, set) = (ASK, SET);
        assert_eq!((ask.name(), set.name()), ("ask", "set"));
        let shown = format!("{ASK:?} {SET:?}");
        for part in [
            "Query", "ask", "()", "String", "Update", "set", "u8", "bool",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
    }
}
