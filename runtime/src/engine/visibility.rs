//! Read-only views of executions: describe, list and count. Lists are newest first; the query
//! language is a small subset of Temporal's: `Field = 'value'` clauses on `WorkflowId`,
//! `WorkflowType` and `ExecutionStatus`, joined by `AND`.

use super::activity::last_heartbeat;
use super::clock::{dur, opt_dur, opt_ts, ts};
use super::core::Core;
use super::rpc_error::{clip, invalid};
use super::run::Run;
use super::token::ListCursor;
use super::validate;
use crate::proto::common::{ActivityType, WorkflowExecution, WorkflowType};
use crate::proto::enums::{
    PendingActivityState, PendingWorkflowTaskState, TaskQueueKind, WorkflowExecutionStatus,
};
use crate::proto::service::*;
use crate::proto::taskqueue::TaskQueue;
use crate::proto::workflow::{
    PendingActivityInfo, PendingWorkflowTaskInfo, WorkflowExecutionConfig, WorkflowExecutionInfo,
};
use crate::store::{ActivityRecord, ExecutionRecord};
use tonic::Status;

/// `DescribeWorkflowExecution`.
pub(crate) async fn describe(
    core: &Core,
    req: DescribeWorkflowExecutionRequest,
) -> Result<DescribeWorkflowExecutionResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let exec = validate::execution(&req.execution)?;
    let (resp, seq) = {
        let st = core.state.lock();
        let run_id = st.resolve(&req.namespace, &exec)?;
        let resp = match st.runs.get(&run_id) {
            Some(run) => describe_open(run),
            None => match st.closed.get(&run_id) {
                Some(rec) => describe_record(rec),
                None => {
                    return Err(super::rpc_error::workflow_not_found(
                        &exec.workflow_id,
                        &exec.run_id,
                    ));
                }
            },
        };
        (resp, st.seq_of(&run_id))
    };
    // What was read may include changes whose commit is still under way.
    core.committed(seq).await?;
    Ok(resp)
}

fn describe_record(rec: &ExecutionRecord) -> DescribeWorkflowExecutionResponse {
    DescribeWorkflowExecutionResponse {
        execution_config: Some(WorkflowExecutionConfig {
            task_queue: Some(TaskQueue {
                name: rec.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            workflow_execution_timeout: opt_dur(rec.execution_timeout_ms),
            workflow_run_timeout: opt_dur(rec.run_timeout_ms),
            default_workflow_task_timeout: Some(dur(rec.workflow_task_timeout_ms)),
            user_metadata: None,
        }),
        workflow_execution_info: Some(info(rec)),
        ..Default::default()
    }
}

fn describe_open(run: &Run) -> DescribeWorkflowExecutionResponse {
    let mut resp = describe_record(&run.rec);
    // A speculative workflow task's events are not part of the history yet.
    if let Some(info) = resp.workflow_execution_info.as_mut() {
        info.history_length = run.durable_next_event_id() - 1;
        info.history_size_bytes = run.durable_history_size_bytes();
    }
    resp.pending_activities = run.activities.values().map(pending_activity).collect();
    resp.pending_workflow_task = run.wft().map(|w| {
        let started = w.started_event_id > 0;
        PendingWorkflowTaskInfo {
            state: if started {
                PendingWorkflowTaskState::Started
            } else {
                PendingWorkflowTaskState::Scheduled
            } as i32,
            scheduled_time: Some(ts(w.scheduled_time_ms)),
            original_scheduled_time: Some(ts(w.scheduled_time_ms)),
            started_time: opt_ts(w.started_time_ms),
            attempt: w.attempt,
        }
    });
    resp
}

fn pending_activity(a: &ActivityRecord) -> PendingActivityInfo {
    let state = if a.cancel_requested {
        PendingActivityState::CancelRequested
    } else if a.is_started() {
        PendingActivityState::Started
    } else {
        PendingActivityState::Scheduled
    };
    let policy = a.retry_policy.clone().unwrap_or_default();
    PendingActivityInfo {
        activity_id: a.activity_id.clone(),
        activity_type: a
            .activity_type
            .clone()
            .or_else(|| Some(ActivityType::default())),
        state: state as i32,
        heartbeat_details: a.heartbeat_details.clone(),
        last_heartbeat_time: last_heartbeat(a),
        last_started_time: opt_ts(a.started_ms),
        attempt: a.attempt,
        maximum_attempts: policy.maximum_attempts,
        scheduled_time: Some(ts(a.attempt_scheduled_ms)),
        expiration_time: opt_ts(if a.schedule_to_close_ms > 0 {
            a.first_scheduled_ms + a.schedule_to_close_ms
        } else {
            0
        }),
        last_failure: a.last_failure.clone(),
        last_worker_identity: a.last_worker_identity.clone(),
        last_attempt_complete_time: opt_ts(a.last_attempt_complete_ms),
        next_attempt_schedule_time: opt_ts(a.retry_at_ms),
        ..Default::default()
    }
}

/// The visibility record of a run.
pub(crate) fn info(rec: &ExecutionRecord) -> WorkflowExecutionInfo {
    WorkflowExecutionInfo {
        execution: Some(WorkflowExecution {
            workflow_id: rec.workflow_id.clone(),
            run_id: rec.run_id.clone(),
        }),
        r#type: Some(WorkflowType {
            name: rec.workflow_type.clone(),
        }),
        start_time: Some(ts(rec.start_time_ms)),
        close_time: opt_ts(rec.close_time_ms),
        status: rec.status,
        history_length: rec.next_event_id - 1,
        execution_time: Some(ts(rec.start_time_ms)),
        task_queue: rec.task_queue.clone(),
        history_size_bytes: rec.history_size_bytes,
        first_run_id: rec.run_id.clone(),
        execution_duration: (rec.close_time_ms > 0)
            .then(|| dur(rec.close_time_ms - rec.start_time_ms)),
        ..Default::default()
    }
}

