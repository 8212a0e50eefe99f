//! Workflow side of the SDK: the context workflow code uses, the signals it reads, the queries
//! it answers, the state it shares with its handlers, the trait a workflow implements, facts
//! about the run, the per-run state, and the deterministic executor that replays history and
//! emits commands.

mod context;
pub(crate) mod definition;
pub(crate) mod executor;
mod info;
pub(crate) mod query;
mod shared_state;
mod signal;
pub(crate) mod state;

pub use context::{ActivityCall, ActivityFuture, CancelledFuture, Sleep, WorkflowContext};
pub use executor::ActivationError;
pub use info::WorkflowInfo;
pub use shared_state::WorkflowState;
pub use signal::{Recv, SignalChannel};

#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod tests;
