//! Workflow side of the SDK: the context workflow code uses, the signals it reads, the trait a
//! workflow implements, facts about the run, the per-run state, and the deterministic executor that replays history
//! and emits commands.

mod context;
pub(crate) mod definition;
pub(crate) mod executor;
mod info;
mod signal;
pub(crate) mod state;

pub use context::{ActivityCall, ActivityFuture, CancelledFuture, Sleep, WorkflowContext};
pub use executor::ActivationError;
pub use info::WorkflowInfo;
pub use signal::{Recv, SignalChannel};

#[cfg(test)]
mod tests;
