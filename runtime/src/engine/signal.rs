//! `SignalWorkflowExecution`, and the signal of a signal-with-start: a signal is written as
//! `WorkflowExecutionSignaled` (held while a workflow task runs), once per request id.
//!
//! A run takes at most `Limits::max_signals_per_run` signals over its life (counted in its
//! record, so across restarts too); past that a signal is refused with `InvalidArgument`, as
//! Temporal does.

use super::clock::now_ms;
use super::core::Core;
use super::effects::Effects;
use super::limits::Limits;
use super::rpc_error::{invalid, too_large, workflow_completed};
use super::run::Run;
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::common::{Header, Payloads};
use crate::proto::history::WorkflowExecutionSignaledEventAttributes;
use crate::proto::service::{SignalWorkflowExecutionRequest, SignalWorkflowExecutionResponse};
use crate::store::ExecutionRecord;
use prost::Message;
use tonic::Status;

/// How many signal request ids a run remembers for de-duplication.
const SIGNAL_DEDUPE_WINDOW: usize = 100;

/// The signal of a signal-with-start or signal request.
pub(crate) struct SignalParams {
    pub name: String,
    pub input: Option<Payloads>,
    pub identity: String,
    pub header: Option<Header>,
    pub request_id: String,
}

pub(crate) fn signal_event(s: SignalParams) -> EventAttributes {
    EventAttributes::WorkflowExecutionSignaledEventAttributes(
        WorkflowExecutionSignaledEventAttributes {
            signal_name: s.name,
            input: s.input,
            identity: s.identity,
            header: s.header,
            request_id: s.request_id,
            ..Default::default()
        },
    )
}

/// Remembers a signal's request id; returns false when it was seen already.
pub(crate) fn remember_signal(rec: &mut ExecutionRecord, request_id: &str) -> bool {
    if request_id.is_empty() {
        return true;
    }
    if rec.signal_request_ids.iter().any(|r| r == request_id) {
        return false;
    }
    if rec.signal_request_ids.len() >= SIGNAL_DEDUPE_WINDOW {
        rec.signal_request_ids.remove(0);
    }
    rec.signal_request_ids.push(request_id.to_string());
    true
}

/// Refuses a signal to a run that has taken `Limits::max_signals_per_run` of them.
pub(crate) fn check_signal_count(rec: &ExecutionRecord, limits: &Limits) -> Result<(), Status> {
    let limit = limits.max_signals_per_run;
    if usize::try_from(rec.signal_count).unwrap_or(usize::MAX) < limit {
        return Ok(());
    }
    tracing::info!(
        namespace = %rec.namespace,
        workflow_id = %rec.workflow_id,
        run_id = %rec.run_id,
        "a signal was refused: the run has taken the most signals a run may take"
    );
    Err(invalid(format!(
        "exceeded workflow execution limit for signal events: this run has taken {} signals, the most a run may take (Limits::max_signals_per_run = {limit})",
        rec.signal_count
    )))
}

/// Adds a signal to a running run, unless it repeats one already taken (same request id), in
/// which case it succeeds without writing anything.
pub(crate) fn add_signal(
    run: &mut Run,
    fx: &mut Effects,
    now: i64,
    signal: SignalParams,
    limits: &Limits,
) -> Result<(), Status> {
    let repeated =
        !signal.request_id.is_empty() && run.rec.signal_request_ids.contains(&signal.request_id);
    if repeated {
        return Ok(());
    }
    check_signal_count(&run.rec, limits)?;
    fx.touch(&run.rec.run_id);
    remember_signal(&mut run.rec, &signal.request_id);
    run.rec.signal_count += 1;
    run.add_events(fx, now, vec![signal_event(signal)]);
    Ok(())
}

/// `SignalWorkflowExecution`: writes `WorkflowExecutionSignaled` (held while a task runs).
pub(crate) async fn signal(
    core: &Core,
    req: SignalWorkflowExecutionRequest,
) -> Result<SignalWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let exec = validate::execution(&req.workflow_execution)?;
    validate::required(&req.signal_name, "signal_name")?;
    let limits = &core.cfg.limits;
    validate::payloads(&req.input, "input", limits.max_payload_bytes)?;
    header_size(&req.header, "header", limits)?;
    let (refusal, seq) = 'seq: {
        let mut st = core.state.lock();
        let run = match st.open_run(&req.namespace, &exec) {
            Ok(run) => run,
            // A refusal ("already completed") may rest on a close still waiting for its commit.
            Err(refusal) => break 'seq (Some(refusal), st.last_seq),
        };
        let run_id = run.rec.run_id.clone();
        st.check_intact(&run_id)?;
        let Some(run) = st.runs.get_mut(&run_id) else {
            return Err(workflow_completed());
        };
        let mut fx = Effects::default();
        let signal = SignalParams {
            name: req.signal_name,
            input: req.input,
            identity: req.identity,
            header: req.header,
            request_id: req.request_id,
        };
        // A refusal (too many signals) rests on signals that may still wait for their commit.
        let refusal = add_signal(run, &mut fx, now_ms(), signal, limits).err();
        (refusal, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    match refusal {
        Some(refusal) => Err(refusal),
        None => Ok(SignalWorkflowExecutionResponse::default()),
    }
}

/// Rejects a header over `Limits::max_payload_bytes`.
fn header_size(header: &Option<Header>, what: &str, limits: &Limits) -> Result<(), Status> {
    let len = header.as_ref().map_or(0, Message::encoded_len);
    if len > limits.max_payload_bytes {
        return Err(too_large(what, len, limits.max_payload_bytes));
    }
    Ok(())
}
