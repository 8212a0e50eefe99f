//! A full check of a database file: SQLite's own integrity check, then every invariant of
//! `DESIGN.md` that can be read off the rows. The engine never needs it to run; it is for tests,
//! tools, and anyone who wants to know that a file that went through a crash is sound.

use super::super::{
    ActivityRecord, ExecutionRecord, StoreError, TimerRecord, decode_reason, nesting,
};
use super::SqliteStore;
use crate::proto::EventAttributes;
use crate::proto::enums::{EventType, WorkflowExecutionStatus};
use crate::proto::history::HistoryEvent;
use prost::Message;
use rusqlite::Connection;
use std::collections::{BTreeSet, HashMap};

/// How many problems a failed check lists at most.
const MAX_PROBLEMS: usize = 20;

/// What [`SqliteStore::verify`] went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Runs (execution records), open or closed.
    pub runs: usize,
    /// Runs still open.
    pub open_runs: usize,
    /// History events, all runs together.
    pub events: usize,
    /// Pending activities of open runs.
    pub activities: usize,
    /// Pending timers of open runs.
    pub timers: usize,
}

/// What is known of a run while its rows are checked.
struct RunFacts {
    rec: ExecutionRecord,
    events: i64,
    last_event_type: i32,
    scheduled: BTreeSet<i64>,
    timers: HashMap<String, i64>,
}

impl SqliteStore {
    /// Reads the whole file and checks it: SQLite's `integrity_check`, then the store's
    /// invariants (see `DESIGN.md` beside this module): every row decodes (a history event
    /// also within the nesting depth a response carrying it can have) and agrees with its key
    /// columns; each run's history has the dense ids `1..next_event_id` and, once the run
    /// is closed, ends with the close event that matches its status; held events, pending
    /// activities and timers exist only for open runs and refer to events of their history.
    ///
    /// Takes time in proportion to the file's size, and holds the store while it runs.
    ///
    /// # Errors
    /// [`StoreError::NotADatabase`] when SQLite finds the file damaged,
    /// [`StoreError::Inconsistent`] listing the broken invariants (the first 20), and
    /// [`StoreError::Sqlite`] when the file cannot be read.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let conn = self.conn.lock();
        let damage = integrity_problems(&conn).map_err(|e| self.error(e))?;
        if !damage.is_empty() {
            return Err(StoreError::NotADatabase {
                path: self.path.clone(),
                reason: format!("SQLite's integrity check failed: {}", damage.join("; ")),
            });
        }
        let mut problems = Problems::default();
        let report = check_rows(&conn, &mut problems).map_err(|e| self.error(e))?;
        if problems.list.is_empty() {
            Ok(report)
        } else {
            Err(StoreError::Inconsistent {
                path: self.path.clone(),
                problems: problems.list,
            })
        }
    }
}

#[derive(Default)]
struct Problems {
    list: Vec<String>,
}

impl Problems {
    fn add(&mut self, problem: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem);
        }
    }
}

fn integrity_problems(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA integrity_check({MAX_PROBLEMS})"))?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        let line = row?;
        if line != "ok" {
            out.push(line);
        }
    }
    Ok(out)
}

fn check_rows(conn: &Connection, problems: &mut Problems) -> rusqlite::Result<VerifyReport> {
    let mut runs = executions(conn, problems)?;
    let mut report = VerifyReport {
        runs: runs.len(),
        open_runs: runs
            .values()
            .filter(|r| r.rec.status == WorkflowExecutionStatus::Running as i32)
            .count(),
        ..VerifyReport::default()
    };
    report.events = history(conn, &mut runs, problems)?;
    for (run_id, facts) in &runs {
        let rec = &facts.rec;
        if rec.next_event_id < 2 {
            problems.add(format!(
                "run {run_id} has next event id {}, but every run has a start event",
                rec.next_event_id
            ));
        }
        if facts.events != rec.next_event_id - 1 {
            problems.add(format!(
                "run {run_id} has {} history events but its record expects {}",
                facts.events,
                rec.next_event_id - 1
            ));
        }
        let expected = close_event_of(rec.status);
        let actual = (facts.last_event_type != 0)
            .then_some(facts.last_event_type)
            .filter(|t| is_close_event(*t));
        if actual != expected.map(|t| t as i32) {
            problems.add(format!(
                "run {run_id} has status {} but its history ends with {}",
                status_name(rec.status),
                crate::proto::event_type_name(facts.last_event_type)
            ));
        }
    }
    pending_rows(conn, &runs, problems, &mut report)?;
    Ok(report)
}

