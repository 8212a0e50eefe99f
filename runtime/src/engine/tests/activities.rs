//! Activity attempts: heartbeat timeouts, retries, failures, held outcomes, by-id calls.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::{EventType as E, PendingActivityState, RetryState, TimeoutType};
use crate::proto::failure::failure::FailureInfo;
use crate::proto::failure::{ApplicationFailureInfo, Failure};

#[tokio::test]
async fn heartbeat_timeout_then_retry_then_success() {
    let h = Harness::new();
    h.start("flaky").await;
    let task = h.poll_wft().await;
    let cmd = with_retry(schedule_activity("1", "flaky_activity", 150), 100, 0);
    h.complete(&task, vec![cmd]).await.unwrap();
    let first = h.poll_activity().await;
    assert_eq!(first.attempt, 1);
    let d = h.describe("flaky").await;
    assert_eq!(
        d.pending_activities[0].state,
        PendingActivityState::Started as i32
    );
    // No heartbeat: the attempt times out, and the retry comes back after its back-off.
    let second = h.poll_activity().await;
    assert_eq!(second.attempt, 2);
    assert_ne!(second.task_token, first.task_token);
    expect_code(h.heartbeat(&first.task_token).await, Code::NotFound);
    let d = h.describe("flaky").await;
    let pending = &d.pending_activities[0];
    assert_eq!(pending.attempt, 2);
    let last = pending.last_failure.as_ref().expect("last failure");
    assert!(last.message.contains("Heartbeat"), "{}", last.message);
    assert!(!h.heartbeat(&second.task_token).await.unwrap());
    h.activity_completed(&second.task_token).await.unwrap();

    let events = h.events("flaky").await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    assert_eq!(
        types[4..],
        [
            E::ActivityTaskScheduled,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled
        ]
    );
    match &events[5].attributes {
        Some(EventAttributes::ActivityTaskStartedEventAttributes(a)) => {
            assert_eq!(a.attempt, 2);
            assert_eq!(a.scheduled_event_id, 5);
            match a
                .last_failure
                .as_ref()
                .and_then(|f| f.failure_info.as_ref())
            {
                Some(FailureInfo::TimeoutFailureInfo(t)) => {
                    assert_eq!(t.timeout_type, TimeoutType::Heartbeat as i32);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        other => panic!("unexpected {other:?}"),
    }
    match &events[6].attributes {
        Some(EventAttributes::ActivityTaskCompletedEventAttributes(a)) => {
            assert_eq!((a.scheduled_event_id, a.started_event_id), (5, 6));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn final_failure_is_written_once() {
    let h = Harness::new();
    h.start("failing").await;
    let task = h.poll_wft().await;
    h.complete(
        &task,
        vec![with_retry(schedule_activity("1", "boom", 0), 10, 2)],
    )
    .await
    .unwrap();
    for attempt in 1..=2 {
        let act = h.poll_activity().await;
        assert_eq!(act.attempt, attempt);
        let req = RespondActivityTaskFailedRequest {
            namespace: NS.into(),
            task_token: act.task_token.clone(),
            failure: Some(Failure {
                message: format!("boom {attempt}"),
                failure_info: Some(FailureInfo::ApplicationFailureInfo(
                    ApplicationFailureInfo {
                        r#type: "Boom".into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }),
            identity: "w".into(),
            ..Default::default()
        };
        h.engine
            .respond_activity_task_failed(Request::new(req))
            .await
            .unwrap();
    }
    let events = h.events("failing").await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    assert_eq!(
        types[4..],
        [
            E::ActivityTaskScheduled,
            E::ActivityTaskStarted,
            E::ActivityTaskFailed,
            E::WorkflowTaskScheduled
        ]
    );
    match &events[6].attributes {
        Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::MaximumAttemptsReached as i32);
            assert_eq!(
                a.failure.as_ref().map(|f| f.message.as_str()),
                Some("boom 2")
            );
            assert_eq!(a.started_event_id, 6);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn outcome_during_a_task_is_held_and_canceled_needs_a_request() {
    let h = Harness::new();
    h.start("held").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("1", "quick", 0)])
        .await
        .unwrap();
    let act = h.poll_activity().await;
    let err = expect_code(
        h.activity_canceled(&act.task_token).await,
        Code::FailedPrecondition,
    );
    assert!(
        err.message().contains("no cancel was requested"),
        "{}",
        err.message()
    );
    // A signal opens a task; the activity finishes while that task runs.
    let signal = SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: "held".into(),
            run_id: String::new(),
        }),
        signal_name: "poke".into(),
        identity: "c".into(),
        ..Default::default()
    };
    h.engine
        .signal_workflow_execution(Request::new(signal))
        .await
        .unwrap();
    let task = h.poll_wft().await;
    h.activity_completed(&act.task_token).await.unwrap();
    assert_eq!(h.types("held").await.len(), 8, "the outcome is held");
    h.complete(&task, vec![]).await.unwrap();
    assert_eq!(
        h.types("held").await[4..],
        [
            E::ActivityTaskScheduled,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::ActivityTaskStarted,
            E::ActivityTaskCompleted,
            E::WorkflowTaskScheduled,
        ]
    );
    let events = h.events("held").await;
    match &events[10].attributes {
        Some(EventAttributes::ActivityTaskCompletedEventAttributes(a)) => {
            assert_eq!(
                a.started_event_id, 10,
                "wired to the Started written with it"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn activity_by_id_and_schedule_to_start_timeout() {
    let h = Harness::new();
    h.start("ids").await;
    let task = h.poll_wft().await;
    let mut short = schedule_activity("never", "never_polled", 0);
    if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) =
        short.attributes.as_mut()
    {
        a.schedule_to_start_timeout = Some(millis(50));
        a.task_queue = Some(TaskQueue {
            name: "elsewhere".into(),
            ..Default::default()
        });
    }
    h.complete(&task, vec![schedule_activity("by-id", "t", 0), short])
        .await
        .unwrap();
    let _act = h.poll_activity().await;
    let req = RespondActivityTaskCompletedByIdRequest {
        namespace: NS.into(),
        workflow_id: "ids".into(),
        activity_id: "by-id".into(),
        identity: "w".into(),
        ..Default::default()
    };
    h.engine
        .respond_activity_task_completed_by_id(Request::new(req))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let events = h.events("ids").await;
    let timed_out = events
        .iter()
        .find(|e| event_type(e) == E::ActivityTaskTimedOut)
        .expect("timed out");
    match &timed_out.attributes {
        Some(EventAttributes::ActivityTaskTimedOutEventAttributes(a)) => {
            assert_eq!((a.scheduled_event_id, a.started_event_id), (6, 0));
            assert_eq!(a.retry_state, RetryState::Timeout as i32);
        }
        other => panic!("unexpected {other:?}"),
    }
    let started = events
        .iter()
        .filter(|e| event_type(e) == E::ActivityTaskStarted)
        .count();
    assert_eq!(
        started, 1,
        "no ActivityTaskStarted for the attempt that never started"
    );
}

/// After a cancel was requested, a failure is final even though the policy would retry.
#[tokio::test]
async fn no_retry_after_a_cancel_request() {
    let h = Harness::new();
    h.start("stop").await;
    let task = h.poll_wft().await;
    h.complete(
        &task,
        vec![with_retry(schedule_activity("1", "a", 0), 10, 0)],
    )
    .await
    .unwrap();
    let act = h.poll_activity().await;
    h.cancel("stop", "").await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_activity(5)]).await.unwrap();
    let req = RespondActivityTaskFailedRequest {
        namespace: NS.into(),
        task_token: act.task_token.clone(),
        failure: Some(Failure {
            message: "gave up".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    h.engine
        .respond_activity_task_failed(Request::new(req))
        .await
        .unwrap();
    let events = h.events("stop").await;
    let failed = events
        .iter()
        .find(|e| event_type(e) == E::ActivityTaskFailed)
        .expect("failed");
    match &failed.attributes {
        Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) => {
            assert_eq!(a.retry_state, RetryState::CancelRequested as i32);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(h.describe("stop").await.pending_activities.is_empty());
}
