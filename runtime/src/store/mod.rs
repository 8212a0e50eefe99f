//! The engine's durable state.
//!
//! The engine keeps its working state in memory and writes every change through a [`Store`]
//! before it answers the request that caused it. A store holds four kinds of rows, each keyed by
//! the run id of a workflow execution:
//!
//! | rows | key | lifetime |
//! | --- | --- | --- |
//! | [`ExecutionRecord`] | run id | forever (one per run, open or closed) |
//! | history events (`HistoryEvent`) | run id, event id | forever; dense ids `1..=n` |
//! | held ("buffered") events | run id, position | only while a workflow task is running |
//! | [`ActivityRecord`], [`TimerRecord`] | run id + scheduled event id / timer id | while pending |
//!
//! Invariants the engine maintains and a store may rely on:
//!
//! - events of a run are appended in id order without gaps, and never rewritten;
//! - held events, activities and timers exist only for runs whose record has status Running; when a
//!   run closes, the same commit deletes them;
//! - every row is replaced whole (`Put*`), so a store needs no partial updates.
//!
//! Records are prost messages so that adding a field later keeps old rows readable.
//!
//! `DESIGN.md` in this directory is the full reference: the SQLite schema and its versions, every
//! invariant, the commit protocol with group commit, what survives a process crash and a power
//! loss, locking, and what happens when a file is opened.

use crate::proto::common::{ActivityType, Header, Payloads, RetryPolicy};
use crate::proto::failure::Failure;
use crate::proto::history::HistoryEvent;
use std::fmt;
use std::path::PathBuf;

mod memory;
pub(crate) mod nesting;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteStore, VerifyReport};

