//! The SQLite [`Store`]: one file in WAL mode with `synchronous=FULL`, so a commit that returned
//! survives a crash of the process, and of the machine as far as the disk honours `fsync`.
//!
//! `DESIGN.md` beside this module is the reference: the tables and their invariants, the commit
//! protocol, what survives a process crash and a power loss, locking, schema versions and what
//! happens on open. In short:
//!
//! - rows hold prost-encoded bytes (history events as `HistoryEvent`, the other records as the
//!   messages of the same name in [`crate::store`]); the key columns beside them exist for
//!   lookups and agree with the bytes;
//! - every [`Store::commit`] is one transaction, and the engine's writer thread folds many
//!   requests into one commit (group commit), so one `fsync` serves them all;
//! - the engine owns its file: the connection takes SQLite's exclusive lock when it opens and
//!   keeps it, so a second engine (in this process or another) gets [`StoreError::InUse`]
//!   instead of two engines running the same workflows;
//! - the schema is versioned (see `schema`); older files are upgraded on open, newer ones are
//!   refused with both versions named.

use super::{
    ActivityRecord, EncodedEvent, ExecutionRecord, OpenRunRows, Snapshot, Store, StoreError,
    TimerRecord, WriteOp,
};
use crate::proto::enums::WorkflowExecutionStatus;
use crate::proto::history::HistoryEvent;
use parking_lot::Mutex;
use prost::Message;
use rusqlite::{Connection, ErrorCode, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long opening waits for another holder of the file to let go.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

mod schema;
mod verify;

pub use verify::VerifyReport;

/// A [`Store`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// The newest schema version this build writes and reads. Older files are upgraded when
    /// opened; newer ones are refused with [`StoreError::SchemaVersion`].
    pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

    /// Opens the database at `path`, creating the file and its schema when it does not exist
    /// (an empty file counts as a new database). A file left by a crashed engine is recovered:
    /// exactly the transactions that had committed are there. A file written by an older dacapo
    /// is upgraded to the current schema version.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened or created (missing or read-only
    /// directory, unreadable file), [`StoreError::NotADatabase`] when the file is not a SQLite
    /// database, is truncated or corrupt, or belongs to another program,
    /// [`StoreError::SchemaVersion`] when a newer dacapo wrote it, [`StoreError::InUse`] when
    /// another engine has it open. Every one names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let fail = |e: rusqlite::Error| open_error(&path, e);
        let mut conn = Connection::open(&path).map_err(fail)?;
        configure(&conn).map_err(fail)?;
        schema::ensure(&path, &mut conn)?;
        // Every time, not only when the file is new: the process that created it may have died
        // before it got here.
        sync_parent_dir(&path);
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Turns an error of normal operation into a [`StoreError`]; damage found on the way is
    /// reported against the file.
    fn error(&self, e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::NotADatabase {
                    path: self.path.clone(),
                    reason: format!(
                        "{e}; the file is damaged, so restore it from a backup or move it aside"
                    ),
                }
            }
            _ => StoreError::Sqlite(e),
        }
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
    // FULL: every commit syncs the WAL before it returns. NORMAL would survive a process crash
    // too, but a power loss could take back commits that were already answered.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Where plain fsync does not reach the disk (macOS), ask for F_FULLFSYNC. No-op elsewhere.
    conn.pragma_update(None, "fullfsync", "ON")?;
    conn.pragma_update(None, "checkpoint_fullfsync", "ON")?;
    // 64 MiB of page cache (the default is 2 MiB): the pages of runs in progress stay in memory
    // instead of being read back from the OS on every commit.
    conn.pragma_update(None, "cache_size", -65_536)?;
    // Copy the WAL back into the database every 10,000 pages (about 40 MiB) rather than every
    // 1,000: a page changed by many commits in between is copied once.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    Ok(())
}

