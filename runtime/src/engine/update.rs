//! `UpdateWorkflowExecution` and `PollWorkflowExecutionUpdate`.
//!
//! An update to an open run is admitted, deduplicated by its update id within the run, and
//! sent to a worker in the `messages` of the next workflow task that starts (when none is
//! pending, a speculative one is scheduled, which a worker that only rejects leaves out of the
//! history: see `Run::ensure_speculative_task` and `docs/semantics.md` §12.2). The worker answers in its completion's messages: an acceptance (written as
//! `WorkflowExecutionUpdateAccepted`), a rejection (nothing written), then a response (written as
//! `WorkflowExecutionUpdateCompleted`); see [`super::protocol`]. A caller waits for the stage it
//! asks for (Accepted or Completed), at most the long-poll timeout, after which it is answered
//! with the stage reached (as Temporal's frontend does) and polls again. Every stage it is told
//! of is durable first. An update to a closed run is refused with `NotFound`, and one in flight
//! when its run closes is answered (see [`super::updates`]).

use super::clock::now_ms;
use super::core::Core;
use super::effects::Effects;
use super::rpc_error::{
    clip, concurrent_limit, failed_precondition, invalid, not_found, unavailable,
    workflow_completed, workflow_not_ready,
};
use super::run::Run;
use super::updates::Progress;
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::UpdateWorkflowExecutionLifecycleStage as LifecycleStage;
use crate::proto::failure::Failure;
use crate::proto::history::HistoryEvent;
use crate::proto::service::{
    PollWorkflowExecutionUpdateRequest, PollWorkflowExecutionUpdateResponse,
    UpdateWorkflowExecutionRequest, UpdateWorkflowExecutionResponse,
};
use crate::proto::update::{Outcome, Request, UpdateRef, WaitPolicy, outcome};
use tokio::sync::watch;
use tonic::Status;

/// The workflow task attempt from which updates fail fast (Temporal's is the same).
const FAILING_TASK_ATTEMPTS: i32 = 3;

/// What a look at the state found for an update.
pub(crate) enum Found {
    /// Tracked in memory: wait on it.
    Tracked(watch::Receiver<Progress>),
    /// The run is closed: look in its stored history.
    Closed,
}

/// An update request, checked: the stage its caller waits for, the request and its update id.
pub(crate) struct Checked {
    pub wanted: LifecycleStage,
    pub request: Request,
    pub update_id: String,
}

/// Checks the fields of an update request that need no state.
pub(crate) fn check(core: &Core, req: &UpdateWorkflowExecutionRequest) -> Result<Checked, Status> {
    let wanted = stage(&req.wait_policy, LifecycleStage::Accepted)?;
    let Some(request) = req.request.clone() else {
        return Err(invalid("request is not set"));
    };
    let update_id = request
        .meta
        .as_ref()
        .map_or("", |m| m.update_id.as_str())
        .to_string();
    validate::required(&update_id, "request.meta.update_id")?;
    let input = request.input.as_ref();
    validate::required(input.map_or("", |i| i.name.as_str()), "request.input.name")?;
    validate::payloads(
        &input.and_then(|i| i.args.clone()),
        "request.input.args",
        core.cfg.limits.max_payload_bytes,
    )?;
    Ok(Checked {
        wanted,
        request,
        update_id,
    })
}