/// Where the engine's state lives between requests and across restarts.
///
/// Implementations must be safe to call from several threads; the engine calls
/// [`commit`](Store::commit) from one writer thread only, in the order the changes were made, and
/// [`read_history`](Store::read_history) from any thread.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Reads everything needed to resume: every execution record, and for each run whose status
    /// is Running its events, held events, pending activities and pending timers.
    ///
    /// # Errors
    /// Fails when the backing storage cannot be read or a row does not decode.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `ops` in order, all or nothing. When it returns `Ok`, the changes are durable: a
    /// crash of the process (or, for a file-backed store, of the machine) after this point does
    /// not lose them, and a later [`load`](Store::load) or [`read_history`](Store::read_history)
    /// sees them.
    ///
    /// # Errors
    /// Fails when the storage rejects the write; then none of `ops` was applied.
    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError>;

    /// Up to `max_events` committed history events of `run_id`, starting at `first_event_id`, in
    /// id order. An unknown run gives an empty list.
    ///
    /// # Errors
    /// Fails when the storage cannot be read or an event does not decode.
    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError>;

    /// Checks, without writing, what would stop the next [`commit`](Store::commit) that can be
    /// seen without trying it; for a file, that its path still names the file the store has
    /// open. The engine's writer thread calls it every few seconds while it has nothing to
    /// write, so that a store gone bad is reported before the next change is refused.
    ///
    /// # Errors
    /// What a commit would fail with now. The default finds nothing.
    fn probe(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Like [`read_history`](Store::read_history), but stops before the event that would take
    /// the events read past `max_bytes` of their encoding; the first event is read whatever its
    /// size. A store should read no event it does not return; this default reads a few at a
    /// time.
    ///
    /// # Errors
    /// As [`read_history`](Store::read_history).
    fn read_history_page(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        use prost::Message;
        const BATCH: usize = 8;
        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut next = first_event_id;
        while events.len() < max_events {
            let batch = self.read_history(run_id, next, (max_events - events.len()).min(BATCH))?;
            if batch.is_empty() {
                break;
            }
            for event in batch {
                bytes = bytes.saturating_add(event.encoded_len());
                if !events.is_empty() && bytes > max_bytes {
                    return Ok(events);
                }
                next = event.event_id + 1;
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// One change to the stored state. See the module documentation for the row kinds.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Inserts or replaces the record of a run.
    PutExecution(Box<ExecutionRecord>),
    /// Appends events (ids continue the run's history without gaps).
    AppendEvents {
        /// The run the events belong to.
        run_id: String,
        /// The events, in id order, encoded.
        events: Vec<EncodedEvent>,
    },
    /// Replaces the held events of a run (an empty list deletes them).
    SetHeldEvents {
        /// The run.
        run_id: String,
        /// The held events, in arrival order; their event ids are not assigned yet.
        events: Vec<HistoryEvent>,
    },
    /// Inserts or replaces a pending activity.
    PutActivity(Box<ActivityRecord>),
    /// Deletes a pending activity.
    DeleteActivity {
        /// The run.
        run_id: String,
        /// The id of the activity's `ActivityTaskScheduled` event.
        scheduled_event_id: i64,
    },
    /// Inserts or replaces a pending timer.
    PutTimer(TimerRecord),
    /// Deletes a pending timer.
    DeleteTimer {
        /// The run.
        run_id: String,
        /// The timer id chosen by the workflow.
        timer_id: String,
    },
}

/// A history event in its protobuf encoding, as it is stored and as the engine keeps open runs'
/// histories in memory (a decoded `HistoryEvent` takes about 2 KiB whatever its kind; most
/// encode to a few hundred bytes). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The event's id.
    pub event_id: i64,
    /// `HistoryEvent::encode_to_vec` of the event.
    pub bytes: std::sync::Arc<[u8]>,
}

impl EncodedEvent {
    /// Encodes `event`. An event whose messages nest deeper than a stored event may (64 levels,
    /// so that what wraps it when it is read back still decodes) loses what lies deeper.
    pub fn encode(event: &HistoryEvent) -> EncodedEvent {
        Self::encode_bounded(event).0
    }

    /// Encodes an event of `run_id` as [`encode`](Self::encode) does, and logs an error naming
    /// the run and the event when the event had to be cut: whatever put it together let a
    /// message through that should have been truncated where it arrived.
    pub(crate) fn encode_for_run(run_id: &str, event: &HistoryEvent) -> EncodedEvent {
        let (encoded, cut) = Self::encode_bounded(event);
        if cut {
            log_cut(run_id, event, "history event");
        }
        encoded
    }

    /// Cuts a held event of `run_id` as [`encode_for_run`](Self::encode_for_run) would, in
    /// place, since held events are stored decoded.
    pub(crate) fn bound_held(run_id: &str, event: &mut HistoryEvent) {
        if nesting::bound_event(event, nesting::MAX_STORED_NESTING) {
            log_cut(run_id, event, "held event");
        }
    }

    fn encode_bounded(event: &HistoryEvent) -> (EncodedEvent, bool) {
        use prost::Message;
        let bytes = event.encode_to_vec();
        let (bytes, cut) = match nesting::cut_event(&bytes, nesting::MAX_STORED_NESTING) {
            Some(cut) => (cut, true),
            None => (bytes, false),
        };
        let encoded = EncodedEvent {
            event_id: event.event_id,
            bytes: bytes.into(),
        };
        (encoded, cut)
    }

    /// Decodes the event.
    ///
    /// # Errors
    /// When the bytes are not an encoded `HistoryEvent`.
    pub fn decode(&self) -> Result<HistoryEvent, prost::DecodeError> {
        use prost::Message;
        HistoryEvent::decode(&self.bytes[..])
    }

    /// Decodes stored events of `run_id` in order; an event that does not decode is reported
    /// as a corrupt row naming it.
    pub(crate) fn decode_stored<'a>(
        run_id: &str,
        events: impl IntoIterator<Item = &'a EncodedEvent>,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        Self::decode_all(events).map_err(|(event_id, err)| StoreError::Corrupt {
            what: format!("history event {event_id} of run {run_id}"),
            reason: decode_reason(&err),
        })
    }

    /// Decodes `events` in order; on failure, the id of the event that does not decode and why.
    pub(crate) fn decode_all<'a>(
        events: impl IntoIterator<Item = &'a EncodedEvent>,
    ) -> Result<Vec<HistoryEvent>, (i64, prost::DecodeError)> {
        events
            .into_iter()
            .map(|e| e.decode().map_err(|err| (e.event_id, err)))
            .collect()
    }
}

