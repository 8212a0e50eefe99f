//! Activity options: timeouts, retry policy, cancellation type, task queue. An `#[activity]`
//! attribute sets the defaults; `ctx.activity(..)` call-site builders override them.

use std::time::Duration;

/// What a workflow does with an activity when its context is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cancellation {
    /// Request the cancel and resolve the call at once with a cancelled error.
    #[default]
    TryCancel,
    /// Request the cancel and wait for the activity to close; if it finishes anyway, the call
    /// returns its real result.
    WaitCompleted,
    /// Resolve at once with a cancelled error and never tell the activity.
    Abandon,
}

/// How failed activity attempts are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial_interval: Duration,
    /// Each delay is the previous one times this.
    pub backoff_coefficient: f64,
    /// The longest delay; `None` means 100 x `initial_interval`.
    pub maximum_interval: Option<Duration>,
    /// Attempts in all, the first included; 0 means unlimited.
    pub maximum_attempts: i32,
    /// Failure type names that are never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: None,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// Options for one activity call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivityOptions {
    /// Longest time one attempt may run.
    pub start_to_close_timeout: Option<Duration>,
    /// Longest time from scheduling to the final close, retries included.
    pub schedule_to_close_timeout: Option<Duration>,
    /// Longest time the task may wait in its queue.
    pub schedule_to_start_timeout: Option<Duration>,
    /// An attempt that does not heartbeat within this time times out.
    pub heartbeat_timeout: Option<Duration>,
    /// The retry policy; `None` uses the server's default (unlimited, 1 s, x2, 100 s max).
    pub retry_policy: Option<RetryPolicy>,
    /// What a cancel of the calling context does.
    pub cancellation: Cancellation,
    /// The task queue; `None` means the workflow's own.
    pub task_queue: Option<String>,
}

impl ActivityOptions {
    /// Sets the start-to-close timeout.
    pub fn start_to_close(mut self, d: Duration) -> Self {
        self.start_to_close_timeout = Some(d);
        self
    }
    /// Sets the schedule-to-close timeout.
    pub fn schedule_to_close(mut self, d: Duration) -> Self {
        self.schedule_to_close_timeout = Some(d);
        self
    }
    /// Sets the schedule-to-start timeout.
    pub fn schedule_to_start(mut self, d: Duration) -> Self {
        self.schedule_to_start_timeout = Some(d);
        self
    }
    /// Sets the heartbeat timeout.
    pub fn heartbeat_timeout(mut self, d: Duration) -> Self {
        self.heartbeat_timeout = Some(d);
        self
    }
    /// Sets the whole retry policy.
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.retry_policy = Some(p);
        self
    }
    /// Sets the cancellation type.
    pub fn cancellation(mut self, c: Cancellation) -> Self {
        self.cancellation = c;
        self
    }
    /// Sets the task queue.
    pub fn task_queue(mut self, q: impl Into<String>) -> Self {
        self.task_queue = Some(q.into());
        self
    }
    fn policy(&mut self) -> &mut RetryPolicy {
        self.retry_policy.get_or_insert_with(RetryPolicy::default)
    }
    /// Sets the retry policy's maximum attempts (0: unlimited, 1: no retries).
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.policy().maximum_attempts = n;
        self
    }
    /// Sets the retry policy's initial interval.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.policy().initial_interval = d;
        self
    }
    /// Sets the retry policy's backoff coefficient.
    pub fn backoff_coefficient(mut self, c: f64) -> Self {
        self.policy().backoff_coefficient = c;
        self
    }
    /// Sets the retry policy's maximum interval.
    pub fn maximum_interval(mut self, d: Duration) -> Self {
        self.policy().maximum_interval = Some(d);
        self
    }
    /// Adds a failure type that is never retried.
    pub fn non_retryable_error_type(mut self, t: impl Into<String>) -> Self {
        self.policy().non_retryable_error_types.push(t.into());
        self
    }
}
