//! Store faults: a store that cannot write for a while (a full disk), one that fails for good, a
//! database file deleted under a running engine, and read-only database files.
//!
//! The SQLite tests put their file on a small tmpfs mounted for the test (unmounted when the
//! test ends, panics included), so that a full disk and a read-only file system are real. They
//! need root; elsewhere they say so and return, and the tests on [`FaultyStore`] cover the engine.

use super::*;
use crate::engine::Health;
use crate::proto::enums::EventType as E;
use crate::store::{MemoryStore, Snapshot, Store, StoreError, WriteOp};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// What a [`FaultyStore`] does with a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Refuses it as SQLite does on a full disk.
    Full,
    /// Refuses it as SQLite does on a damaged file.
    Damaged,
}

/// A memory store whose commits can be made to fail.
#[derive(Debug, Default)]
struct FaultyStore {
    inner: MemoryStore,
    fault: parking_lot::Mutex<Option<Fault>>,
}

impl FaultyStore {
    fn set(&self, fault: Option<Fault>) {
        *self.fault.lock() = fault;
    }

    /// The workflow ids of the runs that are durable.
    fn durable(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .inner
            .load()
            .unwrap()
            .executions
            .into_iter()
            .map(|r| r.workflow_id)
            .collect();
        ids.sort();
        ids
    }
}

fn sqlite_error(code: std::os::raw::c_int) -> StoreError {
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        None,
    ))
}

impl Store for FaultyStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }
    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        match *self.fault.lock() {
            None => self.inner.commit(ops),
            Some(Fault::Full) => Err(sqlite_error(rusqlite::ffi::SQLITE_FULL)),
            Some(Fault::Damaged) => Err(sqlite_error(rusqlite::ffi::SQLITE_CORRUPT)),
        }
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

/// How long a test waits for the engine to notice that the store writes again. The writer
/// retries within seconds; this only bounds a test that would otherwise hang.
const HEAL_WITHIN: Duration = Duration::from_secs(30);

