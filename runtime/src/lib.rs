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
//!
//! # Features
//!
//! Every feature is on by default. The engine with its in-memory store, the worker, the client,
//! replay and the macros are always there; with `default-features = false` you add only the
//! parts you use:
//!
//! - `sqlite`: the SQLite store (`store::SqliteStore`, `Engine::open_sqlite`), on a bundled
//!   SQLite compiled with the crate. Without it the engine keeps its state in memory only
//!   (`store::MemoryStore`), and [`Embedded`] runs in memory.
//! - `server`: serving an engine, or any WorkflowService, over gRPC (the `server` module,
//!   `EmbeddedBuilder::serve`), so that other processes, the `temporal` CLI and any Temporal SDK
//!   client can reach it; with the gRPC health service. This is what `dacapo server` runs.
//! - `remote`: connecting a worker or a client to a WorkflowService over gRPC (the `remote`
//!   module): a `dacapo server` or a Temporal cluster.
//! - `tls`: TLS for `server` (`ServeOptions::tls`) and `remote` (`https://` URLs,
//!   `ConnectOptions::tls_ca`), on rustls with the webpki roots.
//! - `history-json`: histories as proto JSON, the form Temporal's tools print and read (the
//!   `history_json` module, `Replayer::replay_json`).
//!
//! A worker for a Temporal cluster needs only `remote` (and `tls` for `https://`); an
//! application that runs its workflows in-process needs only `sqlite`.

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod activity;
pub mod client;
mod definition;
pub mod embedded;
pub mod engine;
mod error;
#[cfg(feature = "history-json")]
#[cfg_attr(docsrs, doc(cfg(feature = "history-json")))]
pub mod history_json;
pub mod payload;
pub mod proto;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub mod remote;
pub mod replay;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
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

#[doc(hidden)]
pub mod __private {
    //! Items the macros' generated code refers to. Not a public API.
    pub use crate::definition::{ActivityDefinition, BoxFuture, WorkflowDefinition};
    pub use crate::payload::{Payload, PayloadError};
    pub use crate::proto::common::Payload as RawPayload;
    use crate::{WorkflowContext, WorkflowError};
    pub use std::boxed::Box;
    use std::future::Future;
    pub use std::time::Duration;

    /// Encodes one argument.
    pub fn encode_arg<T: Payload>(v: &T) -> Result<RawPayload, PayloadError> {
        crate::payload::encode(v)
    }

    /// Decodes argument `index`.
    pub fn decode_arg<T: Payload>(
        payloads: &[RawPayload],
        index: usize,
    ) -> Result<T, PayloadError> {
        crate::payload::decode(payloads, index)
    }

    /// Identity; anchors the output type of an async block.
    pub fn anchor<R, F: Future<Output = R>>(f: F) -> F {
        f
    }

    /// Whether the workflow's cleanup must run: a cancel was requested.
    pub fn cleanup_due(ctx: &WorkflowContext) -> bool {
        ctx.is_cancel_requested()
    }

    /// Logs an error raised inside an `on_cancel!` block.
    pub fn log_cleanup_error(ctx: &WorkflowContext, err: WorkflowError) {
        if !ctx.is_replaying() {
            let info = ctx.info();
            tracing::warn!(
                workflow_id = %info.workflow_id,
                run_id = %info.run_id,
                "cleanup after cancel failed: {err}"
            );
        }
    }

    /// Compile-time check that `T` can cross a workflow or activity boundary.
    pub fn assert_payload<T: Payload>() {}

    /// What the generated code requires of argument and result types: [`Payload`], reported
    /// as one error in `Payload`'s words. (A bound on `Payload` itself is reported once per
    /// unmet serde trait.) The types are named as `<T as Value>::Checked`: a `T` that is not a
    /// payload is then reported once, where it is written, and every use of the projection
    /// after that is quiet.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a workflow or activity value",
        label = "this type must be `Serialize + DeserializeOwned`",
        note = "workflow and activity arguments and results are recorded in the history as JSON; derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
    )]
    pub trait Value {
        /// The type itself.
        type Checked: Payload;
    }

    #[diagnostic::do_not_recommend]
    impl<T: Payload> Value for T {
        type Checked = T;
    }

    /// Wraps the callee of a call that a `#[workflow]` body awaits, `callee(args).await`, so
    /// that calling an activity like a function is reported with a hint instead of rustc's
    /// "expected function". `DirectCall(f).callee()` is `f` for anything that is not an
    /// activity, through [`PassCallee`]; for an activity the inherent method, which method
    /// lookup prefers, fails [`ActivityCalledDirectly`].
    #[derive(Debug)]
    pub struct DirectCall<F>(pub F);

    /// Hands the callee back: what `DirectCall(f).callee()` is when `f` is not an activity.
    pub trait PassCallee {
        /// The callee's type.
        type Callee;
        /// The callee, unchanged.
        fn callee(self) -> Self::Callee;
    }

    impl<F> PassCallee for DirectCall<F> {
        type Callee = F;
        fn callee(self) -> F {
            self.0
        }
    }

    impl<F: ActivityDefinition> DirectCall<F> {
        /// Never compiles: `F` is an activity. The unconstrained `N` keeps method lookup from
        /// discarding this method before the bound is reported, and leaves the call's type
        /// unknown, so that nothing else is reported about it.
        pub fn callee<N>(self) -> N
        where
            F: ActivityCalledDirectly<N>,
        {
            unreachable!("no type implements `ActivityCalledDirectly`")
        }
    }

    /// Not implemented by any activity: the bound that reports an activity called like a
    /// function in a workflow.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is an activity, which a workflow cannot call directly",
        label = "activities are not called like functions in a workflow",
        note = "start it through the workflow context, which records it in the history: `ctx.activity({Self}, input).await`"
    )]
    pub trait ActivityCalledDirectly<N> {}

    /// The one implementor of [`ActivityCalledDirectly`], so that rustc does not suggest
    /// adding one.
    #[derive(Debug)]
    pub enum Unreachable {}

    #[diagnostic::do_not_recommend]
    impl ActivityCalledDirectly<Unreachable> for Unreachable {}
}
