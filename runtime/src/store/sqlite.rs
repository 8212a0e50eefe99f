//! The SQLite [`Store`]: one file in WAL mode with `synchronous=FULL`, so a commit that returned
//! survives a crash of the process or the machine.
//!
//! Schema (version 1). Rows hold prost-encoded bytes: history events as `HistoryEvent`, the other
//! records as the messages of the same name in [`crate::store`]. The key columns beside them
//! exist for lookups and must agree with the bytes.
//!
//! ```sql
//! schema_version (version)                                        -- exactly one row
//! executions     (run_id PK, namespace, workflow_id, status, start_time_ms, close_time_ms, record)
//! history_events (run_id, event_id, event)            PK (run_id, event_id)
//! held_events    (run_id, position, event)            PK (run_id, position)
//! activities     (run_id, scheduled_event_id, activity_id, attempt, record)
//! timers         (run_id, timer_id, fire_at_ms, record)
//! ```
//!
//! The engine owns its file: the connection takes SQLite's exclusive lock when it opens and
//! keeps it, so a second engine (in this process or another) gets a clear error instead of two
//! engines running the same workflows.

use super::{
    ActivityRecord, ExecutionRecord, OpenRunRows, Snapshot, Store, StoreError, TimerRecord, WriteOp,
};
use crate::proto::enums::WorkflowExecutionStatus;
use crate::proto::history::HistoryEvent;
use parking_lot::Mutex;
use prost::Message;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The newest schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// How long opening waits for another holder of the file to let go.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

const CREATE_SCHEMA: &str = "
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE executions (
    run_id        TEXT PRIMARY KEY NOT NULL,
    namespace     TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    status        INTEGER NOT NULL,
    start_time_ms INTEGER NOT NULL,
    close_time_ms INTEGER NOT NULL,
    record        BLOB NOT NULL
);
CREATE INDEX executions_by_workflow_id ON executions (namespace, workflow_id, start_time_ms);
CREATE INDEX executions_by_status ON executions (status);
CREATE TABLE history_events (
    run_id   TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    event    BLOB NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;
CREATE TABLE held_events (
    run_id   TEXT NOT NULL,
    position INTEGER NOT NULL,
    event    BLOB NOT NULL,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
CREATE TABLE activities (
    run_id             TEXT NOT NULL,
    scheduled_event_id INTEGER NOT NULL,
    activity_id        TEXT NOT NULL,
    attempt            INTEGER NOT NULL,
    record             BLOB NOT NULL,
    PRIMARY KEY (run_id, scheduled_event_id)
) WITHOUT ROWID;
CREATE TABLE timers (
    run_id     TEXT NOT NULL,
    timer_id   TEXT NOT NULL,
    fire_at_ms INTEGER NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (run_id, timer_id)
) WITHOUT ROWID;
";

/// A [`Store`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and its schema when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened or created (missing or read-only
    /// directory), [`StoreError::NotADatabase`] when the file is not a SQLite database, is
    /// corrupt, or holds unrelated tables, [`StoreError::SchemaVersion`] when a newer dacapo wrote
    /// it, [`StoreError::InUse`] when another engine has it open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let fail = |e: rusqlite::Error| open_error(&path, e);
        let mut conn = Connection::open(&path).map_err(fail)?;
        configure(&conn).map_err(fail)?;
        ensure_schema(&path, &mut conn)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Before WAL is entered, so that no shared-memory index is created: nobody else may read.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite refused WAL mode; commits will be slower");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

fn ensure_schema(path: &Path, conn: &mut Connection) -> Result<(), StoreError> {
    let fail = |e: rusqlite::Error| open_error(path, e);
    // An exclusive transaction takes the file lock now; exclusive locking mode keeps it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(fail)?;
    let has_version: bool = tx
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(fail)?
        > 0;
    if has_version {
        let found: Option<i64> = tx
            .query_row("SELECT max(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(fail)?
            .flatten();
        return match found {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            }),
            other => Err(StoreError::NotADatabase {
                path: path.to_path_buf(),
                reason: format!("its schema_version table holds {other:?}"),
            }),
        };
    }
    let tables: i64 = tx
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .map_err(fail)?;
    if tables > 0 {
        return Err(StoreError::NotADatabase {
            path: path.to_path_buf(),
            reason: "it is a SQLite database with other tables and no schema_version table".into(),
        });
    }
    tx.execute_batch(CREATE_SCHEMA).map_err(fail)?;
    tx.execute(
        "INSERT INTO schema_version (version) VALUES (?1)",
        [SCHEMA_VERSION],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::NotADatabase {
            path,
            reason: format!(
                "{e}; the file is not a SQLite database or is damaged, so move it aside or choose another path"
            ),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::InUse { path },
        Some(ErrorCode::CannotOpen) => StoreError::Open {
            path,
            reason: format!("{e}; check that the directory exists and is writable"),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreError::Open {
            path,
            reason: format!("{e}; the file or its directory is not writable"),
        },
        _ => StoreError::Open {
            path,
            reason: e.to_string(),
        },
    }
}

fn decode<M: Message + Default>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt {
        what: what(),
        reason: e.to_string(),
    })
}

fn apply(tx: &rusqlite::Transaction<'_>, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::PutExecution(rec) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO executions
                 (run_id, namespace, workflow_id, status, start_time_ms, close_time_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                rec.run_id,
                rec.namespace,
                rec.workflow_id,
                rec.status,
                rec.start_time_ms,
                rec.close_time_ms,
                rec.encode_to_vec()
            ])?;
        }
        WriteOp::AppendEvents { run_id, events } => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO history_events (run_id, event_id, event) VALUES (?1, ?2, ?3)",
            )?;
            for event in events {
                stmt.execute(params![run_id, event.event_id, event.encode_to_vec()])?;
            }
        }
        WriteOp::SetHeldEvents { run_id, events } => {
            tx.prepare_cached("DELETE FROM held_events WHERE run_id = ?1")?
                .execute([run_id])?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO held_events (run_id, position, event) VALUES (?1, ?2, ?3)",
            )?;
            for (position, event) in events.iter().enumerate() {
                stmt.execute(params![run_id, position as i64, event.encode_to_vec()])?;
            }
        }
        WriteOp::PutActivity(rec) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO activities
                 (run_id, scheduled_event_id, activity_id, attempt, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                rec.run_id,
                rec.scheduled_event_id,
                rec.activity_id,
                rec.attempt,
                rec.encode_to_vec()
            ])?;
        }
        WriteOp::DeleteActivity {
            run_id,
            scheduled_event_id,
        } => {
            tx.prepare_cached(
                "DELETE FROM activities WHERE run_id = ?1 AND scheduled_event_id = ?2",
            )?
            .execute(params![run_id, scheduled_event_id])?;
        }
        WriteOp::PutTimer(rec) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO timers (run_id, timer_id, fire_at_ms, record)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                rec.run_id,
                rec.timer_id,
                rec.fire_at_ms,
                rec.encode_to_vec()
            ])?;
        }
        WriteOp::DeleteTimer { run_id, timer_id } => {
            tx.prepare_cached("DELETE FROM timers WHERE run_id = ?1 AND timer_id = ?2")?
                .execute(params![run_id, timer_id])?;
        }
    }
    Ok(())
}

