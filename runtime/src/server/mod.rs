//! Serving a WorkflowService over gRPC with tonic: the engine of `dacapo server`, or an embedded
//! runtime's engine so that other processes (starters, the `temporal` CLI, any Temporal SDK
//! client) can reach it.
//!
//! The connection layer is our own (on hyper, as tonic's server is) so that nothing a client
//! sends holds the server's memory or connections for long: connections and their streams are
//! capped, and so are calls in flight over all of them; handshakes, idle connections and slow
//! request bodies time out; request bodies still arriving share one memory budget. Every limit is a field of [`ServeOptions`].

mod accept;
mod auth;
mod body;
mod connection;
mod shared_service;
mod unserved;

use crate::proto::{ServiceHandle, WorkflowServiceServer};
use body::{BodyLimits, Budget};
use connection::Shared;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use shared_service::SharedService;
use std::future::Future;
use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
#[cfg(feature = "tls")]
use tokio_rustls::TlsAcceptor;
#[cfg(feature = "tls")]
use tokio_rustls::rustls::ServerConfig;
#[cfg(feature = "tls")]
use tokio_rustls::rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How to serve, and the limits that keep clients from holding the server's memory and
/// connections. The defaults follow Temporal's frontend where it has a setting.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to bind; `127.0.0.1:7233` by default, so nothing outside the machine reaches
    /// it unless asked for.
    pub addr: SocketAddr,
    /// When set, every call must carry `authorization: Bearer KEY` (the scheme in any case).
    /// It must be something a client can send: not empty, visible ASCII.
    pub api_key: Option<String>,
    /// PEM certificate chain and private key files for TLS.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest request message accepted, in bytes; a larger one is refused with
    /// `RESOURCE_EXHAUSTED` before any of it is buffered. Default 4 MiB, what gRPC and
    /// Temporal's frontend accept.
    pub max_message_bytes: usize,
    /// Most connections served at once; past it a new connection is closed at once (and
    /// logged). Default 1,000. Each takes a file descriptor: keep it under the process's
    /// limit (`ulimit -n`).
    pub max_connections: usize,
    /// Most calls one connection may have in flight at once (HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); a client waits for a free one. Long polls hold one
    /// for up to a minute and a worker opens dozens on one connection, so this stays high.
    /// Default 1,000.
    pub max_concurrent_streams: u32,
    /// Most calls in flight at once over all connections (a stalled call costs the server
    /// about 10 KiB); past it a call is refused with `RESOURCE_EXHAUSTED` before its body is
    /// read. Default 5,000: the long polls of a few hundred workers (Temporal's frontend
    /// takes 1,200 long polls per method and namespace, `frontend.namespaceCount`).
    pub max_calls_in_flight: usize,
    /// Most bytes that all request messages still arriving may hold together. A message
    /// reserves its announced length when its header arrives and gives it back when its
    /// request has been read; one that does not fit is refused with `RESOURCE_EXHAUSTED`
    /// (clients retry it). Default 64 MiB: sixteen messages of the largest size at once, or
    /// thousands of ordinary ones.
    pub max_pending_request_bytes: usize,
    /// How long a request's body may take to arrive whole, from its headers; past it the call
    /// gets `DEADLINE_EXCEEDED` and its stream is reset. Default 30 s.
    pub request_body_timeout: Duration,
    /// How long a new connection has to complete its TLS handshake and send the HTTP/2
    /// connection preface; past it the connection is closed. Default 10 s.
    pub handshake_timeout: Duration,
    /// After this long without hearing from a client, the server pings it. Clients' own pings
    /// are answered whether or not a call is in flight. Default 1 minute (Temporal:
    /// `frontend.keepAliveTime`, `frontend.keepAlivePermitWithoutStream`).
    pub keepalive_time: Duration,
    /// How long a ping may go unanswered before the connection is closed. Default 10 s
    /// (Temporal: `frontend.keepAliveTimeout`).
    pub keepalive_timeout: Duration,
    /// A connection with no call in flight for this long is closed with a GOAWAY (clients
    /// reconnect when they need to). Default 2 minutes (Temporal:
    /// `frontend.keepAliveMaxConnectionIdle`).
    pub max_connection_idle: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7233)),
            api_key: None,
            #[cfg(feature = "tls")]
            tls: None,
            max_message_bytes: 4 * 1024 * 1024,
            max_connections: 1000,
            max_concurrent_streams: 1000,
            max_calls_in_flight: 5000,
            max_pending_request_bytes: 64 * 1024 * 1024,
            request_body_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            keepalive_time: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(10),
            max_connection_idle: Duration::from_secs(120),
        }
    }
}

