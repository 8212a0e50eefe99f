//! The worker: polls a WorkflowService for workflow and activity tasks, runs them, and keeps a
//! cache of running workflows so that a new event costs one poll of the cached future instead of
//! a full replay.

mod activities;
pub(crate) mod registry;
pub(crate) mod workflows;

use crate::definition::{ActivityDefinition, WorkflowDefinition};
use crate::proto::ServiceHandle;
use crate::proto::enums::TaskQueueKind;
use crate::proto::taskqueue::{StickyExecutionAttributes, TaskQueue};
use registry::{ActivityEntry, Registry, WorkflowEntry};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub(crate) use activities::RunningActivities;

/// Tunables of a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Concurrent workflow task polls.
    pub workflow_pollers: usize,
    /// Concurrent activity task polls.
    pub activity_pollers: usize,
    /// Workflow tasks handled at once, at most (tasks of different runs; a run has at most one
    /// workflow task at a time).
    pub max_concurrent_workflow_tasks: usize,
    /// Activities run at once, at most.
    pub max_concurrent_activities: usize,
    /// Running workflows kept in memory between tasks, at most.
    pub max_cached_workflows: usize,
    /// Heartbeat throttle for activities without a heartbeat timeout.
    pub default_heartbeat_throttle: Duration,
    /// How long [`Worker::run`] waits, after a shutdown, for cancelled activities to return.
    pub shutdown_grace: Duration,
    /// Ask the server to send a cached run's next tasks to this worker's own queue, with only
    /// the new events (Temporal's sticky execution). `None` turns it off; the value is how long
    /// such a task may wait before the server sends it to the normal queue instead.
    pub sticky_schedule_to_start: Option<Duration>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            workflow_pollers: 2,
            activity_pollers: 2,
            max_concurrent_workflow_tasks: 100,
            max_concurrent_activities: 200,
            max_cached_workflows: 10_000,
            default_heartbeat_throttle: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            sticky_schedule_to_start: Some(Duration::from_secs(5)),
        }
    }
}

/// Builds a [`Worker`].
pub struct WorkerBuilder {
    service: ServiceHandle,
    namespace: String,
    task_queue: String,
    identity: String,
    registry: Registry,
    options: WorkerOptions,
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
                cache: workflows::Cache::default(),
                running: RunningActivities::default(),
                attempts: parking_lot::Mutex::new(tokio::task::JoinSet::new()),
                shutdown: CancellationToken::new(),
            }),
        }
    }
}

pub(crate) struct WorkerInner {
    pub(crate) service: ServiceHandle,
    pub(crate) namespace: String,
    pub(crate) task_queue: String,
    pub(crate) identity: String,
    pub(crate) sticky_queue: String,
    pub(crate) registry: Registry,
    pub(crate) options: WorkerOptions,
    pub(crate) cache: workflows::Cache,
    pub(crate) running: RunningActivities,
    pub(crate) attempts: parking_lot::Mutex<tokio::task::JoinSet<()>>,
    pub(crate) shutdown: CancellationToken,
}

/// The loop both kinds of poller run: wait for a free slot of `limit`, poll (`poll` sends one
/// request), and hand each task to `run` with its slot; an empty answer (the long poll ran out)
/// polls again, a failed one backs off. Returns at shutdown, or when `limit` is closed.
pub(crate) async fn poll_tasks<T, Fut>(
    w: &WorkerInner,
    what: &str,
    limit: &Arc<Semaphore>,
    mut poll: impl FnMut() -> Fut,
    task_token: fn(&T) -> &[u8],
    mut run: impl FnMut(T, OwnedSemaphorePermit),
) where
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut backoff = PollBackoff::new();
    loop {
        let permit = tokio::select! {
            _ = w.shutdown.cancelled() => return,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let polled = tokio::select! {
            _ = w.shutdown.cancelled() => return,
            r = poll() => r,
        };
        match polled {
            Ok(resp) => {
                backoff.reset();
                let task = resp.into_inner();
                if !task_token(&task).is_empty() {
                    run(task, permit);
                }
            }
            Err(status) => {
                if !backoff.after_error(w, what, status).await {
                    return;
                }
            }
        }
    }
}

/// The pause between failed polls: 50 ms, doubling to at most 5 s, reset by a good poll.
struct PollBackoff(Duration);

impl PollBackoff {
    const FIRST: Duration = Duration::from_millis(50);

    fn new() -> Self {
        Self(Self::FIRST)
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }

    /// Logs a failed poll and waits before the next one. False when the worker is shutting down.
    async fn after_error(&mut self, w: &WorkerInner, what: &str, status: tonic::Status) -> bool {
        tracing::warn!(task_queue = %w.task_queue, "polling for {what} tasks failed: {status}");
        tokio::select! {
            _ = w.shutdown.cancelled() => return false,
            _ = tokio::time::sleep(self.0) => {}
        }
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        true
    }
}

impl WorkerInner {
    pub(crate) fn sticky_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: self.sticky_queue.clone(),
            kind: TaskQueueKind::Sticky as i32,
            normal_name: self.task_queue.clone(),
        })
    }

    pub(crate) fn sticky_attributes(&self) -> Option<StickyExecutionAttributes> {
        self.options
            .sticky_schedule_to_start
            .map(|d| StickyExecutionAttributes {
                worker_task_queue: self.sticky_queue(),
                schedule_to_start_timeout: Some(crate::proto::duration_to_proto(d)),
            })
    }

    pub(crate) fn task_queue(&self) -> Option<TaskQueue> {
        Some(TaskQueue {
            name: self.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        })
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
        }
    }

    /// Polls and runs tasks until [`Worker::shutdown`] is called. At shutdown, polling stops,
    /// workflow tasks in hand are finished, and running activities are cancelled and given
    /// [`WorkerOptions::shutdown_grace`] to report; attempts that did not report are retried by
    /// the server once they time out.
    pub async fn run(&self) {
        let mut tasks = tokio::task::JoinSet::new();
        let workflow_limit = Arc::new(tokio::sync::Semaphore::new(
            self.inner.options.max_concurrent_workflow_tasks.max(1),
        ));
        for _ in 0..self.inner.options.workflow_pollers.max(1) {
            let limit = workflow_limit.clone();
            tasks.spawn(workflows::poll_loop(self.inner.clone(), false, limit));
            // As many pollers on the sticky queue, where most tasks of cached runs arrive.
            if self.inner.options.sticky_schedule_to_start.is_some() {
                let limit = workflow_limit.clone();
                tasks.spawn(workflows::poll_loop(self.inner.clone(), true, limit));
            }
        }
        if !self.inner.registry.activities.is_empty() {
            let limit = Arc::new(tokio::sync::Semaphore::new(
                self.inner.options.max_concurrent_activities.max(1),
            ));
            for _ in 0..self.inner.options.activity_pollers.max(1) {
                tasks.spawn(activities::poll_loop(self.inner.clone(), limit.clone()));
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

    /// Delivers a cancel to an in-process activity attempt, identified by its task token, at
    /// once rather than at its next heartbeat. Returns whether such an attempt is running here.
    pub fn deliver_activity_cancel(&self, task_token: &[u8]) -> bool {
        self.inner.running.cancel(task_token, "was cancelled")
    }

    /// The task queue this worker polls.
    pub fn task_queue(&self) -> &str {
        &self.inner.task_queue
    }
}
