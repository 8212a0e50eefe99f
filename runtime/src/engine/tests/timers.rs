//! User timers: firing, cancelling, and a timer that fires while a task runs.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::EventType as E;

/// Scenario 6 of docs/semantics.md §10: a pending timer is cancelled when the workflow is.
#[tokio::test]
async fn timer_cancel() {
    let h = Harness::new();
    h.start("sleepy").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("1", 3_600_000)])
        .await
        .unwrap();
    h.cancel("sleepy", "").await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_timer("1"), cancel_workflow()])
        .await
        .unwrap();
    let events = h.events("sleepy").await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    assert_eq!(
        types,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::TimerStarted,
            E::WorkflowExecutionCancelRequested,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::TimerCanceled,
            E::WorkflowExecutionCanceled,
        ]
    );
    match &events[9].attributes {
        Some(EventAttributes::TimerCanceledEventAttributes(a)) => {
            assert_eq!(
                (a.started_event_id, a.workflow_task_completed_event_id),
                (5, 9)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn timer_fires_and_schedules_a_task() {
    let h = Harness::new();
    h.start("nap").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("t", 50)]).await.unwrap();
    let task = h.poll_wft().await;
    let history = task.history.clone().unwrap_or_default().events;
    let fired = history
        .iter()
        .find(|e| event_type(e) == E::TimerFired)
        .expect("fired");
    match &fired.attributes {
        Some(EventAttributes::TimerFiredEventAttributes(a)) => {
            assert_eq!((a.timer_id.as_str(), a.started_event_id), ("t", 5));
        }
        other => panic!("unexpected {other:?}"),
    }
    h.complete(&task, vec![complete_workflow()]).await.unwrap();
    assert_eq!(
        h.types("nap").await[4..],
        [
            E::TimerStarted,
            E::TimerFired,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCompleted,
        ]
    );
}

/// A timer that fired while a task ran and is cancelled by that task leaves no TimerFired, and
/// does not block the close.
#[tokio::test]
async fn cancelling_a_timer_that_fired_during_the_task() {
    let h = Harness::new();
    h.start("late").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("v", 50)]).await.unwrap();
    // A signal opens a task before the timer fires; the timer fires while it runs.
    let signal = SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: "late".into(),
            run_id: String::new(),
        }),
        signal_name: "poke".into(),
        ..Default::default()
    };
    h.engine
        .signal_workflow_execution(Request::new(signal))
        .await
        .unwrap();
    let task = h.poll_wft().await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(h.describe("late").await.pending_workflow_task.is_some());
    h.complete(&task, vec![cancel_timer("v"), complete_workflow()])
        .await
        .unwrap();
    let types = h.types("late").await;
    assert!(!types.contains(&E::TimerFired), "{types:?}");
    assert_eq!(
        types[types.len() - 3..],
        [
            E::WorkflowTaskCompleted,
            E::TimerCanceled,
            E::WorkflowExecutionCompleted
        ]
    );
}