impl ServeOptions {
    /// Checks that these options can serve anyone: an API key a client can send, limits
    /// that let at least one call through.
    ///
    /// # Errors
    /// [`ServeError::InvalidApiKey`] or [`ServeError::InvalidOption`], saying what to change.
    pub fn check(&self) -> Result<(), ServeError> {
        if let Some(key) = &self.api_key
            && let Some(reason) = auth::unusable_key_reason(key)
        {
            return Err(ServeError::InvalidApiKey { reason });
        }
        let invalid = |name: &'static str, message: &str| {
            Err(ServeError::InvalidOption {
                name,
                message: message.to_string(),
            })
        };
        for (name, value) in [
            ("max_message_bytes", self.max_message_bytes),
            ("max_connections", self.max_connections),
            (
                "max_concurrent_streams",
                self.max_concurrent_streams as usize,
            ),
            ("max_calls_in_flight", self.max_calls_in_flight),
        ] {
            if value == 0 {
                return invalid(name, "must be at least 1");
            }
            if value > Semaphore::MAX_PERMITS {
                return invalid(name, &format!("must be at most {}", Semaphore::MAX_PERMITS));
            }
        }
        if self.max_pending_request_bytes < self.max_message_bytes {
            return invalid(
                "max_pending_request_bytes",
                "must be at least max_message_bytes, or a message of the largest size could \
                 never be read",
            );
        }
        for (name, value) in [
            ("request_body_timeout", self.request_body_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("keepalive_time", self.keepalive_time),
            ("keepalive_timeout", self.keepalive_timeout),
            ("max_connection_idle", self.max_connection_idle),
        ] {
            if value.is_zero() {
                return invalid(name, "must be longer than zero");
            }
        }
        Ok(())
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A TLS file could not be read.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("could not read {path}: {source}")]
    ReadTls {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("the TLS certificate and key are unusable: {message}")]
    Tls {
        /// What is wrong with them.
        message: String,
    },
    /// The API key is one no client could send, so every call would be refused.
    #[error(
        "the API key cannot be used: {reason}; set a key of visible ASCII characters, or none \
         to serve without one"
    )]
    InvalidApiKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A limit of [`ServeOptions`] would let no call through.
    #[error("ServeOptions::{name} {message}")]
    InvalidOption {
        /// The field.
        name: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The transport failed (the address is in use, ...).
    #[error("could not serve on {addr}: {message}")]
    Transport {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        message: String,
    },
}

/// A server bound to its address, not yet serving. Binding first lets a caller learn the port
/// (bind to port 0 for a free one) and see "address in use" before anything starts.
pub struct BoundServer {
    service: ServiceHandle,
    options: ServeOptions,
    #[cfg(feature = "tls")]
    tls: Option<TlsAcceptor>,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    health: Option<tokio::sync::watch::Receiver<crate::engine::Health>>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Checks `options`, loads the TLS material and binds `options.addr` for `service`.
///
/// # Errors
/// [`ServeError::InvalidApiKey`] or [`ServeError::InvalidOption`] for options that could serve
/// no one, [`ServeError::ReadTls`] or [`ServeError::Tls`] for unusable TLS material, and
/// [`ServeError::Transport`] when the address cannot be bound.
pub async fn bind(
    service: ServiceHandle,
    options: ServeOptions,
) -> Result<BoundServer, ServeError> {
    options.check()?;
    #[cfg(feature = "tls")]
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let addr = options.addr;
    let listener =
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Transport {
                addr,
                message: e.to_string(),
            })?;
    let local_addr = listener.local_addr().map_err(|e| ServeError::Transport {
        addr,
        message: e.to_string(),
    })?;
    Ok(BoundServer {
        service,
        options,
        #[cfg(feature = "tls")]
        tls,
        listener,
        local_addr,
        health: None,
    })
}

