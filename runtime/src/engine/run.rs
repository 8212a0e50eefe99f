//! One open run: its record, its history, the events held back while a workflow task runs, its
//! pending activities and timers, and which of those changed since they were last written.

use super::clock::{next_task_id, ts};
use super::state::{Effects, QueueKey, WftEntry};
use super::token::{TaskKind, TaskToken};
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::{EventType, TaskQueueKind, WorkflowExecutionStatus};
use crate::proto::history::history_event::Attributes;
use crate::proto::history::{HistoryEvent, WorkflowTaskScheduledEventAttributes};
use crate::proto::taskqueue::TaskQueue;
use crate::store::{
    ActivityRecord, EncodedEvent, ExecutionRecord, OpenRunRows, TimerRecord, WorkflowTaskRecord,
    WriteOp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Run {
    pub rec: ExecutionRecord,
    /// The history, encoded: see [`EncodedEvent`].
    pub events: Vec<EncodedEvent>,
    /// Events that arrived while a workflow task was started; written after it completes.
    pub held: Vec<HistoryEvent>,
    pub activities: BTreeMap<i64, ActivityRecord>,
    pub timers: BTreeMap<String, TimerRecord>,
    /// Woken whenever the history grows or the run closes.
    pub history_notify: Arc<Notify>,
    dirty: Dirty,
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

/// A copy of a run's mutable parts, to undo a workflow task completion that turned out invalid.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    rec: ExecutionRecord,
    events_len: usize,
    held: Vec<HistoryEvent>,
    activities: BTreeMap<i64, ActivityRecord>,
    timers: BTreeMap<String, TimerRecord>,
    dirty: Dirty,
}

impl Run {
    pub(crate) fn new(rec: ExecutionRecord) -> Run {
        Run {
            rec,
            events: Vec::new(),
            held: Vec::new(),
            activities: BTreeMap::new(),
            timers: BTreeMap::new(),
            history_notify: Arc::default(),
            dirty: Dirty::default(),
        }
    }

    pub(crate) fn restore(rec: ExecutionRecord, rows: OpenRunRows) -> Run {
        let mut run = Run::new(rec);
        run.dirty.written_rec = Some(run.rec.clone());
        run.dirty.persisted_events = rows.events.len();
        run.events = rows.events;
        run.held = rows.held_events;
        run.activities = rows
            .activities
            .into_iter()
            .map(|a| (a.scheduled_event_id, a))
            .collect();
        run.timers = rows
            .timers
            .into_iter()
            .map(|t| (t.timer_id.clone(), t))
            .collect();
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

    /// Appends events to the history, in order, wiring activity close events to the
    /// `ActivityTaskStarted` written just before them. Returns the id of the last one.
    pub(crate) fn append_all(&mut self, now: i64, batch: Vec<Attributes>) -> i64 {
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
    pub(crate) fn append(&mut self, now: i64, attrs: Attributes) -> i64 {
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
    pub(crate) fn hold_all(&mut self, now: i64, batch: Vec<Attributes>) {
        for attrs in batch {
            let mut event = HistoryEvent {
                event_time: Some(ts(now)),
                event_type: event_type(&attrs) as i32,
                attributes: Some(attrs),
                ..HistoryEvent::default()
            };
            EncodedEvent::bound_held(&self.rec.run_id, &mut event);
            self.held.push(event);
        }
        self.dirty.held = true;
    }

    /// Writes the held events to the history. Returns whether there were any.
    pub(crate) fn flush_held(&mut self) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let held = std::mem::take(&mut self.held);
        let mut started_ids = HashMap::new();
        for event in held {
            self.push_event(event, &mut started_ids);
        }
        self.dirty.held = true;
        true
    }

    /// Removes a held `TimerFired` for `timer_id`, returning its `started_event_id`.
    pub(crate) fn unhold_timer_fired(&mut self, timer_id: &str) -> Option<i64> {
        let pos = self.held.iter().position(|e| {
            matches!(&e.attributes, Some(Attributes::TimerFiredEventAttributes(a)) if a.timer_id == timer_id)
        })?;
        let event = self.held.remove(pos);
        self.dirty.held = true;
        match event.attributes {
            Some(Attributes::TimerFiredEventAttributes(a)) => Some(a.started_event_id),
            _ => None,
        }
    }

    /// Whether a held event closes the activity scheduled at `scheduled_event_id`.
    pub(crate) fn holds_activity_close(&self, scheduled_event_id: i64) -> bool {
        self.held
            .iter()
            .any(|e| activity_close_scheduled_id(e.attributes.as_ref()) == Some(scheduled_event_id))
    }

    pub(crate) fn put_activity(&mut self, act: ActivityRecord) {
        self.dirty.activities.insert(act.scheduled_event_id);
        self.activities.insert(act.scheduled_event_id, act);
    }

    /// Mutable access to an activity; marks it for writing.
    pub(crate) fn activity_mut(&mut self, scheduled_event_id: i64) -> Option<&mut ActivityRecord> {
        let act = self.activities.get_mut(&scheduled_event_id)?;
        self.dirty.activities.insert(scheduled_event_id);
        Some(act)
    }

    pub(crate) fn remove_activity(&mut self, scheduled_event_id: i64) -> Option<ActivityRecord> {
        self.dirty.activities.insert(scheduled_event_id);
        self.activities.remove(&scheduled_event_id)
    }

    pub(crate) fn put_timer(&mut self, timer: TimerRecord) {
        self.dirty.timers.insert(timer.timer_id.clone());
        self.timers.insert(timer.timer_id.clone(), timer);
    }

    pub(crate) fn remove_timer(&mut self, timer_id: &str) -> Option<TimerRecord> {
        self.dirty.timers.insert(timer_id.to_string());
        self.timers.remove(timer_id)
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
        let run_id = &self.rec.run_id;
        let mut ops = Vec::new();
        // Many changes (an activity starting, a heartbeat) leave the record as it was.
        if self.dirty.written_rec.as_ref() != Some(&self.rec) {
            ops.push(WriteOp::PutExecution(Box::new(self.rec.clone())));
            self.dirty.written_rec = Some(self.rec.clone());
        }
        if self.dirty.persisted_events < self.events.len() {
            ops.push(WriteOp::AppendEvents {
                run_id: run_id.clone(),
                events: self.events[self.dirty.persisted_events..].to_vec(),
            });
            self.dirty.persisted_events = self.events.len();
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

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            rec: self.rec.clone(),
            events_len: self.events.len(),
            held: self.held.clone(),
            activities: self.activities.clone(),
            timers: self.timers.clone(),
            dirty: self.dirty.clone(),
        }
    }

    pub(crate) fn rollback(&mut self, cp: Checkpoint) {
        self.rec = cp.rec;
        self.events.truncate(cp.events_len);
        self.held = cp.held;
        self.activities = cp.activities;
        self.timers = cp.timers;
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
        let id = self.append(now, Attributes::WorkflowTaskScheduledEventAttributes(attrs));
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

    /// Records events that need the workflow to react (signals, cancel requests, activity and
    /// timer outcomes): held while a workflow task runs, else written with a new workflow task.
    pub(crate) fn add_events(&mut self, fx: &mut Effects, now: i64, batch: Vec<Attributes>) {
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
            self.held.clear();
            self.dirty.held = true;
        }
    }
}

/// The event type of an attributes variant the engine writes.
pub(crate) fn event_type(attrs: &Attributes) -> EventType {
    use Attributes as A;
    match attrs {
        A::WorkflowExecutionStartedEventAttributes(_) => EventType::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => EventType::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => EventType::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => EventType::WorkflowExecutionTimedOut,
        A::WorkflowTaskScheduledEventAttributes(_) => EventType::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => EventType::WorkflowTaskCompleted,
        A::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        A::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        A::ActivityTaskScheduledEventAttributes(_) => EventType::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => EventType::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        A::ActivityTaskCancelRequestedEventAttributes(_) => EventType::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        A::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        A::TimerFiredEventAttributes(_) => EventType::TimerFired,
        A::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        A::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionCanceledEventAttributes(_) => EventType::WorkflowExecutionCanceled,
        A::WorkflowExecutionSignaledEventAttributes(_) => EventType::WorkflowExecutionSignaled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => EventType::WorkflowExecutionTerminated,
        _ => EventType::Unspecified,
    }
}

/// The scheduled event id an activity close event refers to.
fn activity_close_scheduled_id(attrs: Option<&Attributes>) -> Option<i64> {
    match attrs? {
        Attributes::ActivityTaskCompletedEventAttributes(a) => Some(a.scheduled_event_id),
        Attributes::ActivityTaskFailedEventAttributes(a) => Some(a.scheduled_event_id),
        Attributes::ActivityTaskTimedOutEventAttributes(a) => Some(a.scheduled_event_id),
        Attributes::ActivityTaskCanceledEventAttributes(a) => Some(a.scheduled_event_id),
        _ => None,
    }
}

/// Ids are assigned when events are written, so an activity close event learns the id of the
/// `ActivityTaskStarted` written just before it here.
fn wire_started_id(attrs: &mut Attributes, id: i64, started_ids: &mut HashMap<i64, i64>) {
    let started = match attrs {
        Attributes::ActivityTaskStartedEventAttributes(a) => {
            started_ids.insert(a.scheduled_event_id, id);
            return;
        }
        Attributes::ActivityTaskCompletedEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        Attributes::ActivityTaskFailedEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        Attributes::ActivityTaskTimedOutEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        Attributes::ActivityTaskCanceledEventAttributes(a) => started_ids
            .get(&a.scheduled_event_id)
            .map(|s| (&mut a.started_event_id, *s)),
        _ => None,
    };
    if let Some((slot, started_id)) = started {
        *slot = started_id;
    }
}
