//! The loop both kinds of poller run, with the back-off after a failed poll.

use super::inner::WorkerInner;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The loop both kinds of poller run: wait for a free slot of `limit`, poll (`poll` sends one
/// request), and hand each task to `run` with its slot; an empty answer (the long poll ran out)
/// polls again, a failed one backs off. Returns at shutdown, or when `limit` is closed.
pub(crate) async fn poll_tasks<T, Fut>(
    w: &WorkerInner,
    what: &str,
    limit: &Arc<Semaphore>,
    mut poll: impl FnMut() -> Fut,
    task_token: fn(&T) -> &[u8],
    mut run: impl FnMut(T, OwnedSemaphorePermit),
) where
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut backoff = PollBackoff::new();
    loop {
        let permit = tokio::select! {
            _ = w.shutdown.cancelled() => return,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let polled = tokio::select! {
            _ = w.shutdown.cancelled() => return,
            r = poll() => r,
        };
        match polled {
            Ok(resp) => {
                backoff.reset();
                let task = resp.into_inner();
                if !task_token(&task).is_empty() {
                    run(task, permit);
                }
            }
            Err(status) => {
                if !backoff.after_error(w, what, status).await {
                    return;
                }
            }
        }
    }
}

/// The pause between failed polls: 50 ms, doubling to at most 5 s, reset by a good poll.
struct PollBackoff(Duration);

impl PollBackoff {
    const FIRST: Duration = Duration::from_millis(50);

    fn new() -> Self {
        Self(Self::FIRST)
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }

    /// Logs a failed poll and waits before the next one. False when the worker is shutting down.
    async fn after_error(&mut self, w: &WorkerInner, what: &str, status: tonic::Status) -> bool {
        tracing::warn!(task_queue = %w.task_queue, "polling for {what} tasks failed: {status}");
        tokio::select! {
            _ = w.shutdown.cancelled() => return false,
            _ = tokio::time::sleep(self.0) => {}
        }
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        true
    }
}
