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
//!   refused with both versions named;
//! - a file that cannot be written is refused naming why, and a file deleted or replaced under
//!   the engine is noticed before the next commit, saved beside its path and not written on
//!   (see `faults`).

use super::{
    ActivityRecord, Damage, DamagedRow, EncodedEvent, ExecutionRecord, OpenRunRows, Snapshot,
    Store, StoreError, TimerRecord, WriteOp, nesting,
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

mod faults;
mod schema;
mod verify;

pub use verify::VerifyReport;

/// A [`Store`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The file the connection has open, as the path named it then (`None` where the platform
    /// cannot say). Checked before every commit: see `DESIGN.md`, section 10.
    opened: Option<faults::FileId>,
    /// Its write-ahead log, once it exists.
    wal: std::sync::OnceLock<faults::FileId>,
    /// While the path does not name that file: what was done to keep its data (so that it is
    /// done once).
    lost: Mutex<Option<faults::Lost>>,
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
    /// another engine has it open. Every one names the file. A file that cannot be written (its
    /// mode, an immutable flag, a read-only file system) is refused with `Open` saying which;
    /// so is a missing file when a copy saved from it (after it was deleted under a running
    /// engine) is beside it, rather than starting an empty database in its place.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(reason) = faults::write_problem(&path) {
            return Err(StoreError::Open { path, reason });
        }
        faults::check_rescued(&path)?;
        let fail = |e: rusqlite::Error| faults::open_error(&path, e);
        let mut conn = Connection::open(&path).map_err(fail)?;
        let opened = faults::file_id(&path).ok();
        configure(&conn).map_err(fail)?;
        schema::ensure(&path, &mut conn)?;
        // Every time, not only when the file is new: the process that created it may have died
        // before it got here.
        faults::sync_parent_dir(&path);
        let store = Self {
            path,
            conn: Mutex::new(conn),
            opened,
            wal: std::sync::OnceLock::new(),
            lost: Mutex::new(None),
        };
        store.note_wal();
        Ok(store)
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
        self.check_file(&conn)?;
        let fail = |e| self.write_error(e);
        let tx = conn.transaction().map_err(fail)?;
        for op in ops {
            apply(&tx, op).map_err(fail)?;
        }
        // Dropping an uncommitted transaction rolls it back: all or nothing.
        tx.commit().map_err(fail)
    }

    fn probe(&self) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        self.check_file(&conn)
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.conn.lock();
        history(&conn, run_id, first_event_id, max_events).map_err(|e| self.read_error(e))
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
            .map_err(|e| self.read_error(e))?;
        history(&conn, run_id, first_event_id, fit).map_err(|e| self.read_error(e))
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
    /// Refuses to go on writing when the path no longer names the file the connection has open
    /// (deleted, moved away or replaced): that file would be gone, with every commit, once the
    /// process ends. The first time, a copy of it is saved beside the path.
    fn check_file(&self, conn: &Connection) -> Result<(), StoreError> {
        let Some(opened) = self.opened else {
            return Ok(());
        };
        let now = faults::file_id(&self.path);
        let mut lost = self.lost.lock();
        let refuse = |detail: String| StoreError::Replaced {
            path: self.path.clone(),
            detail,
        };
        if matches!(now, Ok(id) if id == opened) {
            if let Some(was) = lost.as_ref() {
                faults::restore_lost(&self.path, was).map_err(refuse)?;
                *lost = None;
                tracing::info!(path = %self.path.display(), "the database file is back under its name");
            }
            self.note_wal();
            return Ok(());
        }
        let what = match now {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "was deleted or moved away".to_string()
            }
            Ok(_) => "was replaced by another file".to_string(),
            Err(e) => format!("can no longer be looked up ({e})"),
        };
        let kept = lost
            .get_or_insert_with(|| faults::keep_lost(conn, &self.path, self.wal.get().copied()));
        Err(refuse(format!(
            "{what} while the engine had it open, so the engine takes no changes: they would go \
             to a file that no name reaches and that is gone when the engine stops. {}",
            kept.told
        )))
    }

    /// Remembers which file the write-ahead log is, once SQLite has created it.
    fn note_wal(&self) {
        if self.wal.get().is_none()
            && let Ok(id) = faults::file_id(&faults::wal_path(&self.path))
        {
            let _ = self.wal.set(id);
        }
    }

    /// Turns an error of a commit into a [`StoreError`], naming the cause when it may pass.
    fn write_error(&self, e: rusqlite::Error) -> StoreError {
        faults::write_error(&self.path, e).unwrap_or_else(|e| self.error(e))
    }

    /// Names the file in errors that come from reading it.
    /// Names the file in errors of a history read; a row that does not decode damages its
    /// run, not the file, so it stays `Corrupt`.
    fn read_error(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(e) => self.error(e),
            other => other,
        }
    }

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
        // A row of an open run that does not decode damages that run only (see `Damage`).
        let mut damaged = Vec::new();
        pending_rows(conn, &mut open, &mut damaged)?;
        for rows in open.values_mut() {
            rows.events = stored_events(conn, &rows.run_id, 1, usize::MAX)?;
            // Checked here, so that a damaged event is reported when the file is opened.
            if let Some((event_id, reason)) = first_bad_event(&rows.events) {
                damaged.push(Damage {
                    run_id: rows.run_id.clone(),
                    row: DamagedRow::HistoryEvent(event_id),
                    reason,
                });
            }
        }
        Ok(Snapshot {
            executions,
            open_runs: open.into_values().collect(),
            damaged,
        })
    }
}

