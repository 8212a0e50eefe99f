//! The same worker on two engines. The cancellation scenarios of docs/semantics.md §10 (1-7 and
//! 9) are written once and run on the embedded engine (in memory), once with a worker per
//! scenario and once with the runtime's own worker as an application uses it, and on the real
//! Temporal dev server, which this test binary starts on first use and kills when it exits: all
//! must write the histories docs/semantics.md gives, and the same ones as each other, event for
//! event. Then the seed workflow written with Temporal's own Python SDK, which must write that
//! history too; and dacapo and Python `temporalio` code calling each other across task queues.
//!
//! Needs `temporal` and `temporalio` on PATH (scripts/test installs both).

use dacapo::prelude::*;
use dacapo::proto::ServiceHandle;
use dacapo::proto::history::{HistoryEvent, history_event::Attributes as EvAttr};
use dacapo::worker::WorkerBuilder;
use dacapo::{
    Client, ClientError, Embedded, StartOptions, Worker, WorkflowDefinition, WorkflowHandle,
    WorkflowStatus, payload,
};
use dacapo_tests::backends::{RunningWorker, WFT, history, with_tasks, within};
use dacapo_tests::dev_server::shared_dev_server;
use dacapo_tests::procs::python_worker;
use dacapo_tests::{
    assert_same_lists, event_types, names, seed_history, wait_for_event, wait_until,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The code under test: the seed and the scenario workflows, and what their activities did.

/// What activities did, by workflow id (the tests of this file run at once, in one process).
static LOG: Mutex<Vec<(String, &'static str)>> = Mutex::new(Vec::new());

fn log(ctx: &ActivityContext, what: &'static str) {
    LOG.lock()
        .unwrap()
        .push((ctx.info().workflow_id.clone(), what));
}

fn count(workflow_id: &str, what: &str) -> usize {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|(w, x)| w == workflow_id && *x == what)
        .count()
}

/// The seed's activity: heartbeats every second until a cancel reaches it.
#[activity(start_to_close = "30m", heartbeat_timeout = "5s")]
async fn activity_to_be_canceled(ctx: ActivityContext) -> Result<String, ActivityError> {
    loop {
        let beat = match ctx.heartbeat(()).await {
            Ok(()) => ctx.sleep(Duration::from_secs(1)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = beat {
            log(&ctx, "stopped");
            return Err(e);
        }
    }
}

#[activity(start_to_close = "1m")]
async fn activity_to_be_skipped(ctx: ActivityContext) -> Result<(), ActivityError> {
    log(&ctx, "skipped ran");
    Ok(())
}

#[activity]
async fn cleanup_activity(ctx: ActivityContext, delay_ms: u64) -> Result<(), ActivityError> {
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    log(&ctx, "cleanup");
    Ok(())
}

/// The seed workflow, under the seed's name, so that it and the Python SDK's version of it are
/// started the same way.
#[workflow(name = "your_workflow")]
async fn seed_workflow(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup_activity, 0)
            .start_to_close(Duration::from_secs(2))
            .await?;
    }
    ctx.activity(activity_to_be_canceled, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    ctx.activity(activity_to_be_skipped, ()).await?;
    Ok(())
}

/// The seed, with a cleanup that runs long enough for the workflow task that follows its
/// scheduling to complete first, so that scenario 3's order does not depend on timing.
#[workflow]
async fn seed_with_slow_cleanup(ctx: WorkflowContext, cleanup_ms: u64) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup_activity, cleanup_ms)
            .start_to_close(Duration::from_secs(5))
            .await?;
    }
    ctx.activity(activity_to_be_canceled, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    ctx.activity(activity_to_be_skipped, ()).await?;
    Ok(())
}

#[workflow]
async fn never_started(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.activity(activity_to_be_skipped, ())
        .task_queue("nobody-polls-this-queue")
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    Ok(())
}

