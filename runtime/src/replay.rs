//! Replaying recorded histories against the current workflow code.
//!
//! A worker replays a run's history whenever it has no cached copy of the run (after a restart,
//! an eviction or a deploy). Replay only works if the code still issues the commands the history
//! records, in the same order; otherwise the worker reports non-determinism and the run is stuck
//! until a fixed version is deployed. This module runs that same check offline, with no engine
//! and no worker: feed it histories (from [`Client::history`](crate::Client::history), from a
//! store, or from a file) before deploying a change, or in a test after a crash.
//!
//! ```no_run
//! # use dacapo::prelude::*;
//! # #[workflow] async fn order(ctx: WorkflowContext) -> WorkflowResult<()> { Ok(()) }
//! # async fn check(client: dacapo::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let history = client.history("order-42", None).await?;
//! let replayed = dacapo::replay::replay_history(order, &history)?;
//! println!("{} workflow tasks replayed", replayed.workflow_tasks);
//! # Ok(()) }
//! ```
//!
//! Replay uses the worker's executor, so it catches what a worker would catch: a command of
//! another kind, activity type or id than the recorded one, a recorded command the code no
//! longer issues, a command the code issues that a completed workflow task does not record, and
//! panics in workflow code. Like the worker it does not compare inputs or results.

use crate::definition::WorkflowDefinition;
use crate::proto::common::WorkflowExecution;
use crate::proto::enums::EventType;
use crate::proto::history::HistoryEvent;
use crate::proto::{EventAttributes, event_type_name};
use crate::worker::registry::{ErasedWorkflow, WorkflowEntry};
use crate::worker::runs::{start_run, started_type};
use crate::workflow::ActivationError;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Replays histories of the workflow types registered on it.
///
/// ```no_run
/// # use dacapo::prelude::*;
/// # #[workflow] async fn order(ctx: WorkflowContext) -> WorkflowResult<()> { Ok(()) }
/// # #[workflow] async fn refund(ctx: WorkflowContext) -> WorkflowResult<()> { Ok(()) }
/// # fn check(histories: Vec<Vec<dacapo::proto::history::HistoryEvent>>) -> Result<(), dacapo::replay::ReplayError> {
/// let replayer = dacapo::replay::Replayer::new().workflow(order).workflow(refund);
/// for history in &histories {
///     replayer.replay(history)?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Replayer {
    namespace: String,
    workflows: BTreeMap<String, Arc<dyn ErasedWorkflow>>,
}

impl fmt::Debug for Replayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("namespace", &self.namespace)
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Replayer {
    fn default() -> Self {
        Self::new()
    }
}

/// What a successful replay went through.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replayed {
    /// The workflow type the history records.
    pub workflow_type: String,
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// How many events were replayed.
    pub events: usize,
    /// How many completed workflow tasks the code was run for.
    pub workflow_tasks: usize,
    /// Whether the history ends with the run's close event.
    pub closed: bool,
    /// Whether the workflow body returned during replay (true whenever the run closed itself
    /// by completing, failing or being cancelled).
    pub finished: bool,
}

/// Why a history did not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The history is not one a server could have written: empty, not opened by
    /// `WorkflowExecutionStarted`, or with event ids other than `1..=n` in order.
    #[error("the history cannot be replayed: {0}")]
    Malformed(String),
    /// The history's workflow type is not registered on the replayer.
    #[error(
        "workflow type `{workflow_type}` is not registered on the replayer; registered workflow types: {registered}"
    )]
    UnknownWorkflowType {
        /// The type the history records.
        workflow_type: String,
        /// The registered types, comma separated.
        registered: String,
    },
    /// The code issued other commands than the history records.
    #[error("workflow `{workflow_id}` (run {run_id}) is non-deterministic: {message}")]
    NonDeterminism {
        /// The workflow id.
        workflow_id: String,
        /// The run id.
        run_id: String,
        /// Both sides of the first mismatch.
        message: String,
    },
    /// The workflow code panicked.
    #[error("workflow `{workflow_id}` (run {run_id}) panicked during replay: {message}")]
    Panic {
        /// The workflow id.
        workflow_id: String,
        /// The run id.
        run_id: String,
        /// The panic's message.
        message: String,
    },
    /// A signal the code received does not decode into its channel's type.
    #[error("workflow `{workflow_id}` (run {run_id}) cannot read a signal: {message}")]
    SignalPayload {
        /// The workflow id.
        workflow_id: String,
        /// The run id.
        run_id: String,
        /// The signal, the type and the decoding error.
        message: String,
    },
}

impl Replayer {
    /// A replayer with no workflow types, for namespace `default`.
    pub fn new() -> Self {
        Self {
            namespace: "default".to_string(),
            workflows: BTreeMap::new(),
        }
    }

    /// Sets the namespace that `ctx.info()` reports during replay (default `default`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Registers a workflow type, under the name its definition records in histories.
    pub fn workflow<W: WorkflowDefinition>(mut self, _def: W) -> Self {
        self.workflows
            .insert(W::NAME.to_string(), Arc::new(WorkflowEntry::<W>::new()));
        self
    }