/// Makes the directory entry of the database file durable, so that a power loss cannot leave
/// committed data on disk in a file that no directory names. SQLite does this for the WAL files
/// it creates but not for the database file itself.
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot sync a directory; the data itself is synced regardless.
        tracing::debug!(dir = %dir.display(), "could not sync the directory of the database: {e}");
    }
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
                // An update touches only the columns that can change, so the index by workflow
                // id is left alone (a replace would delete and re-insert every index entry).
                "INSERT INTO executions
                 (run_id, namespace, workflow_id, status, start_time_ms, close_time_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (run_id) DO UPDATE SET
                 status = excluded.status, close_time_ms = excluded.close_time_ms,
                 record = excluded.record",
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
                stmt.execute(params![run_id, event.event_id, &event.bytes[..]])?;
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
        self.load_rows(&conn).map_err(|e| self.with_path(e))
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.error(e))?;
        for op in ops {
            apply(&tx, op).map_err(|e| self.error(e))?;
        }
        // Dropping an uncommitted transaction rolls it back: all or nothing.
        tx.commit().map_err(|e| self.error(e))
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.conn.lock();
        history(&conn, run_id, first_event_id, max_events).map_err(|e| self.with_path(e))
    }

    fn read_history_page(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.conn.lock();
        // The sizes first (SQLite reads them without the blobs), then only the events that fit.
        let fit = page_fit(&conn, run_id, first_event_id, max_events, max_bytes)
            .map_err(|e| self.with_path(e))?;
        history(&conn, run_id, first_event_id, fit).map_err(|e| self.with_path(e))
    }
}

/// How many of the events of `run_id` from `first_event_id` fit in `max_events` events and
/// `max_bytes` bytes (at least one).
fn page_fit(
    conn: &Connection,
    run_id: &str,
    first_event_id: i64,
    max_events: usize,
    max_bytes: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT length(event) FROM history_events
         WHERE run_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![run_id, first_event_id, limit])?;
    let mut fit = 0;
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let len = usize::try_from(row.get::<_, i64>(0)?).unwrap_or(usize::MAX);
        bytes = bytes.saturating_add(len);
        if fit > 0 && bytes > max_bytes {
            break;
        }
        fit += 1;
    }
    Ok(fit)
}

impl SqliteStore {
    /// Names the file in errors that come from reading it.
    fn with_path(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(e) => self.error(e),
            StoreError::Corrupt { what, reason } => StoreError::NotADatabase {
                path: self.path.clone(),
                reason: format!("stored {what} does not decode ({reason})"),
            },
            other => other,
        }
    }

    fn load_rows(&self, conn: &Connection) -> Result<Snapshot, StoreError> {
        let executions: Vec<ExecutionRecord> = read_rows::<ExecutionRecord>(
            conn,
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
            conn,
            "SELECT run_id, event FROM held_events ORDER BY run_id, position",
            "held event",
        )?;
        for (run_id, event) in held {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.held_events.push(event);
            }
        }
        let activities = read_rows::<ActivityRecord>(
            conn,
            "SELECT run_id, record FROM activities ORDER BY run_id, scheduled_event_id",
            "activity",
        )?;
        for (run_id, act) in activities {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.activities.push(act);
            }
        }
        let timers = read_rows::<TimerRecord>(
            conn,
            "SELECT run_id, record FROM timers ORDER BY run_id, timer_id",
            "timer",
        )?;
        for (run_id, timer) in timers {
            if let Some(rows) = open.get_mut(&run_id) {
                rows.timers.push(timer);
            }
        }
        for rows in open.values_mut() {
            let events = stored_events(conn, &rows.run_id, 1, usize::MAX)?;
            // Checked here, so that a damaged event is reported when the file is opened.
            EncodedEvent::decode_stored(&rows.run_id, &events)?;
            rows.events = events;
        }
        Ok(Snapshot {
            executions,
            open_runs: open.into_values().collect(),
        })
    }
}

fn history(
    conn: &Connection,
    run_id: &str,
    first_event_id: i64,
    max_events: usize,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let events = stored_events(conn, run_id, first_event_id, max_events)?;
    EncodedEvent::decode_stored(run_id, &events)
}

/// Up to `max_events` events of `run_id` from `first_event_id`, as stored.
fn stored_events(
    conn: &Connection,
    run_id: &str,
    first_event_id: i64,
    max_events: usize,
) -> Result<Vec<EncodedEvent>, StoreError> {
    let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, event FROM history_events
         WHERE run_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![run_id, first_event_id, limit], |row| {
        Ok(EncodedEvent {
            event_id: row.get(0)?,
            bytes: row.get::<_, Vec<u8>>(1)?.into(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