/// A TLS acceptor for the PEM certificate chain in `cert` and private key in `key`, offering
/// HTTP/2 (ALPN `h2`).
#[cfg(feature = "tls")]
fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ServeError::ReadTls {
            path: path.to_path_buf(),
            source,
        })
    };
    let unusable = |message: String| ServeError::Tls { message };
    let chain = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(unusable(format!("no certificate in {}", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| unusable(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| unusable(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl BoundServer {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Reports `health` (an engine's [`Engine::health`](crate::engine::Engine::health))
    /// through the gRPC health service, for the WorkflowService and for the whole server
    /// (`""`): SERVING while the engine takes changes, NOT_SERVING while its store cannot
    /// write. Without it, both are SERVING for as long as the server runs.
    pub fn report_health(
        mut self,
        health: tokio::sync::watch::Receiver<crate::engine::Health>,
    ) -> Self {
        self.health = Some(health);
        self
    }

    /// Serves until `shutdown` resolves, then lets the calls in flight finish.
    ///
    /// # Errors
    /// None today: once bound, trouble with one connection or one accept is logged and
    /// served through. The `Result` leaves room for failures to come.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let options = self.options;
        let (health_reporter, health) = tonic_health::server::health_reporter();
        let health_task = tokio::spawn(report_health(health_reporter, self.health));
        let workflow_service = WorkflowServiceServer::new(SharedService(self.service))
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(usize::MAX)
            // Temporal's Go clients (the `temporal` CLI among them) send gzip.
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        let guarded = tonic::service::interceptor::InterceptedService::new(
            unserved::Unserved(workflow_service),
            auth::check_key(options.api_key.clone()),
        );
        let routes = tonic::service::Routes::new(health)
            .add_service(guarded)
            .prepare();
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(options.max_concurrent_streams)
            .keep_alive_interval(options.keepalive_time)
            .keep_alive_timeout(options.keepalive_timeout);
        let shared = Arc::new(Shared {
            routes,
            #[cfg(feature = "tls")]
            tls: self.tls,
            http2,
            body: Arc::new(BodyLimits {
                max_message_bytes: options.max_message_bytes,
                budget: Budget::new(options.max_pending_request_bytes),
                timeout: options.request_body_timeout,
            }),
            calls: Arc::new(Semaphore::new(options.max_calls_in_flight)),
            max_calls_in_flight: options.max_calls_in_flight,
            handshake_timeout: options.handshake_timeout,
            max_connection_idle: options.max_connection_idle,
            local_addr: self.local_addr,
        });
        accept::run(self.listener, shared, options.max_connections, shutdown).await;
        health_task.abort();
        Ok(())
    }
}

/// Keeps the health service's answers in step with `health`, when given.
async fn report_health(
    reporter: tonic_health::server::HealthReporter,
    health: Option<tokio::sync::watch::Receiver<crate::engine::Health>>,
) {
    use tonic_health::ServingStatus;
    const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";
    let Some(mut health) = health else {
        reporter
            .set_service_status(WORKFLOW_SERVICE, ServingStatus::Serving)
            .await;
        return;
    };
    loop {
        let status = if health.borrow_and_update().is_serving() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter.set_service_status(WORKFLOW_SERVICE, status).await;
        reporter.set_service_status("", status).await;
        if health.changed().await.is_err() {
            return;
        }
    }
}

/// Binds and serves `service` until `shutdown` resolves.
///
/// # Errors
/// [`ServeError`] when the options could serve no one, the address cannot be bound or the TLS
/// material is unusable.
pub async fn serve(
    service: ServiceHandle,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    bind(service, options).await?.serve(shutdown).await
}
