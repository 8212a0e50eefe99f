//! The engine's working state, all behind one lock: open runs with their histories, the records
//! of closed runs, the task queues, and the deadline heap the timer thread sleeps on; and how it
//! is rebuilt, queues and deadlines included, from what the store loaded.

use super::effects::{ActEntry, QueueKey, WftEntry};
use super::queries::{Queries, TaskNow};
use super::rpc_error::{workflow_completed, workflow_not_found};
use super::run::Run;
use super::token::TaskKind;
use super::updates::Updates;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::WorkflowExecutionStatus;
use crate::store::{Damage, DamagedRow, EncodedEvent, ExecutionRecord, Snapshot, WriteOp};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::Notify;
use tonic::Status;

/// Where a run sorts in lists: (start time, start sequence, run id).
pub(crate) type StartKey = (i64, i64, String);

/// One task queue: the tasks waiting in it, the notifier its pollers sleep on, and how many
/// pollers wait. A queue is held only while it has a task or a poller, so that queue names
/// polled once (an SDK worker's per-process sticky queue, or any name a client makes up) are
/// forgotten. A poller keeps its queue, and so its notifier, until it leaves: a task pushed
/// meanwhile always wakes the notifier the poller sleeps on.
#[derive(Debug)]
struct Queue<E> {
    tasks: VecDeque<E>,
    notify: Arc<Notify>,
    pollers: usize,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Self {
            tasks: VecDeque::new(),
            notify: Arc::default(),
            pollers: 0,
        }
    }
}

impl<E> Queue<E> {
    fn is_idle(&self) -> bool {
        self.pollers == 0 && self.tasks.is_empty()
    }
}

/// Counts a poller in; returns the notifier it is to wait on.
fn join<E>(queues: &mut HashMap<QueueKey, Queue<E>>, key: &QueueKey) -> Arc<Notify> {
    let queue = queues.entry(key.clone()).or_default();
    queue.pollers += 1;
    Arc::clone(&queue.notify)
}

/// Counts a poller out; forgets the queue when nothing is left in it.
fn leave<E>(queues: &mut HashMap<QueueKey, Queue<E>>, key: &QueueKey) {
    if let Some(queue) = queues.get_mut(key) {
        queue.pollers = queue.pollers.saturating_sub(1);
        if queue.is_idle() {
            queues.remove(key);
        }
    }
}

fn push<E>(queues: &mut HashMap<QueueKey, Queue<E>>, key: QueueKey, entry: E) {
    let queue = queues.entry(key).or_default();
    queue.tasks.push_back(entry);
    queue.notify.notify_waiters();
}

fn pop<E>(queues: &mut HashMap<QueueKey, Queue<E>>, key: &QueueKey) -> Option<E> {
    let queue = queues.get_mut(key)?;
    let entry = queue.tasks.pop_front();
    if queue.is_idle() {
        queues.remove(key);
    }
    entry
}

/// One unit for the writer thread.
#[derive(Debug)]
pub(crate) struct Commit {
    pub seq: u64,
    pub ops: Vec<WriteOp>,
    pub cancel_tokens: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Open runs by run id.
    pub runs: HashMap<String, Run>,
    /// Records of closed runs by run id.
    pub closed: HashMap<String, ExecutionRecord>,
    /// (namespace, workflow id) -> the latest run.
    pub current: HashMap<(String, String), String>,
    /// Every run by (start time, start sequence, run id), for listing newest first.
    pub by_start: BTreeSet<StartKey>,
    /// Queries waiting for a worker's answer; never written to the store.
    pub queries: Queries,
    /// Updates of open runs not yet completed (and recently completed ones, for their callers).
    pub updates: Updates,
    /// Task queues that hold a task or a poller; see [`Queue`].
    wft_queues: HashMap<QueueKey, Queue<WftEntry>>,
    act_queues: HashMap<QueueKey, Queue<ActEntry>>,
    deadlines: BinaryHeap<Reverse<(i64, String)>>,
    armed: HashMap<String, i64>,
    /// When the timer thread plans to wake next.
    pub driver_next: i64,
    /// The writer thread's inbox; `None` once the engine is dropped.
    pub writer: Option<mpsc::Sender<Commit>>,
    /// Sequence number of the last submitted commit.
    pub last_seq: u64,
    /// The close events of the most recently closed runs, so that a client waiting for a
    /// result is answered from memory instead of a store read.
    recent_closes: HashMap<String, EncodedEvent>,
    recent_close_order: VecDeque<String>,
    /// Runs with stored rows that could not be used when the engine started, by run id. Such
    /// a run can be described, listed and terminated; nothing else moves it on (see the
    /// store's `DESIGN.md`, section 9.1).
    pub damaged: HashMap<String, Vec<Damage>>,
    /// Runs changed by commits that may not be durable yet, with the sequence number of the
    /// last of them: a read of one run waits for that commit only ([`State::seq_of`]), so
    /// reads of other runs are served while the store cannot write.
    unwritten: HashMap<String, u64>,
    /// The size at which `unwritten` is next rid of runs whose last change is durable.
    unwritten_limit: usize,
}

