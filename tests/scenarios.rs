//! The cancellation contract (SEMANTICS.md section 5), scenario by scenario, on the embedded
//! engine: each checks the final status and the full ordered list of event types.

use dacapo::prelude::*;
use dacapo::{
    Client, ClientError, Embedded, StartOptions, Worker, WorkflowDefinition, WorkflowHandle,
    WorkflowStatus,
};
use dacapo_tests::{event_types, names, wait_for_event};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const Q: &str = "scenarios";

/// What activities did, by workflow id (tests run in parallel in one process).
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

async fn wait_count(workflow_id: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(workflow_id, what) == 0 {
        assert!(
            Instant::now() < deadline,
            "{workflow_id}: no `{what}` within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[activity(start_to_close = "30m", heartbeat_timeout = "5s")]
async fn activity_to_be_canceled(ctx: ActivityContext) -> Result<String, ActivityError> {
    loop {
        if let Err(e) = ctx.heartbeat(()).await {
            log(&ctx, "stopped");
            return Err(e);
        }
        if let Err(e) = ctx.sleep(Duration::from_millis(100)).await {
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

/// The seed workflow; `cleanup_delay_ms` keeps the cleanup running until the workflow task
/// that follows its scheduling has completed, so the history's order does not depend on timing.
#[workflow]
async fn seed_workflow(ctx: WorkflowContext, cleanup_delay_ms: u64) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup_activity, cleanup_delay_ms)
            .start_to_close(Duration::from_secs(2))
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

/// Starts `def` as `id`, waits for an `event` in its history, then lets it run `settle_ms` more
/// (so that an activity has heartbeated before the test acts).
async fn start_until<W: WorkflowDefinition>(
    client: &Client,
    def: W,
    input: W::Input,
    id: &str,
    event: &str,
    settle_ms: u64,
) -> WorkflowHandle<W::Output> {
    let h = client
        .start_workflow(def, input, StartOptions::new(id, Q))
        .await
        .unwrap();
    wait_for_event(client, id, event).await;
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    h
}

async fn runtime() -> Embedded {
    Embedded::builder()
        .in_memory()
        .task_queue(Q)
        .workflow(seed_workflow)
        .workflow(never_started)
        .workflow(try_cancel)
        .workflow(pending_timer)
        .workflow(catches_cancel)
        .activity(activity_to_be_canceled)
        .activity(activity_to_be_skipped)
        .activity(cleanup_activity)
        .start()
        .await
        .expect("the in-memory engine starts")
}

const WFT: [&str; 3] = [
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
];

fn with_tasks(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

#[tokio::test]
async fn s1_cancel_of_an_unknown_id_is_not_found_and_records_nothing() {
    let rt = runtime().await;
    let client = rt.client();
    let err = client
        .cancel_workflow("nope", None, "test")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::NotFound(m) if m.contains("nope")),
        "{err:?}"
    );
    let err = client.describe_workflow("nope", None).await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
    let err = client.cancel_workflow("", None, "test").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
    rt.shutdown().await;
}

#[tokio::test]
async fn s2_seed_sample_cancelled_while_the_activity_heartbeats() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(
        &client,
        seed_workflow,
        0,
        "s2",
        "ActivityTaskScheduled",
        300,
    )
    .await;
    client
        .cancel_workflow("s2", None, "scenario 2")
        .await
        .unwrap();
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    let d = client.describe_workflow("s2", None).await.unwrap();
    assert_eq!(d.status, WorkflowStatus::Canceled);
    let history = client.history("s2", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"],
            &WFT,
            &[
                "ActivityTaskCancelRequested",
                "ActivityTaskStarted",
                "ActivityTaskCanceled"
            ],
            &WFT,
            &[
                "ActivityTaskScheduled",
                "ActivityTaskStarted",
                "ActivityTaskCompleted"
            ],
            &WFT,
            &["WorkflowExecutionCanceled"],
        ])
    );
    let lines = dacapo::proto::describe_history(&history);
    assert_eq!(
        lines[4],
        "5 ActivityTaskScheduled [activity_to_be_canceled]"
    );
    assert_eq!(lines[15], "16 ActivityTaskScheduled [cleanup_activity]");
    assert_eq!(count("s2", "skipped ran"), 0, "activity_to_be_skipped ran");
    assert_eq!(count("s2", "cleanup"), 1);
    assert_eq!(count("s2", "stopped"), 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn s3_cancelled_before_the_first_workflow_task() {
    // An engine with no worker yet: start, cancel, then let a worker in.
    let rt = Embedded::builder().in_memory().start().await.unwrap();
    let client = rt.client();
    let h = client
        .start_workflow(seed_workflow, 500, StartOptions::new("s3", Q))
        .await
        .unwrap();
    client
        .cancel_workflow("s3", None, "scenario 3")
        .await
        .unwrap();
    let worker = Worker::builder(rt.service(), Q)
        .workflow(seed_workflow)
        .activity(activity_to_be_canceled)
        .activity(activity_to_be_skipped)
        .activity(cleanup_activity)
        .build();
    let running = tokio::spawn({
        let w = worker.clone();
        async move { w.run().await }
    });
    let err = h.result().await.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    let history = client.history("s3", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        names(&[
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
        ])
    );
    assert_eq!(
        count("s3", "stopped") + count("s3", "skipped ran"),
        0,
        "the cancelled activity ran"
    );
    assert_eq!(count("s3", "cleanup"), 1);
    let lines = dacapo::proto::describe_history(&history);
    assert_eq!(
        lines[5],
        "6 ActivityTaskScheduled [activity_to_be_canceled]"
    );
    assert_eq!(lines[7], "8 ActivityTaskScheduled [cleanup_activity]");
    worker.shutdown();
    let _ = running.await;
    rt.shutdown().await;
}

#[tokio::test]
async fn s4_activity_never_started_with_wait_completed() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(&client, never_started, (), "s4", "ActivityTaskScheduled", 0).await;
    client
        .cancel_workflow("s4", None, "scenario 4")
        .await
        .unwrap();
    assert!(h.result().await.unwrap_err().is_cancelled());
    let history = client.history("s4", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"],
            &WFT,
            &["ActivityTaskCancelRequested", "ActivityTaskCanceled"],
            &WFT,
            &["WorkflowExecutionCanceled"],
        ])
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn s5_try_cancel_closes_at_once_and_the_activity_is_stopped() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(&client, try_cancel, (), "s5", "ActivityTaskScheduled", 300).await;
    client
        .cancel_workflow("s5", None, "scenario 5")
        .await
        .unwrap();
    assert!(h.result().await.unwrap_err().is_cancelled());
    let history = client.history("s5", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"],
            &WFT,
            &["ActivityTaskCancelRequested", "WorkflowExecutionCanceled"],
        ])
    );
    wait_count("s5", "stopped").await;
    rt.shutdown().await;
}

