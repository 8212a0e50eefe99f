//! `WorkflowState<T>`: a value the workflow body shares with its query and update handlers.
//! The body changes it; a query handler only reads it (a change from a query handler is
//! refused, so that a query never changes the run).

use super::state::RunState;
use parking_lot::Mutex;
use std::sync::Arc;

/// A value shared by the workflow body and its handlers, from
/// [`WorkflowContext::state`](crate::WorkflowContext::state). Cheap to clone: every clone is
/// the same value.
///
/// ```
/// use dacapo::prelude::*;
///
/// pub const COUNT: Query<(), u32> = Query::new("count");
///
/// #[workflow]
/// async fn counter(ctx: WorkflowContext) -> WorkflowResult<u32> {
///     let count = ctx.state(0u32);
///     ctx.on_query(COUNT, {
///         let count = count.clone();
///         move |()| Ok::<_, String>(count.get())
///     });
///     count.update(|n| *n += 1);
///     Ok(count.get())
/// }
/// ```
///
/// # Determinism
/// The value lives only in the worker's memory; replay rebuilds it by running the body again.
/// Change it only from workflow code (the body and update handlers), never from outside the run.
///
/// # Panics
/// `update` and `with` hold the value's lock while their closure runs: calling this state's
/// methods from inside that closure deadlocks.
pub struct WorkflowState<T> {
    value: Arc<Mutex<T>>,
    run: Arc<Mutex<RunState>>,
}

impl<T> Clone for WorkflowState<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            run: self.run.clone(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for WorkflowState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WorkflowState")
            .field(&*self.value.lock())
            .finish()
    }
}

impl<T: Send + 'static> WorkflowState<T> {
    pub(crate) fn new(run: Arc<Mutex<RunState>>, init: T) -> Self {
        Self {
            value: Arc::new(Mutex::new(init)),
            run,
        }
    }

    /// A copy of the value.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.value.lock().clone()
    }

    /// Replaces the value.
    ///
    /// From a query handler this changes nothing and fails the query: queries must not change
    /// the workflow.
    pub fn set(&self, value: T) {
        if self.refused("set") {
            return;
        }
        *self.value.lock() = value;
    }

    /// Changes the value in place.
    ///
    /// From a query handler this changes nothing (the closure does not run) and fails the
    /// query: queries must not change the workflow.
    pub fn update(&self, change: impl FnOnce(&mut T)) {
        if self.refused("update") {
            return;
        }
        change(&mut self.value.lock());
    }

    /// Reads the value in place, without copying it, and returns what `read` returns.
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.value.lock())
    }

    /// Whether the run is answering a query, in which case the change `method` is refused.
    fn refused(&self, method: &str) -> bool {
        self.run.lock().refuse_in_query(&format!(
            "change workflow state (`WorkflowState::{method}`)"
        ))
    }
}