/// The decoder's message, with the path to the failing field told once per repeated step
/// ("Failure.cause (97 times)" rather than the step 97 times over).
pub(crate) fn decode_reason(err: &prost::DecodeError) -> String {
    let text = err.to_string();
    let mut parts: Vec<(usize, &str)> = Vec::new();
    for part in text.split(": ") {
        match parts.last_mut() {
            Some((n, last)) if *last == part => *n += 1,
            _ => parts.push((1, part)),
        }
    }
    parts
        .iter()
        .map(|(n, part)| match n {
            1 => (*part).to_string(),
            n => format!("{part} ({n} times)"),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn log_cut(run_id: &str, event: &HistoryEvent, what: &str) {
    tracing::error!(
        run_id,
        event_id = event.event_id,
        event_type = crate::proto::event_type_name(event.event_type),
        "a {what} nested more than {} messages deep; what lay deeper was cut so that it decodes",
        nesting::MAX_STORED_NESTING
    );
}

/// What [`Store::load`] returns.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every execution record, open or closed, in no particular order.
    pub executions: Vec<ExecutionRecord>,
    /// The rows of each open run.
    pub open_runs: Vec<OpenRunRows>,
    /// Rows of open runs that could not be used: each makes its run damaged (see
    /// [`Damage`]). The other rows of such a run are in `open_runs` as usual.
    pub damaged: Vec<Damage>,
}

/// A stored row of an open run that [`Store::load`] could not use: it does not decode, or (a
/// history event) it nests so deeply that a response carrying it would not decode. The run is
/// served as damaged: it can be described, listed and terminated, but no task of it is handed
/// out and a history read that reaches the row fails naming it. `DESIGN.md` (section 9.1) says
/// exactly what such a run answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The run.
    pub run_id: String,
    /// Which row.
    pub row: DamagedRow,
    /// What is wrong with it (the decoder's message).
    pub reason: String,
}

/// Which row of a run is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DamagedRow {
    /// The history event with this id. The events are all kept as stored, this one too.
    HistoryEvent(i64),
    /// The held event at this position; it is left out of the run's held events.
    HeldEvent(i64),
    /// The pending activity scheduled by this event; the run holds a stand-in made of the
    /// row's key columns (activity id, attempt), so that closing the run deletes the row.
    Activity(i64),
    /// The pending timer with this id; the run holds a stand-in made of the row's key
    /// columns, so that closing the run deletes the row.
    Timer(String),
}

impl fmt::Display for DamagedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamagedRow::HistoryEvent(id) => write!(f, "history event {id}"),
            DamagedRow::HeldEvent(position) => write!(f, "held event {position}"),
            DamagedRow::Activity(id) => write!(f, "the activity scheduled by event {id}"),
            DamagedRow::Timer(id) => write!(f, "timer \"{id}\""),
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of run {} is damaged ({})",
            self.row, self.run_id, self.reason
        )
    }
}

/// The rows that exist only while a run is open, plus its history.
#[derive(Debug, Default, Clone)]
pub struct OpenRunRows {
    /// The run.
    pub run_id: String,
    /// Its history, in id order, as stored (each event is checked to decode when loaded).
    pub events: Vec<EncodedEvent>,
    /// Events held back while a workflow task runs, in arrival order.
    pub held_events: Vec<HistoryEvent>,
    /// Pending activities.
    pub activities: Vec<ActivityRecord>,
    /// Pending timers.
    pub timers: Vec<TimerRecord>,
}