/// Starts `req` until it succeeds, for at most [`HEAL_WITHIN`]; panics with the last refusal.
async fn start_once_healed(h: &Harness, req: &StartWorkflowExecutionRequest) -> String {
    let deadline = Instant::now() + HEAL_WITHIN;
    loop {
        let result = h
            .engine
            .start_workflow_execution(Request::new(req.clone()))
            .await;
        match result {
            Ok(resp) => return resp.into_inner().run_id,
            Err(status) if Instant::now() > deadline => panic!(
                "the engine did not take writes again within {HEAL_WITHIN:?} after the store could write; last answer: {status:?}"
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits (bounded by [`HEAL_WITHIN`]) until the engine's health is as `wanted` says.
async fn health_becomes(engine: &Engine, what: &str, wanted: impl Fn(&Health) -> bool) -> Health {
    let mut health = engine.health();
    match tokio::time::timeout(HEAL_WITHIN, health.wait_for(|h| wanted(h))).await {
        Ok(Ok(h)) => h.clone(),
        _ => panic!(
            "the engine's health did not become {what} within {HEAL_WITHIN:?}: {:?}",
            *engine.health().borrow()
        ),
    }
}

fn unwritable(h: &Health) -> bool {
    matches!(h, Health::StoreUnwritable { .. })
}

fn run_id_of(d: &DescribeWorkflowExecutionResponse) -> String {
    d.workflow_execution_info
        .as_ref()
        .and_then(|i| i.execution.as_ref())
        .map(|e| e.run_id.clone())
        .unwrap_or_default()
}

async fn describe(
    h: &Harness,
    workflow_id: &str,
) -> Result<DescribeWorkflowExecutionResponse, Status> {
    let req = DescribeWorkflowExecutionRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
    };
    h.engine
        .describe_workflow_execution(Request::new(req))
        .await
        .map(tonic::Response::into_inner)
}

async fn try_start(h: &Harness, req: &StartWorkflowExecutionRequest) -> Result<String, Status> {
    h.engine
        .start_workflow_execution(Request::new(req.clone()))
        .await
        .map(|r| r.into_inner().run_id)
}

#[tokio::test]
async fn writes_resume_once_a_full_disk_has_room_again() {
    let store = Arc::new(FaultyStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    let before = h.start("before").await;

    assert_eq!(*h.engine.health().borrow(), Health::Serving);

    store.set(Some(Fault::Full));
    let during = h.start_request("during");
    let failed = try_start(&h, &during).await;
    let read_while_full = describe(&h, "before").await;
    let health = health_becomes(&h.engine, "StoreUnwritable", unwritable).await;
    assert!(health.to_string().contains("database is full"), "{health}");
    // Nothing is changed while the store cannot write.
    let refused = expect_code(
        try_start(&h, &h.start_request("refused")).await,
        Code::Unavailable,
    );
    assert!(
        refused.message().contains("nothing was changed")
            && refused.message().contains("database is full"),
        "{refused:?}"
    );
    // Polls hand out no task (taking one is a change), and say nothing is there.
    assert!(h.try_poll_wft().await.task_token.is_empty());

    store.set(None);
    let after = start_once_healed(&h, &h.start_request("after")).await;
    assert_eq!(*h.engine.health().borrow(), Health::Serving);
    let status = expect_code(failed, Code::Unavailable);
    assert!(
        status.message().contains("database is full"),
        "the cause is named: {status:?}"
    );
    // What was committed before was served while the store could not write.
    assert_eq!(run_id_of(&read_while_full.unwrap()), before);
    // The change that failed was kept and written once the store could write: retrying the
    // start with its request id finds the same run.
    let during_run = try_start(&h, &during).await.unwrap();
    assert_eq!(run_id_of(&h.describe("during").await), during_run);
    assert_eq!(run_id_of(&h.describe("after").await), after);
    assert_eq!(store.durable(), ["after", "before", "during"]);
    // The workflow tasks of all three are there to be taken, in order.
    for id in ["before", "during", "after"] {
        let task = h.poll_wft().await;
        assert_eq!(
            task.workflow_execution.map(|e| e.workflow_id).as_deref(),
            Some(id)
        );
    }
}

#[tokio::test]
async fn changes_made_while_the_store_cannot_write_are_written_in_order_after_the_one_that_failed()
{
    let store = Arc::new(FaultyStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    h.start("timed").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("soon", 300)])
        .await
        .unwrap();
    store.set(Some(Fault::Full));
    // Refused, but kept: it is the change that failed.
    expect_code(
        try_start(&h, &h.start_request("kept")).await,
        Code::Unavailable,
    );
    // The timer fires while the store cannot write; its change queues behind.
    tokio::time::sleep(Duration::from_millis(600)).await;
    store.set(None);
    start_once_healed(&h, &h.start_request("later")).await;
    assert_eq!(store.durable(), ["kept", "later", "timed"]);
    assert_eq!(
        h.types("timed").await[4..],
        [E::TimerStarted, E::TimerFired, E::WorkflowTaskScheduled]
    );
}

#[tokio::test]
async fn a_store_that_fails_for_good_keeps_serving_reads_and_refuses_changes() {
    let store = Arc::new(FaultyStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    let before = h.start("before").await;
    store.set(Some(Fault::Damaged));
    let failed = try_start(&h, &h.start_request("lost")).await;
    expect_code(failed, Code::Internal);
    let health = health_becomes(&h.engine, "StoreFailed", |h| {
        matches!(h, Health::StoreFailed { .. })
    })
    .await;
    assert!(health.to_string().contains("malformed"), "{health}");
    store.set(None);
    // Retrying would not mend a damaged file: only a restart does.
    let refused = expect_code(
        try_start(&h, &h.start_request("after")).await,
        Code::Unavailable,
    );
    assert!(refused.message().contains("restart"), "{refused:?}");
    assert_eq!(run_id_of(&h.describe("before").await), before);
    // The run whose start was not written is not shown as if it were.
    expect_code(describe(&h, "lost").await, Code::Internal);
    assert_eq!(store.durable(), ["before"]);
}

#[tokio::test]
async fn an_engine_stops_promptly_while_its_store_cannot_write() {
    let store = Arc::new(FaultyStore::default());
    let h = Harness::on(Engine::with_store(store.clone(), config()).unwrap());
    store.set(Some(Fault::Full));
    expect_code(
        try_start(&h, &h.start_request("never")).await,
        Code::Unavailable,
    );
    health_becomes(&h.engine, "StoreUnwritable", unwritable).await;
    let Harness { engine } = h;
    let mut health = engine.health();
    let dropped = tokio::task::spawn_blocking(move || drop(engine));
    tokio::time::timeout(HEAL_WITHIN, dropped)
        .await
        .expect("dropping the engine does not wait for the store")
        .unwrap();
    assert_eq!(*health.borrow_and_update(), Health::Stopped);
    assert!(store.durable().is_empty());
}

/// A small tmpfs, mounted on a temporary directory for one test and unmounted on drop.
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why not and gives
    /// `None` (mounting needs root).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir: Some(dir) }),
            Ok(out) => {
                eprintln!(
                    "not checked on a real file system: cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("not checked on a real file system: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// Fills the file system with one file; returns it.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x5a_u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        // A partial last chunk may still be buffered by nothing: File is unbuffered.
        filler
    }

    /// Remounts read-only (`true`) or read-write.
    fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", mode])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -o {mode} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // Lazily: a file the test still holds open must not keep the mount alive.
            let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
            drop(dir);
        }
    }
}

#[tokio::test]
async fn sqlite_on_a_full_disk_resumes_once_space_is_freed() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let path = disk.path().join("full.db");
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let id = format!("seed-{i}");
        acknowledged.push((id.clone(), h.start(&id).await));
    }
    let filler = disk.fill();
    // The log may still take a commit or two in its last free page.
    let mut refused = None;
    for i in 0..100 {
        let req = h.start_request(&format!("full-{i}"));
        match try_start(&h, &req).await {
            Ok(run_id) => acknowledged.push((req.workflow_id.clone(), run_id)),
            Err(status) => {
                refused = Some((req, status));
                break;
            }
        }
    }
    let (req, status) = refused.expect("a start fails once the disk is full");
    let mut read_while_full = Vec::new();
    for (id, run_id) in &acknowledged {
        read_while_full.push((describe(&h, id).await, run_id.clone()));
    }

    let health = health_becomes(&h.engine, "StoreUnwritable", unwritable).await;
    assert!(health.to_string().contains("full"), "{health}");
    std::fs::remove_file(&filler).unwrap();
    let after = start_once_healed(&h, &h.start_request("after")).await;
    assert_eq!(*h.engine.health().borrow(), Health::Serving);
    acknowledged.push(("after".into(), after));
    for (read, run_id) in read_while_full {
        assert_eq!(
            run_id_of(&read.unwrap()),
            run_id,
            "served while the disk was full"
        );
    }
    expect_code(Err::<(), _>(status.clone()), Code::Unavailable);
    assert!(status.message().contains("full"), "{status:?}");
    let retried = try_start(&h, &req).await.unwrap();
    acknowledged.push((req.workflow_id.clone(), retried));

    drop(h);
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    for (id, run_id) in &acknowledged {
        assert_eq!(
            &run_id_of(&h.describe(id).await),
            run_id,
            "{id} survives a restart"
        );
    }
}

