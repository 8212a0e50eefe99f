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

/// Builds, from the checked-in dump, the file that dacapo wrote at schema version 1.
fn version_1_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("written-by-v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../../store/testdata/schema-v1.sql"))
        .unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the fixture is a version-1 file");
    path
}

#[tokio::test]
async fn a_database_written_by_schema_version_1_is_upgraded_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = version_1_file(dir.path());
    {
        let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
        assert_eq!(
            h.types("finished").await.last(),
            Some(&E::WorkflowExecutionCompleted),
            "a closed run's history reads back"
        );
        // The open run continues where version 1 left it: its late timer fires at once and
        // its activity is handed out.
        let act = h.poll_activity().await;
        assert_eq!(act.activity_id, "1");
        let task = h.poll_wft().await;
        let fired = task.history.as_ref().unwrap().events.iter();
        assert!(fired.clone().any(|e| event_type(e) == E::TimerFired));
        h.activity_completed(&act.task_token).await.unwrap();
        h.complete(&task, vec![]).await.unwrap();
        let task = h.poll_wft().await;
        h.complete(&task, vec![complete_workflow()]).await.unwrap();
        assert_eq!(
            h.types("durable").await.last(),
            Some(&E::WorkflowExecutionCompleted)
        );
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::store::SqliteStore::SCHEMA_VERSION);
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_ne!(app, 0, "the upgrade marks the file as dacapo's");
    drop(conn);
    let store = crate::store::SqliteStore::open(&path).unwrap();
    let report = store.verify().unwrap();
    assert_eq!((report.runs, report.open_runs), (2, 0));
}

#[test]
fn a_newer_schema_version_is_refused_naming_the_file_and_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-the-future.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (7);",
        )
        .unwrap();
    }
    let message = Engine::open_sqlite(&path, config())
        .unwrap_err()
        .to_string();
    let supported = crate::store::SqliteStore::SCHEMA_VERSION;
    assert!(message.contains("from-the-future.db"), "{message}");
    assert!(message.contains("schema version 7"), "{message}");
    assert!(
        message.contains(&format!("up to version {supported}")),
        "{message}"
    );
}

/// A store whose commits can be held back, to look at what a crash at that moment would keep.
#[derive(Debug, Default)]
struct GatedStore {
    inner: MemoryStore,
    closed: parking_lot::Mutex<bool>,
    opened: parking_lot::Condvar,
}

impl GatedStore {
    fn hold(&self) {
        *self.closed.lock() = true;
    }
    fn release(&self) {
        *self.closed.lock() = false;
        self.opened.notify_all();
    }
    /// Whether the committed state (what survives a crash now) records a cancel of the run.
    fn durable_cancel(&self, run_id: &str) -> bool {
        let snapshot = self.inner.load().unwrap();
        snapshot
            .executions
            .iter()
            .any(|r| r.run_id == run_id && r.cancel_requested)
    }
}

impl Store for GatedStore {
    fn load(&self) -> Result<crate::store::Snapshot, StoreError> {
        self.inner.load()
    }
    fn commit(&self, ops: &[crate::store::WriteOp]) -> Result<(), StoreError> {
        let mut closed = self.closed.lock();
        while *closed {
            self.opened.wait(&mut closed);
        }
        drop(closed);
        self.inner.commit(ops)
    }
    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        self.inner.read_history(run_id, first_event_id, max_events)
    }
}

/// A cancel answered "already requested" (or "already closed") must not be answered before the
/// change it relies on is durable: a crash in between would lose a cancel that was acknowledged.
#[tokio::test]
async fn a_repeated_cancel_is_answered_only_once_the_first_is_durable() {
    let store = Arc::new(GatedStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    let run_id = h.start("twice").await;
    store.hold();
    let second = async {
        // By now the first cancel is applied in memory and waits for its commit.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let answered =
            tokio::time::timeout(std::time::Duration::from_millis(300), h.cancel("twice", ""))
                .await;
        let durable = store.durable_cancel(&run_id);
        store.release();
        (answered.is_ok(), durable)
    };
    let (first, (answered_early, durable)) = tokio::join!(h.cancel("twice", ""), second);
    first.unwrap();
    assert!(!durable, "the commit was held back");
    assert!(
        !answered_early,
        "the repeated cancel was acknowledged while no cancel was durable"
    );
    h.cancel("twice", "").await.unwrap();
    assert!(store.durable_cancel(&run_id));
}

#[tokio::test]
async fn a_cancel_of_a_run_that_is_closing_waits_for_the_close_to_be_durable() {
    let store = Arc::new(GatedStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    let run_id = h.start("closing").await;
    let task = h.poll_wft().await;
    store.hold();
    let cancel =
        async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let answered = tokio::time::timeout(
                std::time::Duration::from_millis(300),
                h.cancel("closing", ""),
            )
            .await;
            let closed =
                store.inner.load().unwrap().executions.iter().any(|r| {
                    r.run_id == run_id && r.status != WorkflowExecutionStatus::Running as i32
                });
            store.release();
            (answered.is_ok(), closed)
        };
    let (completed, (answered_early, closed)) =
        tokio::join!(h.complete(&task, vec![complete_workflow()]), cancel);
    completed.unwrap();
    assert!(!closed, "the commit was held back");
    assert!(
        !answered_early,
        "a cancel was acknowledged as a no-op on a close that was not durable"
    );
}

#[tokio::test]
async fn already_started_is_answered_only_once_the_start_is_durable() {
    let store = Arc::new(GatedStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    store.hold();
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let answered = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            h.engine
                .start_workflow_execution(Request::new(h.start_request("once"))),
        )
        .await;
        let durable = !store.inner.load().unwrap().executions.is_empty();
        store.release();
        (answered.is_ok(), durable)
    };
    let (first, (answered_early, durable)) = tokio::join!(h.start("once"), second);
    assert!(!first.is_empty());
    assert!(!durable, "the commit was held back");
    assert!(
        !answered_early,
        "\"already started\" was answered while the start it names was not durable"
    );
    let again = h
        .engine
        .start_workflow_execution(Request::new(h.start_request("once")))
        .await;
    expect_code(again, Code::AlreadyExists);
}

#[tokio::test]
async fn a_terminate_refused_as_already_completed_waits_for_the_close_to_be_durable() {
    let store = Arc::new(GatedStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    h.start("done").await;
    let task = h.poll_wft().await;
    store.hold();
    let terminate = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let answered =
            tokio::time::timeout(std::time::Duration::from_millis(300), h.terminate("done")).await;
        store.release();
        answered.is_ok()
    };
    let (completed, answered_early) =
        tokio::join!(h.complete(&task, vec![complete_workflow()]), terminate);
    completed.unwrap();
    assert!(
        !answered_early,
        "\"already completed\" was answered while the close was not durable"
    );
    expect_code(h.terminate("done").await, Code::NotFound);
}
