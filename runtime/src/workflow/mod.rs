//! Workflow side of the SDK: the context workflow code uses, the signals it reads, the updates it handles, the trait a
//! workflow implements, facts about the run, the per-run state, and the deterministic executor that replays history
//! and emits commands.

mod context;
pub(crate) mod definition;
pub(crate) mod executor;
mod info;
mod signal;
pub(crate) mod state;
mod update;
mod update_handlers;
mod update_protocol;

pub use context::{ActivityCall, ActivityFuture, CancelledFuture, Sleep, WorkflowContext};
pub use executor::ActivationError;
pub use info::WorkflowInfo;
pub use signal::{Recv, SignalChannel};
pub use update::UpdateRegistration;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