/// The state of one workflow run that is not in its history. Times are Unix milliseconds;
/// durations are milliseconds; 0 means "not set".
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionRecord {
    /// Namespace name.
    #[prost(string, tag = "1")]
    pub namespace: String,
    /// Workflow id.
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    /// Run id (a UUID).
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// Workflow type name.
    #[prost(string, tag = "4")]
    pub workflow_type: String,
    /// The task queue its workflow tasks go to.
    #[prost(string, tag = "5")]
    pub task_queue: String,
    /// A `WorkflowExecutionStatus` value.
    #[prost(int32, tag = "6")]
    pub status: i32,
    /// When the run started.
    #[prost(int64, tag = "7")]
    pub start_time_ms: i64,
    /// When the run closed (0 while open).
    #[prost(int64, tag = "8")]
    pub close_time_ms: i64,
    /// The id the next history event will get; the history holds `1..next_event_id`.
    #[prost(int64, tag = "9")]
    pub next_event_id: i64,
    /// The `WorkflowTaskStarted` id of the last completed workflow task.
    #[prost(int64, tag = "10")]
    pub previous_started_event_id: i64,
    /// The request id of the start request, for de-duplication.
    #[prost(string, tag = "11")]
    pub start_request_id: String,
    /// Start-to-close timeout of each workflow task.
    #[prost(int64, tag = "12")]
    pub workflow_task_timeout_ms: i64,
    /// Run timeout.
    #[prost(int64, tag = "13")]
    pub run_timeout_ms: i64,
    /// Execution timeout.
    #[prost(int64, tag = "14")]
    pub execution_timeout_ms: i64,
    /// When the run times out (0: never).
    #[prost(int64, tag = "15")]
    pub run_deadline_ms: i64,
    /// Whether a cancel was requested (there is then exactly one `WorkflowExecutionCancelRequested`).
    #[prost(bool, tag = "16")]
    pub cancel_requested: bool,
    /// The pending workflow task, if any.
    #[prost(message, optional, tag = "17")]
    pub workflow_task: Option<WorkflowTaskRecord>,
    /// Request ids of recent signals, for de-duplication (bounded).
    #[prost(string, repeated, tag = "18")]
    pub signal_request_ids: Vec<String>,
    /// No workflow task is scheduled before this time (a start delay).
    #[prost(int64, tag = "19")]
    pub first_task_not_before_ms: i64,
    /// Encoded size of the history so far.
    #[prost(int64, tag = "20")]
    pub history_size_bytes: i64,
    /// Orders runs that started in the same millisecond: the `task_id` of their first event.
    #[prost(int64, tag = "21")]
    pub start_sequence: i64,
    /// How many signals the run has taken (each `WorkflowExecutionSignaled`, held or written).
    #[prost(int64, tag = "22")]
    pub signal_count: i64,
}

/// A scheduled or started workflow task.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct WorkflowTaskRecord {
    /// Id of its `WorkflowTaskScheduled` event.
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    /// Id of its `WorkflowTaskStarted` event (0 until a worker picks it up).
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    /// Attempt number, from 1; grows while consecutive tasks fail or time out.
    #[prost(int32, tag = "3")]
    pub attempt: i32,
    /// When it was scheduled.
    #[prost(int64, tag = "4")]
    pub scheduled_time_ms: i64,
    /// When it started (0 until started).
    #[prost(int64, tag = "5")]
    pub started_time_ms: i64,
    /// Workers may not pick it up before this time (retry back-off).
    #[prost(int64, tag = "6")]
    pub not_before_ms: i64,
}

/// A pending activity: its options and the state of its current attempt.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityRecord {
    /// The run.
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// Id of its `ActivityTaskScheduled` event.
    #[prost(int64, tag = "2")]
    pub scheduled_event_id: i64,
    /// Activity id chosen by the workflow.
    #[prost(string, tag = "3")]
    pub activity_id: String,
    /// Activity type.
    #[prost(message, optional, tag = "4")]
    pub activity_type: Option<ActivityType>,
    /// Task queue the attempts go to.
    #[prost(string, tag = "5")]
    pub task_queue: String,
    /// Input.
    #[prost(message, optional, tag = "6")]
    pub input: Option<Payloads>,
    /// Header.
    #[prost(message, optional, tag = "7")]
    pub header: Option<Header>,
    /// Schedule-to-close timeout (whole activity, all attempts).
    #[prost(int64, tag = "8")]
    pub schedule_to_close_ms: i64,
    /// Schedule-to-start timeout (per attempt).
    #[prost(int64, tag = "9")]
    pub schedule_to_start_ms: i64,
    /// Start-to-close timeout (per attempt).
    #[prost(int64, tag = "10")]
    pub start_to_close_ms: i64,
    /// Heartbeat timeout (per attempt).
    #[prost(int64, tag = "11")]
    pub heartbeat_ms: i64,
    /// Retry policy with server defaults filled in.
    #[prost(message, optional, tag = "12")]
    pub retry_policy: Option<RetryPolicy>,
    /// When the activity was first scheduled.
    #[prost(int64, tag = "13")]
    pub first_scheduled_ms: i64,
    /// Current attempt, from 1.
    #[prost(int32, tag = "14")]
    pub attempt: i32,
    /// When the current attempt was scheduled (after any retry back-off).
    #[prost(int64, tag = "15")]
    pub attempt_scheduled_ms: i64,
    /// When the current attempt started (0 while not started).
    #[prost(int64, tag = "16")]
    pub started_ms: i64,
    /// Identity of the worker running the current attempt.
    #[prost(string, tag = "17")]
    pub started_identity: String,
    /// Request id of the poll that started the current attempt.
    #[prost(string, tag = "18")]
    pub started_request_id: String,
    /// Last heartbeat of the current attempt (0: none yet).
    #[prost(int64, tag = "19")]
    pub last_heartbeat_ms: i64,
    /// Details of the last heartbeat (kept across attempts).
    #[prost(message, optional, tag = "20")]
    pub heartbeat_details: Option<Payloads>,
    /// Failure of the previous attempt.
    #[prost(message, optional, tag = "21")]
    pub last_failure: Option<Failure>,
    /// Whether the workflow asked to cancel it.
    #[prost(bool, tag = "22")]
    pub cancel_requested: bool,
    /// Id of its `ActivityTaskCancelRequested` event.
    #[prost(int64, tag = "23")]
    pub cancel_requested_event_id: i64,
    /// The current attempt waits for its retry back-off until then (0: no back-off).
    #[prost(int64, tag = "24")]
    pub retry_at_ms: i64,
    /// Identity of the last worker that ran an attempt.
    #[prost(string, tag = "25")]
    pub last_worker_identity: String,
    /// When the previous attempt ended.
    #[prost(int64, tag = "26")]
    pub last_attempt_complete_ms: i64,
}

