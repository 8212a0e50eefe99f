//! Speculative workflow tasks on three backends: the embedded engine, `dacapo server` and the
//! Temporal dev server, driven the same way by a worker written here with raw gRPC calls. An
//! update to a run with no workflow task pending rides a task Temporal keeps out of the history
//! while it can; each scenario checks the answers and that the three histories are the same,
//! event type by event type.
//!
//! Needs `temporal` on PATH (scripts/test installs it).

use dacapo::proto::ServiceHandle;
use dacapo::proto::command::{Command, StartTimerCommandAttributes, command};
use dacapo::proto::common::{Payload, Payloads, WorkflowExecution, WorkflowType};
use dacapo::proto::enums::{
    CommandType, EventType, TimeoutType, UpdateWorkflowExecutionLifecycleStage as Stage,
};
use dacapo::proto::history::HistoryEvent;
use dacapo::proto::history::history_event::Attributes;
use dacapo::proto::protocol::Message;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use dacapo::proto::update::{Input, Meta, Rejection, Request as UpdateRequest, WaitPolicy};
use dacapo_tests::backends::{self, Backend};
use prost::Message as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::Request;

const NS: &str = "default";

/// A backend's service, and what keeps it up.
struct Env {
    backend: Backend,
    service: ServiceHandle,
    _shared: backends::Env,
}

impl Env {
    async fn open(backend: Backend) -> Env {
        let shared = backends::Env::open(backend).await;
        Env {
            backend,
            service: shared.service.clone(),
            _shared: shared,
        }
    }

    /// A workflow id, also its task queue, that nothing else in this process uses.
    fn unique(&self, what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        format!(
            "{what}-{:?}-{}-{}",
            self.backend,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_lowercase()
    }

    async fn start(&self, id: &str) {
        self.service
            .start_workflow_execution(Request::new(StartWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_id: id.into(),
                workflow_type: Some(WorkflowType {
                    name: "speculative".into(),
                }),
                task_queue: queue(id),
                request_id: request_id(),
                identity: "test-client".into(),
                ..Default::default()
            }))
            .await
            .expect("start");
    }

    /// Polls `id`'s queue until a workflow task comes.
    async fn poll(&self, id: &str) -> PollWorkflowTaskQueueResponse {
        for _ in 0..30 {
            let task = self
                .service
                .poll_workflow_task_queue(Request::new(PollWorkflowTaskQueueRequest {
                    namespace: NS.into(),
                    task_queue: queue(id),
                    identity: "test-worker".into(),
                    ..Default::default()
                }))
                .await
                .expect("poll")
                .into_inner();
            if !task.task_token.is_empty() {
                return task;
            }
        }
        panic!("{:?}: no workflow task for {id}", self.backend);
    }

    async fn complete(
        &self,
        task: &PollWorkflowTaskQueueResponse,
        messages: Vec<Message>,
    ) -> RespondWorkflowTaskCompletedResponse {
        // As Temporal's SDKs declare.
        self.complete_as(task, messages, vec![], true).await
    }

    /// Completes `task` with `messages` and `commands`, declaring (or not) that the worker can
    /// be sent the same events twice.
    async fn complete_as(
        &self,
        task: &PollWorkflowTaskQueueResponse,
        messages: Vec<Message>,
        commands: Vec<Command>,
        repeatable: bool,
    ) -> RespondWorkflowTaskCompletedResponse {
        self.service
            .respond_workflow_task_completed(Request::new(RespondWorkflowTaskCompletedRequest {
                namespace: NS.into(),
                task_token: task.task_token.clone(),
                messages,
                commands,
                identity: "test-worker".into(),
                capabilities: Some(respond_workflow_task_completed_request::Capabilities {
                    discard_speculative_workflow_task_with_events: repeatable,
                }),
                ..Default::default()
            }))
            .await
            .expect("complete")
            .into_inner()
    }

    /// A run whose first workflow task completed without a command.
    async fn quiet_run(&self, id: &str) {
        self.start(id).await;
        let task = self.poll(id).await;
        self.complete(&task, vec![]).await;
    }

