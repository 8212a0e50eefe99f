//! # dacapo: durable workflows for Rust
//!
//! Write ordinary `async fn`s, mark them `#[workflow]` and `#[activity]`, and dacapo records
//! every step in an event history. After a crash, a restart or a deploy the workflow is replayed
//! from the beginning (*da capo*) and lands in exactly the same state.
//!
//! A running workflow can be cancelled by id from any client; its `on_cancel!` blocks then run on
//! a disconnected context, so cleanup activities still run, and activities that heartbeat learn
//! of the cancel and stop.
//!
//! dacapo speaks Temporal's `WorkflowService` gRPC API. The engine runs embedded in your process
//! by default (see [`embedded`]), with a SQLite store.

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod activity;
pub mod client;
mod definition;
pub mod embedded;
pub mod engine;
mod error;
mod failure;
pub mod history_json;
mod history_outline;
pub mod payload;
pub mod proto;
pub mod remote;
pub mod replay;
pub mod server;
pub mod store;
pub mod worker;
pub mod workflow;

#[cfg(test)]
mod test_support;

pub use activity::{ActivityContext, ActivityInfo, ActivityOptions, Cancellation, RetryPolicy};
pub use client::{
    Client, ClientError, PendingActivity, StartOptions, WorkflowDescription, WorkflowHandle,
    WorkflowStatus, WorkflowSummary,
};
pub use dacapo_macros::{activity, select, workflow};
pub use definition::{ActivityDefinition, BoxFuture, WorkflowDefinition};
pub use embedded::{Embedded, EmbeddedError};
pub use error::{
    ActivityError, ActivityFailed, ApplicationFailure, Cancelled, WorkflowError, WorkflowResult,
};
pub use worker::Worker;
pub use workflow::{WorkflowContext, WorkflowInfo};

/// Everything a workflow or activity module needs: `use dacapo::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActivityContext, ActivityError, ActivityOptions, Cancellation, RetryPolicy,
        WorkflowContext, WorkflowError, WorkflowResult, activity, on_cancel, workflow,
    };
}

/// Registers cleanup that runs if the workflow is cancelled.
///
/// Stands as a statement of a `#[workflow]` body. If a cancel is requested before the body
/// finishes, the block runs after the body, on a disconnected context (so `ctx` inside it is not
/// cancelled and activities run normally), last registered first. Errors inside it are logged
/// and do not change how the run closes. `#[workflow]` rewrites it; anywhere else it is an error.
#[macro_export]
macro_rules! on_cancel {
    ($($tt:tt)*) => {
        ::core::compile_error!(
            "`on_cancel!` can only be used as a statement in the body of a `#[workflow]` fn"
        )
    };
}

mod macro_support;

#[doc(hidden)]
pub mod __private_0_1_0 {
    //! What the macros' generated code names, under a name that carries the crate version, so
    //! that only dacapo-macros of this version compiles against it. Not a public API: see
    //! `macro_support`.
    pub use crate::macro_support::*;

    const _: () = assert!(
        crate::macro_support::names_version(module_path!(), env!("CARGO_PKG_VERSION")),
        concat!(
            "`",
            module_path!(),
            "` must be named after the crate version, ",
            env!("CARGO_PKG_VERSION"),
            ", as `__private_` and the version with `.`, `-` and `+` written `_`: the name that \
             dacapo-macros of that version generates code against"
        )
    );
}
