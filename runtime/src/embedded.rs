//! The embedded runtime: engine, worker and client in one process, on a SQLite file or in memory.

use crate::client::Client;
use crate::definition::{ActivityDefinition, WorkflowDefinition};
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::proto::ServiceHandle;
#[cfg(feature = "server")]
use crate::server::{ServeError, ServeOptions};
use crate::worker::{Worker, WorkerBuilder, WorkerOptions};
#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

enum StoreChoice {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
}

/// Why an embedded runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The engine or its store could not be opened.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The engine could not be served on its socket.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Builds an [`Embedded`] runtime.
pub struct EmbeddedBuilder {
    store: StoreChoice,
    config: EngineConfig,
    task_queue: String,
    worker: Option<Box<dyn FnOnce(WorkerBuilder) -> WorkerBuilder + Send>>,
    worker_options: WorkerOptions,
    #[cfg(feature = "server")]
    serve: Option<ServeOptions>,
}

impl std::fmt::Debug for EmbeddedBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBuilder")
            .field("task_queue", &self.task_queue)
            .finish()
    }
}

impl EmbeddedBuilder {
    /// Keeps everything in memory (for tests).
    pub fn in_memory(mut self) -> Self {
        self.store = StoreChoice::Memory;
        self
    }
    /// Stores everything in a SQLite file, created if missing.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = StoreChoice::Sqlite(path.into());
        self
    }
    /// The engine's settings.
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }
    /// The task queue the embedded worker polls.
    pub fn task_queue(mut self, q: impl Into<String>) -> Self {
        self.task_queue = q.into();
        self
    }
    /// The embedded worker's tunables. By default those of [`WorkerOptions::default`] with 16
    /// workflow and 16 activity pollers: polls of the embedded engine are cheap in-process
    /// calls, and each waits for the commit of the task it takes, so more pollers keep more
    /// tasks in flight (about 2.4 times the workflows per second of 2 + 2 pollers).
    pub fn worker_options(mut self, o: WorkerOptions) -> Self {
        self.worker_options = o;
        self
    }
    /// Also serves the engine over gRPC, so other processes (starters, the `temporal` CLI, any
    /// Temporal SDK client) can reach it.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    pub fn serve(mut self, options: ServeOptions) -> Self {
        self.serve = Some(options);
        self
    }
    /// Registers a workflow on the embedded worker.
    pub fn workflow<W: WorkflowDefinition>(self, def: W) -> Self {
        self.with_worker(move |b| b.workflow(def))
    }
    /// Registers an activity on the embedded worker.
    pub fn activity<A: ActivityDefinition>(self, def: A) -> Self {
        self.with_worker(move |b| b.activity(def))
    }
    /// Registers whatever `f` adds to the embedded worker, so that one function can register
    /// the same workflows and activities here and on a [`Worker`] of another server.
    pub fn register(self, f: impl FnOnce(WorkerBuilder) -> WorkerBuilder + Send + 'static) -> Self {
        self.with_worker(f)
    }
    fn with_worker(
        mut self,
        f: impl FnOnce(WorkerBuilder) -> WorkerBuilder + Send + 'static,
    ) -> Self {
        let prev = self.worker.take();
        self.worker = Some(Box::new(move |b| {
            let b = match prev {
                Some(p) => p(b),
                None => b,
            };
            f(b)
        }));
        self
    }

    /// Opens the engine and starts the worker (when anything was registered).
    ///
    /// # Errors
    /// When the store cannot be opened (a corrupt file, an unwritable directory, a database in
    /// use by another process).
    pub async fn start(self) -> Result<Embedded, EmbeddedError> {
        let engine = match &self.store {
            StoreChoice::Memory => Engine::in_memory(self.config.clone()),
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path) => Engine::open_sqlite(path, self.config.clone())?,
        };
        let service: ServiceHandle = Arc::new(engine.clone());
        #[cfg(feature = "server")]
        let serving = match self.serve {
            Some(options) => {
                let bound = crate::server::bind(service.clone(), options)
                    .await?
                    .report_health(engine.health());
                let local_addr = bound.local_addr();
                let stop = tokio_util::sync::CancellationToken::new();
                let stopped = stop.clone();
                let task = tokio::spawn(async move {
                    if let Err(e) = bound.serve(stopped.cancelled_owned()).await {
                        tracing::error!("serving the embedded engine stopped: {e}");
                    }
                });
                Some((local_addr, stop, task))
            }
            None => None,
        };
        let (worker, runner) = match self.worker {
            Some(register) => {
                let builder = worker_builder(&engine, service.clone(), self.task_queue.clone())
                    .options(self.worker_options);
                let worker = register(builder).build();
                let runner = {
                    let w = worker.clone();
                    tokio::spawn(async move { w.run().await })
                };
                (Some(worker), Some(runner))
            }
            None => (None, None),
        };
        let mut client = Client::new(service.clone());
        if let Some(worker) = &worker {
            client = client.with_local_queries(Arc::new(LocalQueries {
                engine: engine.clone(),
                worker: worker.clone(),
            }));
        }
        Ok(Embedded {
            #[cfg(feature = "server")]
            serving,
            client,
            service,
            engine,
            worker,
            runner,
        })
    }
}

