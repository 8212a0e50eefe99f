//! The timer thread. Each open run has at most one armed deadline: the earliest moment at which
//! something in it is due (a user timer, a workflow-task or activity timeout, the end of a retry
//! back-off or start delay, the run timeout). When it passes, the thread looks at the run,
//! handles everything due, and arms the next one. State decides; deadlines are only wake-ups,
//! so a stale one does no harm.

use super::activity;
use super::clock::now_ms;
use super::close;
use super::core::Core;
use super::effects::Effects;
use super::run::Run;
use super::workflow_task;
use crate::proto::EventAttributes;
use crate::proto::history::TimerFiredEventAttributes;
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

/// Handles everything in `run` that is due at `now`.
fn on_due(run: &mut Run, fx: &mut Effects, now: i64) {
    if run.rec.run_deadline_ms > 0 && now >= run.rec.run_deadline_ms {
        close::time_out_run(run, fx, now);
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
            run.add_events(
                fx,
                now,
                vec![EventAttributes::TimerFiredEventAttributes(attrs)],
            );
        }
    }
}
