//! A database with rows that do not decode, as an older dacapo could leave it: the engine
//! opens it, serves every other run, and answers for the damaged ones as the store's
//! `DESIGN.md` (section 9.1) says.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::{HistoryEventFilterType, WorkflowExecutionStatus};
use crate::proto::failure::Failure;
use crate::proto::history::WorkflowTaskFailedEventAttributes;
use crate::store::{DamagedRow, ExecutionRecord, SqliteStore, Store, WorkflowTaskRecord};
use prost::Message;
use std::path::Path;

/// A failure chain as deep as a request may carry, which an older dacapo stored as it came.
fn chain(depth: usize) -> Failure {
    let mut failure: Option<Failure> = None;
    for level in (1..=depth).rev() {
        failure = Some(Failure {
            message: format!("level {level}"),
            cause: failure.map(Box::new),
            ..Default::default()
        });
    }
    failure.unwrap_or_default()
}

fn sql(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// What an older dacapo wrote for a `RespondWorkflowTaskFailed` with a 100-deep failure on the
/// started task of `run_id`: the failed event (which no longer decodes), a new scheduled task,
/// and the record pointing at it.
fn write_poisoned_task_failure(path: &Path, run_id: &str) {
    let conn = sql(path);
    let bytes: Vec<u8> = conn
        .query_row(
            "SELECT record FROM executions WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    let mut rec = ExecutionRecord::decode(bytes.as_slice()).unwrap();
    let wft = rec.workflow_task.expect("a started task");
    let failed = HistoryEvent {
        event_id: rec.next_event_id,
        event_type: EventType::WorkflowTaskFailed as i32,
        task_id: 1,
        event_time: Some(crate::engine::clock::ts(1)),
        attributes: Some(EventAttributes::WorkflowTaskFailedEventAttributes(
            WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                started_event_id: wft.started_event_id,
                failure: Some(chain(100)),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let scheduled = HistoryEvent {
        event_id: rec.next_event_id + 1,
        event_type: EventType::WorkflowTaskScheduled as i32,
        task_id: 2,
        event_time: Some(crate::engine::clock::ts(1)),
        attributes: Some(EventAttributes::WorkflowTaskScheduledEventAttributes(
            Default::default(),
        )),
        ..Default::default()
    };
    assert!(HistoryEvent::decode(failed.encode_to_vec().as_slice()).is_err());
    for event in [&failed, &scheduled] {
        conn.execute(
            "INSERT INTO history_events (run_id, event_id, event) VALUES (?1, ?2, ?3)",
            rusqlite::params![run_id, event.event_id, event.encode_to_vec()],
        )
        .unwrap();
    }
    rec.next_event_id += 2;
    rec.workflow_task = Some(WorkflowTaskRecord {
        scheduled_event_id: scheduled.event_id,
        started_event_id: 0,
        attempt: 2,
        scheduled_time_ms: wft.scheduled_time_ms,
        started_time_ms: 0,
        not_before_ms: 0,
    });
    conn.execute(
        "UPDATE executions SET record = ?2 WHERE run_id = ?1",
        rusqlite::params![run_id, rec.encode_to_vec()],
    )
    .unwrap();
}

fn garbage(path: &Path, table: &str, column: &str, run_id: &str) {
    let changed = sql(path)
        .execute(
            &format!("UPDATE {table} SET {column} = X'ffffffff' WHERE run_id = ?1"),
            [run_id],
        )
        .unwrap();
    assert_eq!(changed, 1, "one {table} row of {run_id}");
}

struct Runs {
    bad_event: String,
    bad_held: String,
    bad_activity: String,
    bad_timer: String,
}

/// Writes a file with four damaged open runs and two healthy ones ("healthy-1", "healthy-2",
/// each with a workflow task waiting).
async fn damaged_file(path: &Path) -> Runs {
    let h = Harness::on(Engine::open_sqlite(path, config()).unwrap());
    let bad_event = h.start("bad-event").await;
    h.poll_wft().await;
    let bad_held = h.start("bad-held").await;
    h.poll_wft().await;
    let req = SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: "bad-held".into(),
            run_id: String::new(),
        }),
        signal_name: "held".into(),
        ..Default::default()
    };
    h.engine
        .signal_workflow_execution(Request::new(req))
        .await
        .unwrap();
    let bad_activity = h.start("bad-activity").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("a1", "work", 0)])
        .await
        .unwrap();
    h.poll_activity().await;
    let bad_timer = h.start("bad-timer").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("t1", 3_600_000)])
        .await
        .unwrap();
    h.start("healthy-1").await;
    h.start("healthy-2").await;
    drop(h);
    write_poisoned_task_failure(path, &bad_event);
    garbage(path, "held_events", "event", &bad_held);
    garbage(path, "activities", "record", &bad_activity);
    garbage(path, "timers", "record", &bad_timer);
    Runs {
        bad_event,
        bad_held,
        bad_activity,
        bad_timer,
    }
}

