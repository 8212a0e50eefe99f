//! Replay: a run survives its worker, changed code is caught as non-determinism, and activity
//! attempts that stop heartbeating are retried.

use dacapo::prelude::*;
use dacapo::{Embedded, StartOptions, WorkflowDefinition, WorkflowStatus};
use dacapo_tests::{event_types, wait_for_event};
use std::sync::Mutex;
use std::time::Duration;

const Q: &str = "replay";

static CALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn calls(prefix: &str) -> usize {
    CALLS
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with(prefix))
        .count()
}

/// A runtime on the SQLite file `db` with `workflow` and the `step` activity registered.
async fn on_file<W: WorkflowDefinition>(db: &std::path::Path, workflow: W) -> Embedded {
    Embedded::builder()
        .sqlite(db)
        .task_queue(Q)
        .workflow(workflow)
        .activity(step)
        .start()
        .await
        .unwrap()
}

#[activity(start_to_close = "10s")]
async fn step(ctx: ActivityContext, label: String) -> Result<String, ActivityError> {
    CALLS
        .lock()
        .unwrap()
        .push(format!("{}:{label}", ctx.info().workflow_id));
    Ok(format!("did {label}"))
}

#[workflow]
async fn two_steps(ctx: WorkflowContext, pause_ms: u64) -> WorkflowResult<Vec<String>> {
    let a = ctx.activity(step, "first".to_string()).await?;
    ctx.sleep(Duration::from_millis(pause_ms)).await?;
    let b = ctx.activity(step, "second".to_string()).await?;
    Ok(vec![a, b])
}

#[tokio::test]
async fn a_new_worker_finishes_a_run_by_replaying_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replay.db");
    let rt = on_file(&db, two_steps).await;
    let client = rt.client();
    client
        .start_workflow(two_steps, 1_500, StartOptions::new("replayed", Q))
        .await
        .unwrap();
    wait_for_event(&client, "replayed", "TimerStarted").await;
    // The worker goes away while the workflow waits on its timer. The file is released once
    // the runtime and every client made from it are gone.
    drop(client);
    rt.shutdown().await;

    let rt = on_file(&db, two_steps).await;
    let client = rt.client();
    let out: Vec<String> = client.result("replayed", None).await.unwrap();
    assert_eq!(out, vec!["did first", "did second"]);
    assert_eq!(calls("replayed:first"), 1, "the first activity ran again");
    assert_eq!(calls("replayed:second"), 1);
    let types = event_types(&client.history("replayed", None).await.unwrap());
    let n = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(n("ActivityTaskScheduled"), 2, "{types:?}");
    assert_eq!(n("TimerStarted"), 1, "{types:?}");
    assert_eq!(n("WorkflowExecutionCompleted"), 1, "{types:?}");
    rt.shutdown().await;
}

#[workflow(name = "changing")]
async fn changing_v1(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.activity(step, "v1".to_string()).await?;
    ctx.sleep(Duration::from_millis(800)).await?;
    Ok(())
}

/// The same workflow type after an incompatible change: it sleeps first.
#[workflow(name = "changing")]
async fn changing_v2(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.sleep(Duration::from_millis(800)).await?;
    ctx.activity(step, "v2".to_string()).await?;
    Ok(())
}

#[tokio::test]
async fn changed_code_fails_the_workflow_task_and_leaves_the_run_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nondet.db");
    let rt = on_file(&db, changing_v1).await;
    let client = rt.client();
    client
        .start_workflow(changing_v1, (), StartOptions::new("nondet", Q))
        .await
        .unwrap();
    wait_for_event(&client, "nondet", "TimerStarted").await;
    drop(client);
    rt.shutdown().await;

    let rt = on_file(&db, changing_v2).await;
    let client = rt.client();
    let history = wait_for_event(&client, "nondet", "WorkflowTaskFailed").await;
    let failed = history
        .iter()
        .find(|e| dacapo::proto::event_type_name(e.event_type) == "WorkflowTaskFailed")
        .unwrap();
    let Some(dacapo::proto::history::history_event::Attributes::WorkflowTaskFailedEventAttributes(
        a,
    )) = &failed.attributes
    else {
        panic!("WorkflowTaskFailed without attributes");
    };
    let message = a
        .failure
        .as_ref()
        .map(|f| f.message.clone())
        .unwrap_or_default();
    assert!(message.contains("non-deterministic"), "{message}");
    assert!(
        message.contains("ActivityTaskScheduled [step]"),
        "{message}"
    );
    assert!(message.contains("StartTimer"), "{message}");
    assert_eq!(
        a.cause,
        dacapo::proto::enums::WorkflowTaskFailedCause::NonDeterministicError as i32
    );
    let d = client.describe_workflow("nondet", None).await.unwrap();
    assert_eq!(d.status, WorkflowStatus::Running, "the run must stay open");
    assert_eq!(calls("nondet:v2"), 0);
    client
        .terminate_workflow("nondet", None, "test over")
        .await
        .unwrap();
    rt.shutdown().await;
}

#[activity(
    start_to_close = "30s",
    heartbeat_timeout = "1s",
    initial_interval = "100ms",
    max_attempts = 3
)]
async fn stalls_once(ctx: ActivityContext) -> Result<i32, ActivityError> {
    let attempt = ctx.info().attempt;
    if attempt == 1 {
        ctx.heartbeat(()).await?;
        // No more heartbeats: the attempt times out after 1 s.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(attempt)
}

#[workflow]
async fn retries_after_heartbeat_timeout(ctx: WorkflowContext) -> WorkflowResult<i32> {
    ctx.activity(stalls_once, ()).await
}

#[tokio::test]
async fn a_heartbeat_timeout_fails_the_attempt_and_the_retry_policy_runs_another() {
    let rt = Embedded::builder()
        .in_memory()
        .task_queue(Q)
        .workflow(retries_after_heartbeat_timeout)
        .activity(stalls_once)
        .start()
        .await
        .unwrap();
    let client = rt.client();
    let h = client
        .start_workflow(
            retries_after_heartbeat_timeout,
            (),
            StartOptions::new("hb-timeout", Q),
        )
        .await
        .unwrap();
    assert_eq!(
        h.result().await.unwrap(),
        2,
        "the second attempt should have finished"
    );
    let types = event_types(&client.history("hb-timeout", None).await.unwrap());
    assert!(
        types.contains(&"ActivityTaskCompleted".to_string()),
        "{types:?}"
    );
    assert!(
        !types.contains(&"ActivityTaskTimedOut".to_string()),
        "a retried attempt writes no event: {types:?}"
    );
    rt.shutdown().await;
}