#[workflow]
async fn try_cancel(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.activity(activity_to_be_canceled, ())
        .cancellation(Cancellation::TryCancel)
        .await?;
    Ok(())
}

#[workflow]
async fn pending_timer(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.sleep(Duration::from_secs(3600)).await?;
    Ok(())
}

#[workflow]
async fn catches_cancel(ctx: WorkflowContext) -> WorkflowResult<String> {
    match ctx.sleep(Duration::from_secs(3600)).await {
        Ok(()) => Ok("slept".to_string()),
        Err(e) if e.is_cancelled() => Ok("caught the cancel".to_string()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Backends.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// dacapo's own engine, in memory, in this process.
    Embedded,
    /// The same, with the runtime's own worker (the one `Embedded::builder()` registers on)
    /// serving the scenarios, all on one task queue.
    EmbeddedOwnWorker,
    /// The Temporal dev server, over gRPC.
    Temporal,
}

const BACKENDS: [Backend; 3] = [
    Backend::Embedded,
    Backend::EmbeddedOwnWorker,
    Backend::Temporal,
];

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Embedded => "the embedded engine",
            Backend::EmbeddedOwnWorker => "the embedded engine's own worker",
            Backend::Temporal => "the Temporal dev server",
        })
    }
}

/// The task queue the embedded runtime's own worker polls.
const OWN_WORKER_QUEUE: &str = "embedded-own-worker";

/// Registers every workflow and activity above on `$builder`: a `Worker`'s, or the embedded
/// runtime's for its own worker.
macro_rules! register_all {
    ($builder:expr) => {
        $builder
            .workflow(seed_workflow)
            .workflow(seed_with_slow_cleanup)
            .workflow(never_started)
            .workflow(try_cancel)
            .workflow(pending_timer)
            .workflow(catches_cancel)
            .activity(activity_to_be_canceled)
            .activity(activity_to_be_skipped)
            .activity(cleanup_activity)
    };
}

/// A backend opened for one test: a client, and a service to build workers on.
struct Env {
    backend: Backend,
    client: Client,
    service: ServiceHandle,
    embedded: Option<Embedded>,
}

impl Env {
    async fn open(backend: Backend) -> Env {
        match backend {
            Backend::Embedded | Backend::EmbeddedOwnWorker => {
                let builder = Embedded::builder().in_memory();
                let builder = if backend == Backend::EmbeddedOwnWorker {
                    register_all!(builder.task_queue(OWN_WORKER_QUEUE))
                } else {
                    builder
                };
                let rt = builder.start().await.expect("the in-memory engine starts");
                Env {
                    backend,
                    client: rt.client(),
                    service: rt.service(),
                    embedded: Some(rt),
                }
            }
            Backend::Temporal => {
                let service = shared_dev_server().await.connect().await;
                Env {
                    backend,
                    client: Client::new(service.clone()),
                    service,
                    embedded: None,
                }
            }
        }
    }

