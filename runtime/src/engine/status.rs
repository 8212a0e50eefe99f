//! The gRPC statuses the engine answers with. Codes follow Temporal's choices so that SDKs and
//! the CLI react the same way; messages say what was wrong and name the ids involved.

use prost::Message;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure;
use tonic::{Code, Status};

/// `InvalidArgument`: the request itself is wrong.
pub(crate) fn invalid(message: impl Into<String>) -> Status {
    Status::invalid_argument(message)
}

/// `NotFound`.
pub(crate) fn not_found(message: impl Into<String>) -> Status {
    Status::not_found(message)
}

/// `NotFound` for a workflow id (and run id) that does not exist.
pub(crate) fn workflow_not_found(workflow_id: &str, run_id: &str) -> Status {
    if run_id.is_empty() {
        not_found(format!(
            "workflow execution not found: no workflow with id \"{workflow_id}\""
        ))
    } else {
        not_found(format!(
            "workflow execution not found: no run \"{run_id}\" of workflow \"{workflow_id}\""
        ))
    }
}

/// `NotFound` for a request that needs a running execution but found a closed one.
pub(crate) fn workflow_completed() -> Status {
    not_found("workflow execution already completed")
}

/// `NotFound` for a workflow task token that no longer matches the pending task.
pub(crate) fn workflow_task_not_found() -> Status {
    not_found(
        "workflow task not found: it already completed, failed or timed out, or the token is stale",
    )
}

/// `NotFound` for an activity token or id that matches no running attempt.
pub(crate) fn activity_task_not_found() -> Status {
    not_found(
        "activity task not found: the activity already completed, timed out or was retried, or its workflow is closed",
    )
}

/// `FailedPrecondition`.
pub(crate) fn failed_precondition(message: impl Into<String>) -> Status {
    Status::failed_precondition(message)
}

/// `DataLoss`: stored data that the answer needs cannot be read.
pub(crate) fn data_loss(message: impl Into<String>) -> Status {
    Status::data_loss(message)
}

/// `FailedPrecondition` for a request that would move a damaged run on.
pub(crate) fn damaged_run(workflow_id: &str, damage: &crate::store::Damage) -> Status {
    failed_precondition(format!(
        "run {} of workflow \"{workflow_id}\" is damaged: its stored {} cannot be used ({}); it can only be described, listed and terminated",
        damage.run_id, damage.row, damage.reason
    ))
}

/// `Unavailable`: the engine cannot take requests.
pub(crate) fn unavailable(message: impl Into<String>) -> Status {
    Status::unavailable(message)
}

/// `Internal`.
pub(crate) fn internal(message: impl Into<String>) -> Status {
    Status::internal(message)
}

/// `AlreadyExists` carrying a `WorkflowExecutionAlreadyStartedFailure` detail, as Temporal does,
/// so that SDK clients can read the running run's id from it.
pub(crate) fn already_started(message: String, run_id: &str, start_request_id: &str) -> Status {
    let detail = WorkflowExecutionAlreadyStartedFailure {
        start_request_id: start_request_id.to_string(),
        run_id: run_id.to_string(),
        first_execution_run_id: run_id.to_string(),
    };
    let any = prost_wkt_types::Any {
        type_url: "type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure"
            .to_string(),
        value: detail.encode_to_vec(),
    };
    let status = RpcStatus {
        code: Code::AlreadyExists as i32,
        message: message.clone(),
        details: vec![any],
    };
    Status::with_details(Code::AlreadyExists, message, status.encode_to_vec().into())
}

/// `InvalidArgument` for a payload over the configured limit.
pub(crate) fn too_large(what: &str, size: usize, limit: usize) -> Status {
    invalid(format!(
        "{what} is {size} bytes, over the limit of {limit} bytes (Limits::max_payload_bytes)"
    ))
}
