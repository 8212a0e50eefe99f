//! One open run: its record, its history, the events held back while a workflow task runs, its
//! pending activities and timers, and which of those changed since they were last written; the
//! scheduling and failing of its workflow task; and when it next needs the timer thread
//! ([`Run::next_due`]).
//!
//! Pending activities, timers and held events change only through [`Run`]'s methods, which keep
//! the activity-id index in step and, while a workflow task completion is applied, record how to
//! undo each change (see [`Run::checkpoint`]).

use super::clock::{next_task_id, ts};
use super::effects::{Effects, QueueKey, WftEntry};
use super::limits::Limits;
use super::retry::workflow_task_backoff_ms;
use super::token::{TaskKind, TaskToken};
use crate::proto::EventAttributes;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::{EventType, TaskQueueKind, WorkflowExecutionStatus};
use crate::proto::failure::Failure;
use crate::proto::history::{
    HistoryEvent, WorkflowTaskFailedEventAttributes, WorkflowTaskScheduledEventAttributes,
};
use crate::proto::taskqueue::TaskQueue;
use crate::store::{
    ActivityRecord, EncodedEvent, ExecutionRecord, OpenRunRows, TimerRecord, WorkflowTaskRecord,
    WriteOp,
};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Run {
    pub rec: ExecutionRecord,
    /// The history, encoded: see [`EncodedEvent`].
    pub events: Vec<EncodedEvent>,
    /// Events that arrived while a workflow task was started; written after it completes.
    pub held: Vec<HistoryEvent>,
    /// Encoded size of the held events.
    held_bytes: u64,
    /// Pending activities by scheduled event id (read-only here: see [`Activities`]).
    pub activities: Activities,
    /// Pending timers by timer id (read-only here: see [`Timers`]).
    pub timers: Timers,
    /// Woken whenever the history grows or the run closes.
    pub history_notify: Arc<Notify>,
    /// History size and length (with held events) at the last [`Run::check_history`].
    checked_extent: (u64, u64),
    /// How to undo the changes since [`Run::checkpoint`], while one is taken.
    journal: Option<Journal>,
    dirty: Dirty,
    /// The run as it was before its speculative workflow task, while it has one.
    speculative: Option<Speculative>,
}

/// What a run was before its speculative workflow task (one scheduled for an update to an idle
/// run, as Temporal's): that task's `WorkflowTaskScheduled` and `WorkflowTaskStarted` are in
/// memory only, never written to the store, and are dropped when the worker only rejects the
/// update; they become durable when the task does anything else (accepts the update, issues a
/// command, fails or times out). A restart forgets the task.
#[derive(Debug, Clone, Copy)]
struct Speculative {
    events_len: usize,
    next_event_id: i64,
    history_size_bytes: i64,
}

/// How long a speculative workflow task may wait for a worker to start it (Temporal's
/// `SpeculativeWorkflowTaskScheduleToStartTimeout`); then it times out and a normal one follows.
pub(crate) const SPECULATIVE_SCHEDULE_TO_START_MS: i64 = 5_000;

/// A run's pending activities by scheduled event id, indexed by activity id too (a pending
/// activity's id is unique in its run). Read through `Deref`; changed only by [`Run`].
#[derive(Debug, Default)]
pub(crate) struct Activities {
    by_event: BTreeMap<i64, ActivityRecord>,
    by_id: HashMap<String, i64>,
}

impl Activities {
    /// The pending activity with this activity id.
    pub(crate) fn by_activity_id(&self, activity_id: &str) -> Option<&ActivityRecord> {
        self.by_event.get(self.by_id.get(activity_id)?)
    }

    fn insert(&mut self, act: ActivityRecord) -> Option<ActivityRecord> {
        let id = act.scheduled_event_id;
        self.by_id.insert(act.activity_id.clone(), id);
        let old = self.by_event.insert(id, act)?;
        if self.by_event.get(&id).map(|a| &a.activity_id) != Some(&old.activity_id)
            && self.by_id.get(&old.activity_id) == Some(&id)
        {
            self.by_id.remove(&old.activity_id);
        }
        Some(old)
    }

    fn remove(&mut self, scheduled_event_id: i64) -> Option<ActivityRecord> {
        let act = self.by_event.remove(&scheduled_event_id)?;
        if self.by_id.get(&act.activity_id) == Some(&scheduled_event_id) {
            self.by_id.remove(&act.activity_id);
        }
        Some(act)
    }
}