    /// Sends an update in the background; its caller waits for it to complete.
    fn update(
        &self,
        id: &str,
        update_id: &str,
    ) -> JoinHandle<Result<UpdateWorkflowExecutionResponse, tonic::Status>> {
        let service = self.service.clone();
        let req = UpdateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: id.into(),
                run_id: String::new(),
            }),
            wait_policy: Some(WaitPolicy {
                lifecycle_stage: Stage::Completed as i32,
            }),
            request: Some(UpdateRequest {
                meta: Some(Meta {
                    update_id: update_id.into(),
                    identity: "test-client".into(),
                }),
                input: Some(Input {
                    header: None,
                    name: "set".into(),
                    args: Some(Payloads {
                        payloads: vec![json_payload("\"x\"")],
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        tokio::spawn(async move {
            // The frontend answers at the stage reached after its long poll; ask again then.
            loop {
                let resp = service
                    .update_workflow_execution(Request::new(req.clone()))
                    .await?
                    .into_inner();
                if resp.stage == Stage::Completed as i32 {
                    return Ok(resp);
                }
            }
        })
    }

    async fn signal(&self, id: &str) {
        self.service
            .signal_workflow_execution(Request::new(SignalWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: id.into(),
                    run_id: String::new(),
                }),
                signal_name: "poke".into(),
                identity: "test-client".into(),
                request_id: request_id(),
                ..Default::default()
            }))
            .await
            .expect("signal");
    }

    async fn events(&self, id: &str) -> Vec<HistoryEvent> {
        self.service
            .get_workflow_execution_history(Request::new(GetWorkflowExecutionHistoryRequest {
                namespace: NS.into(),
                execution: Some(WorkflowExecution {
                    workflow_id: id.into(),
                    run_id: String::new(),
                }),
                ..Default::default()
            }))
            .await
            .expect("history")
            .into_inner()
            .history
            .unwrap_or_default()
            .events
    }

    async fn types(&self, id: &str) -> Vec<EventType> {
        self.events(id).await.iter().map(event_type).collect()
    }

    /// Waits until `id`'s history has an event of type `wanted` (at most a minute).
    async fn wait_for(&self, id: &str, wanted: EventType) {
        for _ in 0..600 {
            if self.types(id).await.contains(&wanted) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{:?}: {id} never had {wanted:?}", self.backend);
    }
}

/// A request id no other request of this process has.
fn request_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn queue(id: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: id.into(),
        ..Default::default()
    })
}

fn json_payload(json: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: json.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn event_type(e: &HistoryEvent) -> EventType {
    EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)
}

/// The one update request a task carries.
fn the_request(env: &Env, task: &PollWorkflowTaskQueueResponse) -> Message {
    assert_eq!(
        task.messages.len(),
        1,
        "{:?}: {:?}",
        env.backend,
        task.messages
    );
    task.messages[0].clone()
}

