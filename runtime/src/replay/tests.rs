//! Replaying hand-built and engine-written histories against current and changed code.

use super::*;
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::payload::PayloadError;
use crate::proto::EventAttributes;
use crate::proto::common::{Payload as RawPayload, WorkflowType};
use crate::proto::history as h;
use crate::test_support::{Echo, History};
use crate::workflow::WorkflowContext;
use std::future::IntoFuture;
use std::time::Duration;

/// Declares a workflow type named "steps" whose body is `$body`.
macro_rules! steps_workflow {
    ($ty:ident, |$ctx:ident| $body:block) => {
        struct $ty;
        impl WorkflowDefinition for $ty {
            type Input = ();
            type Output = String;
            const NAME: &'static str = "steps";
            fn encode_input(_: &()) -> Result<Vec<RawPayload>, PayloadError> {
                Ok(Vec::new())
            }
            fn decode_input(_: &[RawPayload]) -> Result<(), PayloadError> {
                Ok(())
            }
            fn execute($ctx: WorkflowContext, _: ()) -> BoxFuture<Result<String, WorkflowError>> {
                Box::pin(async move $body)
            }
        }
    };
}

steps_workflow!(Current, |ctx| {
    let a = ctx.activity(Echo, "a".to_string()).await?;
    ctx.sleep(Duration::from_millis(10)).await?;
    Ok(a)
});

steps_workflow!(SleepsFirst, |ctx| {
    ctx.sleep(Duration::from_millis(10)).await?;
    let a = ctx.activity(Echo, "a".to_string()).await?;
    Ok(a)
});

steps_workflow!(AlsoSleeps, |ctx| {
    let (a, _) = futures::join!(
        ctx.activity(Echo, "a".to_string()).into_future(),
        ctx.sleep(Duration::from_millis(10))
    );
    a
});

steps_workflow!(Panics, |ctx| {
    let _ = ctx.activity(Echo, "a".to_string()).await?;
    panic!("a bug on the second task")
});

/// The steps of a history that only these tests need.
impl History {
    fn started(&mut self) {
        let attrs = h::WorkflowExecutionStartedEventAttributes {
            workflow_type: Some(WorkflowType {
                name: "steps".into(),
            }),
            workflow_id: "wf-1".into(),
            original_execution_run_id: "run-1".into(),
            first_execution_run_id: "run-1".into(),
            ..Default::default()
        };
        self.push(
            EventType::WorkflowExecutionStarted,
            Some(EventAttributes::WorkflowExecutionStartedEventAttributes(
                attrs,
            )),
        );
    }
    fn timer(&mut self, fired: bool) {
        let started = self.push(
            EventType::TimerStarted,
            Some(EventAttributes::TimerStartedEventAttributes(
                h::TimerStartedEventAttributes {
                    timer_id: "1".into(),
                    ..Default::default()
                },
            )),
        );
        if fired {
            self.push(
                EventType::TimerFired,
                Some(EventAttributes::TimerFiredEventAttributes(
                    h::TimerFiredEventAttributes {
                        timer_id: "1".into(),
                        started_event_id: started,
                    },
                )),
            );
        }
    }
    /// A workflow task scheduled, started and completed.
    fn completed_task(&mut self) {
        self.task();
        self.completed();
    }
    fn completed_run(&mut self) {
        self.push(EventType::WorkflowExecutionCompleted, None);
    }
}

/// The history `Current` writes: activity, then timer, then completion.
fn closed_history() -> Vec<HistoryEvent> {
    let mut hist = History::default();
    hist.started();
    hist.completed_task();
    let s = hist.scheduled("1", "echo");
    hist.activity_completed(s, "a");
    hist.completed_task();
    hist.timer(true);
    hist.completed_task();
    hist.completed_run();
    hist.0
}

#[test]
fn the_current_code_replays_a_closed_history() {
    let replayed = replay_history(Current, &closed_history()).unwrap();
    assert_eq!(
        replayed,
        Replayed {
            workflow_type: "steps".into(),
            workflow_id: "wf-1".into(),
            run_id: "run-1".into(),
            events: 15,
            workflow_tasks: 3,
            closed: true,
            finished: true,
        }
    );
}

