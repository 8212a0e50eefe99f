//! docs/semantics.md §2 (requesting a cancel) and §3 (what the history records), at the engine
//! level.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::{EventType as E, WorkflowTaskFailedCause};

/// Scenario 2 of docs/semantics.md §10: the workflow is cancelled while its activity heartbeats;
/// the workflow asks the activity to stop, waits for it, runs a cleanup activity and closes as
/// Canceled.
#[tokio::test]
async fn cancel_of_a_started_activity() {
    let h = Harness::new();
    let mut cancels = h.engine.cancel_shortcut();
    h.start("seed").await;
    let task = h.poll_wft().await;
    assert_eq!(task.started_event_id, 3);
    assert_eq!(task.history.as_ref().map(|h| h.events.len()), Some(3));
    let cmd = schedule_activity("1", "activity_to_be_canceled", 5_000);
    h.complete(&task, vec![cmd]).await.unwrap();
    let act = h.poll_activity().await;
    assert_eq!(act.attempt, 1);
    assert!(!h.heartbeat(&act.task_token).await.unwrap());

    h.cancel("seed", "").await.unwrap();
    let task = h.poll_wft().await;
    assert_eq!(task.previous_started_event_id, 3);
    h.complete(&task, vec![cancel_activity(5)]).await.unwrap();
    let announced = tokio::time::timeout(Duration::from_secs(2), cancels.recv()).await;
    assert_eq!(
        announced.unwrap().unwrap(),
        act.task_token,
        "cancel pushed to the worker"
    );
    assert!(
        h.heartbeat(&act.task_token).await.unwrap(),
        "heartbeat says cancel requested"
    );
    h.activity_canceled(&act.task_token).await.unwrap();

    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("2", "cleanup_activity", 0)])
        .await
        .unwrap();
    let cleanup = h.poll_activity().await;
    assert_eq!(
        cleanup.activity_type.as_ref().unwrap().name,
        "cleanup_activity"
    );
    h.activity_completed(&cleanup.task_token).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_workflow()]).await.unwrap();

    let events = h.events("seed").await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    assert_eq!(
        types,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskScheduled,
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskCancelRequested,
            E::ActivityTaskStarted,
            E::ActivityTaskCanceled,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskScheduled,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCanceled,
        ]
    );
    match &events[5].attributes {
        Some(EventAttributes::WorkflowExecutionCancelRequestedEventAttributes(a)) => {
            assert_eq!(a.cause, "user asked");
            assert_eq!(a.identity, "test-client");
        }
        other => panic!("unexpected {other:?}"),
    }
    match &events[11].attributes {
        Some(EventAttributes::ActivityTaskCanceledEventAttributes(a)) => {
            assert_eq!((a.scheduled_event_id, a.started_event_id), (5, 11));
            assert_eq!(a.latest_cancel_requested_event_id, 10);
        }
        other => panic!("unexpected {other:?}"),
    }
    match &events[21].attributes {
        Some(EventAttributes::WorkflowExecutionCanceledEventAttributes(a)) => {
            assert_eq!(a.workflow_task_completed_event_id, 21);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The run is closed: the stale attempt is gone.
    expect_code(h.heartbeat(&act.task_token).await, Code::NotFound);
}

/// Scenario 3 of docs/semantics.md §10: cancelled before the first workflow task; the first
/// activity is scheduled, cancel-requested and canceled in that task and never runs.
#[tokio::test]
async fn cancel_before_the_first_task() {
    let h = Harness::new();
    h.start("early").await;
    h.cancel("early", "").await.unwrap();
    assert_eq!(
        h.types("early").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowExecutionCancelRequested
        ]
    );
    let task = h.poll_wft().await;
    // Events 4 (started) and 5 (completed) come first, so the activity will be event 6.
    let commands = vec![
        schedule_activity("1", "activity_to_be_canceled", 0),
        cancel_activity(6),
        schedule_activity("2", "cleanup_activity", 0),
    ];
    h.complete(&task, commands).await.unwrap();
    let cleanup = h.poll_activity().await;
    assert_eq!(
        cleanup.activity_id, "2",
        "the cancelled activity never runs"
    );
    h.activity_completed(&cleanup.task_token).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_workflow()]).await.unwrap();
    assert_eq!(
        h.types("early").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskScheduled,
            E::ActivityTaskCancelRequested,
            // As Temporal writes it: after the batch's command events.
            E::ActivityTaskScheduled,
            E::ActivityTaskCanceled,
            E::WorkflowTaskScheduled,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCanceled,
        ]
    );
}