    /// Replays one run's history, from its `WorkflowExecutionStarted` event, through the
    /// registered code of its workflow type.
    ///
    /// The history may be that of a closed run or of an open one; a workflow task that is still
    /// running at the end of the history (a trailing `WorkflowTaskStarted`) is left out, since
    /// its commands are not recorded yet.
    ///
    /// # Errors
    /// [`ReplayError::Malformed`] for a history no server writes,
    /// [`ReplayError::UnknownWorkflowType`] when its type is not registered,
    /// [`ReplayError::NonDeterminism`] naming the first event and command that differ, and
    /// [`ReplayError::Panic`] when the workflow code panics.
    ///
    /// # Determinism
    /// Workflow code runs exactly as on a worker, on the same deterministic executor, with the
    /// same random seed and `ctx.now()` values; activities do not run, their recorded outcomes
    /// are fed to the code.
    pub fn replay(&self, history: &[HistoryEvent]) -> Result<Replayed, ReplayError> {
        check_shape(history)?;
        let workflow_type = started_type(history).unwrap_or_default().to_string();
        let Some(entry) = self.workflows.get(&workflow_type) else {
            let registered: Vec<&str> = self.workflows.keys().map(String::as_str).collect();
            return Err(ReplayError::UnknownWorkflowType {
                workflow_type,
                registered: if registered.is_empty() {
                    "none".to_string()
                } else {
                    registered.join(", ")
                },
            });
        };
        let execution = execution_of(history);
        let mut run = start_run(entry.as_ref(), &self.namespace, "", &execution, history)
            .map_err(ReplayError::Malformed)?;
        let recorded = match history.last() {
            Some(last) if last.event_type == EventType::WorkflowTaskStarted as i32 => {
                &history[..history.len() - 1]
            }
            _ => history,
        };
        let fail = |err: ActivationError| match err {
            ActivationError::NonDeterminism(message) => ReplayError::NonDeterminism {
                workflow_id: execution.workflow_id.clone(),
                run_id: execution.run_id.clone(),
                message,
            },
            ActivationError::Panic(message) => ReplayError::Panic {
                workflow_id: execution.workflow_id.clone(),
                run_id: execution.run_id.clone(),
                message,
            },
            ActivationError::SignalPayload(message) => ReplayError::SignalPayload {
                workflow_id: execution.workflow_id.clone(),
                run_id: execution.run_id.clone(),
                message,
            },
        };
        run.activate(recorded).map_err(fail)?;
        // Every completed workflow task's commands are written with its completion, so after a
        // whole history nothing the code issued may be missing from it.
        let unrecorded = run.unrecorded_commands();
        if !unrecorded.is_empty() {
            let last = recorded.last().map_or(0, |e| e.event_id);
            return Err(fail(ActivationError::NonDeterminism(format!(
                "the workflow code issued {}, but the history ends at event {last} without it",
                unrecorded.join(", ")
            ))));
        }
        let workflow_tasks = recorded
            .iter()
            .filter(|e| e.event_type == EventType::WorkflowTaskCompleted as i32)
            .count();
        Ok(Replayed {
            workflow_type,
            workflow_id: execution.workflow_id,
            run_id: execution.run_id,
            events: history.len(),
            workflow_tasks,
            closed: history.last().is_some_and(is_close_event),
            finished: run.is_finished(),
        })
    }

    /// Replays a history given as JSON, as `temporal workflow show --output json` or
    /// `dacapo workflow show --output json` print it: the check to run in CI before a deploy.
    ///
    /// # Errors
    /// [`ReplayError::Malformed`] when the text is not a JSON history; otherwise as
    /// [`Replayer::replay`].
    #[cfg(feature = "history-json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "history-json")))]
    pub fn replay_json(&self, json: &str) -> Result<Replayed, ReplayError> {
        let history = crate::history_json::from_json(json)
            .map_err(|e| ReplayError::Malformed(e.to_string()))?;
        self.replay(&history)
    }
}

/// Replays one history of workflow `W` against its current code: a shorthand for a
/// [`Replayer`] with only `W` registered.
///
/// # Errors
/// As [`Replayer::replay`]; [`ReplayError::UnknownWorkflowType`] when the history is of another
/// workflow type.
pub fn replay_history<W: WorkflowDefinition>(
    def: W,
    history: &[HistoryEvent],
) -> Result<Replayed, ReplayError> {
    Replayer::new().workflow(def).replay(history)
}

/// Checks what replay relies on: a start event first and dense ids.
fn check_shape(history: &[HistoryEvent]) -> Result<(), ReplayError> {
    let Some(first) = history.first() else {
        return Err(ReplayError::Malformed("it has no events".into()));
    };
    let opens = first.event_type == EventType::WorkflowExecutionStarted as i32
        && matches!(
            first.attributes,
            Some(EventAttributes::WorkflowExecutionStartedEventAttributes(_))
        );
    if !opens {
        return Err(ReplayError::Malformed(format!(
            "its first event is {}, not WorkflowExecutionStarted",
            event_type_name(first.event_type)
        )));
    }
    for (i, event) in history.iter().enumerate() {
        let expected = i as i64 + 1;
        if event.event_id != expected {
            return Err(ReplayError::Malformed(format!(
                "event {} of the list has id {}; ids must run 1, 2, 3, ... without gaps",
                expected, event.event_id
            )));
        }
    }
    Ok(())
}

/// The workflow id and run id the start event records.
fn execution_of(history: &[HistoryEvent]) -> WorkflowExecution {
    match history.first().map(|e| &e.attributes) {
        Some(Some(EventAttributes::WorkflowExecutionStartedEventAttributes(a))) => {
            WorkflowExecution {
                workflow_id: a.workflow_id.clone(),
                run_id: a.original_execution_run_id.clone(),
            }
        }
        _ => WorkflowExecution::default(),
    }
}

fn is_close_event(event: &HistoryEvent) -> bool {
    let close = [
        EventType::WorkflowExecutionCompleted,
        EventType::WorkflowExecutionFailed,
        EventType::WorkflowExecutionCanceled,
        EventType::WorkflowExecutionTerminated,
        EventType::WorkflowExecutionTimedOut,
        EventType::WorkflowExecutionContinuedAsNew,
    ];
    close.iter().any(|t| *t as i32 == event.event_type)
}

#[cfg(test)]
mod tests;
