//! `QueryWorkflow` and `RespondQueryTaskCompleted`: a query is answered by a worker, never by
//! the engine, and nothing it does is written to the history. Where a query waits (riding the
//! next workflow task, or as a query task of its own) is [`super::queries`]' business; this
//! module checks the request, applies the reject condition, and waits for the answer, at most
//! `EngineConfig::query_timeout`.

use super::core::Core;
use super::queries::Answer;
use super::rpc_error::{clip, invalid, not_found, workflow_not_ready};
use super::run::Run;
use super::token::QueryToken;
use super::validate;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::{QueryRejectCondition, QueryResultType, WorkflowExecutionStatus};
use crate::proto::query::{QueryRejected, WorkflowQuery};
use crate::proto::service::{
    QueryWorkflowRequest, QueryWorkflowResponse, RespondQueryTaskCompletedRequest,
    RespondQueryTaskCompletedResponse,
};
use tokio::sync::oneshot;
use tonic::Status;

/// Where a query can be answered, as the engine sees its run now.
pub(crate) enum Route {
    /// Refused by its reject condition: this is the answer.
    Rejected(QueryWorkflowResponse),
    /// The run is open with no workflow task pending, and its last completed task started at
    /// event `last_completed`: a worker in this process holding the run cached at that task may
    /// answer from it (the answer a query task would get), without the query being queued.
    Idle {
        run_id: String,
        last_completed: i64,
        query: WorkflowQuery,
    },
    /// Anything else: only `QueryWorkflow` answers it.
    Queued,
}

/// The checks of a query request that need no state: its execution, query and condition.
fn checked(
    core: &Core,
    req: &QueryWorkflowRequest,
) -> Result<(WorkflowExecution, WorkflowQuery, QueryRejectCondition), Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let exec = validate::execution(&req.execution)?;
    let Some(query) = req.query.clone() else {
        return Err(invalid("query is not set"));
    };
    validate::required(&query.query_type, "query.query_type")?;
    validate::payloads(
        &query.query_args,
        "query.query_args",
        core.cfg.limits.max_payload_bytes,
    )?;
    let condition = QueryRejectCondition::try_from(req.query_reject_condition)
        .map_err(|_| invalid("query_reject_condition is not a QueryRejectCondition"))?;
    Ok((exec, query, condition))
}

/// The answer to a query that `condition` refuses on a run of `status`, if it does.
fn rejection(condition: QueryRejectCondition, status: i32) -> Option<QueryWorkflowResponse> {
    let rejected = match condition {
        QueryRejectCondition::NotOpen => status != WorkflowExecutionStatus::Running as i32,
        QueryRejectCondition::NotCompletedCleanly => {
            status != WorkflowExecutionStatus::Running as i32
                && status != WorkflowExecutionStatus::Completed as i32
        }
        QueryRejectCondition::None | QueryRejectCondition::Unspecified => false,
    };
    rejected.then(|| QueryWorkflowResponse {
        query_rejected: Some(QueryRejected { status }),
        ..Default::default()
    })
}

/// The run a query names and its record: refused when unknown or damaged.
fn queried_run<'a>(
    st: &'a super::state::State,
    namespace: &str,
    exec: &WorkflowExecution,
) -> Result<(String, &'a crate::store::ExecutionRecord), Status> {
    let run_id = st.resolve(namespace, exec)?;
    st.check_intact(&run_id)?;
    match st.record(&run_id) {
        Some(rec) => Ok((run_id, rec)),
        None => Err(super::rpc_error::workflow_not_found(
            &exec.workflow_id,
            &exec.run_id,
        )),
    }
}

/// Where `req` can be answered (see [`Route`]), after the checks `QueryWorkflow` makes.
pub(crate) fn route(core: &Core, req: &QueryWorkflowRequest) -> Result<Route, Status> {
    let (exec, query, condition) = checked(core, req)?;
    let st = core.state.lock();
    let (run_id, rec) = queried_run(&st, &req.namespace, &exec)?;
    if let Some(answer) = rejection(condition, rec.status) {
        return Ok(Route::Rejected(answer));
    }
    let last_completed = rec.previous_started_event_id;
    let idle = st
        .runs
        .get(&run_id)
        .is_some_and(|run| run.wft().is_none() && last_completed > 0);
    Ok(if idle {
        Route::Idle {
            run_id,
            last_completed,
            query,
        }
    } else {
        Route::Queued
    })
}

