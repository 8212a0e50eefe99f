//! Wall-clock time as the engine records it: Unix milliseconds, converted to and from the wire's
//! `Timestamp` and `Duration`.

use prost_wkt_types::{Duration, Timestamp};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A wire timestamp for Unix milliseconds.
pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A wire timestamp, or none for 0 ("not set").
pub(crate) fn opt_ts(ms: i64) -> Option<Timestamp> {
    (ms > 0).then(|| ts(ms))
}

/// A wire duration for milliseconds.
pub(crate) fn dur(ms: i64) -> Duration {
    Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A wire duration, or none for 0 ("not set").
pub(crate) fn opt_dur(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| dur(ms))
}

/// Durations are capped at about a century, so that adding one to a timestamp cannot overflow.
const MAX_DURATION_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// Milliseconds of a wire duration, capped at about a century; sub-millisecond durations round
/// up so that "set" stays set.
///
/// # Errors
/// A negative or malformed duration gives a message naming `field`.
pub(crate) fn duration_ms(d: &Option<Duration>, field: &str) -> Result<i64, String> {
    let Some(d) = d else { return Ok(0) };
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(format!(
            "{field} is not a valid non-negative duration ({}s {}ns)",
            d.seconds, d.nanos
        ));
    }
    let ms = d
        .seconds
        .saturating_mul(1000)
        .saturating_add((i64::from(d.nanos) + 999_999) / 1_000_000);
    Ok(ms.min(MAX_DURATION_MS))
}

static LAST_TASK_ID: AtomicI64 = AtomicI64::new(0);

/// A fresh, strictly increasing id for a history event's `task_id`. Seeded from the clock (in
/// microseconds) so that ids keep increasing across restarts of the process.
pub(crate) fn next_task_id() -> i64 {
    let floor = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let mut last = LAST_TASK_ID.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last + 1);
        match LAST_TASK_ID.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}