    /// A name nothing else in this process uses, for a workflow id and its task queue: each
    /// scenario gets its own queue and its own worker, so histories cannot interfere.
    fn unique(&self, what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let tag = match self.backend {
            Backend::Embedded => "embedded",
            Backend::EmbeddedOwnWorker => "embedded-own",
            Backend::Temporal => "temporal",
        };
        format!("{what}-{tag}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The task queue to start the run `id` on: the runtime's own worker's, when it serves the
    /// scenarios; otherwise one of the run's own.
    fn queue(&self, id: &str) -> String {
        match self.backend {
            Backend::EmbeddedOwnWorker => OWN_WORKER_QUEUE.to_string(),
            Backend::Embedded | Backend::Temporal => id.to_string(),
        }
    }

    /// A worker for every workflow and activity above, polling `queue`; none when the runtime's
    /// own worker already polls it.
    fn worker(&self, queue: &str) -> RunningWorker {
        if self.backend == Backend::EmbeddedOwnWorker && queue == OWN_WORKER_QUEUE {
            return RunningWorker::not_ours();
        }
        RunningWorker::start(register_all!(self.worker_builder(queue)))
    }

    /// A builder of a worker polling `queue`. On the embedded engine, as `Embedded`'s own worker
    /// is: an in-process activity hears of its cancel at once, not at its next heartbeat. The
    /// history must be the same either way.
    fn worker_builder(&self, queue: &str) -> WorkerBuilder {
        match &self.embedded {
            Some(rt) => rt.worker_builder(queue),
            None => Worker::builder(self.service.clone(), queue),
        }
    }

    async fn close(self) {
        if let Some(rt) = self.embedded {
            rt.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting and comparing.

/// Waits until the run has an activity that started and heartbeated at least once, so that a
/// cancel finds it running on every backend.
async fn wait_for_heartbeat(client: &Client, id: &str) {
    wait_until(
        &format!("{id}: an activity that has started and heartbeated"),
        Duration::from_secs(30),
        async || {
            let d = client
                .describe_workflow(id, None)
                .await
                .map_err(|e| e.to_string())?;
            let beating = d
                .pending_activities
                .iter()
                .any(|a| a.state == "Started" && a.last_heartbeat_time.is_some());
            if beating {
                Ok(())
            } else {
                Err(format!("pending activities {:?}", d.pending_activities))
            }
        },
    )
    .await;
}

/// Waits until an activity of `id` has logged `what`.
async fn wait_for_log(id: &str, what: &str) {
    wait_until(
        &format!("{id}: an activity that logs `{what}`"),
        Duration::from_secs(30),
        async || {
            if count(id, what) > 0 {
                Ok(())
            } else {
                Err("nothing yet".to_string())
            }
        },
    )
    .await;
}

async fn status(client: &Client, id: &str) -> WorkflowStatus {
    client
        .describe_workflow(id, None)
        .await
        .unwrap_or_else(|e| panic!("describe {id}: {e}"))
        .status
}

/// One line per event: id, type and, for activity events, the activity type.
fn described(events: &[HistoryEvent]) -> Vec<String> {
    dacapo::proto::describe_history(events)
}

// ---------------------------------------------------------------------------------------------
// The scenarios (docs/semantics.md §10), each written once for every backend.

#[derive(Debug, Clone, Copy)]
enum Scenario {
    UnknownId,
    Seed,
    CancelledBeforeFirstTask,
    ActivityNeverStarted,
    TryCancel,
    PendingTimer,
    BodyCatchesTheCancel,
    Terminate,
}

const SCENARIOS: [Scenario; 8] = [
    Scenario::UnknownId,
    Scenario::Seed,
    Scenario::CancelledBeforeFirstTask,
    Scenario::ActivityNeverStarted,
    Scenario::TryCancel,
    Scenario::PendingTimer,
    Scenario::BodyCatchesTheCancel,
    Scenario::Terminate,
];

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::UnknownId => "scenario 1 (unknown id)",
            Scenario::Seed => "scenario 2 (the seed, cancelled while its activity heartbeats)",
            Scenario::CancelledBeforeFirstTask => "scenario 3 (cancelled before the first task)",
            Scenario::ActivityNeverStarted => "scenario 4 (activity never started)",
            Scenario::TryCancel => "scenario 5 (TryCancel)",
            Scenario::PendingTimer => "scenario 6 (pending timer)",
            Scenario::BodyCatchesTheCancel => "scenario 7 (the body catches the cancel)",
            Scenario::Terminate => "scenario 9 (terminate while an activity runs)",
        })
    }
}

impl Scenario {
    /// The history docs/semantics.md §10 gives, with the workflow task events and
    /// ActivityTaskStarted.
    fn expected(self) -> Vec<String> {
        match self {
            Scenario::UnknownId => Vec::new(),
            Scenario::Seed => seed_history(),
            Scenario::CancelledBeforeFirstTask => names(&[
                "WorkflowExecutionStarted",
                "WorkflowTaskScheduled",
                "WorkflowExecutionCancelRequested",
                "WorkflowTaskStarted",
                "WorkflowTaskCompleted",
                "ActivityTaskScheduled",
                "ActivityTaskCancelRequested",
                "ActivityTaskScheduled",
                "ActivityTaskCanceled",
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
                "WorkflowTaskCompleted",
                "ActivityTaskStarted",
                "ActivityTaskCompleted",
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
                "WorkflowTaskCompleted",
                "WorkflowExecutionCanceled",
            ]),
            Scenario::ActivityNeverStarted => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"],
                &WFT,
                &["ActivityTaskCancelRequested", "ActivityTaskCanceled"],
                &WFT,
                &["WorkflowExecutionCanceled"],
            ]),
            Scenario::TryCancel => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"],
                &WFT,
                &["ActivityTaskCancelRequested", "WorkflowExecutionCanceled"],
            ]),
            Scenario::PendingTimer => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["TimerStarted", "WorkflowExecutionCancelRequested"],
                &WFT,
                &["TimerCanceled", "WorkflowExecutionCanceled"],
            ]),
            Scenario::BodyCatchesTheCancel => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["TimerStarted", "WorkflowExecutionCancelRequested"],
                &WFT,
                &["TimerCanceled", "WorkflowExecutionCompleted"],
            ]),
            Scenario::Terminate => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["ActivityTaskScheduled", "WorkflowExecutionTerminated"],
            ]),
        }
    }

    /// The history's ActivityTaskScheduled events, as [`described`] gives them: which activity
    /// each schedules, and where.
    fn scheduled(self) -> Vec<String> {
        const CANCELED: &str = "ActivityTaskScheduled [activity_to_be_canceled]";
        const CLEANUP: &str = "ActivityTaskScheduled [cleanup_activity]";
        const SKIPPED: &str = "ActivityTaskScheduled [activity_to_be_skipped]";
        let at = |id: u32, what: &str| format!("{id} {what}");
        match self {
            Scenario::UnknownId | Scenario::PendingTimer | Scenario::BodyCatchesTheCancel => {
                Vec::new()
            }
            Scenario::Seed => vec![at(5, CANCELED), at(16, CLEANUP)],
            Scenario::CancelledBeforeFirstTask => vec![at(6, CANCELED), at(8, CLEANUP)],
            Scenario::ActivityNeverStarted => vec![at(5, SKIPPED)],
            Scenario::TryCancel | Scenario::Terminate => vec![at(5, CANCELED)],
        }
    }

    /// Plays the scenario on `env`, checking what the client and the activities see; returns
    /// the closed run's history (empty for scenario 1, which records nothing).
    async fn play(self, env: &Env) -> Vec<HistoryEvent> {
        let what = format!("{self} on {}", env.backend);
        let play = async {
            match self {
                Scenario::UnknownId => unknown_id(env).await,
                Scenario::Seed => seed(env).await,
                Scenario::CancelledBeforeFirstTask => cancelled_before_first_task(env).await,
                Scenario::ActivityNeverStarted => activity_never_started(env).await,
                Scenario::TryCancel => try_cancel_scenario(env).await,
                Scenario::PendingTimer => pending_timer_scenario(env).await,
                Scenario::BodyCatchesTheCancel => body_catches_the_cancel(env).await,
                Scenario::Terminate => terminate(env).await,
            }
        };
        within(&what, Duration::from_secs(90), play).await
    }

    /// Plays the scenario and checks its history against docs/semantics.md §10: the event types,
    /// and which activity each ActivityTaskScheduled schedules.
    async fn check(self, env: &Env) {
        let events = self.play(env).await;
        let what = format!("{self} on {}", env.backend);
        assert_same_lists(
            &what,
            ("docs/semantics.md", &self.expected()),
            (&env.backend.to_string(), &event_types(&events)),
        );
        let scheduled: Vec<String> = described(&events)
            .into_iter()
            .filter(|line| line.contains(" ActivityTaskScheduled "))
            .collect();
        assert_same_lists(
            &format!("{what}, the activities scheduled"),
            ("docs/semantics.md", &self.scheduled()),
            (&env.backend.to_string(), &scheduled),
        );
    }
}

