//! Workflow side of the SDK: the context workflow code uses, the signals it reads, the queries
//! it answers and the updates it handles, the state it shares with its handlers, the trait a
//! workflow implements, facts about the run, the per-run state, and the deterministic executor
//! that replays history and emits commands.

mod context;
pub(crate) mod definition;
pub(crate) mod executor;
mod info;
mod panic;
pub(crate) mod query;
mod shared_state;
mod signal;
pub(crate) mod state;
mod update;
mod update_handlers;
mod update_protocol;

pub use context::{ActivityCall, ActivityFuture, CancelledFuture, Sleep, WorkflowContext};
pub use executor::ActivationError;
pub use info::WorkflowInfo;
pub use shared_state::WorkflowState;
pub use signal::{Recv, SignalChannel};
pub use update::UpdateRegistration;

#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
