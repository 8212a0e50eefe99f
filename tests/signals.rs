//! Signals end to end, the same scenarios on three backends: the embedded engine (in memory, in
//! this process), `dacapo server` (the binary, in memory, one per test process) and the
//! Temporal dev server. Each scenario checks the same results and the same event types on all
//! three, and the histories of the embedded engine and of Temporal are compared event for
//! event. Then the `temporal` CLI signals a dacapo workflow on `dacapo server`.
//!
//! Needs `temporal` on PATH (scripts/test installs it).

use dacapo::prelude::*;
use dacapo::proto::ServiceHandle;
use dacapo::proto::history::{HistoryEvent, history_event::Attributes as EvAttr};
use dacapo::{Client, ClientError, StartOptions};
use dacapo_tests::backends::{
    Backend, Env, RunningWorker, WFT, dacapo_server_address, grpc_address, history, wait_for_count,
    with_tasks, within,
};
use dacapo_tests::procs::{python_client, run, temporal, tool};
use dacapo_tests::{assert_same_lists, event_types, names, wait_for_event};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The messages and workflows under test.

/// An approval, as the client sends it and the workflow reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
}

/// Defined once, used by the workflows and by the clients below.
pub const APPROVE: Signal<Approval> = Signal::new("approve");
/// Tells `approve_when_told` to read its approvals.
pub const GO: Signal<()> = Signal::new("go");

/// Waits for an approval, or `timeout_secs` of workflow time.
#[workflow]
async fn approval_or_timeout(ctx: WorkflowContext, timeout_secs: u64) -> WorkflowResult<String> {
    let mut approvals = ctx.signal_channel(APPROVE);
    dacapo::select! {
        a = approvals.recv() => Ok(format!("approved by {}", a?.by)),
        t = ctx.sleep(Duration::from_secs(timeout_secs)) => {
            t?;
            Ok("timed out".to_string())
        }
    }
}

/// Asks for the approvals channel only after `go`: approvals sent before must be kept.
#[workflow]
async fn approve_when_told(ctx: WorkflowContext) -> WorkflowResult<String> {
    ctx.signal_channel(GO).recv().await?;
    let mut approvals = ctx.signal_channel(APPROVE);
    let first = approvals.recv().await?.by;
    let second = approvals.recv().await?.by;
    Ok(format!("{first} then {second}"))
}

/// Waits for an approval; if cancelled first, its cleanup waits for one and notes who gave it.
#[workflow]
async fn approval_or_cleanup(ctx: WorkflowContext) -> WorkflowResult<String> {
    on_cancel! {
        let mut in_cleanup = ctx.signal_channel(APPROVE);
        let late = in_cleanup.recv().await?;
        ctx.activity(note_approval, late.by).await?;
    }
    let mut approvals = ctx.signal_channel(APPROVE);
    Ok(approvals.recv().await?.by)
}

#[activity(start_to_close = "30s")]
async fn note_approval(by: String) -> Result<String, ActivityError> {
    Ok(by)
}

/// A worker polling `queue` with every workflow and activity of this file.
fn start_worker(env: &Env, queue: &str) -> RunningWorker {
    env.worker_with(queue, |b| {
        b.workflow(approval_or_timeout)
            .workflow(approve_when_told)
            .workflow(approval_or_cleanup)
            .activity(note_approval)
    })
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

#[derive(Debug, Clone, Copy)]
enum Scenario {
    SignalBeatsTheTimer,
    TimerFallback,
    SignalBeforeTheChannel,
    SignalWithStart,
    SignalToCleanup,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::SignalBeatsTheTimer,
    Scenario::TimerFallback,
    Scenario::SignalBeforeTheChannel,
    Scenario::SignalWithStart,
    Scenario::SignalToCleanup,
];

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::SignalBeatsTheTimer => "a signal while the workflow waits with a timer",
            Scenario::TimerFallback => "no signal: the timer fallback",
            Scenario::SignalBeforeTheChannel => "signals sent before the channel is asked for",
            Scenario::SignalWithStart => "signal-with-start, then a signal to the closed run",
            Scenario::SignalToCleanup => "a signal during on_cancel! cleanup",
        })
    }
}

