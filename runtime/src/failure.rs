//! Failures as the wire carries them: the application failure a worker reports, and a failure
//! chain as one line of text for the client's errors.

use crate::proto::failure::{ApplicationFailureInfo, Failure, failure::FailureInfo};

/// An application failure as the wire carries it.
pub(crate) fn application_failure(message: &str, type_name: &str, non_retryable: bool) -> Failure {
    Failure {
        message: message.to_string(),
        source: "dacapo".to_string(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: type_name.to_string(),
                non_retryable,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// A failure's message with its causes.
pub(crate) fn failure_text(f: Option<&Failure>) -> String {
    let mut parts = Vec::new();
    let mut cur = f;
    while let Some(f) = cur {
        let mut part = f.message.clone();
        if let Some(FailureInfo::TimeoutFailureInfo(t)) = &f.failure_info {
            let kind = crate::proto::enums::TimeoutType::try_from(t.timeout_type)
                .map(|k| format!("{k:?}"))
                .unwrap_or_default();
            if part.is_empty() {
                part = format!("{kind} timeout");
            }
        }
        if !part.is_empty() {
            parts.push(part);
        }
        cur = f.cause.as_deref();
    }
    if parts.is_empty() {
        "no details".to_string()
    } else {
        parts.join(": ")
    }
}
