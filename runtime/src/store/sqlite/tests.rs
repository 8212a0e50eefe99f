//! The SQLite store on its own: settings, schema versions, unusable files, the full check and
//! group commit.

use super::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use super::*;
use crate::store::StoreError;
use std::path::Path;

fn open_err(path: &Path) -> StoreError {
    SqliteStore::open(path).expect_err("the file should be refused")
}

fn assert_names(err: &StoreError, path: &Path) {
    let message = err.to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(message.contains(&*name), "{name} not named in: {message}");
}

/// A store with one finished run written through the engine, closed again.
async fn written_file(dir: &Path) -> PathBuf {
    use crate::engine::{Engine, EngineConfig};
    use crate::proto::WorkflowService;
    use crate::proto::service::StartWorkflowExecutionRequest;
    let path = dir.join("written.db");
    let engine = Engine::open_sqlite(&path, EngineConfig::default()).unwrap();
    for i in 0..20 {
        let req = StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: format!("w{i}"),
            workflow_type: Some(crate::proto::common::WorkflowType { name: "t".into() }),
            task_queue: Some(crate::proto::taskqueue::TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            input: crate::proto::common::Payloads {
                payloads: vec![crate::payload::encode(&"x".repeat(2000)).unwrap()],
            }
            .into(),
            ..Default::default()
        };
        engine
            .start_workflow_execution(tonic::Request::new(req))
            .await
            .unwrap();
    }
    drop(engine);
    path
}

#[test]
fn wal_full_sync_exclusive_lock_and_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
    let conn = store.conn.lock();
    let text = |pragma: &str| -> String {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(text("journal_mode").to_lowercase(), "wal");
    assert_eq!(text("locking_mode").to_lowercase(), "exclusive");
    let number = |pragma: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(number("synchronous"), 2, "FULL");
    assert_eq!(number("application_id"), i64::from(APPLICATION_ID));
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SqliteStore::SCHEMA_VERSION, SCHEMA_VERSION);
}

#[test]
fn migrations_lead_from_version_1_to_the_current_one_step_by_step() {
    let froms: Vec<i64> = MIGRATIONS.iter().map(|m| m.from).collect();
    let expected: Vec<i64> = (1..SCHEMA_VERSION).collect();
    assert_eq!(froms, expected);
}

#[test]
fn an_empty_file_is_taken_as_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.verify().unwrap(), VerifyReport::default());
    assert!(store.load().unwrap().executions.is_empty());
}

#[tokio::test]
async fn a_truncated_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16 * 1024, "a file of several pages");
    for keep in [10, 100, 4096, bytes.len() / 2, bytes.len() - 4096] {
        let cut = dir.path().join(format!("cut-{keep}.db"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let err = open_err(&cut);
        assert!(
            matches!(err, StoreError::NotADatabase { .. }),
            "cut at {keep}: {err:?}"
        );
        assert_names(&err, &cut);
    }
    SqliteStore::open(&path)
        .unwrap()
        .verify()
        .expect("the whole file is sound");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "just some text, long enough to look like a file header. ".repeat(40),
    )
    .unwrap();
    let err = open_err(&path);
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert_names(&err, &path);
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
}

#[test]
fn a_file_marked_by_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-app.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", 0x1234_5678)
            .unwrap();
    }
    let err = open_err(&path);
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert_names(&err, &path);
    assert!(err.to_string().contains("0x12345678"), "{err}");
}

#[test]
fn an_empty_schema_version_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
            .unwrap();
    }
    let err = open_err(&path);
    assert!(err.to_string().contains("no row"), "{err}");
    assert_names(&err, &path);
}

/// Whether this process is held back by file permissions (it is not when it runs as root).
fn permissions_apply(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let writable = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    !writable
}