#[tokio::test]
async fn a_database_file_deleted_under_the_engine_is_not_written_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.db");
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    let kept = h.start("kept").await;

    std::fs::remove_file(&path).unwrap();
    // Noticed while nothing is written.
    let health = health_becomes(&h.engine, "StoreUnwritable", unwritable).await;
    assert!(health.to_string().contains("deleted"), "{health}");
    let refused = try_start(&h, &h.start_request("after-delete")).await;
    let status = expect_code(refused, Code::Unavailable);
    assert!(
        status.message().contains(path.to_str().unwrap()) && status.message().contains("deleted"),
        "the status names the file and what happened: {status:?}"
    );
    // Reads are still served from what was committed.
    assert_eq!(run_id_of(&h.describe("kept").await), kept);

    drop(h);
    // A restart does not quietly start an empty database where the runs were: it names the
    // copy the engine saved, and says what to do.
    let message = open_error(&path);
    let copy = rescued_copy(dir.path(), "gone.db");
    assert!(
        message.contains(copy.to_str().unwrap()) && message.contains("does not exist"),
        "{message}"
    );
    let wal = dir.path().join("gone.db-wal");
    if wal.exists() {
        assert!(message.contains(wal.to_str().unwrap()), "{message}");
        std::fs::remove_file(&wal).unwrap();
    }
    std::fs::rename(&copy, &path).unwrap();
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    assert_eq!(run_id_of(&h.describe("kept").await), kept);
    expect_code(describe(&h, "after-delete").await, Code::NotFound);
    h.start("resumed").await;
}

