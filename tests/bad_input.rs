//! Bad input gets a clear message and loses nothing: an unregistered workflow type, inputs that
//! do not fit the argument types, a payload in an unknown encoding.

use dacapo::prelude::*;
use dacapo::proto::history::history_event::Attributes as A;
use dacapo::{ClientError, Embedded, StartOptions, WorkflowStatus};
use dacapo_tests::wait_for_event;
use std::time::Duration;

const Q: &str = "bad-input";

#[workflow]
async fn takes_a_number(_ctx: WorkflowContext, n: u64) -> WorkflowResult<u64> {
    Ok(n * 2)
}

/// Called by the workflow with a number...
#[activity(name = "shared_name", start_to_close = "5s")]
async fn sends_a_number(_n: u64) -> Result<(), ActivityError> {
    Ok(())
}

/// ...but the worker serves this one under that name, which wants text.
#[activity(name = "shared_name", start_to_close = "5s")]
async fn wants_text(_s: String) -> Result<(), ActivityError> {
    Ok(())
}

#[workflow]
async fn calls_with_the_wrong_type(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.activity(sends_a_number, 7).await?;
    Ok(())
}

async fn runtime() -> Embedded {
    Embedded::builder()
        .in_memory()
        .task_queue(Q)
        .workflow(takes_a_number)
        .workflow(calls_with_the_wrong_type)
        .activity(wants_text)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unregistered_workflow_type_fails_its_task_naming_the_registered_ones() {
    let rt = runtime().await;
    let client = rt.client();
    client
        .start_workflow_by_name(
            "no_such_workflow",
            vec![],
            &StartOptions::new("unknown-type", Q),
        )
        .await
        .unwrap();
    let history = wait_for_event(&client, "unknown-type", "WorkflowTaskFailed").await;
    let message = history
        .iter()
        .find_map(|e| match &e.attributes {
            Some(A::WorkflowTaskFailedEventAttributes(a)) => {
                a.failure.as_ref().map(|f| f.message.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(message.contains("`no_such_workflow`"), "{message}");
    assert!(
        message.contains("calls_with_the_wrong_type, takes_a_number"),
        "{message}"
    );
    assert_eq!(
        client
            .describe_workflow("unknown-type", None)
            .await
            .unwrap()
            .status,
        WorkflowStatus::Running
    );
    client
        .terminate_workflow("unknown-type", None, "test over")
        .await
        .unwrap();
    rt.shutdown().await;
}

#[tokio::test]
async fn a_workflow_input_that_does_not_fit_fails_the_run_naming_the_type() {
    let rt = runtime().await;
    let client = rt.client();
    let text = dacapo::payload::encode("not a number").unwrap();
    client
        .start_workflow_by_name(
            "takes_a_number",
            vec![text],
            &StartOptions::new("bad-wf-input", Q),
        )
        .await
        .unwrap();
    let err = client
        .result::<u64>("bad-wf-input", None)
        .await
        .unwrap_err();
    let ClientError::Failed { message, .. } = &err else {
        panic!("expected a failed run, got {err:?}");
    };
    assert!(message.contains("takes_a_number"), "{message}");
    assert!(message.contains("`u64`"), "{message}");
    assert!(message.contains("invalid type"), "{message}");
    rt.shutdown().await;
}

#[tokio::test]
async fn an_activity_input_that_does_not_fit_fails_the_attempt_without_retrying() {
    let rt = runtime().await;
    let client = rt.client();
    let h = client
        .start_workflow(
            calls_with_the_wrong_type,
            (),
            StartOptions::new("bad-act-input", Q),
        )
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), h.result())
        .await
        .expect("a non-retryable failure closes the run quickly")
        .unwrap_err();
    let ClientError::Failed { message, .. } = &err else {
        panic!("expected a failed run, got {err:?}");
    };
    assert!(message.contains("shared_name"), "{message}");
    assert!(message.contains("alloc::string::String"), "{message}");
    rt.shutdown().await;
}
