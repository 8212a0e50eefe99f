//! Executor tests of updates: requests in a task's messages, acceptance, rejection, handlers as
//! coroutines of the run, and replay of the events the engine writes for them.

use super::context::WorkflowContext;
use super::executor::{Activation, ActivationError, WorkflowRun};
use super::test_support::{completed_with, kinds, logs_of, run_of};
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::message::Update;
use crate::payload;
use crate::proto::common::Payloads;
use crate::proto::enums::{CommandType, EventType};
use crate::proto::history as h;
use crate::proto::protocol::{Message, message::SequencingId};
use crate::proto::update::{self as up, Acceptance, Rejection, Response, outcome};
use crate::proto::{CommandAttributes, EventAttributes};
use crate::test_support::{Echo, History};
use prost::Message as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SET: Update<u32, u32> = Update::new("set");
const ECHO: Update<String, String> = Update::new("echo");

/// The request message the engine sends for update `id` named `name` with `args`.
fn request(id: &str, name: &str, args: Option<serde_json::Value>, after: i64) -> Message {
    let request = up::Request {
        meta: Some(up::Meta {
            update_id: id.into(),
            identity: "client".into(),
        }),
        input: Some(up::Input {
            name: name.into(),
            args: args.map(|a| Payloads {
                payloads: vec![payload::encode(&a).unwrap()],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut body = Message::default().body.unwrap_or_default();
    body.type_url = "type.googleapis.com/temporal.api.update.v1.Request".into();
    body.value = request.encode_to_vec();
    Message {
        id: format!("{id}/request"),
        protocol_instance_id: id.into(),
        body: Some(body),
        sequencing_id: Some(SequencingId::EventId(after)),
    }
}

/// `body`'s first workflow task, which carries update `u1`: `name` with `args`; the run, its
/// history so far and what the task produced.
fn first_task_update(
    body: fn(WorkflowContext) -> BoxFuture<Result<String, WorkflowError>>,
    name: &str,
    args: Option<serde_json::Value>,
) -> (WorkflowRun, History, Activation) {
    let hist = History::in_first_task();
    let mut run = run_of(body);
    let a = run
        .activate_with_messages(&hist.0, &[request("u1", name, args, 2)])
        .unwrap();
    (run, hist, a)
}

/// What a message of an activation says.
#[derive(Debug, PartialEq)]
enum Said {
    Accepted(String),
    Rejected(String, String),
    Succeeded(String, String),
    Failed(String, String),
}

fn said(messages: &[Message]) -> Vec<Said> {
    messages
        .iter()
        .map(|m| {
            let body = m.body.as_ref().unwrap();
            let id = m.protocol_instance_id.clone();
            if body.type_url.ends_with("Acceptance") {
                Said::Accepted(id)
            } else if body.type_url.ends_with("Rejection") {
                let r = Rejection::decode(body.value.as_slice()).unwrap();
                Said::Rejected(id, r.failure.unwrap().message)
            } else {
                let r = Response::decode(body.value.as_slice()).unwrap();
                match r.outcome.unwrap().value.unwrap() {
                    outcome::Value::Success(p) => {
                        Said::Succeeded(id, payload::display(&p.payloads[0]))
                    }
                    outcome::Value::Failure(f) => Said::Failed(id, f.message),
                }
            }
        })
        .collect()
}

/// Writes the events the engine writes for an activation's commands, in command order.
fn record(hist: &mut History, a: &Activation) {
    hist.completed();
    for c in &a.commands {
        match &c.attributes {
            Some(CommandAttributes::StartTimerCommandAttributes(t)) => {
                hist.timer_started(&t.timer_id);
            }
            Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(s)) => {
                let ty = s.activity_type.as_ref().unwrap().name.clone();
                hist.scheduled(&s.activity_id, &ty);
            }
            Some(CommandAttributes::CompleteWorkflowExecutionCommandAttributes(_)) => {
                hist.push(EventType::WorkflowExecutionCompleted, None);
            }
            Some(CommandAttributes::ProtocolMessageCommandAttributes(p)) => {
                let m = a.messages.iter().find(|m| m.id == p.message_id).unwrap();
                let body = m.body.as_ref().unwrap();
                if body.type_url.ends_with("Acceptance") {
                    let acc = Acceptance::decode(body.value.as_slice()).unwrap();
                    hist.push(
                        EventType::WorkflowExecutionUpdateAccepted,
                        Some(
                            EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(
                                h::WorkflowExecutionUpdateAcceptedEventAttributes {
                                    protocol_instance_id: m.protocol_instance_id.clone(),
                                    accepted_request_message_id: acc.accepted_request_message_id,
                                    accepted_request_sequencing_event_id: acc
                                        .accepted_request_sequencing_event_id,
                                    accepted_request: acc.accepted_request,
                                },
                            ),
                        ),
                    );
                } else {
                    let resp = Response::decode(body.value.as_slice()).unwrap();
                    hist.push(
                        EventType::WorkflowExecutionUpdateCompleted,
                        Some(
                            EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(
                                h::WorkflowExecutionUpdateCompletedEventAttributes {
                                    meta: resp.meta,
                                    accepted_event_id: 0,
                                    outcome: resp.outcome,
                                },
                            ),
                        ),
                    );
                }
            }
            other => panic!("no event written for {other:?} in these tests"),
        }
    }
}

/// Registers a `set` handler that sleeps `secs` of workflow time, then answers its argument.
fn set_after_sleeping(ctx: &WorkflowContext, secs: u64) {
    let c = ctx.clone();
    ctx.on_update(SET, move |n: u32| {
        let c = c.clone();
        async move {
            c.sleep(Duration::from_secs(secs))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(n)
        }
    });
}

/// Registers `set` (returns the old value; the validator refuses 0), then waits an hour and
/// returns the value.
fn holder(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let value = Arc::new(parking_lot::Mutex::new(1u32));
        let v = value.clone();
        ctx.on_update(SET, move |new: u32| {
            let v = v.clone();
            async move { Ok::<_, String>(std::mem::replace(&mut *v.lock(), new)) }
        })
        .validator(|new: &u32| {
            if *new == 0 {
                Err("zero is not a value")
            } else {
                Ok(())
            }
        });
        ctx.sleep(Duration::from_secs(3600)).await?;
        let last = *value.lock();
        Ok(last.to_string())
    })
}

/// The non-determinism `body` meets replaying a history in which `holder` accepted and
/// completed update `u1` (`set` 5) in its first workflow task.
fn replayed_after_holder_set_5(
    body: fn(WorkflowContext) -> BoxFuture<Result<String, WorkflowError>>,
) -> String {
    let (_, mut hist, a) = first_task_update(holder, "set", Some(5.into()));
    record(&mut hist, &a);
    hist.task();
    let err = run_of(body)
        .activate_with_messages(&hist.0, &[])
        .unwrap_err();
    let ActivationError::NonDeterminism(msg) = err else {
        panic!("expected non-determinism, got {err:?}");
    };
    msg
}

#[test]
fn an_update_in_the_first_task_reaches_the_handler_the_body_registers_and_replays() {
    let (run, mut hist, a) = first_task_update(holder, "set", Some(5.into()));
    // The body runs first (registering the handler), then the update is accepted and its
    // handler, which does not wait, completes in the same task.
    assert_eq!(
        kinds(&a.commands),
        vec![
            CommandType::StartTimer,
            CommandType::ProtocolMessage,
            CommandType::ProtocolMessage
        ]
    );
    assert_eq!(
        said(&a.messages),
        vec![
            Said::Accepted("u1".into()),
            Said::Succeeded("u1".into(), "1".into())
        ]
    );
    record(&mut hist, &a);
    // The timer fires: the body returns the value the update set, on the cached run and on a
    // fresh one that replays the update from the history.
    let fired = hist.push(
        EventType::TimerFired,
        Some(EventAttributes::TimerFiredEventAttributes(
            h::TimerFiredEventAttributes {
                timer_id: "1".into(),
                started_event_id: 5,
            },
        )),
    );
    assert!(fired > 0);
    hist.task();
    for mut r in [run, run_of(holder)] {
        let cmds = r.activate(&hist.0).unwrap();
        assert_eq!(kinds(&cmds), vec![CommandType::CompleteWorkflowExecution]);
        assert_eq!(completed_with(&cmds), "\"5\"");
    }
}

#[test]
fn a_validator_that_refuses_rejects_and_nothing_is_commanded() {
    let (_, _, a) = first_task_update(holder, "set", Some(0.into()));
    assert_eq!(kinds(&a.commands), vec![CommandType::StartTimer]);
    assert_eq!(
        said(&a.messages),
        vec![Said::Rejected("u1".into(), "zero is not a value".into())]
    );
}

#[test]
fn an_unknown_name_is_rejected_listing_the_known_ones() {
    let (_, _, a) = first_task_update(holder, "nope", None);
    assert_eq!(kinds(&a.commands), vec![CommandType::StartTimer]);
    assert_eq!(
        said(&a.messages),
        vec![Said::Rejected(
            "u1".into(),
            "unknown update `nope`; the workflow's update handlers: set".into()
        )]
    );
}

#[test]
fn an_argument_that_does_not_decode_is_rejected_naming_the_update_and_the_type() {
    let (_, _, a) = first_task_update(holder, "set", Some("five".into()));
    let [Said::Rejected(id, why)] = &said(&a.messages)[..] else {
        panic!("expected one rejection, got {:?}", said(&a.messages));
    };
    assert_eq!(id, "u1");
    assert!(
        why.starts_with("update `set` carries an argument that does not decode into `u32`: "),
        "{why}"
    );
}

#[test]
fn a_validator_that_panics_rejects() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.on_update(SET, |n: u32| async move { Ok::<_, String>(n) })
                .validator(|_: &u32| -> Result<(), String> { panic!("validator blew up") });
            ctx.sleep(Duration::from_secs(60)).await?;
            Ok(String::new())
        })
    }
    let (_, _, a) = first_task_update(body, "set", Some(1.into()));
    assert_eq!(
        said(&a.messages),
        vec![Said::Rejected(
            "u1".into(),
            "the validator of update `set` panicked: validator blew up".into()
        )]
    );
}