#[tokio::test]
async fn a_read_only_directory_is_reported_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let existing = written_file(dir.path()).await;
    let ro = dir.path();
    std::fs::set_permissions(ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let enforced = permissions_apply(ro);
    let new_file = open_err_or_ok(&ro.join("new.db"));
    let existing_result = open_err_or_ok(&existing);
    std::fs::set_permissions(ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    if !enforced {
        eprintln!(
            "this process ignores directory permissions (root?); the crash test checks this in a process without them"
        );
        return;
    }
    for (path, result) in [(ro.join("new.db"), new_file), (existing, existing_result)] {
        let err = result.expect_err("a read-only directory must be refused");
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        assert_names(&err, &path);
        assert!(err.to_string().contains("writable"), "{err}");
    }
}

fn open_err_or_ok(path: &Path) -> Result<(), StoreError> {
    SqliteStore::open(path).map(drop)
}

#[tokio::test]
async fn verify_reports_rows_that_break_the_invariants() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    let report = SqliteStore::open(&path).unwrap().verify().unwrap();
    assert_eq!((report.runs, report.open_runs), (20, 20));
    assert_eq!(report.events, 40, "started and a workflow task scheduled");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "DELETE FROM history_events WHERE event_id = 1 AND run_id IN
             (SELECT run_id FROM executions WHERE workflow_id = 'w3')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO timers (run_id, timer_id, fire_at_ms, record) VALUES ('nobody', '1', 0, x'')",
            [],
        )
        .unwrap();
    }
    let err = SqliteStore::open(&path).unwrap().verify().unwrap_err();
    let StoreError::Inconsistent { problems, .. } = &err else {
        panic!("expected inconsistencies, got {err:?}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("jumps from event 0 to 2"),
        "{problems:?}"
    );
    assert!(problems[1].contains("timer of run nobody"), "{problems:?}");
    assert_names(&err, &path);
}

#[tokio::test]
async fn a_file_with_one_event_that_does_not_decode_loads_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    let damaged_run: String = {
        let conn = Connection::open(&path).unwrap();
        let run_id = conn
            .query_row(
                "SELECT run_id FROM executions WHERE workflow_id = 'w7'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute(
            "UPDATE history_events SET event = x'0a' WHERE run_id = ?1 AND event_id = 2",
            [&run_id],
        )
        .unwrap();
        run_id
    };
    let store = SqliteStore::open(&path).unwrap();
    let snapshot = store.load().expect("the file loads");
    assert_eq!(snapshot.damaged.len(), 1, "{:?}", snapshot.damaged);
    let damage = &snapshot.damaged[0];
    assert_eq!(damage.run_id, damaged_run);
    assert_eq!(damage.row, crate::store::DamagedRow::HistoryEvent(2));
    assert!(!damage.reason.is_empty());
    assert_eq!(
        damage.to_string(),
        format!(
            "history event 2 of run {damaged_run} is damaged ({})",
            damage.reason
        )
    );
    assert_eq!(snapshot.executions.len(), 20);
    assert_eq!(snapshot.open_runs.len(), 20);
    for rows in &snapshot.open_runs {
        assert_eq!(rows.events.len(), 2, "every event is kept as stored");
        if rows.run_id != damaged_run {
            EncodedEvent::decode_all(&rows.events).expect("the other runs decode");
        }
    }
    // A read of the damaged event names it, and only the run is blamed, not the file.
    let err = store.read_history(&damaged_run, 1, 10).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { what, .. } if *what == format!("history event 2 of run {damaged_run}")),
        "{err:?}"
    );
    assert_eq!(store.read_history(&damaged_run, 1, 1).unwrap().len(), 1);
    let err = store.verify().unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "history event 2 of run {damaged_run} does not decode"
        )),
        "{err}"
    );
}

/// Counts the transactions a store is asked for.
#[derive(Debug)]
struct Counting {
    inner: SqliteStore,
    commits: std::sync::atomic::AtomicUsize,
}

impl Store for Counting {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }
    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_transactions() {
    use crate::engine::{Engine, EngineConfig};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: SqliteStore::open(dir.path().join("group.db")).unwrap(),
        commits: Default::default(),
    });
    let engine = Engine::with_store(store.clone(), EngineConfig::default()).unwrap();
    let client = crate::Client::new(Arc::new(engine));
    const STARTS: usize = 400;
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..STARTS {
        let client = client.clone();
        calls.spawn(async move {
            let options = crate::StartOptions::new(format!("group-{i}"), "q");
            client
                .start_workflow_by_name("t", Vec::new(), &options)
                .await
                .unwrap()
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    let commits = store.commits.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "{STARTS} concurrent starts took {commits} transactions in {:?}",
        started.elapsed()
    );
    assert!(
        commits * 4 <= STARTS,
        "{STARTS} concurrent starts took {commits} transactions; group commit should fold them"
    );
}