/// Scenario 4 of docs/semantics.md §10: the activity never started (no activity worker polls).
#[tokio::test]
async fn cancel_of_an_activity_that_never_started() {
    let h = Harness::new();
    h.start("idle").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("1", "never_polled", 0)])
        .await
        .unwrap();
    h.cancel("idle", "").await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_activity(5)]).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_workflow()]).await.unwrap();
    assert_eq!(
        h.types("idle").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskScheduled,
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskCancelRequested,
            E::ActivityTaskCanceled,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCanceled,
        ]
    );
    assert!(
        h.try_poll_activity().await.task_token.is_empty(),
        "nothing to run"
    );
}

/// A cancel that arrives while a task runs is held; the task's attempt to close the run is
/// rejected, so the workflow sees the cancel first.
#[tokio::test]
async fn held_cancel_rejects_a_close_command() {
    let h = Harness::new();
    h.start("racy").await;
    let task = h.poll_wft().await;
    h.cancel("racy", "").await.unwrap();
    assert_eq!(h.types("racy").await.len(), 3, "the cancel request is held");
    let err = expect_code(
        h.complete(&task, vec![complete_workflow()]).await,
        Code::InvalidArgument,
    );
    assert!(
        err.message().contains("UnhandledCommand"),
        "{}",
        err.message()
    );
    let events = h.events("racy").await;
    match &events[3].attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => {
            assert_eq!(a.cause, WorkflowTaskFailedCause::UnhandledCommand as i32);
        }
        other => panic!("unexpected {other:?}"),
    }
    let task = h.poll_wft().await;
    assert_eq!(task.attempt, 1, "new events reset the attempt");
    h.complete(&task, vec![cancel_workflow()]).await.unwrap();
    assert_eq!(
        h.types("racy").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskFailed,
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCanceled,
        ]
    );
}

/// docs/semantics.md §2.2 and §2.3: one CancelRequested per run; closed runs and unknown ids.
#[tokio::test]
async fn cancel_request_outcomes() {
    let h = Harness::new();
    let run_id = h.start("twice").await;
    h.cancel("twice", "").await.unwrap();
    h.cancel("twice", &run_id).await.unwrap();
    let types = h.types("twice").await;
    let requested = types
        .iter()
        .filter(|t| **t == E::WorkflowExecutionCancelRequested)
        .count();
    assert_eq!(requested, 1);
    assert_eq!(types.len(), 3, "no second workflow task either");

    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_workflow()]).await.unwrap();
    let before = h.types("twice").await.len();
    h.cancel("twice", "").await.unwrap();
    assert_eq!(
        h.types("twice").await.len(),
        before,
        "closed run: nothing written"
    );

    let err = expect_code(h.cancel("nope", "").await, Code::NotFound);
    assert!(err.message().contains("nope"), "{}", err.message());
    let other_run = uuid::Uuid::new_v4().to_string();
    let err = expect_code(h.cancel("twice", &other_run).await, Code::NotFound);
    assert!(err.message().contains("twice"), "{}", err.message());
    expect_code(h.cancel("", "").await, Code::InvalidArgument);
    expect_code(h.cancel("twice", "not-a-uuid").await, Code::InvalidArgument);
}
