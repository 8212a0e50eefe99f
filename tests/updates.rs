//! Updates end to end, the same scenarios on three backends: the embedded engine (in memory, in
//! this process), `dacapo server` (the binary, in memory, one per test process) and the
//! Temporal dev server. Each scenario checks the same results and the same event types on all
//! three (where dacapo's history differs from Temporal's, the difference is written out), and
//! each recorded history replays against the same code. Then the `temporal` CLI, the Python
//! `temporalio` client and `dacapo workflow update` update a dacapo workflow on `dacapo server`.
//!
//! Needs `temporal` on PATH (scripts/test installs it) and, for the Python client, `temporalio`.

use dacapo::prelude::*;
use dacapo::proto::ServiceHandle;
use dacapo::proto::history::HistoryEvent;
use dacapo::{ClientError, Embedded, StartOptions, UpdateStage, WorkflowHandle};
use dacapo_tests::backends::{
    Backend, Env, RunningWorker, WFT, dacapo_server_address, history, wait_for_count, with_tasks,
    within,
};
use dacapo_tests::procs::{binaries, python_client, run, tool};
use dacapo_tests::{assert_same_lists, event_types, wait_until};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The messages and the workflow under test.

/// Adds to the counter and answers the new total; the validator refuses 0.
pub const ADD: Update<u32, u32> = Update::new("add");
/// Checks a word with an activity and answers what it said; the handler fails on "fail".
pub const CHECK: Update<String, String> = Update::new("check");
/// Waits an hour of workflow time, then answers "woke".
pub const SLOW: Update<(), String> = Update::new("slow");
/// Sleeps the given seconds of workflow time, then answers them.
pub const NAP: Update<u64, u64> = Update::new("nap");
/// Ends the workflow, which returns the total (or, in `counter_with_cleanup`, its cleanup).
pub const STOP: Signal<()> = Signal::new("stop");

/// Registers `add` on `ctx`, adding to `total`.
fn take_adds(ctx: &WorkflowContext, total: &Arc<Mutex<u32>>) {
    let t = total.clone();
    ctx.on_update(ADD, move |n: u32| {
        let t = t.clone();
        async move {
            let mut total = t
                .lock()
                .map_err(|_| "the counter is poisoned".to_string())?;
            *total += n;
            Ok::<_, String>(*total)
        }
    })
    .validator(|n: &u32| {
        if *n == 0 {
            Err("nothing to add")
        } else {
            Ok(())
        }
    });
}

fn total_of(total: &Arc<Mutex<u32>>) -> WorkflowResult<u32> {
    let last = *total
        .lock()
        .map_err(|_| WorkflowError::msg("the counter is poisoned"))?;
    Ok(last)
}

/// A counter that takes `add`, `check` and `slow` updates until it is told to stop.
#[workflow]
async fn counter(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let total = Arc::new(Mutex::new(0u32));
    take_adds(&ctx, &total);
    let c = ctx.clone();
    ctx.on_update(CHECK, move |word: String| {
        let c = c.clone();
        async move {
            if word == "fail" {
                return Err("cannot check fail".to_string());
            }
            c.activity(shout, word).await.map_err(|e| e.to_string())
        }
    });
    let c = ctx.clone();
    ctx.on_update(SLOW, move |()| {
        let c = c.clone();
        async move {
            c.sleep(Duration::from_secs(3600))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>("woke".to_string())
        }
    });
    let c = ctx.clone();
    ctx.on_update(NAP, move |secs: u64| {
        let c = c.clone();
        async move {
            c.sleep(Duration::from_secs(secs))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(secs)
        }
    });
    ctx.signal_channel(STOP).recv().await?;
    total_of(&total)
}

/// Tells `late_handler` to register its handler.
pub const GO: Signal<()> = Signal::new("go");

/// Registers `add` only once told to, so an update that arrives with `go` finds no handler
/// until the body has run in that workflow task.
#[workflow]
async fn late_handler(ctx: WorkflowContext) -> WorkflowResult<u32> {
    ctx.signal_channel(GO).recv().await?;
    let total = Arc::new(Mutex::new(0u32));
    take_adds(&ctx, &total);
    ctx.signal_channel(STOP).recv().await?;
    total_of(&total)
}