impl Scenario {
    fn expected(self) -> Vec<String> {
        match self {
            Scenario::SignalBeatsTheTimer => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["TimerStarted", "WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
            Scenario::TimerFallback => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["TimerStarted", "TimerFired"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
            Scenario::SignalBeforeTheChannel => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
            Scenario::SignalWithStart => with_tasks(&[
                &["WorkflowExecutionStarted", "WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
            Scenario::SignalToCleanup => with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["WorkflowExecutionCancelRequested"],
                &WFT,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &[
                    "ActivityTaskScheduled",
                    "ActivityTaskStarted",
                    "ActivityTaskCompleted",
                ],
                &WFT,
                &["WorkflowExecutionCanceled"],
            ]),
        }
    }

    async fn play(self, env: &Env) -> Vec<HistoryEvent> {
        let what = format!("{self} on {}", env.backend);
        let id = env.unique("signal");
        let worker = start_worker(env, &id);
        let client = &env.client;
        let approval = |by: &str| Approval { by: by.to_string() };
        let played = async {
            match self {
                Scenario::SignalBeatsTheTimer => {
                    let h = client
                        .start_workflow(approval_or_timeout, 3600, StartOptions::new(&id, &id))
                        .await
                        .unwrap();
                    wait_for_event(client, &id, "TimerStarted").await;
                    h.signal(APPROVE, approval("ops")).await.unwrap();
                    assert_eq!(h.result().await.unwrap(), "approved by ops", "{what}");
                }
                Scenario::TimerFallback => {
                    let h = client
                        .start_workflow(approval_or_timeout, 1, StartOptions::new(&id, &id))
                        .await
                        .unwrap();
                    assert_eq!(h.result().await.unwrap(), "timed out", "{what}");
                }
                Scenario::SignalBeforeTheChannel => {
                    let h = client
                        .start_workflow(approve_when_told, (), StartOptions::new(&id, &id))
                        .await
                        .unwrap();
                    wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
                    h.signal(APPROVE, approval("first")).await.unwrap();
                    wait_for_count(client, &id, "WorkflowTaskCompleted", 2).await;
                    client
                        .signal_workflow(&id, None, APPROVE, approval("second"))
                        .await
                        .unwrap();
                    wait_for_count(client, &id, "WorkflowTaskCompleted", 3).await;
                    // A signal-with-start of a running id signals it: no new run.
                    let again = client
                        .signal_with_start(
                            approve_when_told,
                            (),
                            StartOptions::new(&id, &id),
                            GO,
                            (),
                        )
                        .await
                        .unwrap();
                    assert_eq!(again.run_id, h.run_id, "{what}");
                    assert_eq!(h.result().await.unwrap(), "first then second", "{what}");
                }
                Scenario::SignalWithStart => {
                    let h = client
                        .signal_with_start(
                            approval_or_timeout,
                            3600,
                            StartOptions::new(&id, &id),
                            APPROVE,
                            approval("starter"),
                        )
                        .await
                        .unwrap();
                    assert_eq!(h.result().await.unwrap(), "approved by starter", "{what}");
                    let closed = h.signal(APPROVE, approval("late")).await.unwrap_err();
                    assert!(
                        closed.is_not_found()
                            && closed.to_string().contains("already completed")
                            && closed.to_string().contains(&id),
                        "a signal to the closed run on {}: {closed:?}",
                        env.backend
                    );
                    let unknown = client
                        .signal_workflow(&env.unique("nobody"), None, APPROVE, approval("x"))
                        .await
                        .unwrap_err();
                    assert!(
                        matches!(unknown, ClientError::NotFound(_)),
                        "a signal to an unknown id on {}: {unknown:?}",
                        env.backend
                    );
                }
                Scenario::SignalToCleanup => {
                    let h = client
                        .start_workflow(approval_or_cleanup, (), StartOptions::new(&id, &id))
                        .await
                        .unwrap();
                    wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
                    h.cancel("no longer needed").await.unwrap();
                    // The body's receive returned; the cleanup now waits for a signal.
                    wait_for_count(client, &id, "WorkflowTaskCompleted", 2).await;
                    let status = client.describe_workflow(&id, None).await.unwrap().status;
                    assert_eq!(status, dacapo::WorkflowStatus::Running, "{what}");
                    h.signal(APPROVE, approval("after the cancel"))
                        .await
                        .unwrap();
                    let err = h.result().await.unwrap_err();
                    assert!(err.is_cancelled(), "{what}: {err:?}");
                    let noted = history(client, &id)
                        .await
                        .iter()
                        .find_map(|e| match &e.attributes {
                            Some(EvAttr::ActivityTaskScheduledEventAttributes(a)) => {
                                Some(dacapo::payload::payload_list(&a.input).to_vec())
                            }
                            _ => None,
                        })
                        .expect("the cleanup's activity");
                    let by: String = dacapo::payload::decode(&noted, 0).unwrap();
                    assert_eq!(by, "after the cancel", "{what}");
                }
            }
        };
        within(&what, Duration::from_secs(90), played).await;
        worker.stop().await;
        let events = history(client, &id).await;
        assert_same_lists(
            &what,
            ("expected", &self.expected()),
            (&env.backend.to_string(), &event_types(&events)),
        );
        // The recorded history replays against the same code: signals land where they did.
        let replayed = dacapo::replay::Replayer::new()
            .workflow(approval_or_timeout)
            .workflow(approve_when_told)
            .workflow(approval_or_cleanup)
            .replay(&events)
            .unwrap_or_else(|e| panic!("{what}: replaying its history: {e}"));
        assert!(replayed.closed && replayed.finished, "{what}: {replayed:?}");
        events
    }
}

/// `approval_or_timeout` after a fix: it reads any JSON value as an approval.
#[workflow(name = "approval_or_timeout")]
async fn approval_or_timeout_fixed(
    ctx: WorkflowContext,
    timeout_secs: u64,
) -> WorkflowResult<String> {
    let mut approvals = ctx.signal_channel(Signal::<serde_json::Value>::new("approve"));
    dacapo::select! {
        a = approvals.recv() => Ok(format!("approved: {}", a?)),
        t = ctx.sleep(Duration::from_secs(timeout_secs)) => {
            t?;
            Ok("timed out".to_string())
        }
    }
}

/// A signal whose value is not an `Approval`: the workflow task fails naming the signal and
/// the type, the run stays open, and a worker with fixed code completes it.
async fn a_signal_that_does_not_decode(env: &Env) {
    let what = format!("a signal that does not decode, on {}", env.backend);
    let id = env.unique("bad-signal");
    let client = &env.client;
    let broken = start_worker(env, &id);
    let h = client
        .start_workflow(approval_or_timeout, 3600, StartOptions::new(&id, &id))
        .await
        .unwrap();
    wait_for_event(client, &id, "TimerStarted").await;
    let not_an_approval = dacapo::payload::encode("not an approval").unwrap();
    client
        .signal_workflow_raw(&id, None, "approve", vec![not_an_approval])
        .await
        .unwrap();
    let events = wait_for_event(client, &id, "WorkflowTaskFailed").await;
    broken.stop().await;
    let failure = events
        .iter()
        .find_map(|e| match &e.attributes {
            Some(EvAttr::WorkflowTaskFailedEventAttributes(a)) => {
                a.failure.as_ref().map(|f| f.message.clone())
            }
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        failure.contains("signal `approve`") && failure.contains("Approval`"),
        "{what}: the task failure says {failure:?}"
    );
    assert_eq!(
        client.describe_workflow(&id, None).await.unwrap().status,
        dacapo::WorkflowStatus::Running,
        "{what}"
    );
    let fixed = env.worker_with(&id, |b| b.workflow(approval_or_timeout_fixed));
    let result = within(&what, Duration::from_secs(90), h.result()).await;
    assert_eq!(result.unwrap(), r#"approved: "not an approval""#, "{what}");
    fixed.stop().await;
}

async fn check_all(backend: Backend) {
    let env = Env::open(backend).await;
    for scenario in SCENARIOS {
        scenario.play(&env).await;
    }
    a_signal_that_does_not_decode(&env).await;
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_the_embedded_engine() {
    check_all(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_dacapo_server() {
    check_all(Backend::DacapoServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_the_temporal_dev_server() {
    check_all(Backend::Temporal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_and_temporal_write_the_same_signal_histories() {
    let (embedded, temporal) =
        tokio::join!(Env::open(Backend::Embedded), Env::open(Backend::Temporal));
    for scenario in SCENARIOS {
        let (ours, theirs) = tokio::join!(scenario.play(&embedded), scenario.play(&temporal));
        assert_same_lists(
            &scenario.to_string(),
            ("embedded engine", &dacapo::proto::describe_history(&ours)),
            (
                "Temporal dev server",
                &dacapo::proto::describe_history(&theirs),
            ),
        );
    }
    embedded.close().await;
    temporal.close().await;
}

// ---------------------------------------------------------------------------------------------
// Code nobody here wrote.

/// A workflow of Temporal's Python SDK (tests/interop/python_activity_worker.py) with a signal
/// handler, on `backend`, signalled by a dacapo client with the same constant as above.
async fn a_dacapo_client_signals_a_python_workflow(backend: Backend) {
    let env = Env::open(backend).await;
    let address = grpc_address(backend).await;
    let queue = env.unique("py-signal");
    let logs = tempfile::tempdir().unwrap();
    let _python = dacapo_tests::procs::python_worker(
        logs.path(),
        "python_activity_worker",
        &[&address, &format!("{queue}-activities"), &queue],
    )
    .await;
    let id = env.unique("python-waits-for-approval");
    let client = &env.client;
    client
        .start_workflow_by_name(
            "python_waits_for_approval",
            Vec::new(),
            &StartOptions::new(&id, &queue),
        )
        .await
        .unwrap();
    wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
    client
        .signal_workflow(
            &id,
            None,
            APPROVE,
            Approval {
                by: "dacapo".to_string(),
            },
        )
        .await
        .unwrap();
    let result = within(
        "the Python workflow's result",
        Duration::from_secs(60),
        client.result::<serde_json::Value>(&id, None),
    )
    .await
    .unwrap_or_else(|e| panic!("{id} on {backend}: {e}"));
    assert_eq!(
        result,
        serde_json::json!({"approved_by": "dacapo", "language": "python"}),
        "on {backend}"
    );
    assert_same_lists(
        &format!("a Python workflow signalled by dacapo, on {backend}"),
        (
            "expected",
            &with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
        ),
        (
            &backend.to_string(),
            &event_types(&history(client, &id).await),
        ),
    );
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_client_signals_a_python_workflow_on_temporal() {
    a_dacapo_client_signals_a_python_workflow(Backend::Temporal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_client_signals_a_python_workflow_on_dacapo_server() {
    a_dacapo_client_signals_a_python_workflow(Backend::DacapoServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporal_cli_signals_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let address = dacapo_server_address().await;
    let a = address.as_str();
    let id = env.unique("cli-signal");
    let worker = start_worker(&env, &id);
    temporal(&[
        "workflow",
        "start",
        "--type",
        "approval_or_timeout",
        "--task-queue",
        &id,
        "--workflow-id",
        &id,
        "--input",
        "3600",
        "--address",
        a,
    ]);
    wait_for_event(&env.client, &id, "TimerStarted").await;
    temporal(&[
        "workflow",
        "signal",
        "--workflow-id",
        &id,
        "--name",
        "approve",
        "--input",
        r#"{"by":"the temporal cli"}"#,
        "--address",
        a,
    ]);
    let result = within(
        "the signalled workflow",
        Duration::from_secs(60),
        env.client.result::<String>(&id, None),
    )
    .await
    .unwrap();
    assert_eq!(result, "approved by the temporal cli");
    worker.stop().await;
    assert_same_lists(
        "a workflow the temporal CLI signalled",
        ("expected", &Scenario::SignalBeatsTheTimer.expected()),
        (
            "dacapo server",
            &event_types(&history(&env.client, &id).await),
        ),
    );
    // The closed run refuses the CLI's signal too.
    let out = run(
        &tool("temporal"),
        &[
            "workflow",
            "signal",
            "--workflow-id",
            &id,
            "--name",
            "approve",
            "--input",
            r#"{"by":"too late"}"#,
            "--address",
            a,
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("already completed"),
        "{stderr}"
    );
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_signals_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let id = env.unique("python-signals");
    let worker = start_worker(&env, &id);
    let address = dacapo_server_address().await;
    let seen = python_client("python_signal_client", &[&address, &id, &id]).await;
    assert_eq!(seen["result"], "approved by python", "{seen}");
    assert_eq!(seen["late_signal"]["status"], "NOT_FOUND", "{seen}");
    assert!(
        seen["late_signal"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already completed")),
        "{seen}"
    );
    worker.stop().await;
    // Python signals at once, so where the signal lands among the first task's events depends
    // on when the worker took it; what must hold is one signal, and the run completed.
    let types = event_types(&history(&env.client, &id).await);
    let signals = types
        .iter()
        .filter(|t| *t == "WorkflowExecutionSignaled")
        .count();
    assert_eq!(signals, 1, "{types:?}");
    assert_eq!(
        types.last().map(String::as_str),
        Some("WorkflowExecutionCompleted"),
        "{types:?}"
    );
    env.close().await;
}

/// Compile-time checks: the signal futures can be held by spawned tasks.
#[allow(dead_code)]
fn signal_futures_are_send(
    client: Client,
    handle: dacapo::WorkflowHandle<String>,
    ctx: WorkflowContext,
) {
    fn send<T: Send>(_: T) {}
    let approval = || Approval { by: String::new() };
    send(handle.signal(APPROVE, approval()));
    send(client.signal_workflow("id", None, APPROVE, approval()));
    send(client.signal_with_start(
        approval_or_timeout,
        1,
        StartOptions::new("id", "q"),
        APPROVE,
        approval(),
    ));
    send(ctx.signal_channel(APPROVE).recv());
    send(ctx.signal_channel(APPROVE));
}

// ---------------------------------------------------------------------------------------------
// The engine's half, driven by hand: a signal that arrives while the task that would close the
// run is running.

/// Polls one workflow task of `queue` as a worker would, without running any code.
async fn poll_task(
    service: &ServiceHandle,
    queue: &str,
) -> dacapo::proto::service::PollWorkflowTaskQueueResponse {
    use dacapo::proto::service::PollWorkflowTaskQueueRequest;
    use dacapo::proto::taskqueue::TaskQueue;
    loop {
        let req = PollWorkflowTaskQueueRequest {
            namespace: "default".into(),
            task_queue: Some(TaskQueue {
                name: queue.into(),
                kind: dacapo::proto::enums::TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            identity: "by-hand".into(),
            ..Default::default()
        };
        let task = service
            .poll_workflow_task_queue(tonic::Request::new(req))
            .await
            .expect("poll a workflow task")
            .into_inner();
        if !task.task_token.is_empty() {
            return task;
        }
    }
}

/// Starts a run no worker serves, takes its first task by hand, signals the run while holding
/// the task, then answers the task with a close: the close must be refused (UnhandledCommand)
/// and the signal written after the failed task, so the next task sees it. Returns the gRPC
/// code the completion got and the history.
async fn a_close_while_a_signal_is_held(env: &Env) -> (tonic::Code, Vec<HistoryEvent>) {
    use dacapo::proto::command::CompleteWorkflowExecutionCommandAttributes;
    use dacapo::proto::command::{Command, command::Attributes as CmdAttr};
    use dacapo::proto::enums::CommandType;
    use dacapo::proto::service::RespondWorkflowTaskCompletedRequest;
    let id = env.unique("held-signal");
    let client = &env.client;
    client
        .start_workflow_by_name("nobody_runs_this", Vec::new(), &StartOptions::new(&id, &id))
        .await
        .unwrap();
    let task = within(
        "a workflow task",
        Duration::from_secs(30),
        poll_task(&env.service, &id),
    )
    .await;
    client
        .signal_workflow(&id, None, APPROVE, Approval { by: "held".into() })
        .await
        .unwrap();
    let close = Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(CmdAttr::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        )),
        ..Default::default()
    };
    let answer = env
        .service
        .respond_workflow_task_completed(tonic::Request::new(RespondWorkflowTaskCompletedRequest {
            task_token: task.task_token,
            commands: vec![close],
            identity: "by-hand".into(),
            namespace: "default".into(),
            ..Default::default()
        }))
        .await;
    let code = match answer {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    let events = history(client, &id).await;
    client.terminate_workflow(&id, None, "done").await.unwrap();
    (code, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_while_a_signal_is_held_is_refused_on_every_backend() {
    let (embedded, server, temporal) = tokio::join!(
        Env::open(Backend::Embedded),
        Env::open(Backend::DacapoServer),
        Env::open(Backend::Temporal)
    );
    let expected = names(&[
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]);
    let mut codes = Vec::new();
    for env in [&embedded, &server, &temporal] {
        let (code, events) = a_close_while_a_signal_is_held(env).await;
        assert_same_lists(
            &format!("a close while a signal is held, on {}", env.backend),
            ("expected", &expected),
            (&env.backend.to_string(), &event_types(&events)),
        );
        let cause = events.iter().find_map(|e| match &e.attributes {
            Some(EvAttr::WorkflowTaskFailedEventAttributes(a)) => Some(a.cause),
            _ => None,
        });
        assert_eq!(
            cause,
            Some(dacapo::proto::enums::WorkflowTaskFailedCause::UnhandledCommand as i32),
            "on {}",
            env.backend
        );
        codes.push((env.backend, code));
    }
    assert!(
        codes
            .iter()
            .all(|(_, c)| *c == tonic::Code::InvalidArgument),
        "the refused completion's answers: {codes:?}"
    );
    embedded.close().await;
    temporal.close().await;
}