impl Deref for Activities {
    type Target = BTreeMap<i64, ActivityRecord>;
    fn deref(&self) -> &Self::Target {
        &self.by_event
    }
}

/// A run's pending timers by timer id. Read through `Deref`; changed only by [`Run`].
#[derive(Debug, Default)]
pub(crate) struct Timers(BTreeMap<String, TimerRecord>);

impl Deref for Timers {
    type Target = BTreeMap<String, TimerRecord>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The previous values of what changed since a checkpoint, oldest first.
#[derive(Debug, Default)]
struct Journal {
    activities: Vec<(i64, Option<ActivityRecord>)>,
    timers: Vec<(String, Option<TimerRecord>)>,
    /// How to restore the held events, once they changed.
    held: Option<HeldBefore>,
}

/// The held events as they were at a checkpoint.
#[derive(Debug)]
enum HeldBefore {
    /// Events were only appended: the first `len` (of `bytes` bytes) are the old ones. This is
    /// what a completion does unless it cancels a fired timer or closes the run, so the common
    /// case copies nothing.
    Appended { len: usize, bytes: u64 },
    /// Events were removed too: a copy of the old ones.
    Replaced(Vec<HistoryEvent>, u64),
}

/// What changed since the last [`Run::take_ops`].
#[derive(Debug, Default, Clone)]
struct Dirty {
    /// The record as last written; `None` until the first write.
    written_rec: Option<ExecutionRecord>,
    persisted_events: usize,
    held: bool,
    activities: BTreeSet<i64>,
    timers: BTreeSet<String>,
}

/// Where a run was before a workflow task completion, to undo it if it turns out invalid. The
/// record is copied; activities, timers and held events are journaled as they change, so that
/// taking a checkpoint costs nothing like the run's size.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    rec: ExecutionRecord,
    events_len: usize,
    dirty: Dirty,
}

impl Run {
    pub(crate) fn new(rec: ExecutionRecord) -> Run {
        Run {
            rec,
            events: Vec::new(),
            held: Vec::new(),
            held_bytes: 0,
            activities: Activities::default(),
            timers: Timers::default(),
            history_notify: Arc::default(),
            checked_extent: (0, 0),
            journal: None,
            dirty: Dirty::default(),
            speculative: None,
        }
    }

    pub(crate) fn restore(rec: ExecutionRecord, rows: OpenRunRows) -> Run {
        let mut run = Run::new(rec);
        run.dirty.written_rec = Some(run.rec.clone());
        run.dirty.persisted_events = rows.events.len();
        run.events = rows.events;
        run.held_bytes = rows
            .held_events
            .iter()
            .map(|e| e.encoded_len() as u64)
            .sum();
        run.held = rows.held_events;
        for act in rows.activities {
            run.activities.insert(act);
        }
        run.timers.0 = rows
            .timers
            .into_iter()
            .map(|t| (t.timer_id.clone(), t))
            .collect();
        // What was loaded was checked (and warned about) before.
        run.checked_extent = run.history_extent();
        run
    }

    /// Marks the held events for writing, so that the stored ones are replaced.
    pub(crate) fn rewrite_held(&mut self) {
        self.dirty.held = true;
    }

    pub(crate) fn is_open(&self) -> bool {
        self.rec.status == WorkflowExecutionStatus::Running as i32
    }

    pub(crate) fn execution(&self) -> WorkflowExecution {
        WorkflowExecution {
            workflow_id: self.rec.workflow_id.clone(),
            run_id: self.rec.run_id.clone(),
        }
    }

    pub(crate) fn queue_key(&self) -> QueueKey {
        (self.rec.namespace.clone(), self.rec.task_queue.clone())
    }

    /// The pending workflow task, if any.
    pub(crate) fn wft(&self) -> Option<WorkflowTaskRecord> {
        self.rec.workflow_task
    }

    /// Whether a worker holds a workflow task of this run right now.
    pub(crate) fn wft_started(&self) -> bool {
        self.rec
            .workflow_task
            .is_some_and(|w| w.started_event_id > 0)
    }

    /// Whether the pending workflow task is speculative (in memory only).
    pub(crate) fn is_speculative(&self) -> bool {
        self.speculative.is_some()
    }