/// Takes `add` updates; when cancelled, its cleanup waits for `stop`, and updates still reach
/// the handler the body registered.
#[workflow]
async fn counter_with_cleanup(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let total = Arc::new(Mutex::new(0u32));
    take_adds(&ctx, &total);
    on_cancel! {
        ctx.signal_channel(STOP).recv().await?;
    }
    ctx.signal_channel(STOP).recv().await?;
    total_of(&total)
}

#[activity(start_to_close = "30s")]
async fn shout(word: String) -> Result<String, ActivityError> {
    Ok(format!("{}!", word.to_uppercase()))
}

/// A worker polling `queue` with every workflow and activity of this file.
fn start_worker(env: &Env, queue: &str) -> RunningWorker {
    env.worker_with(queue, |b| {
        b.workflow(counter)
            .workflow(counter_with_cleanup)
            .workflow(late_handler)
            .activity(shout)
    })
}

/// Starts a counter (its id made of `what`) on a queue of its own with a worker polling it;
/// returns its id, the worker and a handle.
async fn start_counter(env: &Env, what: &str) -> (String, RunningWorker, WorkflowHandle<u32>) {
    let id = env.unique(what);
    let worker = start_worker(env, &id);
    let h = env
        .client
        .start_workflow(counter, (), StartOptions::new(&id, &id))
        .await
        .unwrap();
    (id, worker, h)
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

#[derive(Debug, Clone, Copy)]
enum Scenario {
    ReturnsAValue,
    RunsAnActivity,
    Rejected,
    HandlerFails,
    DuplicateId,
    StillRunningAtTheClose,
    DuringCleanup,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario::ReturnsAValue,
    Scenario::RunsAnActivity,
    Scenario::Rejected,
    Scenario::HandlerFails,
    Scenario::DuplicateId,
    Scenario::StillRunningAtTheClose,
    Scenario::DuringCleanup,
];

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::ReturnsAValue => "updates that return values, then one to the closed run",
            Scenario::RunsAnActivity => "an update whose handler runs an activity",
            Scenario::Rejected => "updates rejected by the validator and for an unknown name",
            Scenario::HandlerFails => "an update whose handler fails",
            Scenario::DuplicateId => "the same update id sent twice",
            Scenario::StillRunningAtTheClose => "an update whose handler still runs at the close",
            Scenario::DuringCleanup => "an update during on_cancel! cleanup",
        })
    }
}

const ACCEPTED_AND_COMPLETED: [&str; 2] = [
    "WorkflowExecutionUpdateAccepted",
    "WorkflowExecutionUpdateCompleted",
];

impl Scenario {
    fn expected(self) -> Vec<String> {
        let start: &[&str] = &["WorkflowExecutionStarted"];
        let stop: &[&str] = &["WorkflowExecutionSignaled"];
        let close: &[&str] = &["WorkflowExecutionCompleted"];
        match self {
            Scenario::ReturnsAValue => with_tasks(&[
                start,
                &WFT,
                &WFT,
                &ACCEPTED_AND_COMPLETED,
                &WFT,
                &ACCEPTED_AND_COMPLETED,
                stop,
                &WFT,
                close,
            ]),
            Scenario::RunsAnActivity => with_tasks(&[
                start,
                &WFT,
                &WFT,
                &[
                    "WorkflowExecutionUpdateAccepted",
                    "ActivityTaskScheduled",
                    "ActivityTaskStarted",
                    "ActivityTaskCompleted",
                ],
                &WFT,
                &["WorkflowExecutionUpdateCompleted"],
                stop,
                &WFT,
                close,
            ]),
            // The two rejected updates ride speculative workflow tasks, dropped with them: they
            // leave no event on any backend (docs/semantics.md §12.2).
            Scenario::Rejected => with_tasks(&[
                start,
                &WFT,
                &WFT,
                &ACCEPTED_AND_COMPLETED,
                stop,
                &WFT,
                close,
            ]),
            Scenario::StillRunningAtTheClose => with_tasks(&[
                start,
                &WFT,
                &WFT,
                &["WorkflowExecutionUpdateAccepted", "TimerStarted"],
                stop,
                &WFT,
                close,
            ]),
            Scenario::DuringCleanup => with_tasks(&[
                start,
                &WFT,
                &["WorkflowExecutionCancelRequested"],
                &WFT,
                &WFT,
                &ACCEPTED_AND_COMPLETED,
                stop,
                &WFT,
                &["WorkflowExecutionCanceled"],
            ]),
            Scenario::HandlerFails | Scenario::DuplicateId => with_tasks(&[
                start,
                &WFT,
                &WFT,
                &ACCEPTED_AND_COMPLETED,
                stop,
                &WFT,
                close,
            ]),
        }
    }