async fn unknown_id(env: &Env) -> Vec<HistoryEvent> {
    let id = env.unique("s1-unknown");
    let err = env
        .client
        .cancel_workflow(&id, None, "scenario 1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::NotFound(m) if m.contains(&id)),
        "cancel of an unknown id on {}: {err:?}",
        env.backend
    );
    let err = env.client.describe_workflow(&id, None).await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
    let err = env
        .client
        .cancel_workflow("", None, "scenario 1")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
    Vec::new()
}

/// Scenario 2's moves, whoever serves `your_workflow` on `queue`: start it, cancel it once its
/// activity has heartbeated, and wait for it to close as Canceled. Returns its history.
async fn cancel_seed_while_heartbeating(
    client: &Client,
    id: &str,
    queue: &str,
) -> Vec<HistoryEvent> {
    client
        .start_workflow_by_name("your_workflow", Vec::new(), &StartOptions::new(id, queue))
        .await
        .unwrap_or_else(|e| panic!("start {id}: {e}"));
    wait_for_heartbeat(client, id).await;
    client
        .cancel_workflow(id, None, "scenario 2")
        .await
        .unwrap();
    let err = client.result::<()>(id, None).await.unwrap_err();
    assert!(err.is_cancelled(), "{id}: {err:?}");
    assert_eq!(status(client, id).await, WorkflowStatus::Canceled, "{id}");
    history(client, id).await
}