    /// The id the next durable event gets: the history's end without the events of a
    /// speculative workflow task, which readers of the history do not see.
    pub(crate) fn durable_next_event_id(&self) -> i64 {
        self.speculative
            .map_or(self.rec.next_event_id, |s| s.next_event_id)
    }

    /// The history's size in bytes without the events of a speculative workflow task.
    pub(crate) fn durable_history_size_bytes(&self) -> i64 {
        self.speculative
            .map_or(self.rec.history_size_bytes, |s| s.history_size_bytes)
    }

    /// Schedules a speculative workflow task (for an update to an idle run) unless a workflow
    /// task is pending or the start delay has not passed: its `WorkflowTaskScheduled` is kept
    /// in memory only, see [`Speculative`].
    pub(crate) fn ensure_speculative_task(&mut self, fx: &mut Effects, now: i64) {
        if self.is_open()
            && self.rec.workflow_task.is_none()
            && now >= self.rec.first_task_not_before_ms
        {
            let base = Speculative {
                events_len: self.events.len(),
                next_event_id: self.rec.next_event_id,
                history_size_bytes: self.rec.history_size_bytes,
            };
            self.schedule_workflow_task(fx, now, 1, 0);
            self.speculative = Some(base);
        }
    }

    /// Forgets the speculative workflow task and its events, as if it had never been
    /// scheduled; nothing else pending changes.
    pub(crate) fn drop_speculative(&mut self) {
        if let Some(base) = self.speculative.take() {
            self.events.truncate(base.events_len);
            self.rec.next_event_id = base.next_event_id;
            self.rec.history_size_bytes = base.history_size_bytes;
            self.rec.workflow_task = None;
        }
    }

    /// Makes the speculative workflow task a normal one: its events are written with the next
    /// change.
    pub(crate) fn make_speculative_durable(&mut self) {
        self.speculative = None;
    }

    /// Appends events to the history, in order, wiring activity close events to the
    /// `ActivityTaskStarted` written just before them. Returns the id of the last one.
    pub(crate) fn append_all(&mut self, now: i64, batch: Vec<EventAttributes>) -> i64 {
        let mut started_ids = HashMap::new();
        let mut last = 0;
        for attrs in batch {
            let event = HistoryEvent {
                event_time: Some(ts(now)),
                attributes: Some(attrs),
                ..HistoryEvent::default()
            };
            last = self.push_event(event, &mut started_ids);
        }
        last
    }

    /// Appends one event; returns its id.
    pub(crate) fn append(&mut self, now: i64, attrs: EventAttributes) -> i64 {
        self.append_all(now, vec![attrs])
    }

    fn push_event(&mut self, mut event: HistoryEvent, started_ids: &mut HashMap<i64, i64>) -> i64 {
        let id = self.rec.next_event_id;
        self.rec.next_event_id += 1;
        event.event_id = id;
        event.task_id = next_task_id();
        if id == 1 {
            // Runs that start in the same millisecond are listed in the order of this id.
            self.rec.start_sequence = event.task_id;
        }
        if let Some(attrs) = event.attributes.as_mut() {
            event.event_type = event_type(attrs) as i32;
            wire_started_id(attrs, id, started_ids);
        }
        let encoded = EncodedEvent::encode_for_run(&self.rec.run_id, &event);
        self.rec.history_size_bytes += encoded.bytes.len() as i64;
        self.events.push(encoded);
        id
    }

    /// Holds events back until the running workflow task completes.
    pub(crate) fn hold_all(&mut self, now: i64, batch: Vec<EventAttributes>) {
        self.journal_held_append();
        for attrs in batch {
            let mut event = HistoryEvent {
                event_time: Some(ts(now)),
                event_type: event_type(&attrs) as i32,
                attributes: Some(attrs),
                ..HistoryEvent::default()
            };
            EncodedEvent::bound_held(&self.rec.run_id, &mut event);
            self.held_bytes += event.encoded_len() as u64;
            self.held.push(event);
        }
        self.dirty.held = true;
    }

    /// Writes the held events to the history. Returns whether there were any.
    pub(crate) fn flush_held(&mut self) -> bool {
        if self.held.is_empty() {
            return false;
        }
        self.journal_held();
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let mut started_ids = HashMap::new();
        for event in held {
            self.push_event(event, &mut started_ids);
        }
        self.dirty.held = true;
        true
    }