impl ActivityRecord {
    /// Whether the current attempt has been handed to a worker.
    pub fn is_started(&self) -> bool {
        self.started_ms > 0
    }
}

/// A pending user timer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TimerRecord {
    /// The run.
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// Timer id chosen by the workflow.
    #[prost(string, tag = "2")]
    pub timer_id: String,
    /// Id of its `TimerStarted` event.
    #[prost(int64, tag = "3")]
    pub started_event_id: i64,
    /// When it fires.
    #[prost(int64, tag = "4")]
    pub fire_at_ms: i64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open the dacapo database {}: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong and what to check.
        reason: String,
    },
    /// The file exists but is not a (healthy) dacapo database.
    #[error("{} is not a usable dacapo database: {reason}", path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The database was written by a newer version of dacapo.
    #[error(
        "{} has schema version {found}, but this build of dacapo reads up to version {supported}; upgrade dacapo or use another file",
        path.display()
    )]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version recorded in the file.
        found: i64,
        /// The newest version this build reads.
        supported: i64,
    },
    /// Another engine has the database open.
    #[error(
        "the dacapo database {} is in use by another engine (in this or another process); stop it or choose another file",
        path.display()
    )]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// A full check ([`SqliteStore::verify`]) found rows that break the store's invariants.
    #[error("{} breaks the invariants of a dacapo database: {}", path.display(), problems.join("; "))]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What is wrong, one entry per problem (at most 20).
        problems: Vec<String>,
    },
    /// A stored row did not decode.
    #[error("stored {what} does not decode ({reason}); the database may be corrupt")]
    Corrupt {
        /// Which row.
        what: String,
        /// The decoder's message.
        reason: String,
    },
    /// The store cannot write for now: the disk is full, the file system is read-only or
    /// reports I/O errors, the file lost its write permission. Nothing of the failed commit
    /// was applied, and the same commit may succeed later: the engine retries it.
    #[error("cannot write the dacapo database {}: {reason}", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// What SQLite reported and what was found about the file.
        reason: String,
    },
    /// The database file was deleted, moved away or replaced while the store had it open.
    /// The store then refuses to commit, since what it wrote would go to a file that no name
    /// reaches and that is gone once the process ends. A commit succeeds again if the file
    /// comes back under its name.
    #[error("the dacapo database {} {detail}", path.display())]
    Replaced {
        /// The path the store was opened with.
        path: PathBuf,
        /// What was found there, and what was done to keep the data.
        detail: String,
    },
    /// SQLite reported an error during normal operation.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[error("database operation failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether the same operation may succeed if tried again later, with nothing done to the
    /// store: a full disk may get room, a file system may be remounted read-write, a moved
    /// file may be moved back. A damaged file, a row the store refuses or a newer schema do not
    /// mend that way.
    pub fn is_transient(&self) -> bool {
        #[cfg(feature = "sqlite")]
        use rusqlite::ErrorCode;
        match self {
            StoreError::Unwritable { .. } | StoreError::Replaced { .. } => true,
            #[cfg(feature = "sqlite")]
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::DiskFull
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::ReadOnly
                        | ErrorCode::CannotOpen
                        | ErrorCode::PermissionDenied
                        | ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                )
            ),
            _ => false,
        }
    }
}
