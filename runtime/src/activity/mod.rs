//! Activity side of the SDK: the context activity code uses (heartbeats, cancellation, info),
//! the trait an activity implements, and the options an activity call carries.

pub(crate) mod context;
pub(crate) mod definition;
mod options;

pub use context::{ActivityContext, ActivityInfo, TestActivityHandle};
pub use options::{ActivityOptions, Cancellation, RetryPolicy};
