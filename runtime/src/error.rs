//! The errors workflow and activity code sees. Both [`WorkflowError`] and [`ActivityError`] work
//! like `anyhow::Error`: any `std::error::Error` converts into them with `?`, and they remember
//! whether the failure is, or wraps, a cancellation, which decides a run's close status.

use std::error::Error as StdError;
use std::fmt;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A cancellation: of the workflow, of an activity, or of a timer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Cancelled {
    /// What was cancelled, for people.
    pub message: String,
}

impl Cancelled {
    /// A cancellation with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// An application failure carrying a message, a type name and whether it may be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApplicationFailure {
    /// The failure's message.
    pub message: String,
    /// A type name for the failure (matched by `non_retryable_error_types`).
    pub type_name: String,
    /// Whether the retry policy must not retry it.
    pub non_retryable: bool,
}

/// How an activity call failed, as the workflow sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("activity `{activity_type}` (id {activity_id}) {reason}")]
pub struct ActivityFailed {
    /// The activity type.
    pub activity_type: String,
    /// The activity id in the workflow.
    pub activity_id: String,
    /// What happened, for people: "failed: ...", "timed out (heartbeat)".
    pub reason: String,
}

/// Writes an error and its sources, `outer: inner: innermost`.
fn fmt_chain(err: &(dyn StdError + 'static), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{err}")?;
    let mut cur = err.source();
    while let Some(e) = cur {
        write!(f, ": {e}")?;
        cur = e.source();
    }
    Ok(())
}

/// Walks an error chain looking for a [`Cancelled`].
fn chain_is_cancelled(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<Cancelled>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The error type of workflow bodies: `WorkflowResult<T>` is `Result<T, WorkflowError>`.
///
/// A body that returns an error which is, or wraps, a [`Cancelled`] closes its run as Canceled;
/// any other error closes it as Failed.
pub struct WorkflowError(BoxError);

/// The result type of workflow bodies.
pub type WorkflowResult<T> = Result<T, WorkflowError>;

impl WorkflowError {
    /// An application failure with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(Box::new(ApplicationFailure {
            message: message.to_string(),
            type_name: "WorkflowError".to_string(),
            non_retryable: false,
        }))
    }

    /// A cancellation error.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self(Box::new(Cancelled::new(message)))
    }

    /// Whether this error is, or wraps, a cancellation.
    pub fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self.0.as_ref())
    }

    /// The underlying error, if it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }

    /// The underlying error.
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.0.as_ref()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for WorkflowError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_chain(self.0.as_ref(), f)
    }
}

impl fmt::Debug for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error type of activity bodies.
///
/// `?` converts any `std::error::Error` into a retryable failure. [`ActivityError::cancelled`] (what
/// `ctx.heartbeat` and `ctx.sleep` return once a cancel arrives) reports that the activity stopped
/// because of a cancel; [`ActivityError::non_retryable`] stops the retries.
pub struct ActivityError(BoxError);

impl ActivityError {
    /// A retryable failure with this message.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Self(Box::new(ApplicationFailure {
            message: message.to_string(),
            type_name: "ActivityError".to_string(),
            non_retryable: false,
        }))
    }

    /// A failure the retry policy will not retry.
    pub fn non_retryable(message: impl fmt::Display) -> Self {
        Self(Box::new(ApplicationFailure {
            message: message.to_string(),
            type_name: "ActivityError".to_string(),
            non_retryable: true,
        }))
    }

    /// A cancellation: the activity stopped because a cancel reached it.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self(Box::new(Cancelled::new(message)))
    }

    /// Whether this error is, or wraps, a cancellation.
    pub fn is_cancelled(&self) -> bool {
        chain_is_cancelled(self.0.as_ref())
    }

    /// Whether the retry policy must not retry this failure.
    pub fn is_non_retryable(&self) -> bool {
        self.0
            .downcast_ref::<ApplicationFailure>()
            .is_some_and(|a| a.non_retryable)
    }

    /// The failure's type name, as matched by `non_retryable_error_types`.
    pub fn type_name(&self) -> String {
        match self.0.downcast_ref::<ApplicationFailure>() {
            Some(a) => a.type_name.clone(),
            None => "ActivityError".to_string(),
        }
    }

    /// The underlying error, if it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref::<E>()
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for ActivityError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl fmt::Display for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_chain(self.0.as_ref(), f)
    }
}

impl fmt::Debug for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] Cancelled);

    #[test]
    fn cancellation_is_found_through_wrappers() {
        assert!(WorkflowError::cancelled("x").is_cancelled());
        assert!(WorkflowError::from(Wrapper(Cancelled::new("c"))).is_cancelled());
        assert!(!WorkflowError::msg("boom").is_cancelled());
        assert!(ActivityError::cancelled("x").is_cancelled());
        assert!(ActivityError::non_retryable("x").is_non_retryable());
        assert!(!ActivityError::from(std::io::Error::other("io")).is_non_retryable());
    }
}
