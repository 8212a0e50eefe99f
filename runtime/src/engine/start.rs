//! `StartWorkflowExecution` and `SignalWithStartWorkflowExecution`: a new run, or, as the
//! workflow id's reuse and conflict policies say, the running one (returned, terminated to
//! make way, or signalled) or a refusal.

use super::clock::{now_ms, opt_dur, opt_ts};
use super::close::terminate_run;
use super::core::Core;
use super::effects::Effects;
use super::limits::Limits;
use super::rpc_error::{already_started, clip, invalid};
use super::run::Run;
use super::signal::{SignalParams, add_signal, check_signal_count, remember_signal, signal_event};
use super::state::State;
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::common::{Header, Memo, Payloads, RetryPolicy, SearchAttributes, WorkflowType};
use crate::proto::enums::{
    TaskQueueKind, WorkflowExecutionStatus, WorkflowIdConflictPolicy, WorkflowIdReusePolicy,
};
use crate::proto::history::WorkflowExecutionStartedEventAttributes;
use crate::proto::service::{
    SignalWithStartWorkflowExecutionRequest, SignalWithStartWorkflowExecutionResponse,
    StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
};
use crate::proto::taskqueue::TaskQueue;
use crate::store::ExecutionRecord;
use prost::Message;
use tonic::Status;

/// The validated parts of a start or signal-with-start request.
pub(crate) struct StartParams {
    namespace: String,
    pub(crate) workflow_id: String,
    workflow_type: String,
    task_queue: String,
    input: Option<Payloads>,
    execution_timeout_ms: i64,
    run_timeout_ms: i64,
    task_timeout_ms: i64,
    start_delay_ms: i64,
    identity: String,
    pub(crate) request_id: String,
    reuse: WorkflowIdReusePolicy,
    pub(crate) conflict: WorkflowIdConflictPolicy,
    retry_policy: Option<RetryPolicy>,
    memo: Option<Memo>,
    search_attributes: Option<SearchAttributes>,
    header: Option<Header>,
}

macro_rules! start_params {
    ($core:expr, $req:expr) => {{
        let req = $req;
        let ms = |d: &Option<prost_wkt_types::Duration>, f: &str| {
            super::clock::duration_ms(d, f).map_err(invalid)
        };
        let limit = $core.cfg.limits.max_payload_bytes;
        validate::payloads(&req.input, "input", limit)?;
        let extras = req.memo.as_ref().map_or(0, Message::encoded_len)
            + req
                .search_attributes
                .as_ref()
                .map_or(0, Message::encoded_len)
            + req.header.as_ref().map_or(0, Message::encoded_len)
            + req.retry_policy.as_ref().map_or(0, Message::encoded_len);
        if extras > limit {
            return Err(super::rpc_error::too_large(
                "memo, search attributes, header and retry policy",
                extras,
                limit,
            ));
        }
        if !req.cron_schedule.is_empty() {
            return Err(invalid(
                "cron_schedule is not supported by the dacapo engine",
            ));
        }
        let task_timeout = ms(&req.workflow_task_timeout, "workflow_task_timeout")?;
        StartParams {
            namespace: req.namespace.clone(),
            workflow_id: validate::required(&req.workflow_id, "workflow_id")?.to_string(),
            workflow_type: validate::required(
                req.workflow_type
                    .as_ref()
                    .map(|t| t.name.as_str())
                    .unwrap_or_default(),
                "workflow_type.name",
            )?
            .to_string(),
            task_queue: validate::task_queue(&req.task_queue, "task_queue.name")?,
            input: req.input.clone(),
            execution_timeout_ms: ms(
                &req.workflow_execution_timeout,
                "workflow_execution_timeout",
            )?,
            run_timeout_ms: ms(&req.workflow_run_timeout, "workflow_run_timeout")?,
            task_timeout_ms: if task_timeout > 0 {
                task_timeout
            } else {
                i64::try_from($core.cfg.default_workflow_task_timeout.as_millis())
                    .unwrap_or(i64::MAX)
            },
            start_delay_ms: ms(&req.workflow_start_delay, "workflow_start_delay")?,
            identity: req.identity.clone(),
            request_id: if req.request_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                req.request_id.clone()
            },
            reuse: WorkflowIdReusePolicy::try_from(req.workflow_id_reuse_policy)
                .unwrap_or(WorkflowIdReusePolicy::Unspecified),
            conflict: WorkflowIdConflictPolicy::try_from(req.workflow_id_conflict_policy)
                .unwrap_or(WorkflowIdConflictPolicy::Unspecified),
            retry_policy: req.retry_policy.clone(),
            memo: req.memo.clone(),
            search_attributes: req.search_attributes.clone(),
            header: req.header.clone(),
        }
    }};
}

