//! Queries as a workflow answers them: the handlers registered with
//! [`WorkflowContext::on_query`](crate::WorkflowContext::on_query), by name, and the answering
//! of one query against the run's current state.
//!
//! A query must not change the run. While a handler answers, the run is marked as answering;
//! every place that would change it (commands, workflow state, signal reads, the random
//! generator, handler registration) asks [`RunState::refuse_in_query`] first, which records the
//! attempt and makes that operation do nothing, and the query then fails with what was tried.

use super::state::RunState;
use crate::message::Query;
use crate::payload::{self, Payload, PayloadError};
use crate::proto::common::Payload as RawPayload;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt::Display;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The name of the query other SDKs answer with the workflow's stack trace.
pub(crate) const STACK_TRACE_QUERY: &str = "__stack_trace";

/// A handler with its types erased: the query's argument payloads in, the answer's out, or
/// the failure's message.
type ErasedHandler = Box<dyn Fn(&[RawPayload]) -> Result<Vec<RawPayload>, String> + Send>;

/// The run's query handlers and whether one is answering now.
#[derive(Default)]
pub(crate) struct QueryHandlers {
    handlers: HashMap<String, ErasedHandler>,
    /// The query being answered, if one is.
    answering: Option<String>,
    /// What the handler answering now tried that would have changed the run (the first thing).
    refused: Option<String>,
}

impl std::fmt::Debug for QueryHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryHandlers")
            .field("names", &self.names())
            .field("answering", &self.answering)
            .finish()
    }
}

impl QueryHandlers {
    /// The registered names, sorted.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

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
    let erased: ErasedHandler = Box::new(move |args: &[RawPayload]| {
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
            super::executor::panic_message(&panic)
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