/// A worker builder on `engine`, which `service` serves, with the in-process cancel shortcut:
/// the one place that hands the engine's feed of cancelled attempts to a worker.
fn worker_builder(engine: &Engine, service: ServiceHandle, task_queue: String) -> WorkerBuilder {
    Worker::builder(service, task_queue).cancel_shortcut(engine.cancel_shortcut())
}

/// The embedded client's queries to an idle run, answered from the embedded worker's cached
/// run after the engine's checks, as a query task would be, without the query being queued,
/// polled and answered back through the engine. Any other query goes to the engine.
struct LocalQueries {
    engine: Engine,
    worker: Worker,
}

impl crate::client::LocalQueries for LocalQueries {
    fn answer(
        &self,
        req: &crate::proto::service::QueryWorkflowRequest,
    ) -> Option<Result<crate::proto::service::QueryWorkflowResponse, tonic::Status>> {
        use crate::engine::query::Route;
        let (run_id, last_completed, query) = match self.engine.query_route(req) {
            Err(status) => return Some(Err(status)),
            Ok(Route::Rejected(answer)) => return Some(Ok(answer)),
            Ok(Route::Queued) => return None,
            Ok(Route::Idle {
                run_id,
                last_completed,
                query,
            }) => (run_id, last_completed, query),
        };
        let execution = crate::proto::common::WorkflowExecution {
            workflow_id: req
                .execution
                .as_ref()
                .map(|e| e.workflow_id.clone())
                .unwrap_or_default(),
            run_id,
        };
        let answer = self
            .worker
            .answer_from_cache(&execution, last_completed, &query)?;
        Some(match answer {
            Ok(payloads) => Ok(crate::proto::service::QueryWorkflowResponse {
                query_result: crate::payload::to_payloads(payloads),
                ..Default::default()
            }),
            Err(message) => Err(Engine::query_failed(message)),
        })
    }
}

/// Engine, worker and client in one process.
pub struct Embedded {
    engine: Engine,
    service: ServiceHandle,
    client: Client,
    worker: Option<Worker>,
    /// Runs the embedded worker.
    runner: Option<JoinHandle<()>>,
    #[cfg(feature = "server")]
    serving: Option<(
        std::net::SocketAddr,
        tokio_util::sync::CancellationToken,
        JoinHandle<()>,
    )>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("worker", &self.worker)
            .finish()
    }
}

impl Embedded {
    /// Starts building: SQLite at `dacapo.db` in the current directory unless told otherwise
    /// (in memory without the `sqlite` feature), task queue `default`.
    pub fn builder() -> EmbeddedBuilder {
        EmbeddedBuilder {
            #[cfg(feature = "sqlite")]
            store: StoreChoice::Sqlite(PathBuf::from("dacapo.db")),
            #[cfg(not(feature = "sqlite"))]
            store: StoreChoice::Memory,
            config: EngineConfig::default(),
            task_queue: "default".to_string(),
            worker: None,
            worker_options: WorkerOptions {
                workflow_pollers: 16,
                activity_pollers: 16,
                ..WorkerOptions::default()
            },
            #[cfg(feature = "server")]
            serve: None,
        }
    }

    /// A client of the embedded engine.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The engine as a WorkflowService (to serve it, or to build more workers on it).
    pub fn service(&self) -> ServiceHandle {
        self.service.clone()
    }

    /// The address the engine is served on, when [`EmbeddedBuilder::serve`] was used.
    #[cfg(feature = "server")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server")))]
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.serving.as_ref().map(|s| s.0)
    }

    /// Starts building another worker on the embedded engine, polling `task_queue`: as
    /// [`Worker::builder`] on [`Embedded::service`], and its running activities also hear of a
    /// cancel the moment it commits rather than at their next heartbeat (a worker built any
    /// other way learns of it by heartbeat; the history is the same). Run it with
    /// [`Worker::run`].
    pub fn worker_builder(&self, task_queue: impl Into<String>) -> WorkerBuilder {
        worker_builder(&self.engine, self.service.clone(), task_queue.into())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the worker and the engine. In-flight work resumes from the store next time. The
    /// store file is released once every [`Client`] made from this runtime is dropped too.
    pub async fn shutdown(self) {
        #[cfg(feature = "server")]
        if let Some((_, stop, task)) = self.serving {
            stop.cancel();
            let _ = task.await;
        }
        if let Some(w) = &self.worker {
            w.shutdown();
        }
        if let Some(runner) = self.runner {
            let _ = runner.await;
        }
        self.engine.shutdown();
        // Dropping the last handle on the engine closes its store and releases the file.
    }
}