/// How many close events [`State::remember_close`] keeps.
const RECENT_CLOSES: usize = 10_000;

impl State {
    /// Keeps the close event of a run that just closed, forgetting the oldest beyond a bound.
    pub(crate) fn remember_close(&mut self, run_id: &str, event: EncodedEvent) {
        if self
            .recent_closes
            .insert(run_id.to_string(), event)
            .is_none()
        {
            self.recent_close_order.push_back(run_id.to_string());
        }
        while self.recent_close_order.len() > RECENT_CLOSES {
            if let Some(old) = self.recent_close_order.pop_front() {
                self.recent_closes.remove(&old);
            }
        }
    }

    /// Notes that commit `seq` changes `run_id`. Every commit up to `committed` is durable:
    /// runs whose last change is among them are forgotten once the map has doubled.
    pub(crate) fn note_change(&mut self, run_id: &str, seq: u64, committed: u64) {
        match self.unwritten.get_mut(run_id) {
            Some(last) => *last = seq,
            None => {
                self.unwritten.insert(run_id.to_string(), seq);
            }
        }
        if self.unwritten.len() > self.unwritten_limit {
            self.unwritten.retain(|_, last| *last > committed);
            self.unwritten_limit = (self.unwritten.len() * 2).max(1024);
        }
    }

    /// The commit that a read of `run_id` must wait for: the last one that changed it (0 when
    /// that one is known to be durable).
    pub(crate) fn seq_of(&self, run_id: &str) -> u64 {
        self.unwritten.get(run_id).copied().unwrap_or(0)
    }

    /// The close event of a recently closed run, if still remembered.
    pub(crate) fn recent_close(&self, run_id: &str) -> Option<&EncodedEvent> {
        self.recent_closes.get(run_id)
    }

    /// Rebuilds the state from a store snapshot: the runs, the tasks waiting in their queues and
    /// every open run's deadline.
    pub(crate) fn from_snapshot(snapshot: Snapshot, writer: mpsc::Sender<Commit>) -> State {
        let mut st = State {
            writer: Some(writer),
            driver_next: i64::MAX,
            ..State::default()
        };
        let mut rows: HashMap<String, _> = snapshot
            .open_runs
            .into_iter()
            .map(|r| (r.run_id.clone(), r))
            .collect();
        for damage in snapshot.damaged {
            st.damaged
                .entry(damage.run_id.clone())
                .or_default()
                .push(damage);
        }
        let mut latest: HashMap<(String, String), (bool, i64, String)> = HashMap::new();
        for rec in snapshot.executions {
            let key = (rec.namespace.clone(), rec.workflow_id.clone());
            let open = rec.status == WorkflowExecutionStatus::Running as i32;
            let rank = (open, rec.start_time_ms, rec.run_id.clone());
            if latest.get(&key).is_none_or(|best| *best < rank) {
                latest.insert(key, rank);
            }
            st.by_start
                .insert((rec.start_time_ms, rec.start_sequence, rec.run_id.clone()));
            if open {
                let run_rows = rows.remove(&rec.run_id).unwrap_or_default();
                let mut run = Run::restore(rec, run_rows);
                if let Some(damage) = st.damaged.get(&run.rec.run_id) {
                    report_damage(&run, damage);
                    if damage
                        .iter()
                        .any(|d| matches!(d.row, DamagedRow::HeldEvent(_)))
                    {
                        // The next write of the held events replaces the row that is left out.
                        run.rewrite_held();
                    }
                }
                st.runs.insert(run.rec.run_id.clone(), run);
            } else {
                st.closed.insert(rec.run_id.clone(), rec);
            }
        }
        st.current = latest
            .into_iter()
            .map(|(key, (_, _, run_id))| (key, run_id))
            .collect();
        st.rearm();
        st
    }