    async fn play(self, env: &Env) -> Vec<HistoryEvent> {
        let what = format!("{self} on {}", env.backend);
        let id = env.unique("update");
        let worker = start_worker(env, &id);
        let client = &env.client;
        let played = async {
            if let Scenario::DuringCleanup = self {
                let h = client
                    .start_workflow(counter_with_cleanup, (), StartOptions::new(&id, &id))
                    .await
                    .unwrap();
                wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
                h.cancel("no longer needed").await.unwrap();
                // The body's receive returned the cancel; the cleanup waits for `stop`.
                wait_for_count(client, &id, "WorkflowTaskCompleted", 2).await;
                assert_eq!(h.update(ADD, 3).await.unwrap(), 3, "{what}");
                h.signal(STOP, ()).await.unwrap();
                let err = h.result().await.unwrap_err();
                assert!(err.is_cancelled(), "{what}: {err:?}");
                return;
            }
            let h = client
                .start_workflow(counter, (), StartOptions::new(&id, &id))
                .await
                .unwrap();
            wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
            let mut result = 0;
            let mut slow = None;
            match self {
                Scenario::ReturnsAValue => {
                    assert_eq!(h.update(ADD, 2).await.unwrap(), 2, "{what}");
                    assert_eq!(h.update(ADD, 3).await.unwrap(), 5, "{what}");
                    result = 5;
                }
                Scenario::RunsAnActivity => {
                    let started = h.start_update(CHECK, "hi".to_string()).await.unwrap();
                    assert_eq!(started.result().await.unwrap(), "HI!", "{what}");
                }
                Scenario::Rejected => {
                    let err = h.update(ADD, 0).await.unwrap_err();
                    assert!(
                        matches!(&err, ClientError::UpdateFailed { name, message }
                            if name == "add" && message.contains("nothing to add")),
                        "{what}: {err:?}"
                    );
                    let unknown = client
                        .update_workflow_raw(
                            &id,
                            None,
                            "nope",
                            vec![],
                            None,
                            UpdateStage::Completed,
                        )
                        .await
                        .unwrap();
                    let why = unknown
                        .outcome
                        .clone()
                        .and_then(Result::err)
                        .unwrap_or_default();
                    assert!(
                        why.contains("unknown update `nope`")
                            && why.contains("add, check, nap, slow"),
                        "{what}: {unknown:?}"
                    );
                    assert_eq!(h.update(ADD, 4).await.unwrap(), 4, "{what}");
                    result = 4;
                }
                Scenario::HandlerFails => {
                    let err = h.update(CHECK, "fail".to_string()).await.unwrap_err();
                    assert!(
                        matches!(&err, ClientError::UpdateFailed { name, message }
                            if name == "check" && message.contains("cannot check fail")),
                        "{what}: {err:?}"
                    );
                }
                Scenario::DuplicateId => {
                    let seven = vec![dacapo::payload::encode(&7u32).unwrap()];
                    let send = || {
                        client.update_workflow_raw(
                            &id,
                            None,
                            "add",
                            seven.clone(),
                            Some("the-same-id"),
                            UpdateStage::Completed,
                        )
                    };
                    let first = send().await.unwrap();
                    let second = send().await.unwrap();
                    assert_eq!(first.outcome, second.outcome, "{what}");
                    let total: u32 = dacapo::payload::decode(
                        &first
                            .outcome
                            .clone()
                            .and_then(Result::ok)
                            .unwrap_or_default(),
                        0,
                    )
                    .unwrap();
                    assert_eq!(total, 7, "{what}: answered once, added once");
                    result = 7;
                }
                Scenario::StillRunningAtTheClose => {
                    slow = Some(h.start_update(SLOW, ()).await.unwrap());
                }
                Scenario::DuringCleanup => unreachable!("played above"),
            }
            h.signal(STOP, ()).await.unwrap();
            assert_eq!(h.result().await.unwrap(), result, "{what}");
            if let Some(slow) = slow {
                let err = slow.result().await.unwrap_err();
                assert!(
                    matches!(&err, ClientError::UpdateFailed { name, message }
                        if name == "slow" && message.contains("completed before the Update completed")),
                    "{what}: {err:?}"
                );
            }
            if let Scenario::ReturnsAValue = self {
                let closed = h.update(ADD, 1).await.unwrap_err();
                assert!(
                    closed.is_not_found() && closed.to_string().contains("already completed"),
                    "{what}: an update to the closed run: {closed:?}"
                );
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
        // The recorded history replays against the same code: each accepted update runs its
        // handler again to the same completion.
        let replayed = dacapo::replay::Replayer::new()
            .workflow(counter)
            .workflow(counter_with_cleanup)
            .workflow(late_handler)
            .replay(&events)
            .unwrap_or_else(|e| panic!("{what}: replaying its history: {e}"));
        assert!(replayed.closed && replayed.finished, "{what}: {replayed:?}");
        events
    }
}

async fn check_all(backend: Backend) {
    let env = Env::open(backend).await;
    for scenario in SCENARIOS {
        scenario.play(&env).await;
    }
    an_update_before_its_handler(&env).await;
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_on_the_embedded_engine() {
    check_all(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_on_dacapo_server() {
    check_all(Backend::DacapoServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_on_the_temporal_dev_server() {
    check_all(Backend::Temporal).await;
}

// ---------------------------------------------------------------------------------------------
// Clients nobody here wrote.

fn temporal(args: &[&str]) -> std::process::Output {
    run(&tool("temporal"), args, Duration::from_secs(60))
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporal_cli_updates_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let address = dacapo_server_address().await;
    let a = address.as_str();
    let (id, worker, h) = start_counter(&env, "cli-update").await;
    wait_for_count(&env.client, &id, "WorkflowTaskCompleted", 1).await;
    let update = |name: &str, input: &str| {
        temporal(&[
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            &id,
            "--name",
            name,
            "--input",
            input,
            "--address",
            a,
            "--output",
            "json",
        ])
    };
    let added = update("add", "5");
    assert!(added.status.success(), "{added:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout_of(&added))
        .unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&added)));
    assert_eq!(answer["result"], 5, "{answer}");
    let refused = update("add", "0");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("nothing to add"),
        "{refused:?}"
    );
    let checked = update("check", r#""cli""#);
    assert!(checked.status.success(), "{checked:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout_of(&checked)).unwrap();
    assert_eq!(answer["result"], "CLI!", "{answer}");
    h.signal(STOP, ()).await.unwrap();
    let result = within("the updated workflow", Duration::from_secs(60), h.result()).await;
    assert_eq!(result.unwrap(), 5);
    let late = update("add", "1");
    let stderr = String::from_utf8_lossy(&late.stderr);
    assert!(
        !late.status.success() && stderr.contains("already completed"),
        "{late:?}"
    );
    worker.stop().await;
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_updates_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let id = env.unique("python-updates");
    let worker = start_worker(&env, &id);
    let address = dacapo_server_address().await;
    let seen = python_client("python_update_client", &[&address, &id, &id]).await;
    assert_eq!(seen["add"], 5, "{seen}");
    assert!(
        seen["zero"]
            .as_str()
            .is_some_and(|m| m.contains("nothing to add")),
        "{seen}"
    );
    assert_eq!(seen["check"], "PY!", "{seen}");
    assert_eq!(seen["result"], 5, "{seen}");
    assert_eq!(seen["late_update"]["status"], "NOT_FOUND", "{seen}");
    worker.stop().await;
    // Python updates at once, so whether the first update rode the run's first workflow task
    // depends on when the worker took it; what must hold is that the history replays.
    let events = history(&env.client, &id).await;
    let types = event_types(&events);
    let accepted = types
        .iter()
        .filter(|t| *t == "WorkflowExecutionUpdateAccepted")
        .count();
    assert_eq!(accepted, 2, "{types:?}");
    dacapo::replay::Replayer::new()
        .workflow(counter)
        .replay(&events)
        .unwrap_or_else(|e| panic!("replaying the history the Python client made: {e}"));
    env.close().await;
}

/// `dacapo workflow update execute|start|result` on the same workflow, with temporal's flags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dacapo_cli_updates_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let address = dacapo_server_address().await;
    let a = address.as_str();
    let (id, worker, h) = start_counter(&env, "dacapo-cli-update").await;
    wait_for_count(&env.client, &id, "WorkflowTaskCompleted", 1).await;
    let dacapo = |args: &[&str]| {
        let mut all = vec!["workflow", "update"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--workflow-id", &id, "--address", a, "--output", "json"]);
        run(&binaries().join("dacapo"), &all, Duration::from_secs(60))
    };
    let added = dacapo(&["execute", "--name", "add", "--input", "5"]);
    assert!(added.status.success(), "{added:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout_of(&added))
        .unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&added)));
    assert_eq!(answer["result"], serde_json::json!([5]), "{answer}");
    let refused = dacapo(&["execute", "--name", "add", "--input", "0"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("nothing to add"),
        "{refused:?}"
    );
    let started = dacapo(&[
        "start",
        "--name",
        "check",
        "--input",
        r#""dacapo""#,
        "--update-id",
        "check-1",
        "--wait-for-stage",
        "accepted",
    ]);
    assert!(started.status.success(), "{started:?}");
    let result = dacapo(&["result", "--update-id", "check-1"]);
    assert!(result.status.success(), "{result:?}");
    let answer: serde_json::Value = serde_json::from_str(&stdout_of(&result)).unwrap();
    assert_eq!(answer["result"], serde_json::json!(["DACAPO!"]), "{answer}");
    h.signal(STOP, ()).await.unwrap();
    let total = within("the updated workflow", Duration::from_secs(60), h.result()).await;
    assert_eq!(total.unwrap(), 5);
    worker.stop().await;
    env.close().await;
}

/// Whether the run has a workflow task scheduled or started (on Temporal, a speculative one
/// too, which its history does not show).
async fn has_pending_task(env: &Env, id: &str) -> bool {
    let req = dacapo::proto::service::DescribeWorkflowExecutionRequest {
        namespace: "default".to_string(),
        execution: Some(dacapo::proto::common::WorkflowExecution {
            workflow_id: id.to_string(),
            run_id: String::new(),
        }),
    };
    env.service
        .describe_workflow_execution(tonic::Request::new(req))
        .await
        .map(|r| r.into_inner().pending_workflow_task.is_some())
        .unwrap_or(false)
}

/// An update that arrives with the signal after which the body registers its handler: the
/// request is in the task's messages before the handler exists, waits for the body to run in
/// that task, and is accepted (as in Temporal's SDKs), not rejected as unknown.
async fn an_update_before_its_handler(env: &Env) -> Vec<HistoryEvent> {
    let what = format!(
        "an update before its handler is registered, on {}",
        env.backend
    );
    let id = env.unique("late-handler");
    let client = &env.client;
    let h = client
        .start_workflow(late_handler, (), StartOptions::new(&id, &id))
        .await
        .unwrap();
    // The first task is answered by hand with what the code answers (no command: it waits for
    // `go`), so that no worker polls while the update arrives: a worker that stops may leave a
    // long poll behind on a server, which would take the next task.
    let first = within(&what, Duration::from_secs(30), poll_task(&env.service, &id)).await;
    env.service
        .respond_workflow_task_completed(tonic::Request::new(
            dacapo::proto::service::RespondWorkflowTaskCompletedRequest {
                task_token: first.task_token,
                identity: "by-hand".into(),
                namespace: "default".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("the first task's completion");
    let update = tokio::spawn({
        let h = h.clone();
        async move { h.update(ADD, 5).await }
    });
    // The update schedules a workflow task for the idle run; then `go` joins it.
    wait_until(
        &format!("{what}: the update's task"),
        Duration::from_secs(30),
        async || {
            if has_pending_task(env, &id).await {
                Ok(())
            } else {
                Err("no pending workflow task".to_string())
            }
        },
    )
    .await;
    h.signal(GO, ()).await.unwrap();
    let worker = start_worker(env, &id);
    let played = async {
        let added = update.await.expect("the update call panicked");
        assert_eq!(added.unwrap(), 5, "{what}");
        h.signal(STOP, ()).await.unwrap();
        assert_eq!(h.result().await.unwrap(), 5, "{what}");
    };
    within(&what, Duration::from_secs(90), played).await;
    worker.stop().await;
    let events = history(client, &id).await;
    // `go` and the update rode the same (second) task: the update is accepted in it. On
    // Temporal the update's task was speculative until `go` joined it; its history is the same.
    assert_same_lists(
        &what,
        (
            "expected",
            &with_tasks(&[
                &["WorkflowExecutionStarted"],
                &WFT,
                &[
                    "WorkflowTaskScheduled",
                    "WorkflowExecutionSignaled",
                    "WorkflowTaskStarted",
                    "WorkflowTaskCompleted",
                ],
                &ACCEPTED_AND_COMPLETED,
                &["WorkflowExecutionSignaled"],
                &WFT,
                &["WorkflowExecutionCompleted"],
            ]),
        ),
        (&env.backend.to_string(), &event_types(&events)),
    );
    dacapo::replay::Replayer::new()
        .workflow(late_handler)
        .replay(&events)
        .unwrap_or_else(|e| panic!("{what}: replaying its history: {e}"));
    events
}

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

/// A handler still waiting when the engine stops: a new engine on the same file and a new
/// worker replay the accepted update from the history, the handler's timer fires, and a caller
/// polling the update gets its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_update_survives_a_restart_of_engine_and_worker() {
    let dir = tempfile::tempdir().expect("a folder for the database");
    let db = dir.path().join("updates.db");
    let open = || {
        Embedded::builder()
            .sqlite(&db)
            .task_queue("restart")
            .workflow(counter)
            .activity(shout)
            .start()
    };
    let rt = open().await.expect("the engine starts");
    let h = rt
        .client()
        .start_workflow(counter, (), StartOptions::new("napper", "restart"))
        .await
        .unwrap();
    wait_for_count(&rt.client(), "napper", "WorkflowTaskCompleted", 1).await;
    let napping = h.start_update(NAP, 2).await.unwrap();
    let update_id = napping.update_id.clone();
    // The file is released once the engine and every client made from it are gone.
    drop((napping, h));
    rt.shutdown().await;

    let rt = open().await.expect("the engine starts again");
    let client = rt.client();
    let status = within(
        "the update after the restart",
        Duration::from_secs(60),
        client.poll_update_raw("napper", None, &update_id, UpdateStage::Completed),
    )
    .await
    .unwrap();
    let slept: u64 = dacapo::payload::decode(
        &status
            .outcome
            .clone()
            .and_then(Result::ok)
            .unwrap_or_default(),
        0,
    )
    .unwrap_or_else(|e| panic!("{e}: {status:?}"));
    assert_eq!(slept, 2);
    client
        .signal_workflow("napper", None, STOP, ())
        .await
        .unwrap();
    let total = within(
        "the run after the restart",
        Duration::from_secs(60),
        client.result::<u32>("napper", None),
    )
    .await;
    assert_eq!(total.unwrap(), 0);
    let events = history(&client, "napper").await;
    let types = event_types(&events);
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("WorkflowExecutionUpdate"))
            .collect::<Vec<_>>(),
        [
            "WorkflowExecutionUpdateAccepted",
            "WorkflowExecutionUpdateCompleted"
        ],
        "{types:?}"
    );
    dacapo::replay::Replayer::new()
        .workflow(counter)
        .replay(&events)
        .unwrap_or_else(|e| panic!("replaying the restarted run: {e}"));
    rt.shutdown().await;
}