    /// What the held events say, found in one pass: the timers whose `TimerFired` is held (timer
    /// id to `started_event_id`) and the scheduled event ids of activities whose close is held.
    pub(crate) fn held_outcomes(&self) -> (HashMap<String, i64>, HashSet<i64>) {
        let mut timers = HashMap::new();
        let mut activities = HashSet::new();
        for event in &self.held {
            if let Some(EventAttributes::TimerFiredEventAttributes(a)) = &event.attributes {
                timers.insert(a.timer_id.clone(), a.started_event_id);
            } else if let Some(id) = activity_close_scheduled_id(event.attributes.as_ref()) {
                activities.insert(id);
            }
        }
        (timers, activities)
    }

    /// Removes the held `TimerFired` events of `timer_ids`, in one pass.
    pub(crate) fn unhold_timers_fired(&mut self, timer_ids: &HashSet<String>) {
        if timer_ids.is_empty() {
            return;
        }
        self.journal_held();
        let mut removed = 0;
        self.held.retain(|e| {
            let fired = matches!(&e.attributes, Some(EventAttributes::TimerFiredEventAttributes(a)) if timer_ids.contains(&a.timer_id));
            if fired {
                removed += e.encoded_len() as u64;
            }
            !fired
        });
        self.held_bytes = self.held_bytes.saturating_sub(removed);
        self.dirty.held = true;
    }

    pub(crate) fn put_activity(&mut self, act: ActivityRecord) {
        let id = act.scheduled_event_id;
        self.journal_activity(id);
        self.dirty.activities.insert(id);
        self.activities.insert(act);
    }

    /// Mutable access to an activity; marks it for writing. Its activity id must not change.
    pub(crate) fn activity_mut(&mut self, scheduled_event_id: i64) -> Option<&mut ActivityRecord> {
        if !self.activities.contains_key(&scheduled_event_id) {
            return None;
        }
        self.journal_activity(scheduled_event_id);
        self.dirty.activities.insert(scheduled_event_id);
        self.activities.by_event.get_mut(&scheduled_event_id)
    }

    pub(crate) fn remove_activity(&mut self, scheduled_event_id: i64) -> Option<ActivityRecord> {
        self.journal_activity(scheduled_event_id);
        self.dirty.activities.insert(scheduled_event_id);
        self.activities.remove(scheduled_event_id)
    }

    pub(crate) fn put_timer(&mut self, timer: TimerRecord) {
        self.journal_timer(&timer.timer_id);
        self.dirty.timers.insert(timer.timer_id.clone());
        self.timers.0.insert(timer.timer_id.clone(), timer);
    }

    pub(crate) fn remove_timer(&mut self, timer_id: &str) -> Option<TimerRecord> {
        if !self.timers.contains_key(timer_id) {
            return None;
        }
        self.journal_timer(timer_id);
        self.dirty.timers.insert(timer_id.to_string());
        self.timers.0.remove(timer_id)
    }

    fn journal_activity(&mut self, scheduled_event_id: i64) {
        if let Some(journal) = self.journal.as_mut() {
            let before = self.activities.get(&scheduled_event_id).cloned();
            journal.activities.push((scheduled_event_id, before));
        }
    }

    fn journal_timer(&mut self, timer_id: &str) {
        if let Some(journal) = self.journal.as_mut() {
            let before = self.timers.get(timer_id).cloned();
            journal.timers.push((timer_id.to_string(), before));
        }
    }

    fn journal_held_append(&mut self) {
        if let Some(journal) = self.journal.as_mut()
            && journal.held.is_none()
        {
            journal.held = Some(HeldBefore::Appended {
                len: self.held.len(),
                bytes: self.held_bytes,
            });
        }
    }

