//! The SQLite schema, its versions and the migrations between them. `DESIGN.md` beside this
//! module describes the tables and their invariants.
//!
//! A new database is built the way an old one is upgraded: the version-1 tables, then every
//! migration in order. So a migrated file and a fresh one cannot drift apart, and each migration
//! runs in every test that creates a store.

use super::super::StoreError;
use super::faults::open_error;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::Path;

/// The newest schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a dacapo database ("dcpo"), from version 2 on. It lets tools such
/// as `file(1)` tell a dacapo database from other SQLite files, and lets dacapo refuse a file
/// that another program marked as its own.
pub(crate) const APPLICATION_ID: i32 = 0x6463_706f;

/// The tables of version 1, exactly as that version created them. Never edit: change the schema
/// with a new migration instead.
pub(crate) const CREATE_V1: &str = "
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
INSERT INTO schema_version (version) VALUES (1);
";

/// One upgrade step: it takes a database at version `from` to version `from + 1`, inside the
/// transaction that also records the new version.
pub(super) struct Migration {
    pub(super) from: i64,
    what: &'static str,
    apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    from: 1,
    what: "mark the file with dacapo's application id",
    apply: |tx| tx.pragma_update(None, "application_id", APPLICATION_ID),
}];

/// Creates the schema in an empty database, upgrades one written by an older dacapo, or
/// refuses a file that is not (or no longer) ours. Runs in one exclusive transaction, which
/// also takes the file lock that exclusive locking mode then keeps.
pub(super) fn ensure(path: &Path, conn: &mut Connection) -> Result<(), StoreError> {
    let fail = |e: rusqlite::Error| open_error(path, e);
    let not_ours = |reason: String| StoreError::NotADatabase {
        path: path.to_path_buf(),
        reason,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(fail)?;
    let application_id: i32 = tx
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(fail)?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(not_ours(format!(
            "its SQLite application id is {application_id:#010x}, which marks it as another program's file (dacapo's is {APPLICATION_ID:#010x})"
        )));
    }
    let has_version = tx
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(fail)?
        > 0;
    let found = if has_version {
        let found: Option<i64> = tx
            .query_row("SELECT max(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(fail)?
            .flatten();
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaVersion {
                    path: path.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(v) if v >= 1 => v,
            other => {
                return Err(not_ours(format!(
                    "its schema_version table holds {}, not a version number from 1 to {SCHEMA_VERSION}",
                    other.map_or_else(|| "no row".to_string(), |v| v.to_string())
                )));
            }
        }
    } else {
        let tables: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |row| row.get(0),
            )
            .map_err(fail)?;
        if tables > 0 {
            return Err(not_ours(
                "it is a SQLite database with other tables and no schema_version table".into(),
            ));
        }
        tx.execute_batch(CREATE_V1).map_err(fail)?;
        1
    };
    if found < SCHEMA_VERSION {
        migrate(&tx, path, found, has_version).map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

/// Runs every migration from version `from` on, and records the new version.
fn migrate(tx: &Transaction<'_>, path: &Path, from: i64, existed: bool) -> rusqlite::Result<()> {
    for step in MIGRATIONS.iter().filter(|m| m.from >= from) {
        if existed {
            tracing::info!(
                file = %path.display(),
                "upgrading the dacapo database from schema version {} to {}: {}",
                step.from,
                step.from + 1,
                step.what
            );
        }
        (step.apply)(tx)?;
    }
    tx.execute("UPDATE schema_version SET version = ?1", [SCHEMA_VERSION])?;
    Ok(())
}