/// Reads `(key, blob)` rows of one query and decodes the blobs.
fn read_rows<M: Message + Default>(
    conn: &Connection,
    sql: &str,
    what: &str,
) -> Result<Vec<(String, M)>, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, bytes) = row?;
        let value = decode(&bytes, || format!("{what} of run {key}"))?;
        out.push((key, value));
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let conn = self.conn.lock();
        let executions: Vec<ExecutionRecord> = read_rows::<ExecutionRecord>(
            &conn,
            "SELECT run_id, record FROM executions",
            "execution record",
        )?
        .into_iter()
        .map(|(_, rec)| rec)
        .collect();
        let running = WorkflowExecutionStatus::Running as i32;
        let mut open: HashMap<String, OpenRunRows> = executions
            .iter()
            .filter(|rec| rec.status == running)
            .map(|rec| {
                let rows = OpenRunRows {
                    run_id: rec.run_id.clone(),
                    ..OpenRunRows::default()
                };
                (rec.run_id.clone(), rows)
            })
            .collect();
        let held = read_rows::<HistoryEvent>(
            &conn,
            "SELECT run_id, event FROM held_events ORDER BY run_id, position",
            "held event",
        )?;
        for (run_id, event) in held {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.held_events.push(event);
            }
        }
        let activities = read_rows::<ActivityRecord>(
            &conn,
            "SELECT run_id, record FROM activities ORDER BY run_id, scheduled_event_id",
            "activity",
        )?;
        for (run_id, act) in activities {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.activities.push(act);
            }
        }
        let timers = read_rows::<TimerRecord>(
            &conn,
            "SELECT run_id, record FROM timers ORDER BY run_id, timer_id",
            "timer",
        )?;
        for (run_id, timer) in timers {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.timers.push(timer);
            }
        }
        for rows in open.values_mut() {
            rows.events = history(&conn, &rows.run_id, 1, usize::MAX)?;
        }
        Ok(Snapshot {
            executions,
            open_runs: open.into_values().collect(),
        })
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        for op in ops {
            apply(&tx, op)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.conn.lock();
        history(&conn, run_id, first_event_id, max_events)
    }
}

fn history(
    conn: &Connection,
    run_id: &str,
    first_event_id: i64,
    max_events: usize,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, event FROM history_events
         WHERE run_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![run_id, first_event_id, limit], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (event_id, bytes) = row?;
        out.push(decode(&bytes, || {
            format!("history event {event_id} of run {run_id}")
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_full_sync_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let conn = store.conn.lock();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
