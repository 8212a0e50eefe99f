//! A [`Store`] that keeps its rows in memory: fast, for tests and throw-away engines. Its
//! "durability" lasts as long as the value; share it (`Arc`) between engines to simulate a
//! restart.

use super::{
    ActivityRecord, EncodedEvent, ExecutionRecord, OpenRunRows, Snapshot, Store, StoreError,
    TimerRecord, WriteOp,
};
use crate::proto::enums::WorkflowExecutionStatus;
use crate::proto::history::HistoryEvent;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// An in-memory [`Store`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

#[derive(Debug, Default, Clone)]
struct Tables {
    executions: BTreeMap<String, ExecutionRecord>,
    events: HashMap<String, Vec<EncodedEvent>>,
    held: HashMap<String, Vec<HistoryEvent>>,
    activities: BTreeMap<(String, i64), ActivityRecord>,
    timers: BTreeMap<(String, String), TimerRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Tables {
    fn apply(&mut self, op: &WriteOp) {
        match op {
            WriteOp::PutExecution(rec) => {
                self.executions.insert(rec.run_id.clone(), (**rec).clone());
            }
            WriteOp::AppendEvents { run_id, events } => {
                self.events
                    .entry(run_id.clone())
                    .or_default()
                    .extend(events.iter().cloned());
            }
            WriteOp::SetHeldEvents { run_id, events } => {
                if events.is_empty() {
                    self.held.remove(run_id);
                } else {
                    self.held.insert(run_id.clone(), events.clone());
                }
            }
            WriteOp::PutActivity(rec) => {
                let key = (rec.run_id.clone(), rec.scheduled_event_id);
                self.activities.insert(key, (**rec).clone());
            }
            WriteOp::DeleteActivity {
                run_id,
                scheduled_event_id,
            } => {
                self.activities
                    .remove(&(run_id.clone(), *scheduled_event_id));
            }
            WriteOp::PutTimer(rec) => {
                let key = (rec.run_id.clone(), rec.timer_id.clone());
                self.timers.insert(key, rec.clone());
            }
            WriteOp::DeleteTimer { run_id, timer_id } => {
                self.timers.remove(&(run_id.clone(), timer_id.clone()));
            }
        }
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let t = self.tables.lock();
        let running = WorkflowExecutionStatus::Running as i32;
        let open_runs = t
            .executions
            .values()
            .filter(|rec| rec.status == running)
            .map(|rec| {
                let id = &rec.run_id;
                OpenRunRows {
                    run_id: id.clone(),
                    events: t.events.get(id).cloned().unwrap_or_default(),
                    held_events: t.held.get(id).cloned().unwrap_or_default(),
                    activities: t
                        .activities
                        .values()
                        .filter(|a| &a.run_id == id)
                        .cloned()
                        .collect(),
                    timers: t
                        .timers
                        .values()
                        .filter(|a| &a.run_id == id)
                        .cloned()
                        .collect(),
                }
            })
            .collect();
        Ok(Snapshot {
            executions: t.executions.values().cloned().collect(),
            open_runs,
            // Rows are kept as written, so none can be damaged.
            damaged: Vec::new(),
        })
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut t = self.tables.lock();
        for op in ops {
            t.apply(op);
        }
        Ok(())
    }

    fn read_history(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let t = self.tables.lock();
        let Some(events) = t.events.get(run_id) else {
            return Ok(Vec::new());
        };
        EncodedEvent::decode_stored(
            run_id,
            events
                .iter()
                .filter(|e| e.event_id >= first_event_id)
                .take(max_events),
        )
    }

    fn read_history_page(
        &self,
        run_id: &str,
        first_event_id: i64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let t = self.tables.lock();
        let Some(events) = t.events.get(run_id) else {
            return Ok(Vec::new());
        };
        let mut bytes = 0usize;
        let page = events
            .iter()
            .filter(|e| e.event_id >= first_event_id)
            .take(max_events)
            .enumerate()
            .take_while(|(i, e)| {
                bytes = bytes.saturating_add(e.bytes.len());
                *i == 0 || bytes <= max_bytes
            })
            .map(|(_, e)| e);
        EncodedEvent::decode_stored(run_id, page)
    }
}