fn executions(
    conn: &Connection,
    problems: &mut Problems,
) -> rusqlite::Result<HashMap<String, RunFacts>> {
    let mut stmt = conn.prepare(
        "SELECT run_id, namespace, workflow_id, status, start_time_ms, close_time_ms, record
         FROM executions",
    )?;
    let mut rows = stmt.query([])?;
    let mut runs = HashMap::new();
    while let Some(row) = rows.next()? {
        let run_id: String = row.get(0)?;
        let bytes: Vec<u8> = row.get(6)?;
        let rec = match ExecutionRecord::decode(bytes.as_slice()) {
            Ok(rec) => rec,
            Err(e) => {
                problems.add(format!("the record of run {run_id} does not decode: {e}"));
                continue;
            }
        };
        let keys = (
            rec.run_id.as_str(),
            rec.namespace.as_str(),
            rec.workflow_id.as_str(),
            rec.status,
            rec.start_time_ms,
            rec.close_time_ms,
        );
        let columns = (
            run_id.as_str(),
            row.get_ref(1)?.as_str().unwrap_or_default(),
            row.get_ref(2)?.as_str().unwrap_or_default(),
            row.get::<_, i32>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
        );
        if keys != columns {
            problems.add(format!(
                "the key columns of run {run_id} disagree with its record"
            ));
        }
        let open = rec.status == WorkflowExecutionStatus::Running as i32;
        if open != (rec.close_time_ms == 0) {
            problems.add(format!(
                "run {run_id} has status {} but close time {}",
                status_name(rec.status),
                rec.close_time_ms
            ));
        }
        let facts = RunFacts {
            rec,
            events: 0,
            last_event_type: 0,
            scheduled: BTreeSet::new(),
            timers: HashMap::new(),
        };
        runs.insert(run_id, facts);
    }
    Ok(runs)
}

/// Streams every history event; returns how many there are.
fn history(
    conn: &Connection,
    runs: &mut HashMap<String, RunFacts>,
    problems: &mut Problems,
) -> rusqlite::Result<usize> {
    let mut stmt = conn
        .prepare("SELECT run_id, event_id, event FROM history_events ORDER BY run_id, event_id")?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        count += 1;
        let run_id = row.get_ref(0)?.as_str().unwrap_or_default();
        let event_id: i64 = row.get(1)?;
        let Some(facts) = runs.get_mut(run_id) else {
            problems.add(format!(
                "history event {event_id} belongs to run {run_id}, which has no record"
            ));
            continue;
        };
        if event_id != facts.events + 1 {
            problems.add(format!(
                "the history of run {run_id} jumps from event {} to {event_id}",
                facts.events
            ));
        }
        facts.events = event_id;
        let bytes = row.get_ref(2)?.as_blob().unwrap_or_default();
        let event = match HistoryEvent::decode(bytes) {
            Ok(event) => event,
            Err(e) => {
                problems.add(format!(
                    "history event {event_id} of run {run_id} does not decode: {}",
                    decode_reason(&e)
                ));
                continue;
            }
        };
        if !nesting::event_fits(bytes, nesting::MAX_DELIVERABLE_NESTING) {
            problems.add(format!(
                "history event {event_id} of run {run_id} nests more than {} messages deep, so no response carrying it would decode",
                nesting::MAX_DELIVERABLE_NESTING
            ));
        }
        if event.event_id != event_id {
            problems.add(format!(
                "history event {event_id} of run {run_id} carries id {}",
                event.event_id
            ));
        }
        if is_close_event(facts.last_event_type) {
            problems.add(format!(
                "run {run_id} has event {event_id} after its close event"
            ));
        }
        facts.last_event_type = event.event_type;
        match &event.attributes {
            Some(EventAttributes::ActivityTaskScheduledEventAttributes(_)) => {
                facts.scheduled.insert(event_id);
            }
            Some(EventAttributes::TimerStartedEventAttributes(a)) => {
                facts.timers.insert(a.timer_id.clone(), event_id);
            }
            _ => {}
        }
    }
    Ok(count)
}