async fn seed(env: &Env) -> Vec<HistoryEvent> {
    let id = env.unique("s2-seed");
    let queue = env.queue(&id);
    let worker = env.worker(&queue);
    let events = cancel_seed_while_heartbeating(&env.client, &id, &queue).await;
    assert_eq!(count(&id, "stopped"), 1, "{id}: activity_to_be_canceled");
    assert_eq!(
        count(&id, "skipped ran"),
        0,
        "{id}: activity_to_be_skipped ran"
    );
    assert_eq!(count(&id, "cleanup"), 1, "{id}: cleanup_activity");
    worker.stop().await;
    events
}

async fn cancelled_before_first_task(env: &Env) -> Vec<HistoryEvent> {
    let id = env.unique("s3-before-first-task");
    let client = &env.client;
    let h = client
        .start_workflow(seed_with_slow_cleanup, 1000, StartOptions::new(&id, &id))
        .await
        .unwrap();
    client
        .cancel_workflow(&id, None, "scenario 3")
        .await
        .unwrap();
    // Only now does anything poll the run's queue (its own, on every backend: no worker that
    // was running before the cancel can serve it).
    let worker = env.worker(&id);
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{id}: {err:?}");
    assert_eq!(
        count(&id, "stopped") + count(&id, "skipped ran"),
        0,
        "{id}: a cancelled activity ran"
    );
    assert_eq!(count(&id, "cleanup"), 1, "{id}: cleanup_activity");
    worker.stop().await;
    history(client, &id).await
}

