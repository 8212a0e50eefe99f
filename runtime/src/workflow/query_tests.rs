//! Query tests on hand-built histories: answers from the run's state, failures, and refusals of
//! everything that would change the run.

use super::context::WorkflowContext;
use super::executor::WorkflowRun;
use super::test_support::run_of;
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::message::{Query, Signal};
use crate::payload;
use crate::proto::CommandAttributes;
use crate::proto::common::Payload as RawPayload;
use crate::proto::enums::EventType;
use crate::test_support::{Echo, History};
use std::future::IntoFuture;
use std::time::Duration;

const ADD: Signal<u32> = Signal::new("add");
const TOTAL: Query<(), u32> = Query::new("total");
const TIMES: Query<u32, u32> = Query::new("times");
const FAILS: Query<(), u32> = Query::new("fails");

/// Sums the `add` signals until one of 0, answering `total` and `times` from the sum, and
/// `fails` with an error.
fn summer(ctx: WorkflowContext) -> BoxFuture<Result<u32, WorkflowError>> {
    Box::pin(async move {
        let total = ctx.state(0u32);
        ctx.on_query(TOTAL, {
            let total = total.clone();
            move |()| Ok::<_, String>(total.get())
        });
        ctx.on_query(TIMES, {
            let total = total.clone();
            move |k: u32| Ok::<_, String>(total.with(|t| t * k))
        });
        ctx.on_query(FAILS, |()| Err::<u32, _>("the books are closed"));
        let mut adds = ctx.signal_channel(ADD);
        loop {
            let n = adds.recv().await?;
            if n == 0 {
                return Ok(total.get());
            }
            total.update(|t| *t += n);
        }
    })
}

fn ask(run: &WorkflowRun, name: &str, args: &[RawPayload]) -> Result<String, String> {
    run.answer_query(name, args)
        .map(|answer| payload::display(&answer[0]))
}

fn arg(value: &impl serde::Serialize) -> Vec<RawPayload> {
    vec![payload::encode(value).unwrap()]
}

/// A history of `summer` that started and received `values`, one workflow task each.
fn summer_history(values: &[u32]) -> (WorkflowRun, History) {
    let mut hist = History::in_first_task();
    let mut run = run_of(summer);
    run.activate(&hist.0).unwrap();
    for v in values {
        hist.completed();
        hist.signaled(ADD.name(), v);
        hist.task();
        run.activate(&hist.0).unwrap();
    }
    (run, hist)
}

#[test]
fn a_query_answers_from_the_state_the_signals_so_far_made() {
    let (run, _) = summer_history(&[]);
    assert_eq!(ask(&run, "total", &[]).as_deref(), Ok("0"));
    let (run, _) = summer_history(&[3, 4]);
    assert_eq!(ask(&run, "total", &[]).as_deref(), Ok("7"));
    assert_eq!(ask(&run, "times", &arg(&10u32)).as_deref(), Ok("70"));
}

#[test]
fn a_handler_error_fails_the_query_with_its_text() {
    let (run, _) = summer_history(&[1]);
    assert_eq!(
        ask(&run, "fails", &[]),
        Err("the books are closed".to_string())
    );
    assert_eq!(ask(&run, "total", &[]).as_deref(), Ok("1"));
}

#[test]
fn an_unknown_query_fails_listing_the_known_names_and_stack_trace_is_unsupported() {
    let (run, _) = summer_history(&[]);
    assert_eq!(
        ask(&run, "nope", &[]),
        Err("unknown queryType nope. KnownQueryTypes=[fails, times, total]".to_string())
    );
    let err = ask(&run, "__stack_trace", &[]).unwrap_err();
    assert!(
        err.contains("`__stack_trace` query is not supported"),
        "{err}"
    );
}

#[test]
fn arguments_that_do_not_decode_fail_the_query_naming_it_and_the_type() {
    let (run, _) = summer_history(&[]);
    let err = ask(&run, "times", &arg(&"ten")).unwrap_err();
    assert!(
        err.contains("query `times`") && err.contains("`u32`"),
        "{err}"
    );
}

#[test]
fn a_panicking_handler_fails_its_query_and_the_handler_stays_registered() {
    const BOOM: Query<(), u32> = Query::new("boom");
    let hist = History::in_first_task();
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            ctx.on_query(BOOM, |()| -> Result<u32, String> { panic!("handler bug") });
            ctx.cancelled().await;
            Ok(0)
        })
    });
    run.activate(&hist.0).unwrap();
    for _ in 0..2 {
        let err = ask(&run, "boom", &[]).unwrap_err();
        assert_eq!(err, "query handler `boom` panicked: handler bug");
    }
}

