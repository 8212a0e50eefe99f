//! Queries as a workflow answers them: the handlers registered with
//! [`WorkflowContext::on_query`](crate::WorkflowContext::on_query), by name, and the answering
//! of one query against the run's current state.
//!
//! A query must not change the run. While a handler answers, the run is marked as answering;
//! every place that would change it (commands, workflow state, signal reads, the random
//! generator, handler registration) asks [`RunState::refuse_in_query`] first, which records the
//! attempt and makes that operation do nothing, and the query then fails with what was tried.

use super::state::{ErasedQueryHandler, RunState};
use crate::message::Query;
use crate::payload::{self, Payload, PayloadError};
use crate::proto::common::Payload as RawPayload;
use parking_lot::Mutex;
use std::fmt::Display;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The name of the query other SDKs answer with the workflow's stack trace.
pub(crate) const STACK_TRACE_QUERY: &str = "__stack_trace";

/// The name of the query Temporal's tools (`temporal workflow metadata`, the web UI) ask for
/// the workflow's definition: its type and the queries and signals it handles.
pub(crate) const METADATA_QUERY: &str = "__temporal_workflow_metadata";

impl RunState {
    /// Whether a query handler is answering now.
    pub(crate) fn answering_query(&self) -> bool {
        self.queries.answering.is_some()
    }

    /// Whether a query handler is answering now. If one is, records that it tried to `what`
    /// (for the query's failure) and returns true: the caller must then change nothing.
    pub(crate) fn refuse_in_query(&mut self, what: &str) -> bool {
        let queries = &mut self.queries;
        if queries.answering.is_none() {
            return false;
        }
        queries.refused.get_or_insert_with(|| what.to_string());
        true
    }
}

/// Registers `handler` as the answer to `query` on the run behind `state`, replacing an
/// earlier handler of the same name. Refused (nothing registered) from a query handler.
pub(crate) fn register<A, R, E, F>(state: &Arc<Mutex<RunState>>, query: Query<A, R>, handler: F)
where
    A: Payload,
    R: Payload,
    E: Display,
    F: Fn(A) -> Result<R, E> + Send + 'static,
{
    let name = query.name();
    let erased: ErasedQueryHandler = Box::new(move |args: &[RawPayload]| {
        let args = payload::decode::<A>(args, 0).map_err(|e| {
            let why = match e {
                PayloadError::Decode { message, .. } => message,
                other => other.to_string(),
            };
            format!(
                "the arguments of query `{name}` do not decode into `{}`: {why}",
                std::any::type_name::<A>()
            )
        })?;
        let answer = handler(args).map_err(|e| e.to_string())?;
        payload::encode(&answer)
            .map(|p| vec![p])
            .map_err(|e| format!("the answer of query `{name}` does not encode: {e}"))
    });
    let mut s = state.lock();
    if s.refuse_in_query(&format!("register a query handler (`{name}`)")) {
        return;
    }
    s.queries.handlers.insert(name.to_string(), erased);
}

/// Answers query `name` with `args` from the run's current state: the answer's payloads, or
/// the message the query fails with. The run is left as it was, whatever the handler does.
pub(crate) fn answer(
    state: &Arc<Mutex<RunState>>,
    name: &str,
    args: &[RawPayload],
) -> Result<Vec<RawPayload>, String> {
    if name == STACK_TRACE_QUERY {
        return Err(format!(
            "the `{STACK_TRACE_QUERY}` query is not supported by dacapo workers: a Rust \
             workflow's stack is not kept in a form a worker can report"
        ));
    }
    if name == METADATA_QUERY {
        return metadata(&state.lock());
    }
    let handler = {
        let mut s = state.lock();
        let Some(handler) = s.queries.handlers.remove(name) else {
            return Err(format!(
                "unknown queryType {name}. KnownQueryTypes=[{}]",
                s.queries.names().join(", ")
            ));
        };
        s.queries.answering = Some(name.to_string());
        s.queries.refused = None;
        handler
    };
    // The run's lock is not held while the handler runs: it reads the workflow's state, which
    // takes the lock to check that nothing is being changed.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| handler(args)));
    let mut s = state.lock();
    // Handlers cannot be registered while a query answers, so the name is still free.
    s.queries.handlers.insert(name.to_string(), handler);
    s.queries.answering = None;
    if let Some(what) = s.queries.refused.take() {
        return Err(format!(
            "a query handler cannot {what}: queries must not change the workflow (query `{name}`)"
        ));
    }
    match outcome {
        Ok(result) => result,
        Err(panic) => Err(format!(
            "query handler `{name}` panicked: {}",
            super::panic::message(&panic)
        )),
    }
}

/// The error a workflow future gives when it is polled from a query handler (which it must
/// not be: the query fails anyway, and the future does not wait for what will never come).
pub(crate) fn refused_error(what: &str) -> crate::error::WorkflowError {
    crate::error::WorkflowError::msg(format!(
        "a query handler cannot {what}: queries must not change the workflow"
    ))
}

/// The run's `temporal.api.sdk.v1.WorkflowMetadata`, as the proto JSON payload the other SDKs
/// answer [`METADATA_QUERY`] with: the workflow type, the queries registered and the signals
/// the code asked for a channel of, each sorted by name.
fn metadata(s: &RunState) -> Result<Vec<RawPayload>, String> {
    let named = |names: Vec<&str>| -> Vec<serde_json::Value> {
        names
            .into_iter()
            .map(|name| serde_json::json!({ "name": name }))
            .collect()
    };
    let mut definition = serde_json::Map::new();
    definition.insert("type".into(), s.info.workflow_type.clone().into());
    let queries = named(s.queries.names());
    if !queries.is_empty() {
        definition.insert("queryDefinitions".into(), queries.into());
    }
    let signals = named(s.signals.channel_names().collect());
    if !signals.is_empty() {
        definition.insert("signalDefinitions".into(), signals.into());
    }
    let body = serde_json::json!({ "definition": definition });
    let data = serde_json::to_vec(&body).map_err(|e| format!("the run's metadata: {e}"))?;
    let metadata = [
        (payload::ENCODING_KEY, "json/protobuf"),
        ("messageType", "temporal.api.sdk.v1.WorkflowMetadata"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    Ok(vec![RawPayload {
        metadata,
        data,
        ..Default::default()
    }])
}
