//! The embedded engine: the subset of Temporal's WorkflowService that dacapo's worker and client
//! use (and that the `temporal` CLI and other SDKs can talk to), implemented on a [`Store`].
//!
//! Working state lives in memory behind one lock; every change is written through the store by
//! a single writer thread that groups concurrent changes into one transaction. A request is
//! answered only after the transaction holding its changes has committed. A second thread fires
//! deadlines: user timers, workflow-task and activity timeouts, retry back-offs, run timeouts.
//!
//! Histories follow Temporal's rules, event for event: see `docs/semantics.md` and the module
//! docs of `workflow_task`, `commands` and `activity`.
//!
//! [`Store`]: crate::store::Store

#[cfg(feature = "sqlite")]
use crate::store::SqliteStore;
use crate::store::{MemoryStore, Store, StoreError};
use std::fmt;
#[cfg(feature = "sqlite")]
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

mod activity;
mod cancel;
mod clock;
mod close;
mod commands;
mod config;
mod core;
mod driver;
mod effects;
mod failures;
mod health;
mod history;
mod ids;
mod limits;
mod protocol;
mod queries;
pub(crate) mod query;
mod retry;
mod rpc_error;
mod run;
mod service;
mod signal;
mod start;
mod state;
mod terminate;
mod token;
mod update;
mod update_with_start;
mod updates;
mod validate;
mod visibility;
mod workflow_task;

#[cfg(test)]
mod tests;

pub use self::config::EngineConfig;
use self::core::Core;
pub use self::health::Health;
pub use self::limits::Limits;

/// Why an engine could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is not usable.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// A background thread could not be started.
    #[error("could not start the engine's {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What an engine holds at one moment; see [`Engine::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Runs that have not closed.
    pub open_runs: usize,
    /// Closed runs whose records are kept.
    pub closed_runs: usize,
    /// Open runs with a workflow task scheduled or started.
    pub pending_workflow_tasks: usize,
    /// Activities scheduled and not yet closed, over all open runs.
    pub pending_activities: usize,
    /// Timers started and not yet fired or cancelled, over all open runs.
    pub pending_timers: usize,
    /// History events held for the open runs.
    pub history_events: usize,
}

/// The embedded workflow engine. Implements [`WorkflowService`](crate::proto::WorkflowService).
///
/// Cheap to clone: clones share one engine. The engine stops (its threads exit, pending writes
/// are flushed) when the last clone is dropped, or earlier with [`Engine::shutdown`].
///
/// # Cancel safety
/// Every RPC future may be dropped at any await point; a change it made is still committed. A
/// poll dropped after it took a task (the caller gave up just as a task arrived) leaves that
/// task started, and it comes back when its timeout passes, exactly as with Temporal.
#[derive(Clone)]
pub struct Engine {
    handle: Arc<Handle>,
}

/// Owns the background threads; dropping the last one stops them.
struct Handle {
    core: Arc<Core>,
    driver: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

impl Engine {
    /// An engine whose state lives in memory only.
    ///
    /// # Panics
    /// Panics when the configuration is invalid (no namespaces) or the OS refuses to start a
    /// thread; use [`Engine::with_store`] to get these as errors.
    pub fn in_memory(config: EngineConfig) -> Engine {
        match Self::with_store(Arc::new(MemoryStore::new()), config) {
            Ok(engine) => engine,
            Err(e) => panic!("cannot start the in-memory engine: {e}"),
        }
    }

    /// An engine on the SQLite database at `path`, created when missing. An existing database
    /// is resumed: open runs, their pending timers (late ones fire at once), activity attempts
    /// and task queues come back as they were at the last commit.
    ///
    /// # Errors
    /// [`EngineError::Store`] naming the file when it cannot be created (missing or read-only
    /// directory), is not a SQLite database or is corrupt, or was written by a newer dacapo.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn open_sqlite(
        path: impl AsRef<Path>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let store = SqliteStore::open(path)?;
        Self::with_store(Arc::new(store), config)
    }

