//! What the code `#[workflow]` and `#[activity]` generate implements: the two definition traits,
//! each defined beside the context its body takes (`workflow::definition`,
//! `activity::definition`), and the boxed future their bodies return.

use std::future::Future;
use std::pin::Pin;

pub use crate::activity::definition::ActivityDefinition;
pub use crate::workflow::definition::WorkflowDefinition;

/// A boxed, `Send` future, as the generated code returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