/// A parsed list query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Filter {
    workflow_id: Option<String>,
    workflow_type: Option<String>,
    status: Option<i32>,
}

impl Filter {
    /// Parses `Field = 'value' [AND ...]`; an empty query matches everything.
    pub(crate) fn parse(query: &str) -> Result<Filter, Status> {
        let mut filter = Filter::default();
        let query = query.trim();
        if query.is_empty() {
            return Ok(filter);
        }
        for clause in split_and(query) {
            let (field, value) = parse_clause(clause).ok_or_else(|| unsupported(query))?;
            match field {
                "WorkflowId" => filter.workflow_id = Some(value),
                "WorkflowType" => filter.workflow_type = Some(value),
                "ExecutionStatus" => {
                    let status = status_named(&value).ok_or_else(|| {
                        invalid(format!(
                            "unknown ExecutionStatus '{}'; use Running, Completed, Failed, Canceled, Terminated, ContinuedAsNew or TimedOut",
                            clip(&value)
                        ))
                    })?;
                    filter.status = Some(status as i32);
                }
                _ => return Err(unsupported(query)),
            }
        }
        Ok(filter)
    }

    fn matches(&self, rec: &ExecutionRecord) -> bool {
        self.workflow_id
            .as_ref()
            .is_none_or(|id| *id == rec.workflow_id)
            && self
                .workflow_type
                .as_ref()
                .is_none_or(|t| *t == rec.workflow_type)
            && self.status.is_none_or(|s| s == rec.status)
    }
}

fn unsupported(query: &str) -> Status {
    invalid(format!(
        "unsupported query \"{}\": the dacapo engine understands only `WorkflowId = '...'`, `WorkflowType = '...'` and `ExecutionStatus = '...'`, joined by AND",
        clip(query)
    ))
}

/// Splits on the keyword AND outside quotes.
fn split_and(query: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let bytes = query.as_bytes();
    let (mut start, mut quote, mut i) = (0, None, 0);
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None => {
                let is_and = c.is_ascii_whitespace()
                    && bytes
                        .get(i + 1..i + 4)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"and"))
                    && bytes.get(i + 4).is_some_and(u8::is_ascii_whitespace);
                if is_and {
                    parts.push(&query[start..i]);
                    start = i + 4;
                    i += 4;
                    continue;
                }
            }
        }
        i += 1;
    }
    parts.push(&query[start..]);
    parts
}

fn parse_clause(clause: &str) -> Option<(&str, String)> {
    let (field, value) = clause.split_once('=')?;
    let field = field.trim();
    let value = value.trim();
    let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = value.strip_prefix(quote)?.strip_suffix(quote)?;
    if inner.contains(quote)
        || field.is_empty()
        || !field.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    Some((field, inner.to_string()))
}