/// `QueryWorkflow`: hands the query to a worker and waits for its answer.
pub(crate) async fn query(
    core: &Core,
    req: QueryWorkflowRequest,
) -> Result<QueryWorkflowResponse, Status> {
    let (exec, query, condition) = checked(core, &req)?;
    let id = uuid::Uuid::new_v4().to_string();
    let (reply, answer) = oneshot::channel();
    {
        let mut st = core.state.lock();
        let (run_id, rec) = queried_run(&st, &req.namespace, &exec)?;
        let status = rec.status;
        if let Some(answer) = rejection(condition, status) {
            return Ok(answer);
        }
        let queue = (rec.namespace.clone(), rec.task_queue.clone());
        let now = st.task_now(&run_id);
        not_ready(
            rec.previous_started_event_id > 0,
            status,
            st.runs.get(&run_id),
        )?;
        let cap = core.cfg.limits.max_in_flight_queries;
        if st.queries.len() >= cap {
            return Err(super::rpc_error::concurrent_limit(
                format!(
                    "limit on number of concurrent in-flight queries has been reached: {cap} \
                     wait for a worker's answer (Limits::max_in_flight_queries); retry once \
                     some are answered"
                ),
                true,
            ));
        }
        if let Some((key, entry)) = st.queries.add(&id, &run_id, queue, query, now, reply) {
            st.push_wft(key, entry);
        }
    }
    let waiting = Waiting { core, id: &id };
    let outcome = tokio::time::timeout(core.cfg.query_timeout, answer).await;
    drop(waiting);
    match outcome {
        Err(_) => Err(Status::deadline_exceeded(format!(
            "query of workflow \"{}\" was not answered within {:?}: no worker polling its task \
             queue answered it (is a worker for that queue running?)",
            clip(&exec.workflow_id),
            core.cfg.query_timeout
        ))),
        Ok(Err(_)) => Err(super::rpc_error::unavailable(
            "the engine stopped before the query was answered",
        )),
        Ok(Ok(Answer::Answered(query_result))) => Ok(QueryWorkflowResponse {
            query_result,
            ..Default::default()
        }),
        // Temporal answers a query its handler failed as QueryFailed: an InvalidArgument with
        // the worker's failure in a QueryFailedFailure detail.
        Ok(Ok(Answer::Failed { message, failure })) => {
            let message = if message.is_empty() {
                failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .unwrap_or_default()
            } else {
                message
            };
            Err(super::rpc_error::query_failed(message, failure.map(|f| *f)))
        }
    }
}

/// Refuses, as Temporal does (`WorkflowNotReady`, a FailedPrecondition with its detail), a query no worker
/// could answer: to a run that closed before any workflow task completed, to one whose first
/// workflow task is not even scheduled (a start delay), or to one whose workflow task failed
/// `FAILING_TASK_ATTEMPTS` times in a row (the query would fail the same way).
fn not_ready(completed_any_task: bool, status: i32, run: Option<&Run>) -> Result<(), Status> {
    let open = status == WorkflowExecutionStatus::Running as i32;
    if !open && !completed_any_task {
        return Err(workflow_not_ready(
            "the workflow closed before any workflow task completed: no worker can answer a query",
        ));
    }
    let task = run.and_then(Run::wft);
    if open && !completed_any_task && task.is_none() {
        return Err(workflow_not_ready(
            "the workflow's first workflow task is not scheduled yet (a start delay): no worker \
             can answer a query before it",
        ));
    }
    if task.is_some_and(|t| t.attempt >= FAILING_TASK_ATTEMPTS) {
        return Err(workflow_not_ready(
            "Unable to query workflow due to Workflow Task in failed state: it failed its last \
             attempts, and a query would fail the same way",
        ));
    }
    Ok(())
}

/// The workflow task attempt from which queries fail fast (Temporal's is the same).
const FAILING_TASK_ATTEMPTS: i32 = 3;

/// Forgets a query once its caller stops waiting, answered or not (and when the caller's
/// future is dropped), so that no query outlives the request that asked it.
struct Waiting<'a> {
    core: &'a Core,
    id: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.core.state.lock().queries.drop_query(self.id);
    }
}

/// `RespondQueryTaskCompleted`: the worker's answer to a query task.
pub(crate) async fn respond_completed(
    core: &Core,
    req: RespondQueryTaskCompletedRequest,
) -> Result<RespondQueryTaskCompletedResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let token = QueryToken::decode(&req.task_token, &req.namespace)?;
    let limits = &core.cfg.limits;
    validate::payloads(&req.query_result, "query_result", limits.max_payload_bytes)?;
    let mut failure = req.failure;
    validate::truncate_causes(&mut failure, limits.max_failure_depth);
    validate::failure(&failure, "failure", limits.max_payload_bytes)?;
    let answer = match QueryResultType::try_from(req.completed_type) {
        Ok(QueryResultType::Answered) => Answer::Answered(req.query_result),
        Ok(QueryResultType::Failed) => Answer::Failed {
            message: req.error_message,
            failure: failure.map(Box::new),
        },
        _ => {
            return Err(invalid(
                "completed_type must be QUERY_RESULT_TYPE_ANSWERED or QUERY_RESULT_TYPE_FAILED",
            ));
        }
    };
    if core.state.lock().queries.answer(&token.query_id, answer) {
        Ok(RespondQueryTaskCompletedResponse::default())
    } else {
        Err(not_found(
            "query task not found: it was answered already, or its caller stopped waiting",
        ))
    }
}