/// `UpdateWorkflowExecution`.
pub(crate) async fn update(
    core: &Core,
    req: UpdateWorkflowExecutionRequest,
) -> Result<UpdateWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let exec = validate::execution(&req.workflow_execution)?;
    let checked = check(core, &req)?;
    let (wanted, update_id) = (checked.wanted, checked.update_id.clone());
    let (run_id, found, seq) = {
        let mut st = core.state.lock();
        let run_id = st.resolve(&req.namespace, &exec)?;
        st.check_intact(&run_id)?;
        if !req.first_execution_run_id.is_empty() && req.first_execution_run_id != run_id {
            // dacapo runs have no chains (no continue-as-new): the first run is the run.
            return Err(super::rpc_error::workflow_not_found(
                &exec.workflow_id,
                &req.first_execution_run_id,
            ));
        }
        let mut fx = Effects::default();
        let found = admit(core, &mut st, &mut fx, &run_id, checked)?;
        (run_id, found, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    answer(core, &exec.workflow_id, &run_id, &update_id, found, wanted).await
}

/// Waits for update `update_id` of `run_id` as `found` says, up to stage `wanted`, and gives
/// the response that says where it is.
pub(crate) async fn answer(
    core: &Core,
    workflow_id: &str,
    run_id: &str,
    update_id: &str,
    found: Found,
    wanted: LifecycleStage,
) -> Result<UpdateWorkflowExecutionResponse, Status> {
    let progress = settle(core, run_id, update_id, found, wanted).await?;
    Ok(UpdateWorkflowExecutionResponse {
        update_ref: Some(update_ref(workflow_id, run_id, update_id)),
        outcome: progress.outcome,
        stage: progress.stage as i32,
        link: None,
    })
}

/// Finds the update of `checked` in the open run `run_id`, or admits it there (held to the
/// run's update limits), scheduling a speculative workflow task when none is pending; its
/// changes go to `fx`.
pub(crate) fn admit(
    core: &Core,
    st: &mut super::state::State,
    fx: &mut Effects,
    run_id: &str,
    checked: Checked,
) -> Result<Found, Status> {
    let Some(run) = st.runs.get(run_id) else {
        return Err(workflow_completed());
    };
    let workflow_id = run.rec.workflow_id.clone();
    if run
        .wft()
        .is_some_and(|t| t.attempt >= FAILING_TASK_ATTEMPTS)
    {
        return Err(workflow_not_ready(
            "Unable to perform workflow execution update due to Workflow Task in failed \
             state: it failed its last attempts, and the update would fail the same way",
        ));
    }
    if let Some(found) = look(st, run_id, &checked.update_id) {
        return Ok(found);
    }
    let limits = &core.cfg.limits;
    let (in_flight, all) = st.updates.count(run_id);
    if in_flight >= limits.max_in_flight_updates {
        return Err(concurrent_limit(
            format!(
                "limit on number of concurrent in-flight updates has been reached: workflow \
                 \"{}\" has {in_flight} (Limits::max_in_flight_updates); retry once some \
                 completed",
                clip(&workflow_id)
            ),
            false,
        ));
    }
    if all >= limits.max_updates_per_run {
        // Temporal refuses this one for good: FailedPrecondition.
        return Err(failed_precondition(format!(
            "The limit on the total number of distinct updates in this workflow has been \
             reached: workflow \"{}\" has had {all} (Limits::max_updates_per_run)",
            clip(&workflow_id)
        )));
    }
    let rx = st.updates.admit(run_id, checked.request);
    if let Some(run) = st.runs.get_mut(run_id) {
        fx.touch(run_id);
        run.ensure_speculative_task(fx, now_ms());
    }
    Ok(Found::Tracked(rx))
}

/// `PollWorkflowExecutionUpdate`: waits for an update's stage, or gives its outcome.
pub(crate) async fn poll(
    core: &Core,
    req: PollWorkflowExecutionUpdateRequest,
) -> Result<PollWorkflowExecutionUpdateResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let Some(update_ref_in) = req.update_ref else {
        return Err(invalid("update_ref is not set"));
    };
    let exec = validate::execution(&update_ref_in.workflow_execution)?;
    let update_id = update_ref_in.update_id;
    validate::required(&update_id, "update_ref.update_id")?;
    let wanted = stage(&req.wait_policy, LifecycleStage::Completed)?;
    let (run_id, found) = {
        let mut st = core.state.lock();
        let run_id = st.resolve(&req.namespace, &exec)?;
        st.check_intact(&run_id)?;
        let found = if st.runs.contains_key(&run_id) {
            look(&mut st, &run_id, &update_id).ok_or_else(|| update_not_found(&update_id))?
        } else {
            Found::Closed
        };
        (run_id, found)
    };
    let progress = settle(core, &run_id, &update_id, found, wanted).await?;
    Ok(PollWorkflowExecutionUpdateResponse {
        outcome: progress.outcome,
        stage: progress.stage as i32,
        update_ref: Some(update_ref(&exec.workflow_id, &run_id, &update_id)),
    })
}

/// Finds update `update_id` of the open run `run_id`: tracked in memory, or in its history
/// (completed, or accepted before a restart). The history is read once per run and engine
/// (at the run's first update call): every update it records is tracked from then on, so that
/// later calls never decode it again. `None` when the run has no such update.
pub(super) fn look(st: &mut super::state::State, run_id: &str, update_id: &str) -> Option<Found> {
    if let Some(rx) = st.updates.find(run_id, update_id) {
        return Some(Found::Tracked(rx));
    }
    if st.updates.history_read(run_id) {
        return None;
    }
    let run = st.runs.get(run_id)?;
    let InHistory {
        accepted,
        completed,
    } = updates_in(decoded(run));
    let seq = st.seq_of(run_id);
    for (id, event_id) in accepted {
        st.updates.accepted(run_id, &id, event_id, seq);
    }
    for (id, outcome) in completed {
        st.updates.completed_before(run_id, &id, outcome);
    }
    st.updates.mark_history_read(run_id);
    st.updates.find(run_id, update_id).map(Found::Tracked)
}

/// The updates a history records, by update id.
struct InHistory {
    /// Accepted and not completed, with the acceptance's event id.
    accepted: Vec<(String, i64)>,
    /// Completed, with the outcome.
    completed: Vec<(String, Outcome)>,
}