    /// After loading a snapshot: queues the tasks that were waiting and arms every run's
    /// deadline.
    fn rearm(&mut self) {
        let mut wft = Vec::new();
        let mut acts = Vec::new();
        let mut arms = Vec::new();
        for run in self.runs.values() {
            // A damaged run stays as it is until it is terminated: no tasks, no timeouts.
            if self.is_damaged(&run.rec.run_id) {
                continue;
            }
            if let Some(task) = run.wft()
                && task.started_event_id == 0
                && task.not_before_ms == 0
            {
                let entry = WftEntry {
                    run_id: run.rec.run_id.clone(),
                    scheduled_event_id: task.scheduled_event_id,
                    query_id: None,
                };
                wft.push((run.queue_key(), entry));
            }
            for act in run.activities.values() {
                if !act.is_started() && act.retry_at_ms == 0 {
                    let key = (run.rec.namespace.clone(), act.task_queue.clone());
                    let entry = ActEntry {
                        run_id: run.rec.run_id.clone(),
                        scheduled_event_id: act.scheduled_event_id,
                        attempt: act.attempt,
                    };
                    acts.push((key, entry));
                }
            }
            if let Some(at) = run.next_due() {
                arms.push((run.rec.run_id.clone(), at));
            }
        }
        // Oldest first, as they were queued before.
        wft.sort_by_key(|(_, e)| e.scheduled_event_id);
        for (key, entry) in wft {
            self.push_wft(key, entry);
        }
        for (key, entry) in acts {
            self.push_act(key, entry);
        }
        for (run_id, at) in arms {
            self.arm(&run_id, at);
        }
    }

    /// `FailedPrecondition` naming the damage when `run_id` is a damaged run: a request that
    /// would move such a run on is refused, since no workflow task of it can run.
    pub(crate) fn check_intact(&self, run_id: &str) -> Result<(), Status> {
        match self.damaged.get(run_id).and_then(|d| d.first()) {
            None => Ok(()),
            Some(damage) => {
                let workflow_id = self.record(run_id).map_or("", |r| r.workflow_id.as_str());
                Err(super::rpc_error::damaged_run(workflow_id, damage))
            }
        }
    }

    /// Whether `run_id` is damaged (it then gets no tasks).
    pub(crate) fn is_damaged(&self, run_id: &str) -> bool {
        self.damaged.contains_key(run_id)
    }

    /// The damaged history event of `run_id`, if it has one.
    pub(crate) fn damaged_event(&self, run_id: &str) -> Option<(i64, &Damage)> {
        self.damaged.get(run_id)?.iter().find_map(|d| match d.row {
            DamagedRow::HistoryEvent(id) => Some((id, d)),
            _ => None,
        })
    }

    /// Where the workflow task of `run_id` is, for its queries: absent when the run is closed.
    pub(crate) fn task_now(&self, run_id: &str) -> TaskNow {
        match self.runs.get(run_id).and_then(Run::wft) {
            None => TaskNow::Absent,
            Some(w) if w.started_event_id > 0 => TaskNow::Started(w.started_event_id),
            Some(_) => TaskNow::Scheduled,
        }
    }

    /// Registers a new run.
    pub(crate) fn insert_run(&mut self, run: Run) {
        let rec = &run.rec;
        self.current.insert(
            (rec.namespace.clone(), rec.workflow_id.clone()),
            rec.run_id.clone(),
        );
        self.by_start
            .insert((rec.start_time_ms, rec.start_sequence, rec.run_id.clone()));
        self.runs.insert(rec.run_id.clone(), run);
    }

    /// The record of any run, open or closed.
    pub(crate) fn record(&self, run_id: &str) -> Option<&ExecutionRecord> {
        self.runs
            .get(run_id)
            .map(|r| &r.rec)
            .or_else(|| self.closed.get(run_id))
    }