/// Registers `echo`, whose handler calls the echo activity and fails on an empty argument.
fn echoer(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
    Box::pin(async move {
        let c = ctx.clone();
        ctx.on_update(ECHO, move |s: String| {
            let c = c.clone();
            async move {
                if s.is_empty() {
                    return Err("nothing to echo".to_string());
                }
                c.activity(Echo, s).await.map_err(|e| e.to_string())
            }
        });
        ctx.sleep(Duration::from_secs(3600)).await?;
        Ok(String::new())
    })
}

#[test]
fn a_handler_that_runs_an_activity_completes_when_it_resolves_and_replays() {
    let (run, mut hist, a) = first_task_update(echoer, "echo", Some("hi".into()));
    assert_eq!(
        kinds(&a.commands),
        vec![
            CommandType::StartTimer,
            CommandType::ProtocolMessage,
            CommandType::ScheduleActivityTask
        ]
    );
    assert_eq!(said(&a.messages), vec![Said::Accepted("u1".into())]);
    record(&mut hist, &a);
    let scheduled = hist.0.len() as i64;
    hist.activity_completed(scheduled, "hi!");
    hist.task();
    for mut r in [run, run_of(echoer)] {
        let a = r.activate_with_messages(&hist.0, &[]).unwrap();
        assert_eq!(kinds(&a.commands), vec![CommandType::ProtocolMessage]);
        assert_eq!(
            said(&a.messages),
            vec![Said::Succeeded("u1".into(), "\"hi!\"".into())]
        );
    }
}