/// Reads the updates `events` record.
fn updates_in(events: impl Iterator<Item = HistoryEvent>) -> InHistory {
    let (mut accepted, mut completed) = (Vec::new(), Vec::new());
    for e in events {
        match e.attributes {
            Some(EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                accepted.push((a.protocol_instance_id, e.event_id));
            }
            Some(EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(a)) => {
                if let (Some(meta), Some(outcome)) = (a.meta, a.outcome) {
                    completed.push((meta.update_id, outcome));
                }
            }
            _ => {}
        }
    }
    accepted.retain(|(id, _)| !completed.iter().any(|(done, _)| done == id));
    InHistory {
        accepted,
        completed,
    }
}

fn decoded(run: &Run) -> impl Iterator<Item = HistoryEvent> + '_ {
    run.events.iter().filter_map(|e| e.decode().ok())
}

/// The outcome of update `update_id` of the closed run `run_id`, read from the store, when it
/// completed there.
pub(crate) async fn completed_in_store(
    core: &Core,
    run_id: &str,
    update_id: &str,
) -> Result<Option<Outcome>, Status> {
    let events = super::history::read_store(core, run_id, 1, usize::MAX, usize::MAX).await?;
    Ok(completed_in(events.into_iter(), update_id))
}

/// The outcome of update `update_id` in a history, when it completed there.
fn completed_in(events: impl Iterator<Item = HistoryEvent>, update_id: &str) -> Option<Outcome> {
    events.into_iter().find_map(|e| match e.attributes? {
        EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(a)
            if a.meta.as_ref().is_some_and(|m| m.update_id == update_id) =>
        {
            a.outcome
        }
        _ => None,
    })
}

/// Waits for what `found` says, up to `wanted`, and answers once what it reports is durable.
async fn settle(
    core: &Core,
    run_id: &str,
    update_id: &str,
    found: Found,
    wanted: LifecycleStage,
) -> Result<Progress, Status> {
    let completed = |outcome| Progress {
        stage: LifecycleStage::Completed,
        outcome: Some(outcome),
        error: None,
        seq: 0,
    };
    match found {
        Found::Closed => {
            let events =
                super::history::read_store(core, run_id, 1, usize::MAX, usize::MAX).await?;
            if let Some(outcome) = completed_in(events.iter().cloned(), update_id) {
                return Ok(completed(outcome));
            }
            let accepted = events.iter().any(|e| {
                matches!(&e.attributes, Some(EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) if a.protocol_instance_id == update_id)
            });
            if accepted {
                // Accepted, and the run closed before the update completed.
                return Ok(completed(Outcome {
                    value: Some(outcome::Value::Failure(Failure {
                        message: "Workflow Update failed because the Workflow completed before \
                                  the Update completed."
                            .to_string(),
                        ..Default::default()
                    })),
                }));
            }
            Err(update_not_found(update_id))
        }
        Found::Tracked(mut rx) => {
            let reached = |p: &Progress| p.stage >= wanted || p.error.is_some();
            let timeout = core.cfg.long_poll_timeout;
            let waited = match tokio::time::timeout(timeout, rx.wait_for(reached)).await {
                Ok(Ok(p)) => Some(p.clone()),
                Ok(Err(_)) => {
                    return Err(unavailable(
                        "the engine stopped before the update was answered",
                    ));
                }
                Err(_) => None,
            };
            // Not there yet: answer with the stage reached, as Temporal does.
            let progress = waited.unwrap_or_else(|| rx.borrow().clone());
            if let Some((code, message)) = progress.error {
                return Err(if code == tonic::Code::NotFound {
                    super::rpc_error::closed_run(message)
                } else {
                    Status::new(code, message)
                });
            }
            core.committed(progress.seq).await?;
            Ok(progress)
        }
    }
}

/// The stage a wait policy asks for; `default` when it names none.
fn stage(policy: &Option<WaitPolicy>, default: LifecycleStage) -> Result<LifecycleStage, Status> {
    let raw = policy.as_ref().map_or(0, |p| p.lifecycle_stage);
    match LifecycleStage::try_from(raw) {
        Ok(LifecycleStage::Unspecified) => Ok(default),
        Ok(LifecycleStage::Admitted) => Err(invalid(
            "wait_policy.lifecycle_stage ADMITTED is not supported (as on Temporal): wait for \
             ACCEPTED or COMPLETED",
        )),
        Ok(stage) => Ok(stage),
        Err(_) => Err(invalid(format!(
            "wait_policy.lifecycle_stage {raw} is not an UpdateWorkflowExecutionLifecycleStage"
        ))),
    }
}

fn update_ref(workflow_id: &str, run_id: &str, update_id: &str) -> UpdateRef {
    UpdateRef {
        workflow_execution: Some(WorkflowExecution {
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
        }),
        update_id: update_id.to_string(),
    }
}

fn update_not_found(update_id: &str) -> Status {
    not_found(format!("update \"{}\" not found", clip(update_id)))
}
