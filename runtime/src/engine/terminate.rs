//! `TerminateWorkflowExecution`: closes a run at once, without running workflow code (what a
//! terminate writes is in `close`).

use super::clock::now_ms;
use super::close::terminate_run;
use super::core::Core;
use super::effects::Effects;
use super::rpc_error::workflow_not_found;
use super::validate;
use crate::proto::service::{
    TerminateWorkflowExecutionRequest, TerminateWorkflowExecutionResponse,
};
use tonic::Status;

/// `TerminateWorkflowExecution`: closes the run at once; no workflow code runs.
pub(crate) async fn terminate(
    core: &Core,
    req: TerminateWorkflowExecutionRequest,
) -> Result<TerminateWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let exec = validate::execution(&req.workflow_execution)?;
    validate::payloads(&req.details, "details", core.cfg.limits.max_payload_bytes)?;
    validate::reason_size(&req.reason, &core.cfg.limits)?;
    let (refusal, seq) = 'seq: {
        let mut st = core.state.lock();
        let run = match st.open_run(&req.namespace, &exec) {
            Ok(run) => run,
            // A refusal ("already completed") may rest on a close still waiting for its commit.
            Err(refusal) => break 'seq (Some(refusal), st.last_seq),
        };
        if !req.first_execution_run_id.is_empty() && req.first_execution_run_id != run.rec.run_id {
            return Err(workflow_not_found(&exec.workflow_id, &exec.run_id));
        }
        let mut fx = Effects::default();
        fx.touch(&run.rec.run_id);
        terminate_run(
            run,
            &mut fx,
            now_ms(),
            &req.reason,
            req.details,
            &req.identity,
        );
        (None, core.finish(&mut st, fx))
    };
    core.committed(seq).await?;
    match refusal {
        Some(refusal) => Err(refusal),
        None => Ok(TerminateWorkflowExecutionResponse::default()),
    }
}