    /// An engine on any [`Store`], resuming whatever state it holds.
    ///
    /// # Errors
    /// Fails when the store cannot be read, the configuration is invalid, or a thread cannot
    /// be started.
    pub fn with_store(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine, EngineError> {
        if config.namespaces.is_empty() || config.namespaces.iter().any(String::is_empty) {
            return Err(EngineError::Config(
                "`namespaces` must list at least one non-empty namespace name".into(),
            ));
        }
        let depth = config.limits.max_failure_depth;
        let most = crate::store::nesting::MAX_FAILURE_CHAIN;
        if !(1..=most).contains(&depth) {
            return Err(EngineError::Config(format!(
                "`limits.max_failure_depth` is {depth}; it must be between 1 and {most}, so that stored failures stay far from the nesting depth a decoder accepts"
            )));
        }
        let snapshot = store.load()?;
        let (core, receiver) = Core::new(store, config, snapshot);
        let core = Arc::new(core);
        let writer = {
            let core = Arc::clone(&core);
            std::thread::Builder::new()
                .name("dacapo-engine-writer".into())
                .spawn(move || core.run_writer(receiver))
                .map_err(|source| EngineError::Thread {
                    what: "writer",
                    source,
                })?
        };
        let driver = {
            let core = Arc::clone(&core);
            std::thread::Builder::new()
                .name("dacapo-engine-timers".into())
                .spawn(move || driver::run(&core))
                .map_err(|source| EngineError::Thread {
                    what: "timer",
                    source,
                })?
        };
        Ok(Engine {
            handle: Arc::new(Handle {
                core,
                driver: Some(driver),
                writer: Some(writer),
            }),
        })
    }

    /// Stops the engine: timers stop firing, pending long polls answer at once (empty), and
    /// every later request gets `Unavailable`. Changes already accepted are still written.
    pub fn shutdown(&self) {
        self.handle.core.shutdown();
    }

    /// The in-process cancel shortcut: the task tokens of started activity attempts whose cancel
    /// request, or whose workflow's close, was just committed, byte-equal to the `task_token`
    /// each attempt was polled with. A worker in this process stops such an attempt at once
    /// instead of at its next heartbeat; `Embedded` wires it (see `worker::cancel_shortcut`).
    pub(crate) fn cancel_shortcut(&self) -> tokio::sync::broadcast::Receiver<Vec<u8>> {
        self.handle.core.subscribe_cancels()
    }

    /// Where a query can be answered right now (see [`query::Route`]), after the checks
    /// `QueryWorkflow` makes; `Embedded` answers an idle run's query from its worker's cache.
    pub(crate) fn query_route(
        &self,
        req: &crate::proto::service::QueryWorkflowRequest,
    ) -> Result<query::Route, tonic::Status> {
        query::route(&self.handle.core, req)
    }

    /// The status Temporal answers a query whose handler failed with (`QueryFailed`).
    pub(crate) fn query_failed(message: String) -> tonic::Status {
        rpc_error::query_failed(message, None)
    }

    /// Follows whether the engine takes changes: [`Health::Serving`] while its store writes,
    /// [`Health::StoreUnwritable`] while it cannot for now (a full disk, a deleted database
    /// file; the engine heals by itself once a write succeeds), [`Health::StoreFailed`] after a
    /// failure that only a restart mends, [`Health::Stopped`] once shut down. Reads are served
    /// throughout; `dacapo server` reports this through the gRPC health service.
    pub fn health(&self) -> tokio::sync::watch::Receiver<Health> {
        self.handle.core.health()
    }

    /// Counts of what the engine holds right now, read under its state lock.
    pub fn stats(&self) -> EngineStats {
        let st = self.handle.core.state.lock();
        let mut stats = EngineStats {
            open_runs: st.runs.len(),
            closed_runs: st.closed.len(),
            ..EngineStats::default()
        };
        for run in st.runs.values() {
            stats.pending_workflow_tasks += usize::from(run.wft().is_some());
            stats.pending_activities += run.activities.len();
            stats.pending_timers += run.timers.len();
            stats.history_events += run.events.len();
        }
        stats
    }

    pub(crate) fn core(&self) -> &Core {
        &self.handle.core
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.handle.core.store)
            .field("config", &self.handle.core.cfg)
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Stop the timer thread first so that nothing is submitted after the writer's channel
        // closes; then let the writer drain what was accepted and close the store.
        self.core.shutdown();
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
        self.core.close_writer();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
