//! `RequestCancelWorkflowExecution`: asks a run's workflow to cancel itself, by writing
//! `WorkflowExecutionCancelRequested` (held while a workflow task runs) for it to react to.

use super::clock::now_ms;
use super::core::Core;
use super::effects::Effects;
use super::rpc_error::workflow_not_found;
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::history::WorkflowExecutionCancelRequestedEventAttributes;
use crate::proto::service::{
    RequestCancelWorkflowExecutionRequest, RequestCancelWorkflowExecutionResponse,
};
use tonic::Status;

/// `RequestCancelWorkflowExecution` (docs/semantics.md §2.2, §2.3): at most one
/// `WorkflowExecutionCancelRequested` per run; a closed run or a repeated request succeeds
/// without writing anything.
pub(crate) async fn request_cancel(
    core: &Core,
    req: RequestCancelWorkflowExecutionRequest,
) -> Result<RequestCancelWorkflowExecutionResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let exec = validate::execution(&req.workflow_execution)?;
    validate::reason_size(&req.reason, &core.cfg.limits)?;
    let seq = 'seq: {
        let mut st = core.state.lock();
        let run_id = st.resolve(&req.namespace, &exec)?;
        if !req.first_execution_run_id.is_empty() && req.first_execution_run_id != run_id {
            return Err(workflow_not_found(&exec.workflow_id, &exec.run_id));
        }
        // A closed run, or a cancel already requested: nothing to write, but the answer relies
        // on a close or a cancel that may still wait for its commit. Answering before it is
        // durable would acknowledge a cancel that a crash could take back, so wait for
        // everything submitted so far, as reads do.
        if st.runs.contains_key(&run_id) {
            st.check_intact(&run_id)?;
        }
        let Some(run) = st.runs.get_mut(&run_id) else {
            break 'seq st.last_seq;
        };
        if run.rec.cancel_requested {
            break 'seq st.last_seq;
        }
        run.rec.cancel_requested = true;
        let attrs = WorkflowExecutionCancelRequestedEventAttributes {
            cause: req.reason,
            identity: req.identity,
            ..Default::default()
        };
        let mut fx = Effects::default();
        fx.touch(&run_id);
        run.add_events(
            &mut fx,
            now_ms(),
            vec![EventAttributes::WorkflowExecutionCancelRequestedEventAttributes(attrs)],
        );
        core.finish(&mut st, fx)
    };
    core.committed(seq).await?;
    Ok(RequestCancelWorkflowExecutionResponse::default())
}