fn history_request(workflow_id: &str, page: i32) -> GetWorkflowExecutionHistoryRequest {
    GetWorkflowExecutionHistoryRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
        maximum_page_size: page,
        ..Default::default()
    }
}

async fn read(h: &Harness, req: GetWorkflowExecutionHistoryRequest) -> Result<Vec<i64>, Status> {
    let resp = h
        .engine
        .get_workflow_execution_history(Request::new(req))
        .await?;
    let events = resp.into_inner().history.unwrap_or_default().events;
    Ok(events.iter().map(|e| e.event_id).collect())
}

fn signal(workflow_id: &str) -> SignalWorkflowExecutionRequest {
    SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
        signal_name: "s".into(),
        ..Default::default()
    }
}

#[test]
fn the_store_loads_a_file_with_damaged_rows_and_names_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    let runs = rt.block_on(damaged_file(&path));
    let store = SqliteStore::open(&path).unwrap();
    let snapshot = store.load().expect("the file loads");
    let mut damaged: Vec<(String, DamagedRow)> = snapshot
        .damaged
        .iter()
        .map(|d| (d.run_id.clone(), d.row.clone()))
        .collect();
    damaged.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (runs.bad_event.clone(), DamagedRow::HistoryEvent(4)),
        (runs.bad_held.clone(), DamagedRow::HeldEvent(0)),
        (runs.bad_activity.clone(), DamagedRow::Activity(5)),
        (runs.bad_timer.clone(), DamagedRow::Timer("t1".into())),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(damaged, expected);
    let event_damage = snapshot
        .damaged
        .iter()
        .find(|d| d.run_id == runs.bad_event)
        .unwrap();
    assert!(
        event_damage.reason.contains("recursion limit reached")
            && event_damage.reason.contains("times"),
        "the decoder's error, told briefly: {}",
        event_damage.reason
    );
    assert_eq!(snapshot.open_runs.len(), 6, "every open run is loaded");
    let rows = |run_id: &str| {
        snapshot
            .open_runs
            .iter()
            .find(|r| r.run_id == run_id)
            .unwrap()
    };
    assert_eq!(rows(&runs.bad_event).events.len(), 5, "kept as stored");
    assert!(rows(&runs.bad_held).held_events.is_empty());
    let stand_in = &rows(&runs.bad_activity).activities[0];
    assert_eq!(
        (stand_in.activity_id.as_str(), stand_in.scheduled_event_id),
        ("a1", 5)
    );
    assert_eq!(rows(&runs.bad_timer).timers[0].timer_id, "t1");
    let err = store.verify().expect_err("verify lists the damage");
    let message = err.to_string();
    for needle in [
        format!("history event 4 of run {} does not decode", runs.bad_event),
        format!("held event 0 of run {} does not decode", runs.bad_held),
        format!("activity 5 of run {} does not decode", runs.bad_activity),
        format!("timer t1 of run {} does not decode", runs.bad_timer),
    ] {
        assert!(message.contains(&needle), "{needle} not in: {message}");
    }
}