#[tokio::test]
async fn s6_pending_timer_is_cancelled() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(&client, pending_timer, (), "s6", "TimerStarted", 0).await;
    client
        .cancel_workflow("s6", None, "scenario 6")
        .await
        .unwrap();
    assert!(h.result().await.unwrap_err().is_cancelled());
    assert_eq!(
        client.describe_workflow("s6", None).await.unwrap().status,
        WorkflowStatus::Canceled
    );
    let history = client.history("s6", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["TimerStarted", "WorkflowExecutionCancelRequested"],
            &WFT,
            &["TimerCanceled", "WorkflowExecutionCanceled"],
        ])
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn s7_body_that_catches_the_cancel_completes() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(&client, catches_cancel, (), "s7", "TimerStarted", 0).await;
    client
        .cancel_workflow("s7", None, "scenario 7")
        .await
        .unwrap();
    assert_eq!(h.result().await.unwrap(), "caught the cancel");
    assert_eq!(
        client.describe_workflow("s7", None).await.unwrap().status,
        WorkflowStatus::Completed
    );
    let history = client.history("s7", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["TimerStarted", "WorkflowExecutionCancelRequested"],
            &WFT,
            &["TimerCanceled", "WorkflowExecutionCompleted"],
        ])
    );
    // A second cancel of a closed run succeeds and writes nothing.
    client.cancel_workflow("s7", None, "again").await.unwrap();
    assert_eq!(
        client.history("s7", None).await.unwrap().len(),
        history.len()
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn s9_terminate_runs_no_cleanup_and_stops_the_activity() {
    let rt = runtime().await;
    let client = rt.client();
    let h = start_until(
        &client,
        seed_workflow,
        0,
        "s9",
        "ActivityTaskScheduled",
        300,
    )
    .await;
    client
        .terminate_workflow("s9", None, "scenario 9")
        .await
        .unwrap();
    let err = h.result().await.unwrap_err();
    assert!(matches!(err, ClientError::Terminated { .. }), "{err:?}");
    let history = client.history("s9", None).await.unwrap();
    assert_eq!(
        event_types(&history),
        with_tasks(&[
            &["WorkflowExecutionStarted"],
            &WFT,
            &["ActivityTaskScheduled", "WorkflowExecutionTerminated"],
        ])
    );
    wait_count("s9", "stopped").await;
    assert_eq!(count("s9", "cleanup"), 0, "cleanup ran after terminate");
    let err = client
        .terminate_workflow("s9", None, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
    rt.shutdown().await;
}

#[tokio::test]
async fn starting_a_running_id_is_refused() {
    let rt = runtime().await;
    let client = rt.client();
    client
        .start_workflow(pending_timer, (), StartOptions::new("dup", Q))
        .await
        .unwrap();
    let err = client
        .start_workflow(pending_timer, (), StartOptions::new("dup", Q))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::AlreadyStarted { .. }), "{err:?}");
    client
        .terminate_workflow("dup", None, "done")
        .await
        .unwrap();
    rt.shutdown().await;
}