/// `StartWorkflowExecution`.
pub(crate) async fn start(
    core: &Core,
    req: StartWorkflowExecutionRequest,
) -> Result<StartWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let params = start_params!(core, &req);
    let (outcome, seq) = {
        let mut st = core.state.lock();
        let mut fx = Effects::default();
        // A refusal changes nothing (`fx` stays empty), but it may rely on a start that still
        // waits for its commit; `finish` then gives the last sequence number, so the refusal
        // too is answered only once what it saw is durable.
        let outcome = start_locked(&mut st, &mut fx, params, None);
        (outcome, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    let outcome = outcome?;
    Ok(StartWorkflowExecutionResponse {
        run_id: outcome.run_id.clone(),
        first_execution_run_id: outcome.run_id,
        started: outcome.started,
        status: WorkflowExecutionStatus::Running as i32,
        ..Default::default()
    })
}

/// `SignalWithStartWorkflowExecution`: signals the running run of the id, or starts one with
/// the signal as its second event.
pub(crate) async fn signal_with_start(
    core: &Core,
    req: SignalWithStartWorkflowExecutionRequest,
) -> Result<SignalWithStartWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let params = start_params!(core, &req);
    validate::required(&req.signal_name, "signal_name")?;
    validate::payloads(
        &req.signal_input,
        "signal_input",
        core.cfg.limits.max_payload_bytes,
    )?;
    let signal = SignalParams {
        name: req.signal_name.clone(),
        input: req.signal_input.clone(),
        identity: req.identity.clone(),
        header: req.header.clone(),
        request_id: params.request_id.clone(),
    };
    let (outcome, seq) = {
        let mut st = core.state.lock();
        let mut fx = Effects::default();
        // As in `start`: a refusal waits for what it saw to be durable.
        let signal = Some((signal, &core.cfg.limits));
        let outcome = start_locked(&mut st, &mut fx, params, signal);
        (outcome, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    let outcome = outcome?;
    Ok(SignalWithStartWorkflowExecutionResponse {
        run_id: outcome.run_id.clone(),
        first_execution_run_id: outcome.run_id,
        started: outcome.started,
        ..Default::default()
    })
}

/// The validated parts of a start request (for update-with-start).
pub(crate) fn params(
    core: &Core,
    req: &StartWorkflowExecutionRequest,
) -> Result<StartParams, Status> {
    Ok(start_params!(core, req))
}

/// The run a start found or made.
pub(crate) struct Started {
    pub(crate) run_id: String,
    pub(crate) started: bool,
}

/// Starts a run, or (with a signal and the limits it is held to) signals the running one.
pub(crate) fn start_locked(
    st: &mut State,
    fx: &mut Effects,
    p: StartParams,
    signal: Option<(SignalParams, &Limits)>,
) -> Result<Started, Status> {
    let now = now_ms();
    let key = (p.namespace.clone(), p.workflow_id.clone());
    if let Some(current) = st.current.get(&key).cloned() {
        let existing = |started| {
            Ok(Started {
                run_id: current.clone(),
                started,
            })
        };
        if let Some(run) = st.runs.get_mut(&current) {
            if run.rec.start_request_id == p.request_id {
                return existing(true);
            }
            // The deprecated reuse policy TerminateIfRunning (4) asks for the same.
            let terminate = p.conflict == WorkflowIdConflictPolicy::TerminateExisting
                || (p.conflict == WorkflowIdConflictPolicy::Unspecified && p.reuse as i32 == 4);
            if terminate {
                fx.touch(&current);
                let reason = "terminated to start a new run with the same workflow id";
                terminate_run(run, fx, now, reason, None, &p.identity);
            } else if let Some((signal, limits)) = signal {
                st.check_intact(&current)?;
                let Some(run) = st.runs.get_mut(&current) else {
                    return existing(false);
                };
                add_signal(run, fx, now, signal, limits)?;
                return existing(false);
            } else if p.conflict == WorkflowIdConflictPolicy::UseExisting {
                return existing(false);
            } else {
                return Err(already_started(
                    format!(
                        "workflow execution already started: workflow id \"{}\" is running as run \"{current}\"",
                        clip(&p.workflow_id)
                    ),
                    &current,
                    &run.rec.start_request_id,
                ));
            }
        } else if let Some(rec) = st.closed.get(&current) {
            if rec.start_request_id == p.request_id {
                return existing(true);
            }
            check_reuse(rec, p.reuse, &p.workflow_id)?;
        }
    }
    let run_id = uuid::Uuid::new_v4().to_string();
    let mut run = new_run(&p, &run_id, now);
    if let Some((signal, limits)) = signal {
        check_signal_count(&run.rec, limits)?;
        remember_signal(&mut run.rec, &signal.request_id);
        run.rec.signal_count += 1;
        run.append(now, signal_event(signal));
    }
    if p.start_delay_ms == 0 {
        run.schedule_workflow_task(fx, now, 1, 0);
    }
    st.insert_run(run);
    fx.touch(&run_id);
    Ok(Started {
        run_id,
        started: true,
    })
}

/// Applies the id reuse policy to the latest, closed run of the id.
fn check_reuse(
    rec: &ExecutionRecord,
    reuse: WorkflowIdReusePolicy,
    workflow_id: &str,
) -> Result<(), Status> {
    let failed = [
        WorkflowExecutionStatus::Failed,
        WorkflowExecutionStatus::Canceled,
        WorkflowExecutionStatus::Terminated,
        WorkflowExecutionStatus::TimedOut,
    ]
    .iter()
    .any(|s| *s as i32 == rec.status);
    let refusal = match reuse {
        WorkflowIdReusePolicy::RejectDuplicate => "the id reuse policy rejects duplicates",
        WorkflowIdReusePolicy::AllowDuplicateFailedOnly if !failed => {
            "the id reuse policy allows a new run only after a failed one, and the last run succeeded"
        }
        _ => return Ok(()),
    };
    Err(already_started(
        format!(
            "workflow execution already finished: workflow id \"{}\" ran as run \"{}\" and {refusal}",
            clip(workflow_id),
            rec.run_id
        ),
        &rec.run_id,
        &rec.start_request_id,
    ))
}

fn new_run(p: &StartParams, run_id: &str, now: i64) -> Run {
    let begin = now + p.start_delay_ms;
    let deadline = [p.run_timeout_ms, p.execution_timeout_ms]
        .into_iter()
        .filter(|t| *t > 0)
        .min()
        .map_or(0, |t| begin.saturating_add(t));
    let rec = ExecutionRecord {
        namespace: p.namespace.clone(),
        workflow_id: p.workflow_id.clone(),
        run_id: run_id.to_string(),
        workflow_type: p.workflow_type.clone(),
        task_queue: p.task_queue.clone(),
        status: WorkflowExecutionStatus::Running as i32,
        start_time_ms: now,
        next_event_id: 1,
        start_request_id: p.request_id.clone(),
        workflow_task_timeout_ms: p.task_timeout_ms,
        run_timeout_ms: p.run_timeout_ms,
        execution_timeout_ms: p.execution_timeout_ms,
        run_deadline_ms: deadline,
        first_task_not_before_ms: if p.start_delay_ms > 0 { begin } else { 0 },
        ..Default::default()
    };
    let mut run = Run::new(rec);
    let started = WorkflowExecutionStartedEventAttributes {
        workflow_type: Some(WorkflowType {
            name: p.workflow_type.clone(),
        }),
        task_queue: Some(TaskQueue {
            name: p.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        input: p.input.clone(),
        workflow_execution_timeout: opt_dur(p.execution_timeout_ms),
        workflow_run_timeout: opt_dur(p.run_timeout_ms),
        workflow_task_timeout: opt_dur(p.task_timeout_ms),
        original_execution_run_id: run_id.to_string(),
        identity: p.identity.clone(),
        first_execution_run_id: run_id.to_string(),
        retry_policy: p.retry_policy.clone(),
        attempt: 1,
        workflow_execution_expiration_time: opt_ts(if p.execution_timeout_ms > 0 {
            begin + p.execution_timeout_ms
        } else {
            0
        }),
        first_workflow_task_backoff: opt_dur(p.start_delay_ms),
        memo: p.memo.clone(),
        search_attributes: p.search_attributes.clone(),
        header: p.header.clone(),
        workflow_id: p.workflow_id.clone(),
        ..Default::default()
    };
    run.append(
        now,
        EventAttributes::WorkflowExecutionStartedEventAttributes(started),
    );
    run
}