    /// The run an execution reference names: the given run of that workflow, or its latest run.
    pub(crate) fn resolve(
        &self,
        namespace: &str,
        exec: &WorkflowExecution,
    ) -> Result<String, Status> {
        let found = if exec.run_id.is_empty() {
            self.current
                .get(&(namespace.to_string(), exec.workflow_id.clone()))
                .cloned()
        } else {
            self.record(&exec.run_id)
                .filter(|r| r.namespace == namespace && r.workflow_id == exec.workflow_id)
                .map(|r| r.run_id.clone())
        };
        found.ok_or_else(|| workflow_not_found(&exec.workflow_id, &exec.run_id))
    }

    /// The open run an execution reference names; `NotFound` when it names none, or a closed
    /// one.
    pub(crate) fn open_run(
        &mut self,
        namespace: &str,
        exec: &WorkflowExecution,
    ) -> Result<&mut Run, Status> {
        let run_id = self.resolve(namespace, exec)?;
        self.runs.get_mut(&run_id).ok_or_else(workflow_completed)
    }

    /// Registers a poller of a queue until [`State::remove_poller`]; returns the notifier that
    /// a task pushed to the queue wakes.
    pub(crate) fn add_poller(&mut self, kind: TaskKind, key: &QueueKey) -> Arc<Notify> {
        match kind {
            TaskKind::Workflow => join(&mut self.wft_queues, key),
            TaskKind::Activity => join(&mut self.act_queues, key),
        }
    }

    /// Unregisters a poller; the queue is forgotten once it has no poller and no task.
    pub(crate) fn remove_poller(&mut self, kind: TaskKind, key: &QueueKey) {
        match kind {
            TaskKind::Workflow => leave(&mut self.wft_queues, key),
            TaskKind::Activity => leave(&mut self.act_queues, key),
        }
    }

    pub(crate) fn push_wft(&mut self, key: QueueKey, entry: WftEntry) {
        push(&mut self.wft_queues, key, entry);
    }

    pub(crate) fn push_act(&mut self, key: QueueKey, entry: ActEntry) {
        push(&mut self.act_queues, key, entry);
    }

    pub(crate) fn pop_wft(&mut self, key: &QueueKey) -> Option<WftEntry> {
        pop(&mut self.wft_queues, key)
    }

    pub(crate) fn pop_act(&mut self, key: &QueueKey) -> Option<ActEntry> {
        pop(&mut self.act_queues, key)
    }

    /// How many tasks wait in a workflow task queue (some may be stale).
    pub(crate) fn wft_backlog(&self, key: &QueueKey) -> usize {
        self.wft_queues.get(key).map_or(0, |q| q.tasks.len())
    }

    /// How many task queues the engine holds (each has a task or a poller).
    #[cfg(test)]
    pub(crate) fn queue_count(&self) -> usize {
        let mut keys: std::collections::HashSet<&QueueKey> = self.wft_queues.keys().collect();
        keys.extend(self.act_queues.keys());
        keys.len()
    }

    /// Asks the timer thread to look at `run_id` at `at`, unless it already will by then.
    /// Returns whether this is earlier than the thread's next planned wake-up.
    pub(crate) fn arm(&mut self, run_id: &str, at: i64) -> bool {
        if self.armed.get(run_id).is_some_and(|&t| t <= at) {
            return false;
        }
        self.armed.insert(run_id.to_string(), at);
        self.deadlines.push(Reverse((at, run_id.to_string())));
        at < self.driver_next
    }

    /// Forgets the deadline of a run that closed.
    pub(crate) fn disarm(&mut self, run_id: &str) {
        self.armed.remove(run_id);
    }

    /// Removes and returns the runs whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: i64) -> Vec<String> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, run_id))) = self.deadlines.pop() else {
                break;
            };
            // Entries superseded by an earlier arming are skipped.
            if self.armed.get(&run_id) == Some(&at) {
                self.armed.remove(&run_id);
                due.push(run_id);
            }
        }
        due
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }
}

/// Logs, once at start, each damaged row of an open run.
fn report_damage(run: &Run, damage: &[Damage]) {
    for d in damage {
        tracing::warn!(
            run_id = %run.rec.run_id,
            workflow_id = %run.rec.workflow_id,
            row = %d.row,
            reason = %d.reason,
            "a stored row of an open run cannot be used; the run is served as damaged: it can be described, listed and terminated, and gets no tasks"
        );
    }
}
