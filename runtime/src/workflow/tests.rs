//! Executor tests on hand-built histories: commands issued, replay matching, non-determinism.

use super::WorkflowInfo;
use super::context::WorkflowContext;
use super::executor::{ActivationError, WorkflowRun};
use super::state::RunState;
use crate::activity::Cancellation;
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::payload::{self};
use crate::proto::command::Command;
use crate::proto::enums::{CommandType, EventType};
use crate::proto::history as h;
use crate::proto::{CommandAttributes, EventAttributes};
use crate::test_support::{Echo, History};
use std::time::UNIX_EPOCH;

fn info() -> WorkflowInfo {
    WorkflowInfo {
        namespace: "default".into(),
        workflow_id: "wf".into(),
        run_id: "run".into(),
        workflow_type: "test".into(),
        task_queue: "q".into(),
        attempt: 1,
        start_time: UNIX_EPOCH,
    }
}

fn run_of(body: fn(WorkflowContext) -> BoxFuture<Result<String, WorkflowError>>) -> WorkflowRun {
    WorkflowRun::new(RunState::new(info(), 7), move |ctx| {
        Box::pin(async move { Ok(vec![payload::encode(&body(ctx).await?)?]) })
    })
}

fn kinds(cmds: &[Command]) -> Vec<CommandType> {
    cmds.iter()
        .map(|c| CommandType::try_from(c.command_type).unwrap())
        .collect()
}

fn two_echoes(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let a = ctx.activity(Echo, "a".to_string()).await?;
        let b = ctx.activity(Echo, "b".to_string()).await?;
        Ok(a + &b)
    })
}

#[test]
fn first_task_schedules_and_a_replay_matches_the_recorded_commands() {
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.task();
    let mut run = run_of(two_echoes);
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(kinds(&cmds), vec![CommandType::ScheduleActivityTask]);

    hist.completed();
    let s1 = hist.scheduled("1", "echo");
    hist.activity_completed(s1, "a");
    hist.task();
    assert!(run.can_continue_with(&hist.0));
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(kinds(&cmds), vec![CommandType::ScheduleActivityTask]);

    hist.completed();
    let s2 = hist.scheduled("2", "echo");
    hist.activity_completed(s2, "b");
    hist.task();
    // A fresh run replays everything and ends with the completion.
    let mut fresh = run_of(two_echoes);
    let cmds = fresh.activate(&hist.0).unwrap();
    assert_eq!(kinds(&cmds), vec![CommandType::CompleteWorkflowExecution]);
    let Some(CommandAttributes::CompleteWorkflowExecutionCommandAttributes(c)) =
        &cmds[0].attributes
    else {
        panic!("no completion attributes");
    };
    assert_eq!(
        payload::display(&c.result.as_ref().unwrap().payloads[0]),
        "\"ab\""
    );
}

#[test]
fn a_different_command_on_replay_is_non_determinism_naming_both() {
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.task();
    hist.completed();
    hist.push(
        EventType::TimerStarted,
        Some(EventAttributes::TimerStartedEventAttributes(
            h::TimerStartedEventAttributes {
                timer_id: "1".into(),
                ..Default::default()
            },
        )),
    );
    hist.task();
    let mut run = run_of(two_echoes);
    let err = run.activate(&hist.0).unwrap_err();
    let ActivationError::NonDeterminism(msg) = err else {
        panic!("expected non-determinism, got {err:?}");
    };
    assert!(msg.contains("TimerStarted"), "{msg}");
    assert!(msg.contains("ScheduleActivityTask [echo]"), "{msg}");
}

#[test]
fn a_cancel_requests_cancel_of_a_wait_completed_activity_and_waits() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.activity(Echo, "x".to_string())
                .cancellation(Cancellation::WaitCompleted)
                .await
        })
    }
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.task();
    let mut run = run_of(body);
    run.activate(&hist.0).unwrap();
    hist.completed();
    let s = hist.scheduled("1", "echo");
    hist.push(EventType::WorkflowExecutionCancelRequested, None);
    hist.task();
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(kinds(&cmds), vec![CommandType::RequestCancelActivityTask]);
    let Some(CommandAttributes::RequestCancelActivityTaskCommandAttributes(a)) =
        &cmds[0].attributes
    else {
        panic!("no attributes");
    };
    assert_eq!(a.scheduled_event_id, s);
}

#[test]
fn new_work_on_a_cancelled_context_is_scheduled_and_cancelled_in_one_task() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            let r = ctx.activity(Echo, "x".to_string()).await;
            assert!(r.as_ref().is_err_and(|e| e.is_cancelled()));
            // Cleanup on a disconnected context runs normally.
            ctx.disconnected()
                .activity(Echo, "cleanup".to_string())
                .await
        })
    }
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.push(EventType::WorkflowTaskScheduled, None);
    hist.push(EventType::WorkflowExecutionCancelRequested, None);
    let started = hist.push(EventType::WorkflowTaskStarted, None);
    let mut run = run_of(body);
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(
        kinds(&cmds),
        vec![
            CommandType::ScheduleActivityTask,
            CommandType::RequestCancelActivityTask,
            CommandType::ScheduleActivityTask
        ]
    );
    // The cancel names the ActivityTaskScheduled event the engine is about to write.
    let Some(CommandAttributes::RequestCancelActivityTaskCommandAttributes(a)) =
        &cmds[1].attributes
    else {
        panic!("no attributes");
    };
    assert_eq!(a.scheduled_event_id, started + 2);
}

#[test]
fn a_panic_fails_the_task_with_its_message() {
    fn body(_ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move { panic!("boom in workflow") })
    }
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.task();
    let mut run = run_of(body);
    let err = run.activate(&hist.0).unwrap_err();
    assert_eq!(err, ActivationError::Panic("boom in workflow".into()));
}

#[test]
fn determinism_helpers_repeat_on_replay() {
    let a = RunState::new(info(), 42);
    let b = RunState::new(info(), 42);
    let ca = WorkflowContext::new(std::sync::Arc::new(parking_lot::Mutex::new(a)));
    let cb = WorkflowContext::new(std::sync::Arc::new(parking_lot::Mutex::new(b)));
    assert_eq!(ca.uuid(), cb.uuid());
    assert_eq!(ca.random::<u64>(), cb.random::<u64>());
    assert_eq!(ca.now(), UNIX_EPOCH);
}