#[test]
fn a_later_registration_of_a_name_replaces_the_handler() {
    let hist = History::in_first_task();
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            ctx.on_query(TOTAL, |()| Ok::<_, String>(1));
            ctx.on_query(TOTAL, |()| Ok::<_, String>(2));
            ctx.cancelled().await;
            Ok(0)
        })
    });
    run.activate(&hist.0).unwrap();
    assert_eq!(ask(&run, "total", &[]).as_deref(), Ok("2"));
}

/// Each handler tries one thing that would change the run.
const SET: Query<(), u32> = Query::new("set");
const UPDATE: Query<(), u32> = Query::new("update");
const ACTIVITY: Query<(), u32> = Query::new("activity");
const SLEEP: Query<(), u32> = Query::new("sleep");
const READ_SIGNAL: Query<(), u32> = Query::new("read_signal");
const RANDOM: Query<(), u32> = Query::new("random");
const REGISTER: Query<(), u32> = Query::new("register");
const REGISTER_UPDATE: Query<(), u32> = Query::new("register_update");
const BUMP: crate::message::Update<u32, u32> = crate::message::Update::new("bump");

/// Registers the mutating handlers, sleeps, then reads an `add` signal without waiting and
/// draws a random value: its result shows the state, the signal read and the generator, so a
/// query that changed any of them would change it.
fn mutator(ctx: WorkflowContext) -> BoxFuture<Result<u32, WorkflowError>> {
    Box::pin(async move {
        let total = ctx.state(5u32);
        let state = total.clone();
        ctx.on_query(SET, move |()| {
            state.set(99);
            Ok::<_, String>(state.get())
        });
        let state = total.clone();
        ctx.on_query(UPDATE, move |()| {
            state.update(|t| *t = 100);
            Ok::<_, String>(state.get())
        });
        let c = ctx.clone();
        ctx.on_query(ACTIVITY, move |()| {
            let call = c.activity(Echo, "x".to_string()).into_future();
            futures::executor::block_on(call)
                .map(|_| 0)
                .map_err(|e| e.to_string())
        });
        let c = ctx.clone();
        ctx.on_query(SLEEP, move |()| {
            futures::executor::block_on(c.sleep(Duration::from_secs(1)))
                .map(|()| 0)
                .map_err(|e| e.to_string())
        });
        let c = ctx.clone();
        ctx.on_query(READ_SIGNAL, move |()| {
            Ok::<_, String>(c.signal_channel(ADD).try_recv().unwrap_or(1000))
        });
        let c = ctx.clone();
        ctx.on_query(RANDOM, move |()| Ok::<_, String>(c.random::<u32>()));
        let c = ctx.clone();
        ctx.on_query(REGISTER, move |()| {
            c.on_query(TOTAL, |()| Ok::<_, String>(0));
            Ok::<_, String>(0)
        });
        let c = ctx.clone();
        ctx.on_query(REGISTER_UPDATE, move |()| {
            c.on_update(BUMP, |n: u32| async move { Ok::<_, String>(n + 1) })
                .validator(|_: &u32| Ok::<_, String>(()));
            Ok::<_, String>(0)
        });
        ctx.sleep(Duration::from_secs(3600)).await?;
        let got = ctx.signal_channel(ADD).try_recv().unwrap_or(0);
        let random: u32 = ctx.random();
        Ok(random % 1000 * 10_000 + total.get() * 10 + got)
    })
}

#[test]
fn a_handler_that_tries_to_change_the_run_fails_its_query_and_changes_nothing() {
    let mut hist = History::in_first_task();
    let mut queried = run_of(mutator);
    queried.activate(&hist.0).unwrap();
    hist.completed();
    hist.timer_started("1");
    hist.signaled(ADD.name(), &1u32);
    hist.task();
    assert!(queried.activate(&hist.0).unwrap().is_empty());
    // The signal waits unread in the inbox, the body sleeps.
    let cases = [
        ("set", "change workflow state (`WorkflowState::set`)"),
        ("update", "change workflow state (`WorkflowState::update`)"),
        ("activity", "call activity `echo`"),
        ("sleep", "sleep (`ctx.sleep`)"),
        ("read_signal", "read signal `add`"),
        ("random", "draw a random value (`ctx.random`)"),
        ("register", "register a query handler (`total`)"),
        ("register_update", "register an update handler (`bump`)"),
    ];
    for (name, what) in cases {
        for _ in 0..2 {
            let err = ask(&queried, name, &[]).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "a query handler cannot {what}: queries must not change the workflow (query `{name}`)"
                )
            );
        }
    }
    assert!(
        ask(&queried, "total", &[])
            .unwrap_err()
            .contains("unknown queryType total"),
        "the registration from a query was refused"
    );
    hist.completed();
    hist.timer_fired("1");
    hist.task();
    let got = queried.activate(&hist.0).unwrap();
    let expected = run_of(mutator).activate(&hist.0).unwrap();
    assert_eq!(
        got, expected,
        "the queried run issues exactly what an unqueried one does"
    );
    let Some(CommandAttributes::CompleteWorkflowExecutionCommandAttributes(c)) =
        got.last().and_then(|c| c.attributes.as_ref())
    else {
        panic!("the run did not complete: {got:?}");
    };
    let result: u32 = payload::decode(&c.result.as_ref().unwrap().payloads, 0).unwrap();
    assert_eq!(
        result % 10_000,
        51,
        "the state kept 5 and the body read the signal's 1"
    );
}

