//! Checks on request fields that every RPC shares: ids, payload and reason sizes, task queues.

use super::limits::Limits;
use super::rpc_error::{clip, invalid, too_large};
use crate::proto::common::{Payloads, WorkflowExecution};
use crate::proto::failure::Failure;
use crate::proto::taskqueue::TaskQueue;
use prost::Message;
use tonic::Status;

/// Checks a workflow execution reference: the workflow id is required, the run id is optional
/// but must be a UUID when given.
pub(crate) fn execution(exec: &Option<WorkflowExecution>) -> Result<WorkflowExecution, Status> {
    let exec = exec.clone().unwrap_or_default();
    if exec.workflow_id.is_empty() {
        return Err(invalid("workflow_execution.workflow_id is not set"));
    }
    run_id(&exec.run_id)?;
    Ok(exec)
}

/// An optional run id must be a UUID.
pub(crate) fn run_id(run_id: &str) -> Result<(), Status> {
    if !run_id.is_empty() && uuid::Uuid::parse_str(run_id).is_err() {
        return Err(invalid(format!(
            "run_id \"{}\" is not a valid UUID",
            clip(run_id)
        )));
    }
    Ok(())
}

/// A required, non-empty field.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(invalid(format!("{field} is not set")))
    } else {
        Ok(value)
    }
}

/// The name of a required task queue.
pub(crate) fn task_queue(tq: &Option<TaskQueue>, field: &str) -> Result<String, Status> {
    let name = tq.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
    required(name, field).map(str::to_string)
}

/// Rejects payloads over `limit` bytes.
pub(crate) fn payloads(p: &Option<Payloads>, what: &str, limit: usize) -> Result<(), Status> {
    size(p.as_ref().map_or(0, Message::encoded_len), what, limit)
}

/// Rejects a failure (with its details and causes) over `limit` bytes.
pub(crate) fn failure(f: &Option<Failure>, what: &str, limit: usize) -> Result<(), Status> {
    size(f.as_ref().map_or(0, Message::encoded_len), what, limit)
}

fn size(len: usize, what: &str, limit: usize) -> Result<(), Status> {
    if len > limit {
        Err(too_large(what, len, limit))
    } else {
        Ok(())
    }
}

/// Keeps the first `max_depth` failures of a cause chain (the failure itself is the first) and
/// drops the deeper causes, so that the events and records written from it nest far less deeply
/// than a decoder accepts; the last failure kept says how many causes were cut. A worker's
/// failure report is never refused for its depth: refusing it would leave the activity or
/// workflow task to time out instead. Returns how many causes were cut.
pub(crate) fn truncate_causes(failure: &mut Option<Failure>, max_depth: usize) -> usize {
    let Some(mut last) = failure.as_mut() else {
        return 0;
    };
    for _ in 1..max_depth.max(1) {
        match last.cause.as_deref_mut() {
            Some(cause) => last = cause,
            None => return 0,
        }
    }
    // Dropped one by one: dropping a long chain at once would recurse once per level.
    let mut cut = 0;
    let mut next = last.cause.take();
    while let Some(mut cause) = next {
        cut += 1;
        next = cause.cause.take();
    }
    if cut > 0 {
        let note = format!(
            "[{cut} deeper cause(s) cut: failure cause chains keep at most {max_depth} levels (Limits::max_failure_depth)]"
        );
        if last.message.is_empty() {
            last.message = note;
        } else {
            last.message = format!("{} {note}", last.message);
        }
    }
    cut
}

/// Rejects a free-text reason over `Limits::max_payload_bytes`: it is written into an event.
pub(crate) fn reason_size(reason: &str, limits: &Limits) -> Result<(), Status> {
    if reason.len() > limits.max_payload_bytes {
        return Err(too_large("reason", reason.len(), limits.max_payload_bytes));
    }
    Ok(())
}
