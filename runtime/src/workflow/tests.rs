//! Executor tests on hand-built histories: commands issued, replay matching, non-determinism.

use super::context::WorkflowContext;
use super::executor::ActivationError;
use super::state::RunState;
use super::test_support::{completed_with, info, kinds, logs_of, run_of};
use crate::activity::Cancellation;
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::proto::enums::{CommandType, EventType};
use crate::proto::history as h;
use crate::proto::{CommandAttributes, EventAttributes};
use crate::test_support::{Echo, History};
use std::time::UNIX_EPOCH;

fn two_echoes(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let a = ctx.activity(Echo, "a".to_string()).await?;
        let b = ctx.activity(Echo, "b".to_string()).await?;
        Ok(a + &b)
    })
}

#[test]
fn first_task_schedules_and_a_replay_matches_the_recorded_commands() {
    let mut hist = History::in_first_task();
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
    assert_eq!(completed_with(&cmds), "\"ab\"");
}

#[test]
fn a_different_command_on_replay_is_non_determinism_naming_both() {
    let mut hist = History::in_first_task();
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
    let mut hist = History::in_first_task();
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
    let hist = History::in_first_task();
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

// ---------------------------------------------------------------------------------------------
// Signals.

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Approval {
    by: String,
}

const APPROVE: crate::message::Signal<Approval> = crate::message::Signal::new("approve");

/// Waits for an approval for a day of workflow time.
fn approval_or_timeout(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let mut approvals = ctx.signal_channel(APPROVE);
        dacapo_macros::select! {
            a = approvals.recv() => Ok(format!("approved by {}", a?.by)),
            t = ctx.sleep(std::time::Duration::from_secs(24 * 3600)) => {
                t?;
                Ok("timed out".to_string())
            }
        }
    })
}

#[test]
fn a_signal_wakes_a_waiting_receiver_and_a_replay_receives_it_again() {
    let mut hist = History::in_first_task();
    let mut run = run_of(approval_or_timeout);
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(kinds(&cmds), vec![CommandType::StartTimer]);
    hist.completed();
    hist.timer_started("1");
    hist.signaled("approve", &Approval { by: "ops".into() });
    hist.task();
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(
        kinds(&cmds),
        vec![CommandType::CompleteWorkflowExecution],
        "the signal's branch won; the timer is left to the run's close"
    );
    assert_eq!(completed_with(&cmds), "\"approved by ops\"");
    let mut fresh = run_of(approval_or_timeout);
    let replayed = fresh.activate(&hist.0).unwrap();
    assert_eq!(replayed, cmds);
}

#[test]
fn without_a_signal_the_timer_branch_wins() {
    let mut hist = History::in_first_task();
    hist.completed();
    hist.timer_started("1");
    hist.timer_fired("1");
    hist.task();
    let cmds = run_of(approval_or_timeout).activate(&hist.0).unwrap();
    assert_eq!(completed_with(&cmds), "\"timed out\"");
}

#[test]
fn signals_sent_before_the_channel_is_asked_for_are_kept_in_history_order() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.sleep(std::time::Duration::from_secs(60)).await?;
            let mut approvals = ctx.signal_channel(APPROVE);
            let first = approvals.recv().await?.by;
            let second = approvals.recv().await?.by;
            let mut others = ctx.signal_channel(crate::message::Signal::<u32>::new("count"));
            Ok(format!("{first}, {second}, {:?}", others.try_recv()))
        })
    }
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.signaled("approve", &Approval { by: "first".into() });
    hist.task();
    hist.completed();
    hist.timer_started("1");
    hist.signaled("count", &7);
    hist.signaled(
        "approve",
        &Approval {
            by: "second".into(),
        },
    );
    hist.timer_fired("1");
    hist.task();
    let cmds = run_of(body).activate(&hist.0).unwrap();
    assert_eq!(completed_with(&cmds), "\"first, second, Some(7)\"");
}

#[test]
fn a_signal_that_does_not_decode_fails_the_task_naming_the_signal_and_the_type() {
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.signaled("approve", &"not an approval");
    hist.task();
    let err = run_of(approval_or_timeout).activate(&hist.0).unwrap_err();
    let ActivationError::SignalPayload(msg) = &err else {
        panic!("expected a signal payload error, got {err:?}");
    };
    assert!(msg.contains("signal `approve`"), "{msg}");
    assert!(msg.contains("Approval`"), "{msg}");
}

#[test]
fn a_receive_on_a_cancelled_context_returns_and_cleanup_receives_later_signals() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            let mut approvals = ctx.signal_channel(APPROVE);
            let err = approvals.recv().await.unwrap_err();
            assert!(err.is_cancelled(), "{err}");
            assert!(err.to_string().contains("signal `approve`"), "{err}");
            // Cleanup asks for the channel on a disconnected context: it waits for the signal.
            let mut in_cleanup = ctx.disconnected().signal_channel(APPROVE);
            Ok(in_cleanup.recv().await?.by)
        })
    }
    let mut hist = History::in_first_task();
    let mut run = run_of(body);
    assert!(run.activate(&hist.0).unwrap().is_empty());
    hist.completed();
    hist.push(EventType::WorkflowExecutionCancelRequested, None);
    hist.task();
    assert!(run.activate(&hist.0).unwrap().is_empty(), "still waiting");
    hist.completed();
    hist.signaled("approve", &Approval { by: "late".into() });
    hist.task();
    let cmds = run.activate(&hist.0).unwrap();
    assert_eq!(completed_with(&cmds), "\"late\"");
}

/// Returns at once with whatever approval was already delivered.
fn approval_if_any(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let mut approvals = ctx.signal_channel(APPROVE);
        Ok(approvals
            .try_recv()
            .map_or_else(|| "nobody".to_string(), |a| a.by))
    })
}

#[test]
fn a_close_refused_for_a_held_signal_is_worked_out_again_with_the_signal_in_view() {
    let mut hist = History::in_first_task();
    let mut first = run_of(approval_if_any);
    assert_eq!(
        completed_with(&first.activate(&hist.0).unwrap()),
        "\"nobody\""
    );
    // The engine refused that close (UnhandledCommand): the signal arrived while it ran.
    hist.push(EventType::WorkflowTaskFailed, None);
    hist.signaled("approve", &Approval { by: "ops".into() });
    hist.task();
    let mut again = run_of(approval_if_any);
    assert_eq!(completed_with(&again.activate(&hist.0).unwrap()), "\"ops\"");
}

#[test]
fn signals_never_read_are_logged_once_when_the_body_returns_and_not_on_replay() {
    fn body(_ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move { Ok("done".to_string()) })
    }
    let mut hist = History::default();
    hist.push(EventType::WorkflowExecutionStarted, None);
    hist.signaled("approve", &Approval { by: "a".into() });
    hist.signaled("other", &1);
    hist.signaled("approve", &Approval { by: "b".into() });
    hist.task();
    let (cmds, logged) = logs_of(|| run_of(body).activate(&hist.0).unwrap());
    assert_eq!(completed_with(&cmds), "\"done\"");
    assert_eq!(logged.matches("never read").count(), 1, "{logged}");
    assert!(logged.contains("`approve` (2), `other` (1)"), "{logged}");
    hist.completed();
    hist.push(EventType::WorkflowExecutionCompleted, None);
    let (_, replayed) = logs_of(|| run_of(body).activate(&hist.0).unwrap());
    assert!(!replayed.contains("never read"), "{replayed}");
}