    /// Before held events are removed: keeps a copy of those of the checkpoint.
    fn journal_held(&mut self) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        journal.held = Some(match journal.held.take() {
            None => HeldBefore::Replaced(self.held.clone(), self.held_bytes),
            Some(HeldBefore::Appended { len, bytes }) => {
                HeldBefore::Replaced(self.held[..len.min(self.held.len())].to_vec(), bytes)
            }
            Some(replaced) => replaced,
        });
    }

    /// The size in bytes and the number of events the history would have with the held events
    /// written.
    pub(crate) fn history_extent(&self) -> (u64, u64) {
        let bytes = u64::try_from(self.rec.history_size_bytes).unwrap_or(0) + self.held_bytes;
        let count = u64::try_from(self.rec.next_event_id - 1).unwrap_or(0) + self.held.len() as u64;
        (bytes, count)
    }

    /// Checks the history (with the held events) against `limits`: logs a warning when it has
    /// just passed a warning threshold, and returns why the run must stop when it is over a
    /// limit (as Temporal, whose reasons these follow).
    pub(crate) fn check_history(&mut self, limits: &Limits) -> Option<String> {
        let (bytes, count) = self.history_extent();
        let (was_bytes, was_count) = std::mem::replace(&mut self.checked_extent, (bytes, count));
        let warn = |what: &str, value: u64, threshold: u64, field: &str| {
            tracing::warn!(
                namespace = %self.rec.namespace,
                workflow_id = %self.rec.workflow_id,
                run_id = %self.rec.run_id,
                "history {what} exceeds warn limit: {value}, over Limits::{field} = {threshold}"
            );
        };
        if was_bytes <= limits.history_size_warn_bytes && bytes > limits.history_size_warn_bytes {
            warn(
                "size",
                bytes,
                limits.history_size_warn_bytes,
                "history_size_warn_bytes",
            );
        }
        if was_count <= limits.history_count_warn && count > limits.history_count_warn {
            warn(
                "count",
                count,
                limits.history_count_warn,
                "history_count_warn",
            );
        }
        if bytes > limits.history_size_limit_bytes {
            return Some(format!(
                "Workflow history size exceeds limit: {bytes} bytes, over the limit of {} bytes (Limits::history_size_limit_bytes)",
                limits.history_size_limit_bytes
            ));
        }
        if count > limits.history_count_limit {
            return Some(format!(
                "Workflow history count exceeds limit: {count} events, over the limit of {} events (Limits::history_count_limit)",
                limits.history_count_limit
            ));
        }
        None
    }

    /// The task token of an activity's current attempt.
    pub(crate) fn activity_token(&self, act: &ActivityRecord) -> Vec<u8> {
        TaskToken {
            kind: TaskKind::Activity as u32,
            namespace: self.rec.namespace.clone(),
            workflow_id: self.rec.workflow_id.clone(),
            run_id: self.rec.run_id.clone(),
            scheduled_event_id: act.scheduled_event_id,
            started_event_id: 0,
            attempt: act.attempt,
            activity_id: act.activity_id.clone(),
        }
        .encode()
    }

    /// The writes that bring the store up to date with this run.
    pub(crate) fn take_ops(&mut self) -> Vec<WriteOp> {
        debug_assert!(
            self.journal.is_none(),
            "a checkpoint was neither kept nor undone"
        );
        self.journal = None;
        let run_id = &self.rec.run_id;
        let mut ops = Vec::new();
        // The store sees the run without its speculative workflow task.
        let (rec, events_len) = match self.speculative {
            None => (std::borrow::Cow::Borrowed(&self.rec), self.events.len()),
            Some(base) => {
                let mut rec = self.rec.clone();
                rec.next_event_id = base.next_event_id;
                rec.history_size_bytes = base.history_size_bytes;
                rec.workflow_task = None;
                (std::borrow::Cow::Owned(rec), base.events_len)
            }
        };
        // Many changes (an activity starting, a heartbeat) leave the record as it was.
        if self.dirty.written_rec.as_ref() != Some(&*rec) {
            ops.push(WriteOp::PutExecution(Box::new(rec.clone().into_owned())));
            self.dirty.written_rec = Some(rec.into_owned());
        }
        if self.dirty.persisted_events < events_len {
            ops.push(WriteOp::AppendEvents {
                run_id: run_id.clone(),
                events: self.events[self.dirty.persisted_events..events_len].to_vec(),
            });
            self.dirty.persisted_events = events_len;
        }
        if std::mem::take(&mut self.dirty.held) {
            ops.push(WriteOp::SetHeldEvents {
                run_id: run_id.clone(),
                events: self.held.clone(),
            });
        }
        for id in std::mem::take(&mut self.dirty.activities) {
            ops.push(match self.activities.get(&id) {
                Some(act) => WriteOp::PutActivity(Box::new(act.clone())),
                None => WriteOp::DeleteActivity {
                    run_id: run_id.clone(),
                    scheduled_event_id: id,
                },
            });
        }
        for id in std::mem::take(&mut self.dirty.timers) {
            ops.push(match self.timers.get(&id) {
                Some(timer) => WriteOp::PutTimer(timer.clone()),
                None => WriteOp::DeleteTimer {
                    run_id: run_id.clone(),
                    timer_id: id,
                },
            });
        }
        ops
    }

    /// Starts recording how to undo what follows; end with [`Run::keep`] or [`Run::rollback`].
    pub(crate) fn checkpoint(&mut self) -> Checkpoint {
        self.journal = Some(Journal::default());
        Checkpoint {
            rec: self.rec.clone(),
            events_len: self.events.len(),
            dirty: self.dirty.clone(),
        }
    }

    /// Keeps everything done since the checkpoint.
    pub(crate) fn keep(&mut self, _checkpoint: Checkpoint) {
        self.journal = None;
    }

    /// Undoes everything done since `cp`.
    pub(crate) fn rollback(&mut self, cp: Checkpoint) {
        let journal = self.journal.take().unwrap_or_default();
        for (id, before) in journal.activities.into_iter().rev() {
            match before {
                Some(act) => {
                    self.activities.insert(act);
                }
                None => {
                    self.activities.remove(id);
                }
            }
        }
        for (id, before) in journal.timers.into_iter().rev() {
            match before {
                Some(timer) => {
                    self.timers.0.insert(id, timer);
                }
                None => {
                    self.timers.0.remove(&id);
                }
            }
        }
        match journal.held {
            Some(HeldBefore::Appended { len, bytes }) => {
                self.held.truncate(len);
                self.held_bytes = bytes;
            }
            Some(HeldBefore::Replaced(held, bytes)) => {
                self.held = held;
                self.held_bytes = bytes;
            }
            None => {}
        }
        self.rec = cp.rec;
        self.events.truncate(cp.events_len);
        self.dirty = cp.dirty;
    }

    /// Writes `WorkflowTaskScheduled` and makes the task available (after `not_before_ms`, for a
    /// retry back-off).
    pub(crate) fn schedule_workflow_task(
        &mut self,
        fx: &mut Effects,
        now: i64,
        attempt: i32,
        not_before_ms: i64,
    ) {
        let attrs = WorkflowTaskScheduledEventAttributes {
            task_queue: Some(TaskQueue {
                name: self.rec.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            start_to_close_timeout: Some(super::clock::dur(self.rec.workflow_task_timeout_ms)),
            attempt,
        };
        let id = self.append(
            now,
            EventAttributes::WorkflowTaskScheduledEventAttributes(attrs),
        );
        let not_before_ms = if not_before_ms > now {
            not_before_ms
        } else {
            0
        };
        self.rec.workflow_task = Some(WorkflowTaskRecord {
            scheduled_event_id: id,
            started_event_id: 0,
            attempt,
            scheduled_time_ms: now,
            started_time_ms: 0,
            not_before_ms,
        });
        if not_before_ms == 0 {
            self.offer_workflow_task(fx);
        }
    }

    /// Puts the scheduled workflow task in its queue.
    pub(crate) fn offer_workflow_task(&self, fx: &mut Effects) {
        if let Some(wft) = self.rec.workflow_task {
            fx.wft_ready.push((
                self.queue_key(),
                WftEntry {
                    run_id: self.rec.run_id.clone(),
                    scheduled_event_id: wft.scheduled_event_id,
                    query_id: None,
                },
            ));
        }
    }

    /// Schedules a workflow task unless one is pending (or the start delay has not passed).
    pub(crate) fn ensure_workflow_task(&mut self, fx: &mut Effects, now: i64) {
        if self.is_open()
            && self.rec.workflow_task.is_none()
            && now >= self.rec.first_task_not_before_ms
        {
            self.schedule_workflow_task(fx, now, 1, 0);
        }
    }

    /// Writes `WorkflowTaskFailed` for the started task, then the held events, then (when
    /// `reschedule`) a new task: attempt + 1 with back-off, or attempt 1 when held events were
    /// written, since the workflow then has something new to see.
    pub(crate) fn fail_workflow_task(
        &mut self,
        fx: &mut Effects,
        now: i64,
        cause: i32,
        failure: Option<Failure>,
        identity: &str,
        reschedule: bool,
    ) {
        let Some(wft) = self.wft() else { return };
        // A failed speculative task is written, as on Temporal.
        self.make_speculative_durable();
        let attrs = WorkflowTaskFailedEventAttributes {
            scheduled_event_id: wft.scheduled_event_id,
            started_event_id: wft.started_event_id,
            cause,
            failure,
            identity: identity.to_string(),
            ..Default::default()
        };
        self.append(
            now,
            EventAttributes::WorkflowTaskFailedEventAttributes(attrs),
        );
        self.rec.workflow_task = None;
        let flushed = self.flush_held();
        if reschedule && self.is_open() {
            self.retry_workflow_task(fx, now, if flushed { 1 } else { wft.attempt + 1 });
        }
    }

    /// Schedules attempt `attempt` of the workflow task, available once its back-off passed.
    pub(crate) fn retry_workflow_task(&mut self, fx: &mut Effects, now: i64, attempt: i32) {
        let backoff = workflow_task_backoff_ms(attempt);
        self.schedule_workflow_task(fx, now, attempt, now + backoff);
    }

    /// Records events that need the workflow to react (signals, cancel requests, activity and
    /// timer outcomes): held while a workflow task runs, else written with a new workflow task.
    /// A speculative task becomes a normal one first (its events are written before these), as
    /// Temporal converts it when new events arrive.
    pub(crate) fn add_events(&mut self, fx: &mut Effects, now: i64, batch: Vec<EventAttributes>) {
        self.make_speculative_durable();
        if self.wft_started() {
            self.hold_all(now, batch);
        } else {
            self.append_all(now, batch);
            self.ensure_workflow_task(fx, now);
        }
    }

    /// Closes the run with `status` (its close event is already written): pending work is
    /// dropped without events, and started activities are told to stop.
    pub(crate) fn close(&mut self, fx: &mut Effects, now: i64, status: WorkflowExecutionStatus) {
        self.rec.status = status as i32;
        self.rec.close_time_ms = now;
        self.rec.workflow_task = None;
        let ids: Vec<i64> = self.activities.keys().copied().collect();
        for id in ids {
            if let Some(act) = self.remove_activity(id)
                && act.is_started()
            {
                fx.cancel_tokens.push(self.activity_token(&act));
            }
        }
        let timers: Vec<String> = self.timers.keys().cloned().collect();
        for id in timers {
            self.remove_timer(&id);
        }
        if !self.held.is_empty() {
            self.journal_held();
            self.held.clear();
            self.held_bytes = 0;
            self.dirty.held = true;
        }
    }

    /// The earliest moment something in this run needs the timer thread: the run timeout, the
    /// end of the start delay, its workflow task's timeout or back-off, a timer, or an
    /// activity's timeout or back-off.
    pub(crate) fn next_due(&self) -> Option<i64> {
        let mut due: Option<i64> = None;
        let mut consider = |at: i64| {
            if at > 0 {
                due = Some(due.map_or(at, |d| d.min(at)));
            }
        };
        consider(self.rec.run_deadline_ms);
        if self.rec.workflow_task.is_none() {
            consider(self.rec.first_task_not_before_ms);
        }
        if let Some(at) = self.workflow_task_due() {
            consider(at);
        }
        for timer in self.timers.values() {
            consider(timer.fire_at_ms);
        }
        for act in self.activities.values() {
            if let Some(at) = activity_due(act) {
                consider(at);
            }
        }
        due
    }

    /// When the workflow task of this run next needs the timer thread.
    pub(crate) fn workflow_task_due(&self) -> Option<i64> {
        let wft = self.wft()?;
        if wft.started_event_id > 0 {
            (self.rec.workflow_task_timeout_ms > 0)
                .then(|| wft.started_time_ms + self.rec.workflow_task_timeout_ms)
        } else if self.is_speculative() {
            Some(wft.scheduled_time_ms + SPECULATIVE_SCHEDULE_TO_START_MS)
        } else {
            (wft.not_before_ms > 0).then_some(wft.not_before_ms)
        }
    }
}

/// The earliest moment the activity needs the timer thread: a timeout or the end of a back-off.
fn activity_due(act: &ActivityRecord) -> Option<i64> {
    let mut times = Vec::with_capacity(3);
    if act.schedule_to_close_ms > 0 {
        times.push(act.first_scheduled_ms + act.schedule_to_close_ms);
    }
    if act.is_started() {
        if act.start_to_close_ms > 0 {
            times.push(act.started_ms + act.start_to_close_ms);
        }
        if act.heartbeat_ms > 0 {
            times.push(act.started_ms.max(act.last_heartbeat_ms) + act.heartbeat_ms);
        }
    } else if act.retry_at_ms > 0 {
        times.push(act.retry_at_ms);
    } else if act.schedule_to_start_ms > 0 {
        times.push(act.attempt_scheduled_ms + act.schedule_to_start_ms);
    }
    times.into_iter().min()
}

/// The event type of an attributes variant the engine writes.
pub(crate) fn event_type(attrs: &EventAttributes) -> EventType {
    match attrs {
        EventAttributes::WorkflowExecutionStartedEventAttributes(_) => {
            EventType::WorkflowExecutionStarted
        }
        EventAttributes::WorkflowExecutionCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionCompleted
        }
        EventAttributes::WorkflowExecutionFailedEventAttributes(_) => {
            EventType::WorkflowExecutionFailed
        }
        EventAttributes::WorkflowExecutionTimedOutEventAttributes(_) => {
            EventType::WorkflowExecutionTimedOut
        }
        EventAttributes::WorkflowTaskScheduledEventAttributes(_) => {
            EventType::WorkflowTaskScheduled
        }
        EventAttributes::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        EventAttributes::WorkflowTaskCompletedEventAttributes(_) => {
            EventType::WorkflowTaskCompleted
        }
        EventAttributes::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        EventAttributes::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        EventAttributes::ActivityTaskScheduledEventAttributes(_) => {
            EventType::ActivityTaskScheduled
        }
        EventAttributes::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        EventAttributes::ActivityTaskCompletedEventAttributes(_) => {
            EventType::ActivityTaskCompleted
        }
        EventAttributes::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        EventAttributes::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        EventAttributes::ActivityTaskCancelRequestedEventAttributes(_) => {
            EventType::ActivityTaskCancelRequested
        }
        EventAttributes::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        EventAttributes::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        EventAttributes::TimerFiredEventAttributes(_) => EventType::TimerFired,
        EventAttributes::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        EventAttributes::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        EventAttributes::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        EventAttributes::WorkflowExecutionCanceledEventAttributes(_) => {
            EventType::WorkflowExecutionCanceled
        }
        EventAttributes::WorkflowExecutionSignaledEventAttributes(_) => {
            EventType::WorkflowExecutionSignaled
        }
        EventAttributes::WorkflowExecutionTerminatedEventAttributes(_) => {
            EventType::WorkflowExecutionTerminated
        }
        EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAccepted
        }
        EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateCompleted
        }
        _ => EventType::Unspecified,
    }
}