/// The worker's rejection of `request`, as SDKs send it.
fn rejection(request: &Message) -> Message {
    let body = Rejection {
        rejected_request_message_id: request.id.clone(),
        failure: Some(dacapo::proto::failure::Failure {
            message: "no".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut any = Message::default().body.unwrap_or_default();
    any.type_url = "type.googleapis.com/temporal.api.update.v1.Rejection".into();
    any.value = body.encode_to_vec();
    Message {
        id: format!("{}/reject", request.protocol_instance_id),
        protocol_instance_id: request.protocol_instance_id.clone(),
        body: Some(any),
        ..Default::default()
    }
}

fn rejected_with(env: &Env, resp: &UpdateWorkflowExecutionResponse) -> String {
    match resp.outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(dacapo::proto::update::outcome::Value::Failure(f)) => f.message.clone(),
        other => panic!("{:?}: expected a rejection, got {other:?}", env.backend),
    }
}

/// What one scenario saw: its event types, and the reset ids the completions answered.
type Seen = (Vec<EventType>, Vec<i64>);

/// A rejected update to a quiet run leaves no trace; the worker is told to roll back.
async fn rejected_on_a_quiet_run(env: &Env) -> Seen {
    let id = env.unique("quiet");
    env.quiet_run(&id).await;
    let before = env.types(&id).await;
    let call = env.update(&id, "up-1");
    let task = env.poll(&id).await;
    let request = the_request(env, &task);
    let resp = env.complete(&task, vec![rejection(&request)]).await;
    let answer = call.await.expect("join").expect("update");
    assert_eq!(rejected_with(env, &answer), "no");
    assert_eq!(env.types(&id).await, before, "{:?}", env.backend);
    (env.types(&id).await, vec![resp.reset_history_event_id])
}

/// A signal before the speculative task starts: the task is written after the signal.
async fn signal_before_the_task_starts(env: &Env) -> Seen {
    let id = env.unique("signal-first");
    env.quiet_run(&id).await;
    let call = env.update(&id, "up-1");
    // The update is admitted before the signal (the test waits for the engine to hold it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.signal(&id).await;
    let task = env.poll(&id).await;
    let request = the_request(env, &task);
    let resp = env.complete(&task, vec![rejection(&request)]).await;
    call.await.expect("join").expect("update");
    (env.types(&id).await, vec![resp.reset_history_event_id])
}

/// A signal while the speculative task runs: the task is dropped, the signal written with a
/// new task.
async fn signal_while_the_task_runs(env: &Env) -> Seen {
    let id = env.unique("signal-during");
    env.quiet_run(&id).await;
    let call = env.update(&id, "up-1");
    let task = env.poll(&id).await;
    env.signal(&id).await;
    let request = the_request(env, &task);
    let first = env.complete(&task, vec![rejection(&request)]).await;
    call.await.expect("join").expect("update");
    let next = env.poll(&id).await;
    assert!(next.messages.is_empty(), "{:?}", env.backend);
    let second = env.complete(&next, vec![]).await;
    (
        env.types(&id).await,
        vec![first.reset_history_event_id, second.reset_history_event_id],
    )
}

/// No worker starts the speculative task in time: it times out (schedule-to-start) and a normal
/// task carries the update.
async fn no_worker_in_time(env: &Env) -> Seen {
    let id = env.unique("late");
    env.quiet_run(&id).await;
    let call = env.update(&id, "up-1");
    env.wait_for(&id, EventType::WorkflowTaskTimedOut).await;
    let events = env.events(&id).await;
    let timed_out = events.iter().find_map(|e| match &e.attributes {
        Some(Attributes::WorkflowTaskTimedOutEventAttributes(a)) => Some(a.timeout_type),
        _ => None,
    });
    assert_eq!(timed_out, Some(TimeoutType::ScheduleToStart as i32));
    let task = env.poll(&id).await;
    let request = the_request(env, &task);
    let resp = env.complete(&task, vec![rejection(&request)]).await;
    call.await.expect("join").expect("update");
    (env.types(&id).await, vec![resp.reset_history_event_id])
}

/// A terminate while the speculative task is scheduled, or running.
async fn terminated(env: &Env, started: bool) -> Seen {
    let id = env.unique("terminated");
    env.quiet_run(&id).await;
    let call = env.update(&id, "up-1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let task = if started {
        Some(env.poll(&id).await)
    } else {
        None
    };
    env.service
        .terminate_workflow_execution(Request::new(TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: id.clone(),
                run_id: String::new(),
            }),
            reason: "stop".into(),
            identity: "test-client".into(),
            ..Default::default()
        }))
        .await
        .expect("terminate");
    // The caller is told the run closed.
    let refused = call.await.expect("join").map(|_| ()).map_err(|s| s.code());
    assert_eq!(refused, Err(tonic::Code::NotFound), "{:?}", env.backend);
    if let Some(task) = task {
        let request = the_request(env, &task);
        let late = env
            .service
            .respond_workflow_task_completed(Request::new(RespondWorkflowTaskCompletedRequest {
                namespace: NS.into(),
                task_token: task.task_token.clone(),
                messages: vec![rejection(&request)],
                ..Default::default()
            }))
            .await;
        assert_eq!(
            late.map(|_| ()).map_err(|s| s.code()),
            Err(tonic::Code::NotFound),
            "{:?}",
            env.backend
        );
    }
    (env.types(&id).await, vec![])
}

/// A run whose first task started a timer, so that an event follows its
/// `WorkflowTaskCompleted`: a rejection drops the speculative task only for a worker that can be
/// sent that event again.
async fn after_an_event(env: &Env, repeatable: bool) -> Seen {
    let id = env.unique("after-event");
    env.start(&id).await;
    let task = env.poll(&id).await;
    let timer = Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(command::Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: "t".into(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
        )),
        ..Default::default()
    };
    env.complete_as(&task, vec![], vec![timer], true).await;
    let call = env.update(&id, "up-1");
    let task = env.poll(&id).await;
    let request = the_request(env, &task);
    let resp = env
        .complete_as(&task, vec![rejection(&request)], vec![], repeatable)
        .await;
    call.await.expect("join").expect("update");
    (env.types(&id).await, vec![resp.reset_history_event_id])
}

