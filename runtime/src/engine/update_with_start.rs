//! `ExecuteMultiOperation` with Temporal's one allowed list, `[StartWorkflow, UpdateWorkflow]`:
//! update-with-start. The update goes to the workflow id's running run when the start names
//! it (the same request id), when the run already has that update, or when the conflict policy
//! is `USE_EXISTING`; otherwise a run is started as the start request says (a running one
//! terminated, or refused as already started, by its conflict policy; a closed one's id reused by
//! its reuse policy) and the update is admitted to the new run before its first workflow task is
//! handed out, so that this task carries it. An update that already completed in the id's
//! current run is answered with its outcome. The caller waits for the update's stage as for
//! `UpdateWorkflowExecution`.
//!
//! A failed operation is answered as Temporal's `MultiOperationExecution`: the status of the
//! first failed operation, with a `MultiOperationExecutionFailure` detail that gives each
//! operation's status (the failed one as it would be alone, the others `Aborted` with a
//! `MultiOperationExecutionAborted` detail), which is how SDK clients read it.

use super::core::Core;
use super::effects::Effects;
use super::ids;
use super::rpc_error::invalid;
use super::start::{Started, params, start_locked};
use super::update::{self, Checked, Found};
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::{
    UpdateWorkflowExecutionLifecycleStage as LifecycleStage, WorkflowExecutionStatus,
    WorkflowIdConflictPolicy,
};
use crate::proto::service::execute_multi_operation_request::operation::Operation;
use crate::proto::service::execute_multi_operation_response::{Response, response};
use crate::proto::service::{
    ExecuteMultiOperationRequest, ExecuteMultiOperationResponse, StartWorkflowExecutionRequest,
    StartWorkflowExecutionResponse, UpdateWorkflowExecutionRequest,
    UpdateWorkflowExecutionResponse,
};
use crate::proto::update::UpdateRef;
use prost::Message as _;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::errordetails::v1::MultiOperationExecutionFailure;
use temporalio_protos::temporal::api::errordetails::v1::multi_operation_execution_failure::OperationStatus;
use temporalio_protos::temporal::api::failure::v1::MultiOperationExecutionAborted;
use tonic::{Code, Status};

