//! Lengths of ids and names. Every id or name a request carries, and those inside the commands
//! of a workflow task completion, is at most [`Limits::max_id_bytes`] long (Temporal:
//! `limit.maxIDLength`). Requests are checked before anything else is done with them, so that
//! nothing longer is stored, used as a key or quoted back in a status.
//!
//! [`Limits::max_id_bytes`]: super::Limits::max_id_bytes

use super::commands::CommandError;
use super::rpc_error::invalid;
use crate::proto::CommandAttributes;
use crate::proto::command::Command;
use crate::proto::common::{WorkflowExecution, WorkflowType};
use crate::proto::enums::WorkflowTaskFailedCause as Cause;
use crate::proto::service::*;
use crate::proto::taskqueue::TaskQueue;
use tonic::Status;

/// The ids and names a request carries, each with the field it is in.
pub(crate) trait Ids {
    /// (field, value) for every id and name of the request.
    fn ids(&self) -> Vec<(&'static str, &str)>;
}

/// Refuses a request that carries an id or name over `limit` bytes, naming the first one.
pub(crate) fn check(req: &impl Ids, limit: usize) -> Result<(), Status> {
    match req.ids().into_iter().find(|(_, value)| value.len() > limit) {
        Some((field, value)) => Err(invalid(too_long(field, value.len(), limit))),
        None => Ok(()),
    }
}

fn too_long(field: &str, len: usize, limit: usize) -> String {
    format!("{field} is {len} bytes, over the limit of {limit} bytes (Limits::max_id_bytes)")
}

/// Refuses a workflow task completion whose commands carry an id or name over `limit` bytes,
/// with the cause Temporal gives for bad attributes of that command.
pub(crate) fn commands(commands: &[Command], limit: usize) -> Result<(), CommandError> {
    for (index, command) in commands.iter().enumerate() {
        let (cause, ids): (Cause, Vec<(&str, &str)>) = match &command.attributes {
            Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) => (
                Cause::BadScheduleActivityAttributes,
                vec![
                    ("activity_id", &a.activity_id),
                    (
                        "activity_type.name",
                        a.activity_type.as_ref().map_or("", |t| t.name.as_str()),
                    ),
                    ("task_queue.name", queue(&a.task_queue)),
                ],
            ),
            Some(CommandAttributes::StartTimerCommandAttributes(a)) => (
                Cause::BadStartTimerAttributes,
                vec![("timer_id", &a.timer_id)],
            ),
            Some(CommandAttributes::CancelTimerCommandAttributes(a)) => (
                Cause::BadCancelTimerAttributes,
                vec![("timer_id", &a.timer_id)],
            ),
            Some(CommandAttributes::RecordMarkerCommandAttributes(a)) => (
                Cause::BadRecordMarkerAttributes,
                vec![("marker_name", &a.marker_name)],
            ),
            _ => continue,
        };
        if let Some((field, value)) = ids.into_iter().find(|(_, v)| v.len() > limit) {
            let message = format!(
                "{cause:?}: {} of command {index}",
                too_long(field, value.len(), limit)
            );
            return Err(CommandError { cause, message });
        }
    }
    Ok(())
}

fn queue(tq: &Option<TaskQueue>) -> &str {
    tq.as_ref().map_or("", |t| t.name.as_str())
}

fn type_name(t: Option<&WorkflowType>) -> &str {
    t.map_or("", |t| t.name.as_str())
}

fn workflow_id(e: &Option<WorkflowExecution>) -> &str {
    e.as_ref().map_or("", |e| e.workflow_id.as_str())
}

fn run_id(e: &Option<WorkflowExecution>) -> &str {
    e.as_ref().map_or("", |e| e.run_id.as_str())
}

/// `impl Ids` for request types: `Request => |r| [("field", value), ...];`.
macro_rules! ids {
    ($($req:ty => |$r:ident| [$(($field:literal, $value:expr)),* $(,)?];)*) => {
        $(impl Ids for $req {
            fn ids(&self) -> Vec<(&'static str, &str)> {
                let $r = self;
                vec![$(($field, $value)),*]
            }
        })*
    };
}