/// An update that arrives while a workflow task runs: the next task is speculative when the
/// worker takes it in the completion's answer (`return_new_workflow_task`), else a normal one.
async fn while_a_task_runs(env: &Env, inline: bool) -> Seen {
    let id = env.unique("during-task");
    env.start(&id).await;
    let first = env.poll(&id).await;
    let call = env.update(&id, "up-1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = env
        .service
        .respond_workflow_task_completed(Request::new(RespondWorkflowTaskCompletedRequest {
            namespace: NS.into(),
            task_token: first.task_token.clone(),
            identity: "test-worker".into(),
            return_new_workflow_task: inline,
            ..Default::default()
        }))
        .await
        .expect("complete")
        .into_inner();
    let next = match resp.workflow_task {
        Some(task) if !task.task_token.is_empty() => task,
        _ => env.poll(&id).await,
    };
    let request = the_request(env, &next);
    let answer = env.complete(&next, vec![rejection(&request)]).await;
    call.await.expect("join").expect("update");
    (env.types(&id).await, vec![answer.reset_history_event_id])
}

/// A failed speculative task is written.
async fn failed(env: &Env) -> Seen {
    let id = env.unique("failed");
    env.quiet_run(&id).await;
    let call = env.update(&id, "up-1");
    let task = env.poll(&id).await;
    env.service
        .respond_workflow_task_failed(Request::new(RespondWorkflowTaskFailedRequest {
            namespace: NS.into(),
            task_token: task.task_token.clone(),
            identity: "test-worker".into(),
            ..Default::default()
        }))
        .await
        .expect("fail");
    call.abort();
    // Up to the failure: Temporal keeps its retry (a transient task) out of the history until
    // it completes, dacapo writes it.
    let mut types = env.types(&id).await;
    if let Some(at) = types
        .iter()
        .position(|t| *t == EventType::WorkflowTaskFailed)
    {
        types.truncate(at + 1);
    }
    (types, vec![])
}

async fn all(env: &Env) -> Vec<Seen> {
    let (a, b, c, d, e, f) = tokio::join!(
        rejected_on_a_quiet_run(env),
        signal_before_the_task_starts(env),
        signal_while_the_task_runs(env),
        no_worker_in_time(env),
        terminated(env, false),
        terminated(env, true),
    );
    let (g, h, i) = tokio::join!(
        after_an_event(env, true),
        after_an_event(env, false),
        failed(env),
    );
    let (j, k) = tokio::join!(while_a_task_runs(env, true), while_a_task_runs(env, false));
    vec![a, b, c, d, e, f, g, h, i, j, k]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speculative_tasks_leave_the_same_histories_on_every_backend() {
    use EventType::*;
    // Opened first: starting a server blocks, and must not stall a scenario in flight.
    let envs = [
        Env::open(Backend::Embedded).await,
        Env::open(Backend::DacapoServer).await,
        Env::open(Backend::Temporal).await,
    ];
    let (embedded, server, temporal) = tokio::join!(all(&envs[0]), all(&envs[1]), all(&envs[2]));
    let quiet = [
        WorkflowExecutionStarted,
        WorkflowTaskScheduled,
        WorkflowTaskStarted,
        WorkflowTaskCompleted,
    ];
    let task = [
        WorkflowTaskScheduled,
        WorkflowTaskStarted,
        WorkflowTaskCompleted,
    ];
    let expected: Vec<Seen> = vec![
        (quiet.to_vec(), vec![3]),
        // Written as a normal task when the signal comes, before it.
        (
            [
                &quiet[..],
                &[
                    WorkflowTaskScheduled,
                    WorkflowExecutionSignaled,
                    WorkflowTaskStarted,
                    WorkflowTaskCompleted,
                ],
            ]
            .concat(),
            vec![0],
        ),
        // Written when the signal comes, the signal held until it completes.
        (
            [
                &quiet[..],
                &task[..],
                &[WorkflowExecutionSignaled],
                &task[..],
            ]
            .concat(),
            vec![0, 0],
        ),
        (
            [
                &quiet[..],
                &[WorkflowTaskScheduled, WorkflowTaskTimedOut],
                &task[..],
            ]
            .concat(),
            vec![0],
        ),
        // A terminate forgets a task not yet started, and fails a started one.
        (
            [&quiet[..], &[WorkflowExecutionTerminated]].concat(),
            vec![],
        ),
        (
            [
                &quiet[..],
                &[
                    WorkflowTaskScheduled,
                    WorkflowTaskStarted,
                    WorkflowTaskFailed,
                    WorkflowExecutionTerminated,
                ],
            ]
            .concat(),
            vec![],
        ),
        // TimerStarted after the last completed task: dropped for a worker that can take it
        // twice, written for one that cannot.
        ([&quiet[..], &[TimerStarted]].concat(), vec![3]),
        ([&quiet[..], &[TimerStarted], &task[..]].concat(), vec![0]),
        (
            [
                &quiet[..],
                &[
                    WorkflowTaskScheduled,
                    WorkflowTaskStarted,
                    WorkflowTaskFailed,
                ],
            ]
            .concat(),
            vec![],
        ),
        // An update during a task: a speculative next task when taken in the answer (dropped),
        // a normal one otherwise (written).
        (quiet.to_vec(), vec![3]),
        ([&quiet[..], &task[..]].concat(), vec![0]),
    ];
    assert_eq!(temporal, expected, "the Temporal dev server");
    assert_eq!(embedded, expected, "the embedded engine");
    assert_eq!(server, expected, "dacapo server");
}
