//! The per-run state shared by a workflow's context and its executor: issued commands, pending
//! activities and timers, the signals not yet read, the query handlers, and whether the run's root context was
//! cancelled.

use super::info::WorkflowInfo;
use super::query::QueryHandlers;
use crate::activity::ActivityOptions;
use crate::error::{ActivityFailed, Cancelled};
use crate::proto::common::Payload as RawPayload;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{HashMap, VecDeque};
use std::task::Waker;
use std::time::{Duration, SystemTime};

/// A command the workflow code issued, with what the executor needs to match it against history.
#[derive(Debug, Clone)]
pub(crate) enum IssuedCommand {
    ScheduleActivity {
        seq: u64,
        activity_type: String,
        input: Vec<RawPayload>,
        options: ActivityOptions,
    },
    RequestCancelActivity {
        seq: u64,
    },
    StartTimer {
        seq: u64,
        duration: Duration,
    },
    CancelTimer {
        seq: u64,
    },
    Complete {
        result: Vec<RawPayload>,
    },
    Fail {
        message: String,
        type_name: String,
    },
    Cancel {
        message: String,
    },
}

impl IssuedCommand {
    /// Describes the command for a non-determinism message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::ScheduleActivity {
                seq, activity_type, ..
            } => format!("ScheduleActivityTask [{activity_type}] (activity id {seq})"),
            Self::RequestCancelActivity { seq } => {
                format!("RequestCancelActivityTask (activity id {seq})")
            }
            Self::StartTimer { seq, duration } => {
                format!(
                    "StartTimer (timer id {seq}, {})",
                    humantime::format_duration(*duration)
                )
            }
            Self::CancelTimer { seq } => format!("CancelTimer (timer id {seq})"),
            Self::Complete { .. } => "CompleteWorkflowExecution".to_string(),
            Self::Fail { .. } => "FailWorkflowExecution".to_string(),
            Self::Cancel { .. } => "CancelWorkflowExecution".to_string(),
        }
    }
}

/// How an activity call ended, as recorded in history.
#[derive(Debug, Clone)]
pub(crate) enum ActivityOutcome {
    Completed(Vec<RawPayload>),
    Failed(ActivityFailed),
    Cancelled(Cancelled),
}

#[derive(Debug)]
pub(crate) struct ActivitySlot {
    pub(crate) activity_type: String,
    /// Event id of `ActivityTaskScheduled`, once known.
    pub(crate) scheduled_event_id: Option<i64>,
    pub(crate) outcome: Option<ActivityOutcome>,
    /// Set once the call future returned: later events for it are ignored.
    pub(crate) resolved: bool,
    pub(crate) cancel_requested: bool,
    pub(crate) waker: Option<Waker>,
}

#[derive(Debug, Default)]
pub(crate) struct TimerSlot {
    pub(crate) fired: bool,
    pub(crate) cancelled: bool,
    pub(crate) waker: Option<Waker>,
}

/// Everything the workflow's futures and the executor share.
#[derive(Debug)]
pub(crate) struct RunState {
    pub(crate) info: WorkflowInfo,
    /// Commands issued since the executor last collected them, in issue order.
    pub(crate) commands: Vec<IssuedCommand>,
    pub(crate) next_activity_seq: u64,
    pub(crate) next_timer_seq: u64,
    pub(crate) activities: HashMap<u64, ActivitySlot>,
    pub(crate) timers: HashMap<u64, TimerSlot>,
    pub(crate) cancel_requested: bool,
    pub(crate) cancel_wakers: Vec<Waker>,
    pub(crate) signals: SignalInbox,
    /// The query handlers, and whether one is answering now.
    pub(crate) queries: QueryHandlers,
    /// Why the current activation must fail the workflow task (a signal whose value does not
    /// decode), set by workflow code's futures and taken by the executor.
    pub(crate) task_failure: Option<String>,
    pub(crate) now: SystemTime,
    pub(crate) rng: StdRng,
    pub(crate) replaying: bool,
}

impl RunState {
    pub(crate) fn new(info: WorkflowInfo, seed: u64) -> Self {
        let now = info.start_time;
        Self {
            info,
            commands: Vec::new(),
            next_activity_seq: 1,
            next_timer_seq: 1,
            activities: HashMap::new(),
            timers: HashMap::new(),
            cancel_requested: false,
            cancel_wakers: Vec::new(),
            signals: SignalInbox::default(),
            queries: QueryHandlers::default(),
            task_failure: None,
            now,
            rng: StdRng::seed_from_u64(seed),
            replaying: false,
        }
    }

    /// Marks the root context cancelled and wakes everything that waits on it.
    pub(crate) fn request_cancel(&mut self) {
        if self.cancel_requested {
            return;
        }
        self.cancel_requested = true;
        for w in self.cancel_wakers.drain(..) {
            w.wake();
        }
        self.signals.wake_all();
        for slot in self.activities.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        for slot in self.timers.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    /// Finds the activity whose `ActivityTaskScheduled` event has this id.
    pub(crate) fn activity_by_event(
        &mut self,
        scheduled_event_id: i64,
    ) -> Option<&mut ActivitySlot> {
        self.activities
            .values_mut()
            .find(|s| s.scheduled_event_id == Some(scheduled_event_id))
    }
}

/// The signals delivered to the run and not yet read, by name, each name's in history order.
/// Signals are kept whether or not the code has asked for a channel of their name yet.
#[derive(Debug, Default)]
pub(crate) struct SignalInbox {
    unread: HashMap<String, VecDeque<Vec<RawPayload>>>,
    /// The receivers waiting for a signal; woken by every delivery, since a waker does not say
    /// which name it waits for.
    wakers: Vec<Waker>,
}

impl SignalInbox {
    /// Keeps a delivered signal's input and wakes the receivers.
    pub(crate) fn deliver(&mut self, name: &str, input: Vec<RawPayload>) {
        self.unread
            .entry(name.to_string())
            .or_default()
            .push_back(input);
        self.wake_all();
    }

    /// The oldest unread signal named `name`.
    pub(crate) fn take(&mut self, name: &str) -> Option<Vec<RawPayload>> {
        let queue = self.unread.get_mut(name)?;
        let input = queue.pop_front();
        if queue.is_empty() {
            self.unread.remove(name);
        }
        input
    }

    /// Wakes the receiver behind `waker` at the next delivery (or cancel).
    pub(crate) fn wait(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    pub(crate) fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    /// The names of unread signals with how many of each, sorted by name.
    pub(crate) fn unread_counts(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = self
            .unread
            .iter()
            .map(|(name, queue)| (name.clone(), queue.len()))
            .collect();
        counts.sort();
        counts
    }
}
