//! Serving a WorkflowService over gRPC with tonic: the engine of `dacapo server`, or an embedded
//! runtime's engine so that other processes (starters, the `temporal` CLI, any Temporal SDK
//! client) can reach it.

use crate::proto::{ServiceHandle, SharedService, WorkflowServiceServer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to bind; `127.0.0.1:7233` by default, so nothing outside the machine reaches
    /// it unless asked for.
    pub addr: SocketAddr,
    /// When set, every call must carry `authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// PEM certificate chain and private key files for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest request accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7233)),
            api_key: None,
            tls: None,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A TLS file could not be read.
    #[error("could not read {path}: {source}")]
    ReadTls {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The transport failed (the address is in use, bad TLS material, ...).
    #[error("could not serve on {addr}: {message}")]
    Transport {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        message: String,
    },
}

fn check_key(
    expected: Option<String>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    let expected = expected.map(|k| format!("Bearer {k}"));
    move |req: tonic::Request<()>| match &expected {
        None => Ok(req),
        Some(want) => {
            let got = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if got.is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes())) {
                Ok(req)
            } else {
                Err(tonic::Status::unauthenticated(
                    "this server needs an API key: send `authorization: Bearer <key>`",
                ))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A server bound to its address, not yet serving. Binding first lets a caller learn the port
/// (bind to port 0 for a free one) and see "address in use" before anything starts.
pub struct BoundServer {
    service: ServiceHandle,
    options: ServeOptions,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Binds `options.addr` for `service`.
///
/// # Errors
/// [`ServeError::Transport`] when the address cannot be bound.
pub async fn bind(
    service: ServiceHandle,
    options: ServeOptions,
) -> Result<BoundServer, ServeError> {
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
        listener,
        local_addr,
    })
}

impl BoundServer {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves.
    ///
    /// # Errors
    /// [`ServeError`] when the TLS material is unusable or the transport fails.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let addr = self.local_addr;
        let options = self.options;
        let transport = |e: tonic::transport::Error| ServeError::Transport {
            addr,
            message: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string()),
        };
        let mut builder = Server::builder();
        if let Some((cert, key)) = &options.tls {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|source| ServeError::ReadTls {
                    path: p.clone(),
                    source,
                })
            };
            let identity = Identity::from_pem(read(cert)?, read(key)?);
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(identity))
                .map_err(transport)?;
        }
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter
            .set_service_status(
                "temporal.api.workflowservice.v1.WorkflowService",
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let workflow_service = WorkflowServiceServer::new(SharedService(self.service))
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(usize::MAX)
            // Temporal's Go clients (the `temporal` CLI among them) send gzip.
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        let guarded = tonic::service::interceptor::InterceptedService::new(
            workflow_service,
            check_key(options.api_key.clone()),
        );
        // Without TCP_NODELAY, small answers wait on the peer's delayed ACK (tens of ms each).
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        builder
            .add_service(health)
            .add_service(guarded)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(transport)
    }
}

/// Binds and serves `service` until `shutdown` resolves.
///
/// # Errors
/// [`ServeError`] when the address cannot be bound or the TLS material is unusable.
pub async fn serve(
    service: ServiceHandle,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    bind(service, options).await?.serve(shutdown).await
}