/// The scheduled event id an activity close event refers to.
fn activity_close_scheduled_id(attrs: Option<&EventAttributes>) -> Option<i64> {
    match attrs? {
        EventAttributes::ActivityTaskCompletedEventAttributes(a) => Some(a.scheduled_event_id),
        EventAttributes::ActivityTaskFailedEventAttributes(a) => Some(a.scheduled_event_id),
        EventAttributes::ActivityTaskTimedOutEventAttributes(a) => Some(a.scheduled_event_id),
        EventAttributes::ActivityTaskCanceledEventAttributes(a) => Some(a.scheduled_event_id),
        _ => None,
    }
}

/// Ids are assigned when events are written, so an activity close event learns the id of the
/// `ActivityTaskStarted` written just before it here.
fn wire_started_id(attrs: &mut EventAttributes, id: i64, started_ids: &mut HashMap<i64, i64>) {
    let started = match attrs {
        EventAttributes::ActivityTaskStartedEventAttributes(a) => {
            started_ids.insert(a.scheduled_event_id, id);
            return;
        }
        EventAttributes::ActivityTaskCompletedEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        EventAttributes::ActivityTaskFailedEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        EventAttributes::ActivityTaskTimedOutEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        EventAttributes::ActivityTaskCanceledEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        _ => None,
    };
    if let Some((slot, started_id)) = started {
        *slot = started_id;
    }
}