/// What a scenario waits for before it cancels.
enum Ready {
    /// This event is in the history.
    Event(&'static str),
    /// The activity has heartbeated.
    Heartbeat,
}

/// The opening most scenarios share: start `def` on its own queue with its own worker, wait
/// until `ready`, and cancel it by id with `reason`. Returns the id, the run's handle and the
/// worker, for the scenario's own checks.
async fn start_then_cancel<W: WorkflowDefinition<Input = ()>>(
    env: &Env,
    name: &str,
    def: W,
    ready: Ready,
    reason: &str,
) -> (String, WorkflowHandle<W::Output>, RunningWorker) {
    let id = env.unique(name);
    let queue = env.queue(&id);
    let client = &env.client;
    let worker = env.worker(&queue);
    let h = client
        .start_workflow(def, (), StartOptions::new(&id, &queue))
        .await
        .unwrap();
    match ready {
        Ready::Event(event) => {
            wait_for_event(client, &id, event).await;
        }
        Ready::Heartbeat => wait_for_heartbeat(client, &id).await,
    }
    client.cancel_workflow(&id, None, reason).await.unwrap();
    (id, h, worker)
}

async fn activity_never_started(env: &Env) -> Vec<HistoryEvent> {
    let (id, h, worker) = start_then_cancel(
        env,
        "s4-never-started",
        never_started,
        Ready::Event("ActivityTaskScheduled"),
        "scenario 4",
    )
    .await;
    let client = &env.client;
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{id}: {err:?}");
    worker.stop().await;
    history(client, &id).await
}

async fn try_cancel_scenario(env: &Env) -> Vec<HistoryEvent> {
    let (id, h, worker) = start_then_cancel(
        env,
        "s5-try-cancel",
        try_cancel,
        Ready::Heartbeat,
        "scenario 5",
    )
    .await;
    let client = &env.client;
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{id}: {err:?}");
    // The run closed at once; the activity hears of it at its next heartbeat.
    wait_for_log(&id, "stopped").await;
    worker.stop().await;
    history(client, &id).await
}

async fn pending_timer_scenario(env: &Env) -> Vec<HistoryEvent> {
    let (id, h, worker) = start_then_cancel(
        env,
        "s6-timer",
        pending_timer,
        Ready::Event("TimerStarted"),
        "scenario 6",
    )
    .await;
    let client = &env.client;
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{id}: {err:?}");
    assert_eq!(status(client, &id).await, WorkflowStatus::Canceled, "{id}");
    worker.stop().await;
    history(client, &id).await
}

async fn body_catches_the_cancel(env: &Env) -> Vec<HistoryEvent> {
    let (id, h, worker) = start_then_cancel(
        env,
        "s7-catches",
        catches_cancel,
        Ready::Event("TimerStarted"),
        "scenario 7",
    )
    .await;
    let client = &env.client;
    assert_eq!(h.result().await.unwrap(), "caught the cancel", "{id}");
    assert_eq!(status(client, &id).await, WorkflowStatus::Completed, "{id}");
    worker.stop().await;
    let events = history(client, &id).await;
    // A cancel of a closed run succeeds and writes nothing.
    client.cancel_workflow(&id, None, "again").await.unwrap();
    assert_eq!(history(client, &id).await.len(), events.len(), "{id}");
    events
}

async fn terminate(env: &Env) -> Vec<HistoryEvent> {
    let id = env.unique("s9-terminate");
    let queue = env.queue(&id);
    let client = &env.client;
    let worker = env.worker(&queue);
    let h = client
        .start_workflow(seed_workflow, (), StartOptions::new(&id, &queue))
        .await
        .unwrap();
    wait_for_heartbeat(client, &id).await;
    client
        .terminate_workflow(&id, None, "scenario 9")
        .await
        .unwrap();
    let err = h.result().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Terminated { .. }),
        "{id}: {err:?}"
    );
    wait_for_log(&id, "stopped").await;
    assert_eq!(
        count(&id, "cleanup"),
        0,
        "{id}: cleanup ran after terminate"
    );
    let err = client
        .terminate_workflow(&id, None, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{id}: {err:?}");
    worker.stop().await;
    history(client, &id).await
}

// ---------------------------------------------------------------------------------------------
// The scenarios on each backend, and on both at once.