#[test]
fn a_handler_error_is_a_failed_outcome() {
    let (_, _, a) = first_task_update(echoer, "echo", Some("".into()));
    assert_eq!(
        said(&a.messages),
        vec![
            Said::Accepted("u1".into()),
            Said::Failed("u1".into(), "nothing to echo".into())
        ]
    );
}

#[test]
fn validators_do_not_run_on_replay() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.on_update(SET, |n: u32| async move { Ok::<_, String>(n) })
                .validator(|_: &u32| {
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(())
                });
            ctx.sleep(Duration::from_secs(60)).await?;
            Ok(String::new())
        })
    }
    let (_, mut hist, a) = first_task_update(body, "set", Some(3.into()));
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    record(&mut hist, &a);
    hist.task();
    let replayed = run_of(body).activate_with_messages(&hist.0, &[]).unwrap();
    assert!(replayed.commands.is_empty(), "{:?}", replayed.commands);
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        1,
        "the validator ran on replay"
    );
}

#[test]
fn an_accepted_update_without_a_handler_on_replay_is_non_determinism() {
    fn no_handler(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.sleep(Duration::from_secs(3600)).await?;
            Ok(String::new())
        })
    }
    let msg = replayed_after_holder_set_5(no_handler);
    assert!(
        msg.contains("accepts update `set` (id \"u1\")") && msg.contains("no handler"),
        "{msg}"
    );
}

#[test]
fn the_same_update_twice_in_a_task_is_handled_once() {
    let hist = History::in_first_task();
    let mut run = run_of(holder);
    let msg = request("u1", "set", Some(5.into()), 2);
    let a = run
        .activate_with_messages(&hist.0, &[msg.clone(), msg])
        .unwrap();
    assert_eq!(
        said(&a.messages),
        vec![
            Said::Accepted("u1".into()),
            Said::Succeeded("u1".into(), "1".into())
        ]
    );
}

