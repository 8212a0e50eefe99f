//! What a request body may cost while it arrives.
//!
//! tonic's decoder reserves a buffer of the length a gRPC message header announces and fills
//! it as DATA frames come in; nothing bounds how many such buffers wait for the rest of their
//! message. [`RequestBody`] sits between hyper and tonic and reads the same 5-byte headers:
//! a message over the size limit is refused before anything is buffered, every message holds
//! a reservation of its announced length from a server-wide [`Budget`] until its body is
//! dropped, and a body that has not fully arrived by its deadline is ended with an error
//! (tonic answers it, hyper resets the stream, and its buffer is freed).

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tonic::Status;

/// The gRPC message header: a compression flag and a big-endian length.
const HEADER_BYTES: usize = 5;

/// The bytes that request messages still arriving may hold together.
#[derive(Debug)]
pub(super) struct Budget {
    limit: usize,
    held: AtomicUsize,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    /// Reserves `bytes`, or answers how many are held already.
    fn try_reserve(self: &Arc<Self>, bytes: usize) -> Result<Reservation, usize> {
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            let total = held.saturating_add(bytes);
            if total > self.limit {
                return Err(held);
            }
            match self
                .held
                .compare_exchange_weak(held, total, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Reservation {
                        budget: self.clone(),
                        bytes,
                    });
                }
                Err(now) => held = now,
            }
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// Bytes of a [`Budget`], given back on drop.
#[derive(Debug)]
struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The limits every request body of a server is held to.
#[derive(Debug)]
pub(super) struct BodyLimits {
    pub(super) max_message_bytes: usize,
    pub(super) budget: Arc<Budget>,
    pub(super) timeout: Duration,
}

/// A request body held to [`BodyLimits`]; its errors are the statuses the client gets.
pub(super) struct RequestBody<B> {
    inner: B,
    limits: Arc<BodyLimits>,
    /// Until the body has arrived whole; `None` after.
    deadline: Option<Pin<Box<Sleep>>>,
    header: [u8; HEADER_BYTES],
    header_read: usize,
    /// Bytes of the current message still to come.
    message_left: usize,
    reservation: Option<Reservation>,
    failed: bool,
}

impl<B> RequestBody<B> {
    pub(super) fn new(inner: B, limits: Arc<BodyLimits>) -> Self {
        let deadline = Some(Box::pin(tokio::time::sleep(limits.timeout)));
        RequestBody {
            inner,
            limits,
            deadline,
            header: [0; HEADER_BYTES],
            header_read: 0,
            message_left: 0,
            reservation: None,
            failed: false,
        }
    }