/// The one copy saved beside `name` in `dir`.
fn rescued_copy(dir: &Path, name: &str) -> PathBuf {
    let copies: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{name}.rescued-")))
        })
        .collect();
    assert_eq!(copies.len(), 1, "one copy saved: {copies:?}");
    copies[0].clone()
}

#[tokio::test]
async fn a_database_file_moved_away_and_back_heals_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moved.db");
    let aside = dir.path().join("aside.db");
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    h.start("before").await;
    std::fs::rename(&path, &aside).unwrap();
    let during = h.start_request("during");
    let status = expect_code(try_start(&h, &during).await, Code::Unavailable);
    assert!(status.message().contains("moved away"), "{status:?}");
    health_becomes(&h.engine, "StoreUnwritable", unwritable).await;
    std::fs::rename(&aside, &path).unwrap();
    health_becomes(&h.engine, "Serving", Health::is_serving).await;
    // The start that was refused was kept, and written once the file was back.
    let run_id = try_start(&h, &during).await.unwrap();
    drop(h);
    let copy = rescued_copy(dir.path(), "moved.db");
    std::fs::remove_file(copy).unwrap();
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    assert_eq!(run_id_of(&h.describe("during").await), run_id);
}

#[tokio::test]
async fn a_database_file_replaced_under_the_engine_is_not_written_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replaced.db");
    let other = dir.path().join("other.db");
    written_database(&other).await;
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    h.start("mine").await;
    std::fs::rename(&other, &path).unwrap();
    let status = expect_code(
        try_start(&h, &h.start_request("refused")).await,
        Code::Unavailable,
    );
    assert!(status.message().contains("replaced"), "{status:?}");
    drop(h);
    // The file now at the path opens (it is a database); the copy beside it holds "mine".
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    expect_code(describe(&h, "mine").await, Code::NotFound);
    drop(h);
    let copy = rescued_copy(dir.path(), "replaced.db");
    let h = Harness::on(Engine::open_sqlite(&copy, config()).unwrap());
    h.describe("mine").await;
}

/// A database file, written by an engine and closed.
async fn written_database(path: &Path) {
    let h = Harness::on(Engine::open_sqlite(path, config()).unwrap());
    h.start("written").await;
}

fn open_error(path: &Path) -> String {
    match Engine::open_sqlite(path, config()) {
        Ok(_) => panic!("{} opened although it cannot be written", path.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_immutable_database_file_is_refused_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("marked.db");
    written_database(&path).await;
    let marked = Command::new("chattr")
        .arg("+i")
        .arg(&path)
        .stderr(Stdio::null())
        .status();
    if !marked.is_ok_and(|s| s.success()) {
        eprintln!("not checked: chattr +i is not available here");
        return;
    }
    let message = open_error(&path);
    let _ = Command::new("chattr").arg("-i").arg(&path).status();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("immutable"), "{message}");
}

#[tokio::test]
async fn a_database_file_on_a_read_only_file_system_is_refused_naming_the_cause() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let path = disk.path().join("on-ro-mount.db");
    written_database(&path).await;
    disk.set_read_only(true);
    let message = open_error(&path);
    disk.set_read_only(false);
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("read-only file system"), "{message}");
}

/// Set in the copy of the test binary that runs as user nobody: the file to open.
const AS_NOBODY: &str = "DACAPO_TEST_READ_ONLY_FILE";

#[tokio::test]
async fn a_database_file_without_write_permission_is_refused_naming_the_cause() {
    use std::os::unix::fs::PermissionsExt;
    if let Some(path) = std::env::var_os(AS_NOBODY) {
        return refused_for_its_mode(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-write-bit.db");
    written_database(&path).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_err() {
        return refused_for_its_mode(&path);
    }
    // Root writes files whatever their mode: look at the file as user nobody instead.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = "engine::tests::store_faults::a_database_file_without_write_permission_is_refused_naming_the_cause";
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(AS_NOBODY, &path)
        .stdin(Stdio::null());
    {
        use std::os::unix::process::CommandExt;
        child.uid(65534).gid(65534);
    }
    match child.output() {
        Ok(out) => {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success() && said.contains("1 passed"),
                "as user nobody: {said}"
            );
        }
        Err(e) => eprintln!("not checked: this test cannot run itself as user nobody: {e}"),
    }
}

fn refused_for_its_mode(path: &Path) {
    let message = open_error(path);
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(
        message.contains("read-only for this user") && message.contains("mode 0444"),
        "{message}"
    );
}