fn status_named(name: &str) -> Option<WorkflowExecutionStatus> {
    use WorkflowExecutionStatus as S;
    [
        S::Running,
        S::Completed,
        S::Failed,
        S::Canceled,
        S::Terminated,
        S::ContinuedAsNew,
        S::TimedOut,
    ]
    .into_iter()
    .find(|s| format!("{s:?}").eq_ignore_ascii_case(name))
}

/// `ListWorkflowExecutions`: newest first, paged.
pub(crate) async fn list(
    core: &Core,
    req: ListWorkflowExecutionsRequest,
) -> Result<ListWorkflowExecutionsResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let filter = Filter::parse(&req.query)?;
    let cursor = if req.next_page_token.is_empty() {
        None
    } else {
        Some(ListCursor::decode(&req.next_page_token)?)
    };
    let page = page_size(req.page_size, core.cfg.limits.max_page_size);
    let (resp, seq) = {
        let st = core.state.lock();
        let upper = cursor.map(|c| (c.start_time_ms, c.start_sequence, c.run_id));
        let candidates = st
            .by_start
            .iter()
            .rev()
            .filter(|k| upper.as_ref().is_none_or(|u| *k < u));
        let mut executions = Vec::new();
        let mut last = None;
        let mut more = false;
        // Every run looked at, shown or not, may be shown or left out by a change in flight.
        let mut seq = 0;
        for key in candidates {
            let Some(rec) = st.record(&key.2) else {
                continue;
            };
            if rec.namespace != req.namespace {
                continue;
            }
            seq = seq.max(st.seq_of(&key.2));
            if !filter.matches(rec) {
                continue;
            }
            if executions.len() == page {
                more = true;
                break;
            }
            executions.push(info(rec));
            last = Some(key.clone());
        }
        let next_page_token = match (more, last) {
            (true, Some((start_time_ms, start_sequence, run_id))) => ListCursor {
                start_time_ms,
                run_id,
                start_sequence,
            }
            .encode(),
            _ => Vec::new(),
        };
        let resp = ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        };
        (resp, seq)
    };
    core.committed(seq).await?;
    Ok(resp)
}

/// The page size a list answers with: what the request asks for, at most `max` (also the
/// default, when it asks for none), as Temporal does with `frontend.visibilityMaxPageSize`.
pub(crate) fn page_size(requested: i32, max: usize) -> usize {
    let max = max.max(1);
    usize::try_from(requested)
        .ok()
        .filter(|p| *p > 0)
        .map_or(max, |p| p.min(max))
}

/// `CountWorkflowExecutions`.
pub(crate) async fn count(
    core: &Core,
    req: CountWorkflowExecutionsRequest,
) -> Result<CountWorkflowExecutionsResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let filter = Filter::parse(&req.query)?;
    let (count, seq) = {
        let st = core.state.lock();
        let in_namespace = || {
            st.runs
                .values()
                .map(|r| &r.rec)
                .chain(st.closed.values())
                .filter(|rec| rec.namespace == req.namespace)
        };
        let count = in_namespace().filter(|rec| filter.matches(rec)).count();
        let seq = in_namespace().map(|rec| st.seq_of(&rec.run_id)).max();
        (count, seq.unwrap_or(0))
    };
    core.committed(seq).await?;
    Ok(CountWorkflowExecutionsResponse {
        count: i64::try_from(count).unwrap_or(i64::MAX),
        groups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_queries() {
        assert_eq!(Filter::parse("").unwrap(), Filter::default());
        let f = Filter::parse("WorkflowId = 'a AND b'").unwrap();
        assert_eq!(f.workflow_id.as_deref(), Some("a AND b"));
        let f = Filter::parse("ExecutionStatus=\"Running\" and WorkflowType = 'T'").unwrap();
        assert_eq!(f.status, Some(WorkflowExecutionStatus::Running as i32));
        assert_eq!(f.workflow_type.as_deref(), Some("T"));
        assert!(Filter::parse("StartTime > '2020'").is_err());
        assert!(Filter::parse("WorkflowId = 'x' OR WorkflowId = 'y'").is_err());
        assert!(Filter::parse("ExecutionStatus = 'Sleeping'").is_err());
        assert!(Filter::parse("Foo = 'x'").is_err());
    }
}
