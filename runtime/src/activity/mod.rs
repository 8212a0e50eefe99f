//! Activity side of the SDK: the context activity code uses (heartbeats, cancellation, info)
//! and the options an activity call carries.

pub(crate) mod context;
mod options;

pub use context::{ActivityContext, ActivityInfo, TestActivityHandle};
pub use options::{ActivityOptions, Cancellation, RetryPolicy};
