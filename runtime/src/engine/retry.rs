//! Activity retry policies: the server defaults, validation, and when (and whether) the next
//! attempt runs. Mirrors Temporal: initial interval 1 s, coefficient 2, maximum interval 100x
//! the initial one, unlimited attempts; timeouts other than start-to-close and heartbeat, and
//! cancellations, are never retried.

use super::clock::{dur, duration_ms};
use crate::proto::common::RetryPolicy;
use crate::proto::enums::{RetryState, TimeoutType};
use crate::proto::failure::Failure;
use crate::proto::failure::failure::FailureInfo;

const DEFAULT_INITIAL_MS: i64 = 1_000;
const DEFAULT_COEFFICIENT: f64 = 2.0;
const DEFAULT_MAX_INTERVAL_FACTOR: i64 = 100;
/// Prefix of a `non_retryable_error_types` entry that names a timeout type.
const TIMEOUT_TYPE_PREFIX: &str = "TemporalTimeout:";

/// Fills unset fields with the server defaults and validates the result.
///
/// # Errors
/// A message saying which field is wrong.
pub(crate) fn normalize(policy: Option<RetryPolicy>) -> Result<RetryPolicy, String> {
    let mut p = policy.unwrap_or_default();
    let initial = duration_ms(&p.initial_interval, "retry_policy.initial_interval")?;
    let initial = if initial == 0 {
        DEFAULT_INITIAL_MS
    } else {
        initial
    };
    p.initial_interval = Some(dur(initial));
    let max = duration_ms(&p.maximum_interval, "retry_policy.maximum_interval")?;
    let max = if max == 0 {
        initial.saturating_mul(DEFAULT_MAX_INTERVAL_FACTOR)
    } else {
        max
    };
    p.maximum_interval = Some(dur(max));
    if p.backoff_coefficient == 0.0 {
        p.backoff_coefficient = DEFAULT_COEFFICIENT;
    }
    if p.maximum_attempts == 1 {
        return Ok(p);
    }
    if p.backoff_coefficient.is_nan() || p.backoff_coefficient < 1.0 {
        return Err("retry_policy.backoff_coefficient cannot be less than 1".into());
    }
    if max < initial {
        return Err("retry_policy.maximum_interval cannot be less than initial_interval".into());
    }
    if p.maximum_attempts < 0 {
        return Err("retry_policy.maximum_attempts cannot be negative".into());
    }
    for name in &p.non_retryable_error_types {
        if let Some(kind) = name.strip_prefix(TIMEOUT_TYPE_PREFIX)
            && timeout_type_named(kind).is_none()
        {
            return Err(format!(
                "retry_policy.non_retryable_error_types names an unknown timeout type \"{kind}\""
            ));
        }
    }
    Ok(p)
}

fn timeout_type_named(name: &str) -> Option<TimeoutType> {
    [
        TimeoutType::StartToClose,
        TimeoutType::ScheduleToStart,
        TimeoutType::ScheduleToClose,
        TimeoutType::Heartbeat,
    ]
    .into_iter()
    .find(|t| timeout_type_name(*t) == name)
}

/// The name Temporal uses for a timeout type in messages and `non_retryable_error_types`.
pub(crate) fn timeout_type_name(t: TimeoutType) -> &'static str {
    match t {
        TimeoutType::StartToClose => "StartToClose",
        TimeoutType::ScheduleToStart => "ScheduleToStart",
        TimeoutType::ScheduleToClose => "ScheduleToClose",
        TimeoutType::Heartbeat => "Heartbeat",
        TimeoutType::Unspecified => "Unspecified",
    }
}

/// Whether the policy lets `failure` be retried at all.
fn is_retryable(failure: Option<&Failure>, non_retryable: &[String]) -> bool {
    let Some(info) = failure.and_then(|f| f.failure_info.as_ref()) else {
        return true;
    };
    match info {
        FailureInfo::TerminatedFailureInfo(_) | FailureInfo::CanceledFailureInfo(_) => false,
        FailureInfo::TimeoutFailureInfo(t) => match TimeoutType::try_from(t.timeout_type) {
            Ok(kind @ (TimeoutType::StartToClose | TimeoutType::Heartbeat)) => {
                let name = format!("{TIMEOUT_TYPE_PREFIX}{}", timeout_type_name(kind));
                !non_retryable.contains(&name)
            }
            _ => false,
        },
        FailureInfo::ServerFailureInfo(s) => !s.non_retryable,
        FailureInfo::ApplicationFailureInfo(a) => {
            !a.non_retryable && !non_retryable.contains(&a.r#type)
        }
        _ => true,
    }
}

/// The outcome of a failed attempt under a retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Run attempt `attempt + 1` after this many milliseconds.
    Retry(i64),
    /// Stop; the activity closes with this retry state.
    Stop(RetryState),
}

