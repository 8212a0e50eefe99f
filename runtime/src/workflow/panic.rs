//! The text of a caught panic, for the failure that reports it.

/// What a panic's payload says: its message when it is a string, else a note that it is not.
pub(crate) fn message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
