//! How the engine closes a run by itself: it terminates it (on request, to start a new run with
//! the same workflow id, or because its history grew over a limit) or times it out. A workflow
//! task started at that moment is failed first, so that its worker's late completion is
//! rejected.

use super::clock::now_ms;
use super::effects::Effects;
use super::failures::ENGINE_IDENTITY;
use super::limits::Limits;
use super::run::Run;
use crate::proto::EventAttributes;
use crate::proto::common::Payloads;
use crate::proto::enums::{RetryState, WorkflowExecutionStatus, WorkflowTaskFailedCause};
use crate::proto::history::{
    WorkflowExecutionTerminatedEventAttributes, WorkflowExecutionTimedOutEventAttributes,
};

/// Terminates the run: a started task is failed, held events are written, then
/// `WorkflowExecutionTerminated`; pending work is dropped and started activities told to stop.
pub(crate) fn terminate_run(
    run: &mut Run,
    fx: &mut Effects,
    now: i64,
    reason: &str,
    details: Option<Payloads>,
    identity: &str,
) {
    force_close_task(run, fx, now);
    let attrs = WorkflowExecutionTerminatedEventAttributes {
        reason: reason.to_string(),
        details,
        identity: identity.to_string(),
    };
    run.append(
        now,
        EventAttributes::WorkflowExecutionTerminatedEventAttributes(attrs),
    );
    run.close(fx, now, WorkflowExecutionStatus::Terminated);
}

/// Terminates an open run whose history (with its held events) has grown over
/// `Limits::history_size_limit_bytes` or `history_count_limit`, as Temporal does, with a reason
/// that names the limit; and logs once when it passes a warning threshold. The terminate is
/// written whatever the size: a started task is failed, held events are written, pending
/// activities and timers are dropped and started activities told to stop, as with any terminate.
/// Called for every run a change touched, before the change is written.
pub(crate) fn enforce_history_limits(run: &mut Run, fx: &mut Effects, limits: &Limits) {
    if !run.is_open() {
        return;
    }
    let Some(reason) = run.check_history(limits) else {
        return;
    };
    tracing::warn!(
        namespace = %run.rec.namespace,
        workflow_id = %run.rec.workflow_id,
        run_id = %run.rec.run_id,
        "terminating the run: {reason}"
    );
    terminate_run(run, fx, now_ms(), &reason, None, ENGINE_IDENTITY);
}

/// Closes a run whose run (or execution) timeout passed.
pub(crate) fn time_out_run(run: &mut Run, fx: &mut Effects, now: i64) {
    force_close_task(run, fx, now);
    let attrs = WorkflowExecutionTimedOutEventAttributes {
        retry_state: RetryState::Timeout as i32,
        new_execution_run_id: String::new(),
    };
    run.append(
        now,
        EventAttributes::WorkflowExecutionTimedOutEventAttributes(attrs),
    );
    run.close(fx, now, WorkflowExecutionStatus::TimedOut);
}

/// Before the engine closes a run itself (terminate, timeout), a started task is failed so that
/// its worker's late completion is rejected, and held events are written. A speculative task
/// not yet started is forgotten (its event was never written); a started one is written and
/// failed, as Temporal does.
fn force_close_task(run: &mut Run, fx: &mut Effects, now: i64) {
    if !run.wft_started() {
        run.drop_speculative();
    }
    if run.wft_started() {
        let cause = WorkflowTaskFailedCause::ForceCloseCommand as i32;
        run.fail_workflow_task(fx, now, cause, None, ENGINE_IDENTITY, false);
    }
    run.flush_held();
}