#[test]
fn a_replay_for_a_query_answers_a_closed_run_as_replay_and_sends_nothing() {
    const SAW_NEW_WORK: Query<(), bool> = Query::new("saw_new_work");
    let (_, mut hist) = summer_history(&[3, 4]);
    hist.completed();
    hist.signaled(ADD.name(), &0u32);
    hist.task();
    hist.completed();
    hist.push(EventType::WorkflowExecutionCompleted, None);
    let mut run = run_of(summer);
    run.replay_for_query(&hist.0, hist.0.len() as i64 - 2)
        .unwrap();
    assert_eq!(ask(&run, "total", &[]).as_deref(), Ok("7"));
    // The last task ran as a replay too, though no WorkflowTaskCompleted follows its start.
    let last = History::in_first_task();
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            let fresh = ctx.state(!ctx.is_replaying());
            ctx.on_query(SAW_NEW_WORK, move |()| Ok::<_, String>(fresh.get()));
            ctx.cancelled().await;
            Ok(0)
        })
    });
    run.replay_for_query(&last.0, 3).unwrap();
    assert_eq!(ask(&run, "saw_new_work", &[]).as_deref(), Ok("false"));
}

#[test]
fn a_replay_for_a_query_stops_at_the_last_completed_task() {
    // Two signals handled, a third delivered to a task that is running now.
    let (_, mut hist) = summer_history(&[3, 4]);
    let last_completed = hist.0.len() as i64;
    hist.completed();
    hist.signaled(ADD.name(), &5u32);
    hist.task();
    let mut run = run_of(summer);
    run.replay_for_query(&hist.0, last_completed).unwrap();
    assert_eq!(
        ask(&run, "total", &[]).as_deref(),
        Ok("7"),
        "the task in flight has not delivered its signal yet"
    );
}

#[test]
fn a_replay_for_a_query_checks_the_last_tasks_commands() {
    // The code sleeps first, but the history's only task recorded no command at all.
    let mut hist = History::in_first_task();
    hist.completed();
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            ctx.sleep(Duration::from_secs(1)).await?;
            Ok(0)
        })
    });
    let err = run.replay_for_query(&hist.0, 3).unwrap_err();
    assert!(
        err.to_string().contains("issued StartTimer") && err.to_string().contains("event 3"),
        "{err}"
    );
    // And one whose recorded command differs is caught where it stands.
    hist.timer_started("1");
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            ctx.activity(Echo, "x".to_string()).await?;
            Ok(0)
        })
    });
    let err = run.replay_for_query(&hist.0, 3).unwrap_err();
    assert!(err.to_string().contains("non-deterministic"), "{err}");
}

#[test]
fn a_state_reader_answers_with_the_current_value() {
    const NAME: Query<(), String> = Query::new("name");
    let hist = History::in_first_task();
    let mut run = run_of(|ctx| {
        Box::pin(async move {
            let name = ctx.state("first".to_string());
            ctx.on_query(NAME, name.reader());
            name.set("second".to_string());
            ctx.cancelled().await;
            Ok(0)
        })
    });
    run.activate(&hist.0).unwrap();
    assert_eq!(ask(&run, "name", &[]).as_deref(), Ok("\"second\""));
}

#[test]
fn the_metadata_query_names_the_type_the_queries_and_the_signals_asked_for() {
    let (run, _) = summer_history(&[1]);
    let answer = run
        .answer_query("__temporal_workflow_metadata", &[])
        .unwrap();
    let encoding = answer[0].metadata.get("encoding").map(Vec::as_slice);
    assert_eq!(encoding, Some(&b"json/protobuf"[..]));
    let message_type = answer[0].metadata.get("messageType").map(Vec::as_slice);
    assert_eq!(
        message_type,
        Some(&b"temporal.api.sdk.v1.WorkflowMetadata"[..])
    );
    let body: serde_json::Value = serde_json::from_slice(&answer[0].data).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"definition": {
            "type": "test",
            "queryDefinitions": [{"name": "fails"}, {"name": "times"}, {"name": "total"}],
            "signalDefinitions": [{"name": "add"}],
        }})
    );
}