/// `ExecuteMultiOperation`.
pub(crate) async fn execute(
    core: &Core,
    req: ExecuteMultiOperationRequest,
) -> Result<ExecuteMultiOperationResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let (start, update) = operations(req.operations)?;
    let namespace = req.namespace;
    let checked_start = check_start(core, &namespace, &start);
    let checked_update = check_update(core, &namespace, &start.workflow_id, &update);
    let (start_params, checked) = match (checked_start, checked_update) {
        (Ok(p), Ok(c)) => (p, c),
        (s, u) => return Err(multi_op_error(s.err(), u.err())),
    };
    let workflow_id = start.workflow_id.clone();
    let (wanted, update_id) = (checked.wanted, checked.update_id.clone());
    // An update that completed in the id's current run, closed since, is answered from its
    // stored history.
    if let Some((run_id, status)) = closed_current(core, &namespace, &workflow_id)
        && let Some(outcome) = update::completed_in_store(core, &run_id, &update_id).await?
        && closed_current(core, &namespace, &workflow_id).is_some_and(|(r, _)| r == run_id)
    {
        let resp = UpdateWorkflowExecutionResponse {
            update_ref: Some(UpdateRef {
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: workflow_id.clone(),
                    run_id: run_id.clone(),
                }),
                update_id: update_id.clone(),
            }),
            outcome: Some(outcome),
            stage: LifecycleStage::Completed as i32,
            link: None,
        };
        return Ok(respond(&run_id, false, status, resp));
    }
    let (outcome, seq) = {
        let mut st = core.state.lock();
        let mut fx = Effects::default();
        let outcome = start_and_admit(core, &mut st, &mut fx, start_params, checked, &namespace);
        (outcome, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    let (started, found) = outcome?;
    let resp = update::answer(
        core,
        &workflow_id,
        &started.run_id,
        &update_id,
        found,
        wanted,
    )
    .await
    .map_err(|e| {
        let e = multi_op_error(None, Some(e));
        if started.started { ok_start(e) } else { e }
    })?;
    let status = WorkflowExecutionStatus::Running as i32;
    Ok(respond(&started.run_id, started.started, status, resp))
}

/// The start and update of the request, when it holds exactly those, in that order.
fn operations(
    operations: Vec<crate::proto::service::execute_multi_operation_request::Operation>,
) -> Result<
    (
        StartWorkflowExecutionRequest,
        UpdateWorkflowExecutionRequest,
    ),
    Status,
> {
    let not_start_and_update = || {
        invalid(
            "Operations have to be exactly [Start, Update]: ExecuteMultiOperation serves \
             update-with-start only",
        )
    };
    let [first, second]: [_; 2] = operations.try_into().map_err(|_| not_start_and_update())?;
    match (first.operation, second.operation) {
        (Some(Operation::StartWorkflow(start)), Some(Operation::UpdateWorkflow(update))) => {
            Ok((start, update))
        }
        _ => Err(not_start_and_update()),
    }
}

fn check_start(
    core: &Core,
    namespace: &str,
    start: &StartWorkflowExecutionRequest,
) -> Result<super::start::StartParams, Status> {
    if !start.namespace.is_empty() && start.namespace != namespace {
        return Err(invalid(
            "Operation namespace did not match request's namespace.",
        ));
    }
    ids::check(start, core.cfg.limits.max_id_bytes)?;
    if !start.cron_schedule.is_empty() {
        return Err(invalid("CronSchedule is not allowed."));
    }
    if start.request_eager_execution {
        return Err(invalid("RequestEagerExecution is not supported."));
    }
    if start
        .workflow_start_delay
        .as_ref()
        .is_some_and(|d| d.seconds > 0 || d.nanos > 0)
    {
        return Err(invalid("WorkflowStartDelay is not supported."));
    }
    let mut start = start.clone();
    start.namespace = namespace.to_string();
    params(core, &start)
}

fn check_update(
    core: &Core,
    namespace: &str,
    workflow_id: &str,
    update: &UpdateWorkflowExecutionRequest,
) -> Result<Checked, Status> {
    if !update.namespace.is_empty() && update.namespace != namespace {
        return Err(invalid(
            "Operation namespace did not match request's namespace.",
        ));
    }
    ids::check(update, core.cfg.limits.max_id_bytes)?;
    let exec = update.workflow_execution.clone().unwrap_or_default();
    if exec.workflow_id != workflow_id {
        return Err(invalid(
            "WorkflowId is not consistent with previous operation(s).",
        ));
    }
    if !exec.run_id.is_empty() {
        return Err(invalid("RunId is not allowed."));
    }
    if !update.first_execution_run_id.is_empty() {
        return Err(invalid("FirstExecutionRunId is not allowed."));
    }
    update::check(core, update)
}

/// The id's current run and its status, when it is closed.
fn closed_current(core: &Core, namespace: &str, workflow_id: &str) -> Option<(String, i32)> {
    let st = core.state.lock();
    let run_id = st
        .current
        .get(&(namespace.to_string(), workflow_id.to_string()))?;
    st.closed.get(run_id).map(|r| (run_id.clone(), r.status))
}

/// Applies the update to the running run the request names, or starts a run and admits the
/// update to it. An error is the operations' error.
fn start_and_admit(
    core: &Core,
    st: &mut super::state::State,
    fx: &mut Effects,
    p: super::start::StartParams,
    checked: Checked,
    namespace: &str,
) -> Result<(Started, Found), Status> {
    let key = (namespace.to_string(), p.workflow_id.clone());
    if let Some(current) = st.current.get(&key).cloned()
        && st.runs.contains_key(&current)
    {
        let same_request = st
            .runs
            .get(&current)
            .is_some_and(|run| run.rec.start_request_id == p.request_id);
        let known = update::look(st, &current, &checked.update_id).is_some();
        let reuse = same_request || known || p.conflict == WorkflowIdConflictPolicy::UseExisting;
        if reuse {
            st.check_intact(&current)
                .map_err(|e| multi_op_error(Some(e), None))?;
            let found = update::admit(core, st, fx, &current, checked)
                .map_err(|e| multi_op_error(None, Some(e)))?;
            let started = Started {
                run_id: current,
                started: false,
            };
            return Ok((started, found));
        }
    }
    let started = start_locked(st, fx, p, None).map_err(|e| multi_op_error(Some(e), None))?;
    if !started.started {
        // The start found its own earlier run (the same request id), which has closed.
        return Err(multi_op_error(
            None,
            Some(super::rpc_error::workflow_completed()),
        ));
    }
    let found = update::admit(core, st, fx, &started.run_id, checked)
        .map_err(|e| ok_start(multi_op_error(None, Some(e))))?;
    Ok((started, found))
}

fn respond(
    run_id: &str,
    started: bool,
    status: i32,
    update: crate::proto::service::UpdateWorkflowExecutionResponse,
) -> ExecuteMultiOperationResponse {
    let start = StartWorkflowExecutionResponse {
        run_id: run_id.to_string(),
        first_execution_run_id: run_id.to_string(),
        started,
        status,
        ..Default::default()
    };
    ExecuteMultiOperationResponse {
        responses: vec![
            Response {
                response: Some(response::Response::StartWorkflow(start)),
            },
            Response {
                response: Some(response::Response::UpdateWorkflow(update)),
            },
        ],
    }
}

/// What one operation of a failed update-with-start came to.
fn operation_status(status: Option<Status>) -> OperationStatus {
    match status {
        Some(status) => {
            let details = RpcStatus::decode(status.details())
                .map(|s| s.details)
                .unwrap_or_default();
            OperationStatus {
                code: status.code() as i32,
                message: status.message().to_string(),
                details,
            }
        }
        None => OperationStatus {
            code: Code::Aborted as i32,
            message: "Operation was aborted.".to_string(),
            details: vec![prost_wkt_types::Any {
                type_url:
                    "type.googleapis.com/temporal.api.failure.v1.MultiOperationExecutionAborted"
                        .to_string(),
                value: MultiOperationExecutionAborted {}.encode_to_vec(),
            }],
        },
    }
}

/// Temporal's `MultiOperationExecution` for a start error or an update error (the other
/// operation aborted): the failed operation's code, and every operation's status in a
/// `MultiOperationExecutionFailure` detail.
fn multi_op_error(start: Option<Status>, update: Option<Status>) -> Status {
    let (code, message) = match (&start, &update) {
        (Some(s), _) => (s.code(), format!("Start failed: {}", s.message())),
        (None, Some(u)) => (u.code(), format!("Update failed: {}", u.message())),
        (None, None) => (Code::Aborted, "Reason unknown".to_string()),
    };
    let message = format!("Update-with-Start could not be executed. {message}");
    let failure = MultiOperationExecutionFailure {
        statuses: vec![operation_status(start), operation_status(update)],
    };
    let any = prost_wkt_types::Any {
        type_url: "type.googleapis.com/temporal.api.errordetails.v1.MultiOperationExecutionFailure"
            .to_string(),
        value: failure.encode_to_vec(),
    };
    let status = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![any],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// A multi-operation error whose start went through (a run was started): the start's status
/// says OK, not aborted, as on Temporal.
fn ok_start(error: Status) -> Status {
    let Ok(mut rpc) = RpcStatus::decode(error.details()) else {
        return error;
    };
    let Some(any) = rpc.details.first_mut() else {
        return error;
    };
    let Ok(mut failure) = MultiOperationExecutionFailure::decode(any.value.as_slice()) else {
        return error;
    };
    if let Some(first) = failure.statuses.first_mut() {
        *first = OperationStatus {
            code: Code::Ok as i32,
            message: String::new(),
            details: Vec::new(),
        };
    }
    any.value = failure.encode_to_vec();
    Status::with_details(
        error.code(),
        error.message().to_string(),
        rpc.encode_to_vec().into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_operation_gives_its_code_and_the_other_is_aborted() {
        let err = multi_op_error(Some(Status::already_exists("taken")), None);
        assert_eq!(err.code(), Code::AlreadyExists);
        let rpc = RpcStatus::decode(err.details()).expect("details");
        let failure = MultiOperationExecutionFailure::decode(rpc.details[0].value.as_slice())
            .expect("decode");
        assert_eq!(failure.statuses[0].code, Code::AlreadyExists as i32);
        assert_eq!(failure.statuses[1].code, Code::Aborted as i32);
        let ok = ok_start(multi_op_error(None, Some(Status::not_found("gone"))));
        let rpc = RpcStatus::decode(ok.details()).expect("details");
        let failure = MultiOperationExecutionFailure::decode(rpc.details[0].value.as_slice())
            .expect("decode");
        assert_eq!(failure.statuses[0].code, Code::Ok as i32);
        assert_eq!(failure.statuses[1].code, Code::NotFound as i32);
        assert_eq!(ok.code(), Code::NotFound);
    }
}