    /// Follows the gRPC framing through `data`; refuses a message over the size limit or
    /// past the budget as soon as its header is in.
    fn track(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.message_left > 0 {
                let take = self.message_left.min(data.len());
                self.message_left -= take;
                data.advance(take);
                continue;
            }
            let take = (HEADER_BYTES - self.header_read).min(data.len());
            self.header[self.header_read..self.header_read + take].copy_from_slice(&data[..take]);
            self.header_read += take;
            data.advance(take);
            if self.header_read == HEADER_BYTES {
                self.header_read = 0;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.start_message(len)?;
            }
        }
        Ok(())
    }

    fn start_message(&mut self, len: usize) -> Result<(), Status> {
        let limits = &self.limits;
        if len > limits.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "the request message is {len} bytes, over this server's limit of {} bytes \
                 (max_message_bytes, `dacapo server --max-message-bytes`)",
                limits.max_message_bytes
            )));
        }
        // The previous message of this body has been handed on whole.
        self.reservation = None;
        let reservation = limits.budget.try_reserve(len).map_err(|held| {
            Status::resource_exhausted(format!(
                "the server holds {held} bytes of requests still arriving; this one \
                 ({len} bytes) would pass its limit of {} bytes (max_pending_request_bytes, \
                 `dacapo server --max-pending-request-bytes`): retry shortly",
                limits.budget.limit
            ))
        })?;
        self.reservation = Some(reservation);
        self.message_left = len;
        Ok(())
    }

    fn fail(&mut self, status: Status) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.failed = true;
        self.deadline = None;
        self.reservation = None;
        Poll::Ready(Some(Err(status)))
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = this.track(data)
                {
                    return this.fail(status);
                }
                if this.inner.is_end_stream() {
                    this.deadline = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.deadline = None;
                Poll::Ready(Some(Err(Status::from_error(e.into()))))
            }
            Poll::Ready(None) => {
                this.deadline = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    let status = Status::deadline_exceeded(format!(
                        "the request body did not arrive within {} (request_body_timeout, \
                         `dacapo server --request-body-timeout`)",
                        humantime::format_duration(this.limits.timeout)
                    ));
                    return this.fail(status);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of fixed chunks, then pending forever (a stalled client).
    struct Chunks(Vec<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(Frame::data(self.0.remove(0)))))
            }
        }
    }

    fn limits(max_message_bytes: usize, budget: usize) -> Arc<BodyLimits> {
        Arc::new(BodyLimits {
            max_message_bytes,
            budget: Budget::new(budget),
            timeout: Duration::from_secs(3600),
        })
    }

    fn header(len: u32) -> Vec<u8> {
        let mut h = vec![0];
        h.extend(len.to_be_bytes());
        h
    }

    async fn next(body: &mut RequestBody<Chunks>) -> Result<Bytes, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx))
            .await
            .expect("a frame")
            .map(|f| f.into_data().expect("data"))
    }

    #[tokio::test]
    async fn a_message_holds_its_announced_length_until_the_body_goes() {
        let limits = limits(100, 1000);
        // A header split across frames, then part of the message.
        let chunks = vec![
            Bytes::from(header(60)[..2].to_vec()),
            Bytes::from(header(60)[2..].to_vec()),
            Bytes::from(vec![1; 30]),
        ];
        let mut body = RequestBody::new(Chunks(chunks), limits.clone());
        next(&mut body).await.unwrap();
        assert_eq!(limits.budget.held(), 0);
        next(&mut body).await.unwrap();
        assert_eq!(limits.budget.held(), 60);
        next(&mut body).await.unwrap();
        assert_eq!(limits.budget.held(), 60);
        drop(body);
        assert_eq!(limits.budget.held(), 0);
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_resource_exhausted() {
        let limits = limits(100, 1000);
        let mut body = RequestBody::new(Chunks(vec![Bytes::from(header(101))]), limits.clone());
        let status = next(&mut body).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("100 bytes"),
            "{}",
            status.message()
        );
        assert_eq!(limits.budget.held(), 0);
    }

    #[tokio::test]
    async fn past_the_budget_a_message_is_refused_and_its_room_stays_free() {
        let limits = limits(100, 150);
        let mut first = RequestBody::new(Chunks(vec![Bytes::from(header(100))]), limits.clone());
        next(&mut first).await.unwrap();
        let mut second = RequestBody::new(Chunks(vec![Bytes::from(header(60))]), limits.clone());
        let status = next(&mut second).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("max_pending_request_bytes"),
            "{}",
            status.message()
        );
        assert_eq!(limits.budget.held(), 100);
        drop(first);
        let mut third = RequestBody::new(Chunks(vec![Bytes::from(header(60))]), limits.clone());
        next(&mut third).await.unwrap();
        assert_eq!(limits.budget.held(), 60);
    }

    #[tokio::test]
    async fn a_body_that_stalls_ends_at_its_deadline() {
        let limits = Arc::new(BodyLimits {
            max_message_bytes: 100,
            budget: Budget::new(1000),
            timeout: Duration::from_millis(200),
        });
        let mut body = RequestBody::new(Chunks(vec![Bytes::from(header(50))]), limits.clone());
        next(&mut body).await.unwrap();
        let status = next(&mut body).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(status.message().contains("200ms"), "{}", status.message());
        assert_eq!(limits.budget.held(), 0);
    }
}