ids! {
    DescribeNamespaceRequest => |r| [("namespace", &r.namespace), ("id", &r.id)];
    StartWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("workflow_type.name", type_name(r.workflow_type.as_ref())),
        ("task_queue.name", queue(&r.task_queue)),
        ("identity", &r.identity),
        ("request_id", &r.request_id),
    ];
    SignalWithStartWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("workflow_type.name", type_name(r.workflow_type.as_ref())),
        ("task_queue.name", queue(&r.task_queue)),
        ("identity", &r.identity),
        ("request_id", &r.request_id),
        ("signal_name", &r.signal_name),
    ];
    SignalWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_execution.workflow_id", workflow_id(&r.workflow_execution)),
        ("workflow_execution.run_id", run_id(&r.workflow_execution)),
        ("signal_name", &r.signal_name),
        ("identity", &r.identity),
        ("request_id", &r.request_id),
    ];
    RequestCancelWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_execution.workflow_id", workflow_id(&r.workflow_execution)),
        ("workflow_execution.run_id", run_id(&r.workflow_execution)),
        ("identity", &r.identity),
        ("request_id", &r.request_id),
        ("first_execution_run_id", &r.first_execution_run_id),
        ("reason", &r.reason),
    ];
    TerminateWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_execution.workflow_id", workflow_id(&r.workflow_execution)),
        ("workflow_execution.run_id", run_id(&r.workflow_execution)),
        ("reason", &r.reason),
        ("identity", &r.identity),
        ("first_execution_run_id", &r.first_execution_run_id),
    ];
    DescribeWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("execution.workflow_id", workflow_id(&r.execution)),
        ("execution.run_id", run_id(&r.execution)),
    ];
    GetWorkflowExecutionHistoryRequest => |r| [
        ("namespace", &r.namespace),
        ("execution.workflow_id", workflow_id(&r.execution)),
        ("execution.run_id", run_id(&r.execution)),
    ];
    QueryWorkflowRequest => |r| [
        ("namespace", &r.namespace),
        ("execution.workflow_id", workflow_id(&r.execution)),
        ("execution.run_id", run_id(&r.execution)),
        ("query.query_type", r.query.as_ref().map_or("", |q| q.query_type.as_str())),
    ];
    RespondQueryTaskCompletedRequest => |r| [("namespace", &r.namespace)];
    UpdateWorkflowExecutionRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_execution.workflow_id", workflow_id(&r.workflow_execution)),
        ("workflow_execution.run_id", run_id(&r.workflow_execution)),
        ("first_execution_run_id", &r.first_execution_run_id),
        (
            "request.meta.update_id",
            r.request.as_ref().and_then(|q| q.meta.as_ref()).map_or("", |m| m.update_id.as_str())
        ),
        (
            "request.meta.identity",
            r.request.as_ref().and_then(|q| q.meta.as_ref()).map_or("", |m| m.identity.as_str())
        ),
        (
            "request.input.name",
            r.request.as_ref().and_then(|q| q.input.as_ref()).map_or("", |i| i.name.as_str())
        ),
    ];
    PollWorkflowExecutionUpdateRequest => |r| [
        ("namespace", &r.namespace),
        (
            "update_ref.workflow_execution.workflow_id",
            r.update_ref.as_ref().map_or("", |u| workflow_id(&u.workflow_execution))
        ),
        (
            "update_ref.workflow_execution.run_id",
            r.update_ref.as_ref().map_or("", |u| run_id(&u.workflow_execution))
        ),
        ("update_ref.update_id", r.update_ref.as_ref().map_or("", |u| u.update_id.as_str())),
        ("identity", &r.identity),
    ];
    ListWorkflowExecutionsRequest => |r| [("namespace", &r.namespace)];
    CountWorkflowExecutionsRequest => |r| [("namespace", &r.namespace)];
    PollWorkflowTaskQueueRequest => |r| [
        ("namespace", &r.namespace),
        ("task_queue.name", queue(&r.task_queue)),
        ("identity", &r.identity),
    ];
    PollActivityTaskQueueRequest => |r| [
        ("namespace", &r.namespace),
        ("task_queue.name", queue(&r.task_queue)),
        ("identity", &r.identity),
    ];
    RespondWorkflowTaskCompletedRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RespondWorkflowTaskFailedRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RecordActivityTaskHeartbeatRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RespondActivityTaskCompletedRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RespondActivityTaskFailedRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RespondActivityTaskCanceledRequest => |r| [
        ("namespace", &r.namespace),
        ("identity", &r.identity),
    ];
    RecordActivityTaskHeartbeatByIdRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("run_id", &r.run_id),
        ("activity_id", &r.activity_id),
        ("identity", &r.identity),
    ];
    RespondActivityTaskCompletedByIdRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("run_id", &r.run_id),
        ("activity_id", &r.activity_id),
        ("identity", &r.identity),
    ];
    RespondActivityTaskFailedByIdRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("run_id", &r.run_id),
        ("activity_id", &r.activity_id),
        ("identity", &r.identity),
    ];
    RespondActivityTaskCanceledByIdRequest => |r| [
        ("namespace", &r.namespace),
        ("workflow_id", &r.workflow_id),
        ("run_id", &r.run_id),
        ("activity_id", &r.activity_id),
        ("identity", &r.identity),
    ];
}
