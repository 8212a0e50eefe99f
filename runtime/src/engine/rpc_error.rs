//! The errors the engine answers RPCs with, as gRPC statuses. Codes follow Temporal's choices so
//! that SDKs and the CLI react the same way; messages say what was wrong and name the ids
//! involved.

use prost::Message;
use std::borrow::Cow;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};
use temporalio_protos::temporal::api::errordetails::v1::{
    NotFoundFailure, QueryFailedFailure, ResourceExhaustedFailure,
    WorkflowExecutionAlreadyStartedFailure, WorkflowNotReadyFailure,
};
use temporalio_protos::temporal::api::failure::v1::Failure;
use tonic::{Code, Status};

/// How many characters of a client-supplied value a status message quotes at most.
const QUOTED_CHARS: usize = 100;

/// A client-supplied value (an id, a name, a query) as a status message quotes it: whole when
/// short, else its first [`QUOTED_CHARS`] characters and "…". A message that quoted a long
/// value whole could exceed what a client accepts in a trailer (the Python SDK then reports
/// `RESOURCE_EXHAUSTED` instead of the status the engine sent).
pub(crate) fn clip(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}…", &value[..end])),
    }
}

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
            "workflow execution not found: no workflow with id \"{}\"",
            clip(workflow_id)
        ))
    } else {
        not_found(format!(
            "workflow execution not found: no run \"{}\" of workflow \"{}\"",
            clip(run_id),
            clip(workflow_id)
        ))
    }
}

/// `NotFound` for a request that needs a running execution but found a closed one, with the
/// `NotFoundFailure` detail Temporal's carries.
pub(crate) fn workflow_completed() -> Status {
    closed_run("workflow execution already completed")
}

/// `NotFound` with a `NotFoundFailure` detail, as Temporal answers a request that finds (or
/// is overtaken by) a closed run.
pub(crate) fn closed_run(message: impl Into<String>) -> Status {
    with_detail(Code::NotFound, message.into(), &NotFoundFailure::default())
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

/// A status carrying one `temporal.api.errordetails.v1` detail, as Temporal's server sends it:
/// SDK clients tell the kind of error by the detail's type (the Go SDK's `serviceerror`, the
/// Python client's typed errors).
fn with_detail<D: prost::Name>(code: Code, message: String, detail: &D) -> Status {
    let any = prost_wkt_types::Any {
        type_url: format!("type.googleapis.com/{}", D::full_name()),
        value: detail.encode_to_vec(),
    };
    let status = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![any],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// `AlreadyExists` carrying a `WorkflowExecutionAlreadyStartedFailure` detail, as Temporal does,
/// so that SDK clients can read the running run's id from it.
pub(crate) fn already_started(message: String, run_id: &str, start_request_id: &str) -> Status {
    let detail = WorkflowExecutionAlreadyStartedFailure {
        start_request_id: start_request_id.to_string(),
        run_id: run_id.to_string(),
        first_execution_run_id: run_id.to_string(),
    };
    with_detail(Code::AlreadyExists, message, &detail)
}

/// Temporal's `QueryFailed`: `InvalidArgument` with a `QueryFailedFailure` detail carrying the
/// worker's failure, for a query whose handler failed.
pub(crate) fn query_failed(message: String, failure: Option<Failure>) -> Status {
    with_detail(
        Code::InvalidArgument,
        message,
        &QueryFailedFailure { failure },
    )
}

/// Temporal's `WorkflowNotReady`: `FailedPrecondition` with a `WorkflowNotReadyFailure` detail,
/// for a query or update no worker can take yet (or now).
pub(crate) fn workflow_not_ready(message: impl Into<String>) -> Status {
    with_detail(
        Code::FailedPrecondition,
        message.into(),
        &WorkflowNotReadyFailure {},
    )
}

/// `ResourceExhausted` with a `ResourceExhaustedFailure` detail: a concurrency limit of the
/// engine (cause `CONCURRENT_LIMIT`, as Temporal's in-flight limits say), of a namespace (a
/// run's limit, as Temporal scopes its update limits) or of the whole engine (`system`).
pub(crate) fn concurrent_limit(message: impl Into<String>, system: bool) -> Status {
    let scope = if system {
        ResourceExhaustedScope::System
    } else {
        ResourceExhaustedScope::Namespace
    };
    let detail = ResourceExhaustedFailure {
        cause: ResourceExhaustedCause::ConcurrentLimit as i32,
        scope: scope as i32,
    };
    with_detail(Code::ResourceExhausted, message.into(), &detail)
}

/// `InvalidArgument` for a payload over the configured limit.
pub(crate) fn too_large(what: &str, size: usize, limit: usize) -> Status {
    invalid(format!(
        "{what} is {size} bytes, over the limit of {limit} bytes (Limits::max_payload_bytes)"
    ))
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_keeps_short_values_and_cuts_long_ones_at_a_char_boundary() {
        assert_eq!(clip("short"), "short");
        let exact = "x".repeat(100);
        assert_eq!(clip(&exact), exact.as_str());
        let long = format!("{}tail", "y".repeat(100));
        assert_eq!(clip(&long), format!("{}…", "y".repeat(100)));
        // Multi-byte characters are counted as characters and never split.
        let wide = "é".repeat(150);
        let clipped = clip(&wide);
        assert_eq!(clipped.chars().count(), 101);
        assert!(clipped.starts_with(&"é".repeat(100)) && clipped.ends_with('…'));
        assert_eq!(clip(""), "");
    }
}
