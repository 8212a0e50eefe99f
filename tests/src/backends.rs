//! The three backends the end-to-end suites (signals, queries, updates) run the same scenarios
//! on: the embedded engine (in memory, in the test process), `dacapo server` (the binary, in
//! memory, one per test process) and the Temporal dev server; a connection to one ([`Env`]),
//! the workers the tests start on it ([`RunningWorker`]) and the waits and histories the
//! scenarios share.

use crate::dev_server::shared_dev_server;
use crate::procs::{Proc, kill_at_exit, start_dacapo_server};
use crate::{event_types, names, wait_until};
use dacapo::engine::EngineConfig;
use dacapo::proto::ServiceHandle;
use dacapo::proto::history::HistoryEvent;
use dacapo::remote::{ConnectOptions, connect};
use dacapo::worker::WorkerBuilder;
use dacapo::{Client, Embedded, Worker};
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Where a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded engine, in memory, in this process.
    Embedded,
    /// `dacapo server --in-memory`, the binary, one per test process.
    DacapoServer,
    /// The Temporal dev server, one per machine.
    Temporal,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Embedded => "the embedded engine",
            Backend::DacapoServer => "dacapo server",
            Backend::Temporal => "the Temporal dev server",
        })
    }
}

/// The `dacapo server` of this test process (in memory), started on first use and killed when
/// the process exits.
fn dacapo_server() -> &'static (Proc, u16) {
    static SERVER: OnceLock<(Proc, u16)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir()
            .expect("a folder for the server's log")
            .keep();
        let (server, port) = start_dacapo_server(&dir, &[]);
        kill_at_exit(&server, &dir);
        (server, port)
    })
}

/// The `host:port` of this test process's `dacapo server`, started on first use.
pub async fn dacapo_server_address() -> String {
    let port = tokio::task::spawn_blocking(|| dacapo_server().1)
        .await
        .expect("starting dacapo server panicked");
    format!("127.0.0.1:{port}")
}

/// The `host:port` a process outside this one (the `temporal` CLI, Python) dials for
/// `backend`; the embedded engine has none.
pub async fn grpc_address(backend: Backend) -> String {
    match backend {
        Backend::Temporal => shared_dev_server().await.address(),
        Backend::DacapoServer => dacapo_server_address().await,
        Backend::Embedded => unreachable!("the embedded engine serves no gRPC address"),
    }
}

/// A connection to one backend: a client, the service under it and, on the embedded engine,
/// the runtime (shut down by [`Env::close`]).
pub struct Env {
    /// Which backend this is.
    pub backend: Backend,
    /// A client of it.
    pub client: Client,
    /// The WorkflowService the client calls.
    pub service: ServiceHandle,
    /// The runtime, on the embedded engine.
    pub embedded: Option<Embedded>,
}

impl Env {
    /// Connects to `backend`, starting it if this process has not yet (the embedded engine with
    /// the default configuration).
    pub async fn open(backend: Backend) -> Env {
        match backend {
            Backend::Embedded => Self::embedded(EngineConfig::default()).await,
            Backend::DacapoServer => {
                let url = format!("http://{}", dacapo_server_address().await);
                let service = connect(&url, ConnectOptions::default())
                    .await
                    .expect("connect to dacapo server");
                Self::remote(backend, service)
            }
            Backend::Temporal => {
                let service = shared_dev_server().await.connect().await;
                Self::remote(backend, service)
            }
        }
    }

    /// A new in-memory embedded engine with `config`.
    pub async fn embedded(config: EngineConfig) -> Env {
        let rt = Embedded::builder()
            .in_memory()
            .engine_config(config)
            .start()
            .await
            .expect("the in-memory engine starts");
        Env {
            backend: Backend::Embedded,
            client: rt.client(),
            service: rt.service(),
            embedded: Some(rt),
        }
    }

    fn remote(backend: Backend, service: ServiceHandle) -> Env {
        Env {
            backend,
            client: Client::new(service.clone()),
            service,
            embedded: None,
        }
    }

    /// A name nothing else in this process uses, for a workflow id and its own task queue.
    pub fn unique(&self, what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let tag = match self.backend {
            Backend::Embedded => "embedded",
            Backend::DacapoServer => "dacapo-server",
            Backend::Temporal => "temporal",
        };
        // Ids must not repeat across runs on a long-lived dev server either.
        let nonce = std::process::id();
        format!(
            "{what}-{tag}-{nonce}-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A builder of a worker polling `queue` (on the embedded engine, as its own workers are
    /// built).
    pub fn worker_builder(&self, queue: &str) -> WorkerBuilder {
        match &self.embedded {
            Some(rt) => rt.worker_builder(queue),
            None => Worker::builder(self.service.clone(), queue),
        }
    }

    /// A worker polling `queue` with what `register` adds, running until stopped.
    pub fn worker_with(
        &self,
        queue: &str,
        register: impl FnOnce(WorkerBuilder) -> WorkerBuilder,
    ) -> RunningWorker {
        RunningWorker::start(register(self.worker_builder(queue)))
    }

    /// Shuts the embedded engine down; a remote backend stays up for the other tests.
    pub async fn close(self) {
        if let Some(rt) = self.embedded {
            rt.shutdown().await;
        }
    }
}

/// A worker a test runs; [`RunningWorker::stop`] shuts it down and waits for it.
pub struct RunningWorker {
    worker: Option<Worker>,
    runner: Option<JoinHandle<()>>,
}

impl RunningWorker {
    /// Builds the worker and runs it on a task of its own.
    pub fn start(builder: WorkerBuilder) -> RunningWorker {
        let worker = builder.build();
        let runner = tokio::spawn({
            let w = worker.clone();
            async move { w.run().await }
        });
        RunningWorker {
            worker: Some(worker),
            runner: Some(runner),
        }
    }

    /// A handle to a worker the test did not start (an embedded runtime's own, which stops
    /// with it): stopping it does nothing.
    pub fn not_ours() -> RunningWorker {
        RunningWorker {
            worker: None,
            runner: None,
        }
    }

    /// Shuts the worker down and waits until it has stopped; fails if it panicked.
    pub async fn stop(self) {
        if let Some(worker) = &self.worker {
            worker.shutdown();
        }
        if let Some(runner) = self.runner {
            runner.await.expect("the worker panicked");
        }
    }
}

/// The history of the run `id`, or a failure naming it.
pub async fn history(client: &Client, id: &str) -> Vec<HistoryEvent> {
    client
        .history(id, None)
        .await
        .unwrap_or_else(|e| panic!("history of {id}: {e}"))
}

/// `fut`, or a failure naming `what` when it takes longer than `limit`.
pub async fn within<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// Waits (up to 30 s) until the run's history holds `n` events of type `name`.
pub async fn wait_for_count(client: &Client, id: &str, name: &str, n: usize) {
    wait_until(
        &format!("{id}: {n} {name}"),
        Duration::from_secs(30),
        async || {
            let types = event_types(&client.history(id, None).await.unwrap_or_default());
            if types.iter().filter(|t| *t == name).count() >= n {
                Ok(())
            } else {
                Err(format!("{types:?}"))
            }
        },
    )
    .await;
}

/// The three events of one workflow task.
pub const WFT: [&str; 3] = [
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
];

/// The event type names `parts` list, in order, as owned strings (parts are typically single
/// events and [`WFT`]).
pub fn with_tasks(parts: &[&[&str]]) -> Vec<String> {
    names(&parts.concat())
}