#[test]
fn a_body_that_returns_drops_the_handlers_still_running() {
    fn quick(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            set_after_sleeping(&ctx, 60);
            ctx.sleep(Duration::from_secs(1)).await?;
            Ok("done".into())
        })
    }
    let (mut run, mut hist, a) = first_task_update(quick, "set", Some(5.into()));
    assert_eq!(
        kinds(&a.commands),
        vec![
            CommandType::StartTimer,
            CommandType::ProtocolMessage,
            CommandType::StartTimer
        ]
    );
    record(&mut hist, &a);
    hist.push(
        EventType::TimerFired,
        Some(EventAttributes::TimerFiredEventAttributes(
            h::TimerFiredEventAttributes {
                timer_id: "1".into(),
                started_event_id: 5,
            },
        )),
    );
    hist.task();
    let (a, logged) = logs_of(|| run.activate_with_messages(&hist.0, &[]).unwrap());
    // The body returns; the handler, still sleeping, gets no response (the engine answers its
    // caller with a failure at the close), and a warning names it.
    assert_eq!(
        kinds(&a.commands),
        vec![CommandType::CompleteWorkflowExecution]
    );
    assert!(a.messages.is_empty(), "{:?}", said(&a.messages));
    assert_eq!(logged.matches("still running").count(), 1, "{logged}");
    assert!(logged.contains("`set` (id \"u1\")"), "{logged}");
    // Replay says nothing.
    record(&mut hist, &a);
    let (_, replayed) = logs_of(|| run_of(quick).activate(&hist.0).unwrap());
    assert!(!replayed.contains("still running"), "{replayed}");
}

#[test]
fn an_update_on_a_cancel_requested_run_is_delivered_and_its_root_context_calls_are_cancelled() {
    let mut hist = History::in_first_task();
    let mut run = run_of(echoer);
    let a = run.activate_with_messages(&hist.0, &[]).unwrap();
    record(&mut hist, &a);
    hist.push(EventType::WorkflowExecutionCancelRequested, None);
    hist.task();
    let a = run
        .activate_with_messages(&hist.0, &[request("u1", "echo", Some("hi".into()), 6)])
        .unwrap();
    // The handler is registered, so the update is taken before the body sees the cancel; its
    // activity, called on the cancelled root context, is cancelled at once.
    assert_eq!(
        said(&a.messages),
        vec![
            Said::Accepted("u1".into()),
            Said::Failed("u1".into(), "activity `echo` was cancelled".into())
        ]
    );
    assert_eq!(
        kinds(&a.commands),
        vec![
            CommandType::ProtocolMessage,
            CommandType::ScheduleActivityTask,
            CommandType::RequestCancelActivityTask,
            CommandType::ProtocolMessage,
            CommandType::CancelTimer,
            CommandType::CancelWorkflowExecution
        ]
    );
}

#[test]
fn a_handler_that_issues_other_commands_on_replay_is_non_determinism_naming_both() {
    fn sleeps_first(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            set_after_sleeping(&ctx, 5);
            ctx.sleep(Duration::from_secs(3600)).await?;
            Ok(String::new())
        })
    }
    let msg = replayed_after_holder_set_5(sleeps_first);
    assert!(
        msg.contains("WorkflowExecutionUpdateCompleted (update id \"u1\")")
            && msg.contains("StartTimer (timer id 2"),
        "{msg}"
    );
}

#[test]
fn an_update_waiting_for_a_handler_when_the_body_returns_is_rejected() {
    fn returns_at_once(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.on_update(SET, |n: u32| async move { Ok::<_, String>(n) });
            Ok("done".into())
        })
    }
    let (_, _, a) = first_task_update(returns_at_once, "set", Some(5.into()));
    assert_eq!(
        kinds(&a.commands),
        vec![CommandType::CompleteWorkflowExecution]
    );
    assert_eq!(
        said(&a.messages),
        vec![Said::Rejected(
            "u1".into(),
            "the workflow returned before it could handle update `set`".into()
        )]
    );
}

#[test]
fn a_handler_that_panics_fails_the_workflow_task_naming_the_update() {
    fn body(ctx: WorkflowContext) -> BoxFuture<Result<String, WorkflowError>> {
        Box::pin(async move {
            ctx.on_update(SET, |_: u32| async move {
                if true {
                    panic!("handler blew up");
                }
                Ok::<_, String>(0)
            });
            ctx.sleep(Duration::from_secs(60)).await?;
            Ok(String::new())
        })
    }
    let hist = History::in_first_task();
    let err = run_of(body)
        .activate_with_messages(&hist.0, &[request("u1", "set", Some(1.into()), 2)])
        .unwrap_err();
    assert_eq!(
        err,
        ActivationError::Panic("the handler of update `set` panicked: handler blew up".into())
    );
}
