//! The worker: polls a WorkflowService for workflow and activity tasks, runs them, and keeps a
//! cache of running workflows so that a new event costs one poll of the cached future instead of
//! a full replay.

mod activity_tasks;
mod cache;
mod cancel_shortcut;
mod history;
mod inner;
mod options;
mod poll;
mod queries;
pub(crate) mod registry;
mod running;
pub(crate) mod runs;
pub(crate) mod workflow_tasks;

use crate::definition::{ActivityDefinition, WorkflowDefinition};
use crate::proto::ServiceHandle;
use cancel_shortcut::CancelShortcut;
use inner::WorkerInner;
use registry::{ActivityEntry, Registry, WorkflowEntry};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use options::WorkerOptions;

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    service: ServiceHandle,
    namespace: String,
    task_queue: String,
    identity: String,
    registry: Registry,
    options: WorkerOptions,
    cancel_shortcut: Option<CancelShortcut>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("task_queue", &self.task_queue)
            .field("registry", &self.registry)
            .finish()
    }
}

impl WorkerBuilder {
    /// Sets the namespace (default `default`).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }
    /// Sets the identity reported to the server.
    pub fn identity(mut self, id: impl Into<String>) -> Self {
        self.identity = id.into();
        self
    }
    /// Sets the tunables.
    pub fn options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }
    /// Registers a workflow.
    pub fn workflow<W: WorkflowDefinition>(mut self, _def: W) -> Self {
        self.registry
            .workflows
            .insert(W::NAME.to_string(), Arc::new(WorkflowEntry::<W>::new()));
        self
    }
    /// Registers an activity.
    pub fn activity<A: ActivityDefinition>(mut self, _def: A) -> Self {
        self.registry
            .activities
            .insert(A::NAME.to_string(), Arc::new(ActivityEntry::<A>::new()));
        self
    }
    /// Also stops a running activity attempt the moment its cancel commits, when the engine
    /// that committed it runs in this process and names the attempt in `tokens` (the
    /// in-process cancel shortcut, see [`cancel_shortcut`]).
    pub(crate) fn cancel_shortcut(
        mut self,
        tokens: tokio::sync::broadcast::Receiver<Vec<u8>>,
    ) -> Self {
        self.cancel_shortcut = Some(CancelShortcut::new(tokens));
        self
    }
    /// Builds the worker. Nothing is polled until [`Worker::run`].
    pub fn build(self) -> Worker {
        Worker {
            inner: Arc::new(WorkerInner {
                service: self.service,
                namespace: self.namespace,
                task_queue: self.task_queue,
                sticky_queue: format!("{}-{}-sticky", self.identity, uuid::Uuid::new_v4()),
                identity: self.identity,
                registry: self.registry,
                options: self.options,
                cache: cache::Cache::default(),
                running: running::RunningActivities::default(),
                attempts: parking_lot::Mutex::new(tokio::task::JoinSet::new()),
                shutdown: CancellationToken::new(),
                cancel_shortcut: self.cancel_shortcut,
            }),
        }
    }
}

/// Polls one task queue for workflow and activity tasks and runs the registered code.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("namespace", &self.inner.namespace)
            .field("task_queue", &self.inner.task_queue)
            .field("registry", &self.inner.registry)
            .finish()
    }
}

impl Worker {
    /// Starts building a worker for `task_queue` on a WorkflowService.
    pub fn builder(service: ServiceHandle, task_queue: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            service,
            namespace: "default".to_string(),
            task_queue: task_queue.into(),
            identity: format!("{}@dacapo", std::process::id()),
            registry: Registry::default(),
            options: WorkerOptions::default(),
            cancel_shortcut: None,
        }
    }

    /// Polls and runs tasks until [`Worker::shutdown`] is called. At shutdown, polling stops,
    /// workflow tasks in hand are finished, and running activities are cancelled and given
    /// [`WorkerOptions::shutdown_grace`] to report; attempts that did not report are retried by
    /// the server once they time out.
    pub async fn run(&self) {
        match &self.inner.cancel_shortcut {
            Some(shortcut) => {
                let work = self.poll_and_finish();
                shortcut
                    .resubscribe()
                    .alongside(&self.inner.running, work)
                    .await;
            }
            None => self.poll_and_finish().await,
        }
    }

    /// What [`Worker::run`] does: poll until shutdown, then let the work in hand finish.
    async fn poll_and_finish(&self) {
        let mut tasks = tokio::task::JoinSet::new();
        let workflow_limit = Arc::new(tokio::sync::Semaphore::new(
            self.inner.options.max_concurrent_workflow_tasks.max(1),
        ));
        for _ in 0..self.inner.options.workflow_pollers.max(1) {
            let limit = workflow_limit.clone();
            tasks.spawn(workflow_tasks::poll_loop(self.inner.clone(), false, limit));
            // As many pollers on the sticky queue, where most tasks of cached runs arrive.
            if self.inner.options.sticky_schedule_to_start.is_some() {
                let limit = workflow_limit.clone();
                tasks.spawn(workflow_tasks::poll_loop(self.inner.clone(), true, limit));
            }
        }
        if !self.inner.registry.activities.is_empty() {
            let limit = Arc::new(tokio::sync::Semaphore::new(
                self.inner.options.max_concurrent_activities.max(1),
            ));
            for _ in 0..self.inner.options.activity_pollers.max(1) {
                tasks.spawn(activity_tasks::poll_loop(self.inner.clone(), limit.clone()));
            }
        }
        while tasks.join_next().await.is_some() {}
        // Tell the server this worker's sticky queue is gone, so its runs' next tasks go to the
        // normal queue at once instead of after the sticky timeout. A server that does not
        // know the call (the embedded engine) needs no telling.
        if self.inner.options.sticky_schedule_to_start.is_some() {
            let req = crate::proto::service::ShutdownWorkerRequest {
                namespace: self.inner.namespace.clone(),
                sticky_task_queue: self.inner.sticky_queue.clone(),
                identity: self.inner.identity.clone(),
                reason: "graceful shutdown".to_string(),
                task_queue: self.inner.task_queue.clone(),
                ..Default::default()
            };
            if let Err(status) = self
                .inner
                .service
                .shutdown_worker(tonic::Request::new(req))
                .await
                && status.code() != tonic::Code::Unimplemented
            {
                tracing::debug!("the server did not take the worker's shutdown: {status}");
            }
        }
        // Pollers have stopped; give in-flight attempts a moment to notice the cancel and report.
        self.inner.running.cancel_all();
        let mut attempts = std::mem::take(&mut *self.inner.attempts.lock());
        let grace = tokio::time::sleep(self.inner.options.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = attempts.join_next() => if next.is_none() { break },
                _ = &mut grace => {
                    attempts.abort_all();
                    while attempts.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }

    /// Asks [`Worker::run`] to stop.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// The task queue this worker polls.
    pub fn task_queue(&self) -> &str {
        &self.inner.task_queue
    }
}

impl Worker {
    /// Answers `query` from this worker's cached run of `execution` when the run has handled
    /// exactly the workflow tasks up to the one started at `last_completed` (the answer a query
    /// task would get); `None` when it holds no such run.
    pub(crate) fn answer_from_cache(
        &self,
        execution: &crate::proto::common::WorkflowExecution,
        last_completed: i64,
        query: &crate::proto::query::WorkflowQuery,
    ) -> Option<Result<Vec<crate::proto::common::Payload>, String>> {
        queries::answer_cached(&self.inner, execution, last_completed, query)
    }
}