/// Held events, activities and timers: only for open runs, keyed as their records say, and
/// pointing at events of the run's history.
fn pending_rows(
    conn: &Connection,
    runs: &HashMap<String, RunFacts>,
    problems: &mut Problems,
    report: &mut VerifyReport,
) -> rusqlite::Result<()> {
    let open = |run_id: &str, what: &str, problems: &mut Problems| {
        let facts = runs.get(run_id);
        if facts.is_none_or(|f| f.rec.status != WorkflowExecutionStatus::Running as i32) {
            problems.add(format!(
                "{what} of run {run_id} is kept, but that run is not open"
            ));
        }
        facts
    };
    let mut stmt =
        conn.prepare("SELECT run_id, position, event FROM held_events ORDER BY run_id, position")?;
    let mut rows = stmt.query([])?;
    let mut last: Option<(String, i64)> = None;
    while let Some(row) = rows.next()? {
        let run_id: String = row.get(0)?;
        let position: i64 = row.get(1)?;
        open(&run_id, "a held event", problems);
        if let Err(e) = HistoryEvent::decode(row.get_ref(2)?.as_blob().unwrap_or_default()) {
            problems.add(format!(
                "held event {position} of run {run_id} does not decode: {}",
                decode_reason(&e)
            ));
        }
        let expected = match &last {
            Some((prev, p)) if *prev == run_id => p + 1,
            _ => 0,
        };
        if position != expected {
            problems.add(format!(
                "the held events of run {run_id} jump to position {position}"
            ));
        }
        last = Some((run_id, position));
    }
    let mut stmt = conn.prepare("SELECT run_id, scheduled_event_id, record FROM activities")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        report.activities += 1;
        let run_id: String = row.get(0)?;
        let scheduled: i64 = row.get(1)?;
        let Some(facts) = open(&run_id, "an activity", problems) else {
            continue;
        };
        match ActivityRecord::decode(row.get_ref(2)?.as_blob().unwrap_or_default()) {
            Ok(act) if act.scheduled_event_id == scheduled && act.run_id == run_id => {}
            Ok(_) => problems.add(format!(
                "the key of activity {scheduled} of run {run_id} disagrees with its record"
            )),
            Err(e) => problems.add(format!(
                "activity {scheduled} of run {run_id} does not decode: {}",
                decode_reason(&e)
            )),
        }
        if !facts.scheduled.contains(&scheduled) {
            problems.add(format!(
                "activity {scheduled} of run {run_id} has no ActivityTaskScheduled event"
            ));
        }
    }
    let mut stmt = conn.prepare("SELECT run_id, timer_id, record FROM timers")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        report.timers += 1;
        let run_id: String = row.get(0)?;
        let timer_id: String = row.get(1)?;
        let Some(facts) = open(&run_id, "a timer", problems) else {
            continue;
        };
        match TimerRecord::decode(row.get_ref(2)?.as_blob().unwrap_or_default()) {
            Ok(t) if t.timer_id == timer_id && t.run_id == run_id => {
                if facts.timers.get(&timer_id) != Some(&t.started_event_id) {
                    problems.add(format!(
                        "timer {timer_id} of run {run_id} does not point at its TimerStarted event"
                    ));
                }
            }
            Ok(_) => problems.add(format!(
                "the key of timer {timer_id} of run {run_id} disagrees with its record"
            )),
            Err(e) => problems.add(format!(
                "timer {timer_id} of run {run_id} does not decode: {}",
                decode_reason(&e)
            )),
        }
    }
    Ok(())
}

/// The event that closes a run of this status; `None` for Running (and unknown statuses).
fn close_event_of(status: i32) -> Option<EventType> {
    Some(match WorkflowExecutionStatus::try_from(status).ok()? {
        WorkflowExecutionStatus::Completed => EventType::WorkflowExecutionCompleted,
        WorkflowExecutionStatus::Failed => EventType::WorkflowExecutionFailed,
        WorkflowExecutionStatus::Canceled => EventType::WorkflowExecutionCanceled,
        WorkflowExecutionStatus::Terminated => EventType::WorkflowExecutionTerminated,
        WorkflowExecutionStatus::ContinuedAsNew => EventType::WorkflowExecutionContinuedAsNew,
        WorkflowExecutionStatus::TimedOut => EventType::WorkflowExecutionTimedOut,
        _ => return None,
    })
}

fn is_close_event(event_type: i32) -> bool {
    [
        EventType::WorkflowExecutionCompleted,
        EventType::WorkflowExecutionFailed,
        EventType::WorkflowExecutionCanceled,
        EventType::WorkflowExecutionTerminated,
        EventType::WorkflowExecutionContinuedAsNew,
        EventType::WorkflowExecutionTimedOut,
    ]
    .iter()
    .any(|t| *t as i32 == event_type)
}

fn status_name(status: i32) -> String {
    WorkflowExecutionStatus::try_from(status)
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|_| format!("#{status}"))
}
