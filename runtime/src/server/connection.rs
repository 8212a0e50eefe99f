//! One client connection: its TLS handshake and HTTP/2 preface within the handshake timeout,
//! then HTTP/2 with a cap on concurrent streams and keep-alive pings, closed with a GOAWAY
//! once it has had no call in flight for the idle time, or when the server shuts down. Each
//! call takes one of the server's call slots, or is refused at once.

use super::body::{BodyLimits, RequestBody};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
#[cfg(feature = "tls")]
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpConnectInfo;
use tower_service::Service;

/// The HTTP/2 connection preface: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_BYTES: usize = 24;

/// What every connection of a server shares.
pub(super) struct Shared {
    pub(super) routes: Routes,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    pub(super) body: Arc<BodyLimits>,
    /// One permit per call in flight, over all connections.
    pub(super) calls: Arc<Semaphore>,
    pub(super) max_calls_in_flight: usize,
    pub(super) handshake_timeout: Duration,
    pub(super) max_connection_idle: Duration,
    pub(super) local_addr: SocketAddr,
}

/// Serves the connection `tcp` from `remote` until it closes, is closed for being stalled or
/// idle, or `shutdown` is cancelled (then in-flight calls finish first).
pub(super) async fn serve(
    tcp: TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let deadline = Instant::now() + shared.handshake_timeout;
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        return serve_tls(tls, tcp, remote, deadline, &shared, shutdown).await;
    }
    serve_http2(tcp, remote, deadline, &shared, shutdown).await
}

/// Serves the connection `tcp` over TLS, once its handshake completes by `deadline`.
#[cfg(feature = "tls")]
async fn serve_tls(
    tls: &TlsAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
    deadline: Instant,
    shared: &Shared,
    shutdown: CancellationToken,
) {
    let accepted = tokio::select! {
        _ = shutdown.cancelled() => return,
        accepted = tokio::time::timeout_at(deadline, tls.accept(tcp)) => accepted,
    };
    match accepted {
        Ok(Ok(stream)) => serve_http2(stream, remote, deadline, shared, shutdown).await,
        Ok(Err(e)) => tracing::debug!(%remote, "closed a connection: TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(
            %remote,
            "closed a connection: no TLS handshake within {}",
            humantime::format_duration(shared.handshake_timeout)
        ),
    }
}

async fn serve_http2<IO>(
    io: IO,
    remote: SocketAddr,
    deadline: Instant,
    shared: &Shared,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let preface_seen = Arc::new(AtomicBool::new(false));
    let activity = Arc::new(Activity::new());
    let service = ConnectionService {
        routes: shared.routes.clone(),
        body: shared.body.clone(),
        calls: shared.calls.clone(),
        max_calls_in_flight: shared.max_calls_in_flight,
        activity: activity.clone(),
        info: TcpConnectInfo {
            local_addr: Some(shared.local_addr),
            remote_addr: Some(remote),
        },
    };
    let io = TokioIo::new(PrefaceWatch {
        io,
        read: 0,
        seen: preface_seen.clone(),
    });
    let mut conn = pin!(shared.http2.serve_connection(io, service));
    let mut handshake = pin!(tokio::time::sleep_until(deadline));
    let mut handshaking = true;
    let idle_time = shared.max_connection_idle;
    let mut idle = pin!(tokio::time::sleep(idle_time));
    let mut closing = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%remote, "connection ended: {e}");
                }
                return;
            }
            _ = &mut handshake, if handshaking => {
                if !preface_seen.load(Ordering::Acquire) {
                    tracing::debug!(
                        %remote,
                        "closed a connection: no HTTP/2 preface within {}",
                        humantime::format_duration(shared.handshake_timeout)
                    );
                    return;
                }
                handshaking = false;
            }
            _ = &mut idle, if !closing => match activity.idle_for() {
                Some(idle_for) if idle_for >= idle_time => {
                    tracing::debug!(%remote, "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                Some(idle_for) => idle.as_mut().reset(Instant::now() + (idle_time - idle_for)),
                None => idle.as_mut().reset(Instant::now() + idle_time),
            },
            _ = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The calls in flight on a connection, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<std::time::Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(std::time::Instant::now()),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// How long the connection has had no call in flight; `None` while it has one.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.idle_since.lock().elapsed())
    }
}

/// One call in flight, from its request headers until its answer has been sent or dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock() = std::time::Instant::now();
        }
    }
}

/// The routes of the server, for one connection: every request body held to the body
/// limits, every call counted in flight.
#[derive(Clone)]
struct ConnectionService {
    routes: Routes,
    body: Arc<BodyLimits>,
    calls: Arc<Semaphore>,
    max_calls_in_flight: usize,
    activity: Arc<Activity>,
    info: TcpConnectInfo,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let Ok(slot) = self.calls.clone().try_acquire_owned() else {
            // Refused before its body is read: dropping the request resets its stream.
            let status = tonic::Status::resource_exhausted(format!(
                "{} calls are in flight, the most this server takes at once \
                 (max_calls_in_flight, `dacapo server --max-calls-in-flight`): retry shortly",
                self.max_calls_in_flight
            ));
            let response = status.into_http::<tonic::body::Body>();
            return Box::pin(std::future::ready(Ok(response.map(|inner| ResponseBody {
                inner,
                _call: (in_flight, None),
            }))));
        };
        let (mut parts, body) = request.into_parts();
        // What tonic's own server puts there, for `Request::remote_addr`.
        parts.extensions.insert(self.info.clone());
        let request = Request::from_parts(parts, RequestBody::new(body, self.body.clone()));
        let mut routes = self.routes.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| {
                Service::<Request<RequestBody<Incoming>>>::poll_ready(&mut routes, cx)
            })
            .await?;
            let response = routes.call(request).await?;
            Ok(response.map(|inner| ResponseBody {
                inner,
                _call: (in_flight, Some(slot)),
            }))
        })
    }
}

/// An answer's body; the call stays in flight, on its connection and on the server, until
/// it is sent or dropped.
struct ResponseBody {
    inner: tonic::body::Body,
    _call: (InFlight, Option<OwnedSemaphorePermit>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream, noting when the client has sent its HTTP/2 preface.
struct PrefaceWatch<IO> {
    io: IO,
    read: usize,
    seen: Arc<AtomicBool>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceWatch<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        if self.read < PREFACE_BYTES {
            self.read += buf.filled().len() - before;
            if self.read >= PREFACE_BYTES {
                self.seen.store(true, Ordering::Release);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefaceWatch<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
