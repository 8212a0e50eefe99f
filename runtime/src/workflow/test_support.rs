//! What the executor tests (`tests`, `query_tests`, `update_tests`) share: a run of a test
//! body, and readings of the commands and logs an activation produces.

use super::WorkflowInfo;
use super::context::WorkflowContext;
use super::executor::WorkflowRun;
use super::state::RunState;
use crate::definition::BoxFuture;
use crate::error::WorkflowError;
use crate::payload;
use crate::proto::CommandAttributes;
use crate::proto::command::Command;
use crate::proto::enums::CommandType;
use std::time::UNIX_EPOCH;

/// The facts of every test run: workflow `wf`, run `run`, type `test` on queue `q`.
pub(super) fn info() -> WorkflowInfo {
    WorkflowInfo {
        namespace: "default".into(),
        workflow_id: "wf".into(),
        run_id: "run".into(),
        workflow_type: "test".into(),
        task_queue: "q".into(),
        attempt: 1,
        start_time: UNIX_EPOCH,
    }
}

/// A run of `body`, seeded with 7, whose result is encoded as JSON.
pub(super) fn run_of<T: serde::Serialize + 'static>(
    body: fn(WorkflowContext) -> BoxFuture<Result<T, WorkflowError>>,
) -> WorkflowRun {
    WorkflowRun::new(RunState::new(info(), 7), move |ctx| {
        Box::pin(async move { Ok(vec![payload::encode(&body(ctx).await?)?]) })
    })
}

/// The types of `cmds`, in order.
pub(super) fn kinds(cmds: &[Command]) -> Vec<CommandType> {
    cmds.iter()
        .map(|c| CommandType::try_from(c.command_type).unwrap())
        .collect()
}

/// The result the last of `cmds`, a `CompleteWorkflowExecution` command, carries, as JSON
/// text.
pub(super) fn completed_with(cmds: &[Command]) -> String {
    let Some(CommandAttributes::CompleteWorkflowExecutionCommandAttributes(c)) =
        cmds.last().and_then(|c| c.attributes.as_ref())
    else {
        panic!("no completion in {:?}", kinds(cmds));
    };
    payload::display(&c.result.as_ref().unwrap().payloads[0])
}

/// Collects what `tracing` writes while `f` runs.
pub(super) fn logs_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock()).into_owned();
    (out, text)
}
