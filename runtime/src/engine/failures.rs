//! What the engine writes under its own name: that name ([`ENGINE_IDENTITY`]), which it puts on
//! the events it produces itself, and the failures it reports itself (a server failure for a
//! rejected workflow task, an activity timeout).

use crate::proto::common::Payloads;
use crate::proto::enums::TimeoutType;
use crate::proto::failure::{Failure, ServerFailureInfo, TimeoutFailureInfo, failure::FailureInfo};

/// Identity the engine writes on events it produces itself.
pub(crate) const ENGINE_IDENTITY: &str = "dacapo-engine";

/// A failure as the server reports it.
pub(crate) fn server_failure(message: &str) -> Failure {
    Failure {
        message: message.to_string(),
        source: ENGINE_IDENTITY.to_string(),
        failure_info: Some(FailureInfo::ServerFailureInfo(ServerFailureInfo {
            non_retryable: false,
        })),
        ..Default::default()
    }
}

/// A timeout the engine reports: `kind` passed, with the last heartbeat's details if any.
pub(crate) fn timeout_failure(
    message: String,
    kind: TimeoutType,
    details: Option<Payloads>,
) -> Failure {
    Failure {
        message,
        source: ENGINE_IDENTITY.to_string(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: kind as i32,
            last_heartbeat_details: details,
        })),
        ..Default::default()
    }
}
