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
//! A running workflow can be told things: a [`Signal`] is a typed constant that the workflow
//! reads with [`WorkflowContext::signal_channel`] and any client sends with
//! [`WorkflowHandle::signal`] or [`Client::signal_with_start`], by its plain name on the wire.
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
mod failure;
#[cfg(feature = "history-json")]
#[cfg_attr(docsrs, doc(cfg(feature = "history-json")))]
pub mod history_json;
mod history_outline;
pub mod message;
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
    Client, ClientError, PendingActivity, QueryReject, StartOptions, UpdateHandle, UpdateStage,
    UpdateStatus, WorkflowDescription, WorkflowHandle, WorkflowStatus, WorkflowSummary,
};
pub use dacapo_macros::{activity, select, workflow};
pub use definition::{ActivityDefinition, BoxFuture, WorkflowDefinition};
pub use embedded::{Embedded, EmbeddedError};
pub use error::{
    ActivityError, ActivityFailed, ApplicationFailure, Cancelled, WorkflowError, WorkflowResult,
};
pub use message::{Query, Signal, Update};
pub use worker::Worker;
pub use workflow::{SignalChannel, WorkflowContext, WorkflowInfo, WorkflowState};

/// Everything a workflow or activity module needs: `use dacapo::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActivityContext, ActivityError, ActivityOptions, Cancellation, Query, RetryPolicy, Signal,
        Update, WorkflowContext, WorkflowError, WorkflowResult, WorkflowState, activity, on_cancel,
        workflow,
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