#[tokio::test]
async fn an_engine_serves_a_file_with_damaged_runs_and_they_can_be_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    let runs = damaged_file(&path).await;
    let h = Harness::on(Engine::open_sqlite(&path, config()).expect("the file opens"));

    // Every other run is served: its history reads and its task is handed out.
    for id in ["healthy-1", "healthy-2"] {
        assert_eq!(
            h.types(id).await,
            [
                EventType::WorkflowExecutionStarted,
                EventType::WorkflowTaskScheduled
            ]
        );
    }
    let mut handed_out = Vec::new();
    for _ in 0..2 {
        let task = h.poll_wft().await;
        handed_out.push(task.workflow_execution.clone().unwrap().workflow_id);
        h.complete(&task, vec![complete_workflow()]).await.unwrap();
    }
    handed_out.sort();
    assert_eq!(handed_out, ["healthy-1", "healthy-2"]);
    // No task of a damaged run is handed out, though one of them has a task scheduled and
    // another an activity waiting.
    assert!(h.try_poll_wft().await.task_token.is_empty());
    assert!(h.try_poll_activity().await.task_token.is_empty());

    // A damaged run is described and listed as before.
    let info = h
        .describe("bad-event")
        .await
        .workflow_execution_info
        .unwrap();
    assert_eq!(info.status, WorkflowExecutionStatus::Running as i32);
    let listed = h
        .engine
        .list_workflow_executions(Request::new(ListWorkflowExecutionsRequest {
            namespace: NS.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .executions;
    assert_eq!(listed.len(), 6);
    let described = h.describe("bad-activity").await;
    assert_eq!(described.pending_activities[0].activity_id, "a1");

    // Its history reads up to the damaged event; a read that reaches it names it.
    assert_eq!(
        read(&h, history_request("bad-event", 3)).await.unwrap(),
        [1, 2, 3]
    );
    let err = expect_code(
        read(&h, history_request("bad-event", 0)).await,
        Code::DataLoss,
    );
    for needle in [
        runs.bad_event.as_str(),
        "history event 4",
        "bad-event",
        "recursion limit",
    ] {
        assert!(
            err.message().contains(needle),
            "{needle} not in: {}",
            err.message()
        );
    }
    assert_eq!(
        h.types("bad-held").await.len(),
        3,
        "the history of a run with a bad held event is whole"
    );

    // What would move it on is refused, naming the damage.
    for (id, row) in [
        ("bad-event", "history event 4"),
        ("bad-held", "held event 0"),
        ("bad-activity", "the activity scheduled by event 5"),
        ("bad-timer", "timer \"t1\""),
    ] {
        let refused = h
            .engine
            .signal_workflow_execution(Request::new(signal(id)))
            .await;
        let err = expect_code(refused, Code::FailedPrecondition);
        assert!(
            err.message().contains(row) && err.message().contains("damaged"),
            "{}",
            err.message()
        );
        expect_code(h.cancel(id, "").await, Code::FailedPrecondition);
    }

    // Terminating closes it; its pending rows go with it.
    for id in ["bad-event", "bad-held", "bad-activity", "bad-timer"] {
        h.terminate(id)
            .await
            .expect("a damaged run can be terminated");
        let info = h.describe(id).await.workflow_execution_info.unwrap();
        assert_eq!(info.status, WorkflowExecutionStatus::Terminated as i32);
    }
    let close = GetWorkflowExecutionHistoryRequest {
        history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
        ..history_request("bad-event", 0)
    };
    assert_eq!(read(&h, close.clone()).await.unwrap(), [6]);
    expect_code(
        read(&h, history_request("bad-event", 0)).await,
        Code::DataLoss,
    );
    assert_eq!(
        h.types("bad-held").await.last(),
        Some(&EventType::WorkflowExecutionTerminated)
    );
    drop(h);

    // Closed, the damaged run is found again only when its history is read.
    let h = Harness::on(Engine::open_sqlite(&path, config()).expect("the file opens again"));
    assert_eq!(read(&h, close).await.unwrap(), [6]);
    let err = expect_code(
        read(&h, history_request("bad-event", 0)).await,
        Code::DataLoss,
    );
    assert!(
        err.message().contains("history event 4"),
        "{}",
        err.message()
    );
    assert_eq!(
        read(&h, history_request("bad-event", 3)).await.unwrap(),
        [1, 2, 3]
    );
    drop(h);
    let err = SqliteStore::open(&path)
        .unwrap()
        .verify()
        .expect_err("one damaged event is left");
    match err {
        crate::store::StoreError::Inconsistent { problems, .. } => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(&format!("history event 4 of run {}", runs.bad_event)));
        }
        other => panic!("expected the damaged event to be listed, got {other}"),
    }
}