#[test]
fn reordered_code_is_non_determinism_naming_both_sides() {
    let err = replay_history(SleepsFirst, &closed_history()).unwrap_err();
    let ReplayError::NonDeterminism {
        workflow_id,
        message,
        ..
    } = &err
    else {
        panic!("expected non-determinism, got {err:?}");
    };
    assert_eq!(workflow_id, "wf-1");
    assert!(
        message.contains("ActivityTaskScheduled [echo]"),
        "{message}"
    );
    assert!(message.contains("StartTimer"), "{message}");
    assert!(err.to_string().contains("wf-1"), "{err}");
}

#[test]
fn a_command_that_a_completed_task_does_not_record_is_non_determinism() {
    // An open run: the first task scheduled the activity only; the new code also starts a
    // timer in that task.
    let mut hist = History::default();
    hist.started();
    hist.completed_task();
    hist.scheduled("1", "echo");
    let err = replay_history(AlsoSleeps, &hist.0).unwrap_err();
    let ReplayError::NonDeterminism { message, .. } = &err else {
        panic!("expected non-determinism, got {err:?}");
    };
    assert!(message.contains("StartTimer (timer id 1"), "{message}");
    assert!(message.contains("ends at event 5"), "{message}");
    // The old code replays the same open history.
    let replayed = replay_history(Current, &hist.0).unwrap();
    assert!(!replayed.closed && !replayed.finished, "{replayed:?}");
}

#[test]
fn a_task_still_running_at_the_end_is_left_out() {
    let mut hist = History::default();
    hist.started();
    hist.completed_task();
    let s = hist.scheduled("1", "echo");
    hist.activity_completed(s, "a");
    hist.push(EventType::WorkflowTaskScheduled, None);
    hist.push(EventType::WorkflowTaskStarted, None);
    let replayed = replay_history(Current, &hist.0).unwrap();
    assert_eq!(replayed.workflow_tasks, 1);
    assert_eq!(replayed.events, 8);
    // The code that panics on its second task is never run for the unfinished one...
    replay_history(Panics, &hist.0).unwrap();
    // ...but is once that task completed.
    hist.push(EventType::WorkflowTaskCompleted, None);
    let err = replay_history(Panics, &hist.0).unwrap_err();
    assert!(
        matches!(&err, ReplayError::Panic { message, .. } if message == "a bug on the second task"),
        "{err:?}"
    );
}

#[test]
fn unknown_types_and_malformed_histories_are_refused() {
    let err = Replayer::new().replay(&closed_history()).unwrap_err();
    assert_eq!(
        err,
        ReplayError::UnknownWorkflowType {
            workflow_type: "steps".into(),
            registered: "none".into()
        }
    );
    let err = replay_history(Current, &[]).unwrap_err();
    assert!(matches!(err, ReplayError::Malformed(_)), "{err:?}");
    let mut gap = closed_history();
    gap.remove(4);
    let err = replay_history(Current, &gap).unwrap_err();
    assert!(
        matches!(&err, ReplayError::Malformed(m) if m.contains("has id 6")),
        "{err:?}"
    );
    let err = replay_history(Current, &closed_history()[1..]).unwrap_err();
    assert!(
        matches!(&err, ReplayError::Malformed(m) if m.contains("WorkflowTaskScheduled")),
        "{err:?}"
    );
}

#[tokio::test]
async fn histories_the_engine_wrote_replay_with_the_code_that_wrote_them() {
    let rt = crate::Embedded::builder()
        .in_memory()
        .task_queue("replay-unit")
        .workflow(Current)
        .activity(Echo)
        .start()
        .await
        .unwrap();
    let client = rt.client();
    let handle = client
        .start_workflow(
            Current,
            (),
            crate::StartOptions::new("engine-written", "replay-unit"),
        )
        .await
        .unwrap();
    assert_eq!(handle.result().await.unwrap(), "a");
    let history = client.history("engine-written", None).await.unwrap();
    let replayed = Replayer::new().workflow(Current).replay(&history).unwrap();
    assert!(replayed.closed && replayed.finished, "{replayed:?}");
    assert_eq!(replayed.workflow_id, "engine-written");
    assert_eq!(replayed.run_id, handle.run_id);
    let err = replay_history(SleepsFirst, &history).unwrap_err();
    assert!(matches!(err, ReplayError::NonDeterminism { .. }), "{err:?}");
    rt.shutdown().await;
}