/// Decides whether attempt `attempt` (from 1), which failed with `failure` at `now`, is retried.
/// `expiration_ms` is when the schedule-to-close timeout ends (0: never).
pub(crate) fn decide(
    policy: &RetryPolicy,
    attempt: i32,
    failure: Option<&Failure>,
    now: i64,
    expiration_ms: i64,
) -> Decision {
    if !is_retryable(failure, &policy.non_retryable_error_types) {
        return Decision::Stop(RetryState::NonRetryableFailure);
    }
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return Decision::Stop(RetryState::MaximumAttemptsReached);
    }
    let initial = duration_ms(&policy.initial_interval, "").unwrap_or(DEFAULT_INITIAL_MS);
    let max = duration_ms(&policy.maximum_interval, "").unwrap_or(0);
    let next_delay = failure
        .and_then(|f| match &f.failure_info {
            Some(FailureInfo::ApplicationFailureInfo(a)) => a.next_retry_delay,
            _ => None,
        })
        .and_then(|d| duration_ms(&Some(d), "").ok());
    let mut interval = match next_delay {
        Some(ms) => ms,
        None => {
            let exponent = f64::from(attempt.max(1) - 1);
            let value = initial as f64 * policy.backoff_coefficient.powf(exponent);
            if value.is_finite() && value < i64::MAX as f64 {
                value as i64
            } else {
                i64::MAX
            }
        }
    };
    if next_delay.is_none() && max > 0 && interval > max {
        interval = max;
    }
    if expiration_ms > 0 && now.saturating_add(interval) > expiration_ms {
        return Decision::Stop(RetryState::Timeout);
    }
    Decision::Retry(interval)
}

/// Back-off before workflow task attempt `attempt`: none for the first two, then
/// 2^(attempt-2) seconds, at most a minute.
pub(crate) fn workflow_task_backoff_ms(attempt: i32) -> i64 {
    if attempt < 3 {
        return 0;
    }
    let exp = u32::try_from(attempt - 2).unwrap_or(u32::MAX).min(16);
    (1_000_i64 << exp).min(60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_backoff() {
        let p = normalize(None).unwrap();
        assert_eq!(duration_ms(&p.initial_interval, "").unwrap(), 1_000);
        assert_eq!(duration_ms(&p.maximum_interval, "").unwrap(), 100_000);
        assert_eq!(decide(&p, 1, None, 0, 0), Decision::Retry(1_000));
        assert_eq!(decide(&p, 3, None, 0, 0), Decision::Retry(4_000));
        assert_eq!(decide(&p, 30, None, 0, 0), Decision::Retry(100_000));
        assert_eq!(
            decide(&p, 1, None, 0, 500),
            Decision::Stop(RetryState::Timeout)
        );
        assert_eq!(workflow_task_backoff_ms(2), 0);
        assert_eq!(workflow_task_backoff_ms(3), 2_000);
        assert_eq!(workflow_task_backoff_ms(4), 4_000);
        assert_eq!(workflow_task_backoff_ms(20), 60_000);
    }

    #[test]
    fn non_retryable_types() {
        let mut p = normalize(None).unwrap();
        p.non_retryable_error_types = vec!["Boom".into(), "TemporalTimeout:Heartbeat".into()];
        let app = |t: &str, nr: bool| Failure {
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                crate::proto::failure::ApplicationFailureInfo {
                    r#type: t.into(),
                    non_retryable: nr,
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let stop = Decision::Stop(RetryState::NonRetryableFailure);
        assert_eq!(decide(&p, 1, Some(&app("Boom", false)), 0, 0), stop);
        assert_eq!(decide(&p, 1, Some(&app("Other", true)), 0, 0), stop);
        assert_eq!(
            decide(&p, 1, Some(&app("Other", false)), 0, 0),
            Decision::Retry(1_000)
        );
        let timeout = |t: TimeoutType| Failure {
            failure_info: Some(FailureInfo::TimeoutFailureInfo(
                crate::proto::failure::TimeoutFailureInfo {
                    timeout_type: t as i32,
                    last_heartbeat_details: None,
                },
            )),
            ..Default::default()
        };
        assert_eq!(
            decide(&p, 1, Some(&timeout(TimeoutType::Heartbeat)), 0, 0),
            stop
        );
        assert_eq!(
            decide(&p, 1, Some(&timeout(TimeoutType::StartToClose)), 0, 0),
            Decision::Retry(1_000)
        );
        assert_eq!(
            decide(&p, 1, Some(&timeout(TimeoutType::ScheduleToStart)), 0, 0),
            stop
        );
        assert!(
            normalize(Some(RetryPolicy {
                backoff_coefficient: 0.5,
                ..Default::default()
            }))
            .is_err()
        );
    }
}
