//! Workflow side of the SDK: the context workflow code uses, the per-run state, and the
//! deterministic executor that replays history and emits commands.

mod context;
pub(crate) mod executor;
pub(crate) mod state;

pub use context::{
    ActivityCall, ActivityFuture, CancelledFuture, Sleep, WorkflowContext, WorkflowInfo,
};
pub use executor::ActivationError;

#[cfg(test)]
mod tests;
