//! The timer thread. Each open run has at most one armed deadline: the earliest moment at which
//! something in it is due (a user timer, a workflow-task or activity timeout, the end of a retry
//! back-off or start delay, the run timeout). When it passes, the thread looks at the run,
//! handles everything due, and arms the next one. State decides; deadlines are only wake-ups,
//! so a stale one does no harm.

use super::activity;
use super::clock::now_ms;
use super::effects::{ActEntry, Effects, WftEntry};
use super::run::Run;
use super::shared::Core;
use super::state::State;
use super::workflow_task;
use crate::proto::history::TimerFiredEventAttributes;
use crate::proto::history::history_event::Attributes;
use std::time::Duration;

/// The thread's body; returns when the engine shuts down.
pub(crate) fn run(core: &Core) {
    let mut st = core.state.lock();
    loop {
        if core.is_stopped() {
            return;
        }
        let now = now_ms();
        let due = st.pop_due(now);
        if !due.is_empty() {
            let mut fx = Effects::default();
            for run_id in due {
                if let Some(run) = st.runs.get_mut(&run_id) {
                    fx.touch(&run_id);
                    on_due(run, &mut fx, now);
                }
            }
            core.finish(&mut st, fx);
            continue;
        }
        let next = st.next_deadline();
        st.driver_next = next.unwrap_or(i64::MAX);
        match next {
            Some(at) => {
                let wait = u64::try_from(at.saturating_sub(now)).unwrap_or(0).max(1);
                core.driver_wake
                    .wait_for(&mut st, Duration::from_millis(wait));
            }
            None => core.driver_wake.wait(&mut st),
        }
        st.driver_next = i64::MIN;
    }
}

/// The earliest moment something in `run` needs the timer thread.
pub(crate) fn next_due(run: &Run) -> Option<i64> {
    let mut due: Option<i64> = None;
    let mut consider = |at: i64| {
        if at > 0 {
            due = Some(due.map_or(at, |d| d.min(at)));
        }
    };
    consider(run.rec.run_deadline_ms);
    if run.rec.workflow_task.is_none() {
        consider(run.rec.first_task_not_before_ms);
    }
    if let Some(at) = workflow_task::next_due(run) {
        consider(at);
    }
    for timer in run.timers.values() {
        consider(timer.fire_at_ms);
    }
    for act in run.activities.values() {
        if let Some(at) = activity::next_due(act) {
            consider(at);
        }
    }
    due
}

/// Handles everything in `run` that is due at `now`.
fn on_due(run: &mut Run, fx: &mut Effects, now: i64) {
    if run.rec.run_deadline_ms > 0 && now >= run.rec.run_deadline_ms {
        workflow_task::time_out_run(run, fx, now);
        return;
    }
    if run.rec.workflow_task.is_none()
        && run.rec.first_task_not_before_ms > 0
        && now >= run.rec.first_task_not_before_ms
    {
        run.rec.first_task_not_before_ms = 0;
        run.ensure_workflow_task(fx, now);
    }
    fire_timers(run, fx, now);
    let ids: Vec<i64> = run.activities.keys().copied().collect();
    for id in ids {
        activity::on_due(run, fx, now, id);
    }
    // Last, so that timer and activity outcomes held by a timed-out task are written with it.
    workflow_task::on_due(run, fx, now);
}

fn fire_timers(run: &mut Run, fx: &mut Effects, now: i64) {
    let mut due: Vec<(i64, String)> = run
        .timers
        .values()
        .filter(|t| t.fire_at_ms <= now)
        .map(|t| (t.fire_at_ms, t.timer_id.clone()))
        .collect();
    due.sort();
    for (_, timer_id) in due {
        if let Some(timer) = run.remove_timer(&timer_id) {
            let attrs = TimerFiredEventAttributes {
                timer_id: timer.timer_id,
                started_event_id: timer.started_event_id,
            };
            run.add_events(fx, now, vec![Attributes::TimerFiredEventAttributes(attrs)]);
        }
    }
}

/// After loading a snapshot: queues the tasks that were waiting and arms every run's deadline.
pub(crate) fn rearm_all(st: &mut State) {
    let mut wft = Vec::new();
    let mut acts = Vec::new();
    let mut arms = Vec::new();
    for run in st.runs.values() {
        // A damaged run stays as it is until it is terminated: no tasks, no timeouts.
        if st.is_damaged(&run.rec.run_id) {
            continue;
        }
        if let Some(task) = run.wft()
            && task.started_event_id == 0
            && task.not_before_ms == 0
        {
            let entry = WftEntry {
                run_id: run.rec.run_id.clone(),
                scheduled_event_id: task.scheduled_event_id,
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
        if let Some(at) = next_due(run) {
            arms.push((run.rec.run_id.clone(), at));
        }
    }
    // Oldest first, as they were queued before.
    wft.sort_by_key(|(_, e)| e.scheduled_event_id);
    for (key, entry) in wft {
        st.push_wft(key, entry);
    }
    for (key, entry) in acts {
        st.push_act(key, entry);
    }
    for (run_id, at) in arms {
        st.arm(&run_id, at);
    }
}