async fn check_all(backend: Backend) {
    let env = Env::open(backend).await;
    for scenario in SCENARIOS {
        scenario.check(&env).await;
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_the_embedded_engine() {
    check_all(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_the_embedded_engines_own_worker() {
    check_all(Backend::EmbeddedOwnWorker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_on_the_temporal_dev_server() {
    check_all(Backend::Temporal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_running_id_is_refused() {
    for backend in BACKENDS {
        let env = Env::open(backend).await;
        let id = env.unique("dup");
        let queue = env.queue(&id);
        let client = &env.client;
        client
            .start_workflow(pending_timer, (), StartOptions::new(&id, &queue))
            .await
            .unwrap_or_else(|e| panic!("start {id} on {backend}: {e}"));
        let err = client
            .start_workflow(pending_timer, (), StartOptions::new(&id, &queue))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::AlreadyStarted { .. }),
            "a second start of {id} on {backend}: {err:?}"
        );
        client.terminate_workflow(&id, None, "done").await.unwrap();
        env.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_write_the_same_histories() {
    let (embedded, temporal) =
        tokio::join!(Env::open(Backend::Embedded), Env::open(Backend::Temporal));
    for scenario in SCENARIOS {
        let (ours, theirs) = tokio::join!(scenario.play(&embedded), scenario.play(&temporal));
        assert_same_lists(
            &scenario.to_string(),
            ("embedded engine", &described(&ours)),
            ("Temporal dev server", &described(&theirs)),
        );
    }
    embedded.close().await;
    temporal.close().await;
}

// ---------------------------------------------------------------------------------------------
// Temporal's own SDK.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_history_is_the_one_temporals_python_sdk_writes() {
    let server = shared_dev_server().await;
    let logs = tempfile::tempdir().unwrap();
    let python = python_worker(
        logs.path(),
        "python_seed_worker",
        &[&server.address(), "seed-python-sdk"],
    )
    .await;
    let (temporal, embedded) =
        tokio::join!(Env::open(Backend::Temporal), Env::open(Backend::Embedded));
    let (by_python, on_temporal, on_embedded) = tokio::join!(
        within(
            "the Python seed",
            Duration::from_secs(90),
            cancel_seed_while_heartbeating(&temporal.client, "seed-python-sdk", "seed-python-sdk"),
        ),
        Scenario::Seed.play(&temporal),
        Scenario::Seed.play(&embedded),
    );
    let types = event_types(&on_embedded);
    let (by_python, on_temporal, on_embedded) = (
        described(&by_python),
        described(&on_temporal),
        described(&on_embedded),
    );
    println!(
        "the seed, by the Python SDK on Temporal:\n{}",
        by_python.join("\n")
    );
    println!(
        "the seed, by dacapo on Temporal:\n{}",
        on_temporal.join("\n")
    );
    println!(
        "the seed, by dacapo on the embedded engine:\n{}",
        on_embedded.join("\n")
    );
    assert_same_lists(
        "the seed on the Temporal dev server",
        ("Python SDK", &by_python),
        ("dacapo", &on_temporal),
    );
    assert_same_lists(
        "the seed by dacapo",
        ("on the Temporal dev server", &on_temporal),
        ("on the embedded engine", &on_embedded),
    );
    assert_same_lists(
        "the seed",
        ("docs/semantics.md", &seed_history()),
        ("on the embedded engine", &types),
    );
    assert!(
        python.log().contains("cleanup_activity: cleaning up")
            && !python.log().contains("should not run"),
        "{}",
        python.log()
    );
    embedded.close().await;
}

// ---------------------------------------------------------------------------------------------
// Across languages: values cross as `json/plain`.

/// What the Python activity takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GreetRequest {
    name: String,
    times: u32,
}

/// What the Python activity returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Greeting {
    greeting: String,
    language: String,
    letters: usize,
}

/// Served by the Python worker (tests/interop/python_activity_worker.py) on `py-activities`.
/// This declaration gives the call its name, queue, timeout and types; no Rust worker
/// registers it, so its body never runs.
#[activity(
    name = "python_greet",
    task_queue = "py-activities",
    start_to_close = "30s"
)]
async fn python_greet(request: GreetRequest) -> Result<Greeting, ActivityError> {
    Err(ActivityError::non_retryable(format!(
        "python_greet({}) is served by the Python worker, not by a dacapo worker",
        request.name
    )))
}

#[workflow]
async fn greet_in_python(ctx: WorkflowContext, name: String) -> WorkflowResult<Greeting> {
    let greeting = ctx
        .activity(python_greet, GreetRequest { name, times: 2 })
        .await?;
    Ok(greeting)
}

fn encoding(p: Option<&dacapo::proto::common::Payload>) -> String {
    p.and_then(|p| p.metadata.get(payload::ENCODING_KEY))
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_workflow_calls_an_activity_a_python_worker_serves() {
    let server = shared_dev_server().await;
    let logs = tempfile::tempdir().unwrap();
    let _python = python_worker(
        logs.path(),
        "python_activity_worker",
        &[
            &server.address(),
            "py-activities",
            "py-workflows-for-greeting",
        ],
    )
    .await;
    let env = Env::open(Backend::Temporal).await;
    let id = env.unique("rust-calls-python");
    let worker = RunningWorker::start(env.worker_builder(&id).workflow(greet_in_python));
    let h = env
        .client
        .start_workflow(
            greet_in_python,
            "Ada".to_string(),
            StartOptions::new(&id, &id),
        )
        .await
        .unwrap();
    let greeting = within("the greeting", Duration::from_secs(60), h.result())
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(
        greeting,
        Greeting {
            greeting: "Hello, Ada! Hello, Ada!".to_string(),
            language: "python".to_string(),
            letters: 3,
        }
    );
    worker.stop().await;

    let events = history(&env.client, &id).await;
    let scheduled = events
        .iter()
        .find_map(|e| match &e.attributes {
            Some(EvAttr::ActivityTaskScheduledEventAttributes(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("an ActivityTaskScheduled event");
    assert_eq!(
        scheduled.activity_type.unwrap_or_default().name,
        "python_greet"
    );
    assert_eq!(
        scheduled.task_queue.unwrap_or_default().name,
        "py-activities"
    );
    let input = scheduled.input.unwrap_or_default().payloads;
    assert_eq!(encoding(input.first()), payload::JSON_PLAIN);
    let completed = events
        .iter()
        .find_map(|e| match &e.attributes {
            Some(EvAttr::ActivityTaskCompletedEventAttributes(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("an ActivityTaskCompleted event");
    let result = completed.result.unwrap_or_default().payloads;
    assert_eq!(
        encoding(result.first()),
        payload::JSON_PLAIN,
        "what Python returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_client_cancels_a_python_workflow() {
    let server = shared_dev_server().await;
    let logs = tempfile::tempdir().unwrap();
    let _python = python_worker(
        logs.path(),
        "python_activity_worker",
        &[&server.address(), "py-activities-unused", "py-workflows"],
    )
    .await;
    let client = server.client().await;
    let id = "python-waits-for-cancel";
    let input = payload::encode(&GreetRequest {
        name: "Grace".to_string(),
        times: 1,
    })
    .unwrap();
    client
        .start_workflow_by_name(
            "python_waits_for_cancel",
            vec![input],
            &StartOptions::new(id, "py-workflows"),
        )
        .await
        .unwrap();
    wait_for_event(&client, id, "TimerStarted").await;
    client
        .cancel_workflow(id, None, "from dacapo")
        .await
        .unwrap();
    let err = within(
        "the Python workflow's result",
        Duration::from_secs(60),
        client.result::<serde_json::Value>(id, None),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ClientError::Canceled { workflow_id } if workflow_id == id),
        "{err:?}"
    );
    assert_eq!(status(&client, id).await, WorkflowStatus::Canceled);
    // The Python workflow has scenario 6's shape: a pending timer, then a cancel.
    assert_same_lists(
        "a Python workflow cancelled while its timer is pending",
        (
            "docs/semantics.md §10, scenario 6",
            &Scenario::PendingTimer.expected(),
        ),
        (
            "Python SDK on Temporal",
            &event_types(&history(&client, id).await),
        ),
    );
}