/// Reads the held events, activities and timers of the open runs into `open`. A row that does
/// not decode is reported in `damaged`; an activity or timer row is then replaced by a
/// stand-in built from its key columns, so that closing the run deletes it.
fn pending_rows(
    conn: &Connection,
    open: &mut HashMap<String, OpenRunRows>,
    damaged: &mut Vec<Damage>,
) -> Result<(), StoreError> {
    open_run_rows(
        conn,
        "SELECT run_id, position, event FROM held_events ORDER BY run_id, position",
        open,
        damaged,
        |run, row| match decode_cell::<HistoryEvent>(row, 2) {
            Ok(event) => {
                run.held_events.push(event);
                Ok(None)
            }
            Err(e) => Ok(Some((DamagedRow::HeldEvent(row.get(1)?), e))),
        },
    )?;
    open_run_rows(
        conn,
        "SELECT run_id, scheduled_event_id, activity_id, attempt, record FROM activities
         ORDER BY run_id, scheduled_event_id",
        open,
        damaged,
        |run, row| match decode_cell::<ActivityRecord>(row, 4) {
            Ok(act) => {
                run.activities.push(act);
                Ok(None)
            }
            Err(e) => {
                let scheduled_event_id: i64 = row.get(1)?;
                run.activities.push(ActivityRecord {
                    run_id: run.run_id.clone(),
                    scheduled_event_id,
                    activity_id: row.get(2)?,
                    attempt: row.get(3)?,
                    ..ActivityRecord::default()
                });
                Ok(Some((DamagedRow::Activity(scheduled_event_id), e)))
            }
        },
    )?;
    open_run_rows(
        conn,
        "SELECT run_id, timer_id, fire_at_ms, record FROM timers ORDER BY run_id, timer_id",
        open,
        damaged,
        |run, row| match decode_cell::<TimerRecord>(row, 3) {
            Ok(timer) => {
                run.timers.push(timer);
                Ok(None)
            }
            Err(e) => {
                let timer_id: String = row.get(1)?;
                run.timers.push(TimerRecord {
                    run_id: run.run_id.clone(),
                    timer_id: timer_id.clone(),
                    started_event_id: 0,
                    fire_at_ms: row.get(2)?,
                });
                Ok(Some((DamagedRow::Timer(timer_id), e)))
            }
        },
    )
}

/// Runs `read` on every row of `sql` (whose first column is a run id) that belongs to an open
/// run, with that run's rows; a row `read` finds damaged (the row, and why) is reported in
/// `damaged`.
fn open_run_rows(
    conn: &Connection,
    sql: &str,
    open: &mut HashMap<String, OpenRunRows>,
    damaged: &mut Vec<Damage>,
    mut read: impl FnMut(
        &mut OpenRunRows,
        &rusqlite::Row<'_>,
    ) -> rusqlite::Result<Option<(DamagedRow, String)>>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let run_id: String = row.get(0)?;
        let Some(run) = open.get_mut(&run_id) else {
            continue;
        };
        if let Some((row, reason)) = read(run, row)? {
            damaged.push(Damage {
                run_id,
                row,
                reason,
            });
        }
    }
    Ok(())
}

/// Decodes the blob in column `idx` of `row`; the error says why it could not.
fn decode_cell<M: Message + Default>(row: &rusqlite::Row<'_>, idx: usize) -> Result<M, String> {
    let value = row.get_ref(idx).map_err(|e| e.to_string())?;
    let bytes = value.as_blob().map_err(|e| e.to_string())?;
    M::decode(bytes).map_err(|e| super::decode_reason(&e))
}

/// The first event that does not decode, or that nests so deeply that a response carrying it
/// would not decode, with why.
fn first_bad_event(events: &[EncodedEvent]) -> Option<(i64, String)> {
    events
        .iter()
        .find_map(|e| event_problem(e).map(|reason| (e.event_id, reason)))
}

/// What is wrong with a stored event, if anything.
fn event_problem(event: &EncodedEvent) -> Option<String> {
    if let Err(e) = event.decode() {
        return Some(super::decode_reason(&e));
    }
    let limit = nesting::MAX_DELIVERABLE_NESTING;
    (!nesting::event_fits(&event.bytes, limit)).then(|| {
        format!("it nests more than {limit} messages deep, so no response carrying it would decode")
    })
}

fn history(
    conn: &Connection,
    run_id: &str,
    first_event_id: i64,
    max_events: usize,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let events = stored_events(conn, run_id, first_event_id, max_events)?;
    if let Some(event) = events
        .iter()
        .find(|e| !nesting::event_fits(&e.bytes, nesting::MAX_DELIVERABLE_NESTING))
    {
        return Err(StoreError::Corrupt {
            what: format!("history event {} of run {run_id}", event.event_id),
            reason: format!(
                "it nests more than {} messages deep, so no response carrying it would decode",
                nesting::MAX_DELIVERABLE_NESTING
            ),
        });
    }
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
