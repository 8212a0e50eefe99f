//! The SQLite engine across restarts, and how it reports unusable files.

use super::*;
use crate::engine::EngineError;
use crate::proto::enums::{EventType as E, PendingActivityState, WorkflowExecutionStatus};
use crate::store::{MemoryStore, Store, StoreError};
use std::sync::Arc;

#[tokio::test]
async fn sqlite_restart_resumes_runs_timers_and_activities() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dacapo.db");
    let before = {
        let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
        h.start("durable").await;
        h.start("finished").await;
        let task = h.poll_wft().await;
        let commands = vec![start_timer("t", 500), schedule_activity("1", "work", 0)];
        h.complete(&task, commands).await.unwrap();
        let task = h.poll_wft().await;
        h.complete(&task, vec![complete_workflow()]).await.unwrap();
        h.events("durable").await
    };
    // Every clone of the engine is gone: its threads stopped and the file is closed.
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    assert_eq!(
        h.events("durable").await,
        before,
        "history survives byte for byte"
    );
    let d = h.describe("durable").await;
    assert_eq!(
        d.workflow_execution_info.as_ref().map(|i| i.status),
        Some(WorkflowExecutionStatus::Running as i32)
    );
    assert_eq!(
        d.pending_activities[0].state,
        PendingActivityState::Scheduled as i32
    );
    let closed = h
        .describe("finished")
        .await
        .workflow_execution_info
        .unwrap();
    assert_eq!(closed.status, WorkflowExecutionStatus::Completed as i32);
    assert_eq!(
        h.types("finished").await.last(),
        Some(&E::WorkflowExecutionCompleted)
    );

    let act = h.poll_activity().await;
    assert_eq!(act.activity_id, "1", "the activity queue came back");
    let task = h.poll_wft().await;
    let history = task.history.as_ref().unwrap();
    assert!(
        history
            .events
            .iter()
            .any(|e| event_type(e) == E::TimerFired),
        "the timer fired"
    );
    h.activity_completed(&act.task_token).await.unwrap();
    h.complete(&task, vec![]).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![complete_workflow()]).await.unwrap();
    let count = CountWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: "ExecutionStatus = 'Completed'".into(),
    };
    let counted = h
        .engine
        .count_workflow_executions(Request::new(count))
        .await
        .unwrap();
    assert_eq!(counted.get_ref().count, 2);
}

#[tokio::test]
async fn a_started_task_is_timed_out_after_restart() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    {
        let h = Harness::on(Engine::with_store(Arc::clone(&store), config()).unwrap());
        let mut req = h.start_request("crash");
        req.workflow_task_timeout = Some(millis(100));
        h.engine
            .start_workflow_execution(Request::new(req))
            .await
            .unwrap();
        let _lost = h.poll_wft().await;
    }
    let h = Harness::on(Engine::with_store(store, config()).unwrap());
    let task = h.poll_wft().await;
    assert_eq!(task.attempt, 2);
    assert_eq!(h.types("crash").await[3], E::WorkflowTaskTimedOut);
}

#[test]
fn a_corrupt_file_gives_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(
        &path,
        b"this is not a database, just some text long enough to matter......",
    )
    .unwrap();
    let err = Engine::open_sqlite(&path, config()).unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::NotADatabase { .. })),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("garbage.db"), "{message}");
}

#[test]
fn an_unwritable_directory_gives_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("dacapo.db");
    let err = Engine::open_sqlite(&path, config()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("dacapo.db") && message.contains("missing-dir"),
        "{message}"
    );
}

#[test]
fn newer_or_foreign_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (99);")
            .unwrap();
    }
    let err = Engine::open_sqlite(&newer, config()).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Store(StoreError::SchemaVersion { found: 99, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer.db"), "{err}");

    let foreign = dir.path().join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE customers (id INTEGER);")
            .unwrap();
    }
    let err = Engine::open_sqlite(&foreign, config()).unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::NotADatabase { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_second_engine_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owned.db");
    let first = Engine::open_sqlite(&path, config()).unwrap();
    let err = Engine::open_sqlite(&path, config()).unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::InUse { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("owned.db"), "{err}");
    drop(first);
    Engine::open_sqlite(&path, config()).expect("free again once the first engine is gone");
}
