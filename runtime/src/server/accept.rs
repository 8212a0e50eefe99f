//! The accept loop: at most `max_connections` connections at once (past that, a new one is
//! closed at once and logged), accept errors logged at a bounded rate and survived, and on
//! shutdown every connection asked to finish before the loop returns.

use super::connection::{self, Shared};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The least time between two log lines about the same trouble.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long to wait after an accept error that does not go away by itself (no file
/// descriptor free): the listener stays readable, so retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts and serves connections on `listener` until `shutdown` resolves, then waits for
/// the open connections to finish.
pub(super) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let mut refused = RateLimited::default();
    let mut failing = RateLimited::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, remote)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    if let Some(more) = refused.due() {
                        tracing::warn!(
                            "refused a connection from {remote}: {max_connections} connections \
                             are open, the most this server serves at once (max_connections, \
                             `dacapo server --max-connections`){}",
                            more_since(more)
                        );
                    }
                    continue;
                };
                // Without TCP_NODELAY, small answers wait on the peer's delayed ACK.
                let _ = tcp.set_nodelay(true);
                let shared = shared.clone();
                let closing = closing.clone();
                connections.spawn(async move {
                    connection::serve(tcp, remote, shared, closing).await;
                    drop(slot);
                });
            }
            Err(e) if is_transient(&e) => {
                tracing::debug!("a connection failed while it was accepted: {e}");
            }
            Err(e) => {
                if let Some(more) = failing.due() {
                    if is_out_of_descriptors(&e) {
                        tracing::warn!(
                            "could not accept a connection: {e}: the process has no file \
                             descriptors left; raise its limit (`ulimit -n`) or lower \
                             --max-connections; the open connections are still served{}",
                            more_since(more)
                        );
                    } else {
                        tracing::warn!(
                            "could not accept a connection: {e}; retrying{}",
                            more_since(more)
                        );
                    }
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// Errors of one connection that came and went, not of the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

#[cfg(unix)]
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(not(unix))]
fn is_out_of_descriptors(_: &io::Error) -> bool {
    false
}

fn more_since(more: u64) -> String {
    if more == 0 {
        String::new()
    } else {
        format!(" ({more} more since the last message)")
    }
}

/// At most one log line per [`LOG_EVERY`], counting the ones left out.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    left_out: u64,
}

impl RateLimited {
    /// `Some(left out since the last line)` when a line is due now.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < LOG_EVERY => {
                self.left_out += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.left_out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_and_a_count_of_the_rest() {
        let mut log = RateLimited::default();
        assert_eq!(log.due(), Some(0));
        assert_eq!(log.due(), None);
        assert_eq!(log.due(), None);
        log.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(log.due(), Some(2));
    }
}
