//! Connecting to a WorkflowService over gRPC: a `dacapo server`, or a Temporal frontend.

use crate::proto::{RpcResult, ServiceHandle, WorkflowService, with_rpcs};
use crate::proto::{WorkflowServiceClient, service};
#[cfg(feature = "tls")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
#[cfg(feature = "tls")]
use tonic::transport::{Certificate, ClientTlsConfig};
use tonic::transport::{Channel, Endpoint};

/// How to reach a WorkflowService.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Sent as `authorization: Bearer KEY` on every call.
    pub api_key: Option<String>,
    /// How long to wait for the connection.
    pub connect_timeout: Option<Duration>,
    /// A PEM file with the CA that signed the server's certificate. Setting it, or an
    /// `https://` URL, turns TLS on; without it the public web roots are trusted.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls_ca: Option<PathBuf>,
    /// The name to check the server's certificate against, when it differs from the URL's host.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls_domain: Option<String>,
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a valid endpoint.
    #[error("`{url}` is not a valid server address: {message}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The CA file could not be read.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("could not read the CA file {path}: {source}")]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS settings were refused, or TLS was asked for (an `https://` URL) without the
    /// `tls` feature.
    #[error("TLS settings for {url} are unusable: {message}")]
    Tls {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The API key cannot be sent as a header.
    #[error("the API key cannot be sent as a gRPC header: it must be visible ASCII")]
    InvalidApiKey,
    /// The server did not answer.
    #[error("could not connect to {url}: {message}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// The transport error.
        message: String,
    },
}

/// The deadline sent with every call.
const CALL_DEADLINE: Duration = Duration::from_secs(70);

#[derive(Clone)]
struct Auth(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

struct RemoteService {
    client: WorkflowServiceClient<InterceptedService<Channel, Auth>>,
}

macro_rules! delegate_remote {
    ($(($name:ident, $req:ident, $resp:ident)),* $(,)?) => {
        #[tonic::async_trait]
        impl WorkflowService for RemoteService {
            $(
                async fn $name(&self, request: tonic::Request<service::$req>) -> RpcResult<service::$resp> {
                    // Temporal's frontend refuses calls without a deadline; long polls need
                    // one longer than the server's own poll timeout (about a minute).
                    let mut outgoing = tonic::Request::new(request.into_inner());
                    outgoing.set_timeout(CALL_DEADLINE);
                    self.client.clone().$name(outgoing).await
                }
            )*
        }
    };
}
with_rpcs!(delegate_remote);

/// Connects to the WorkflowService at `url` (`http://127.0.0.1:7233`).
///
/// # Errors
/// [`ConnectError`] when the URL is malformed or nothing answers there.
pub async fn connect(url: &str, options: ConnectOptions) -> Result<ServiceHandle, ConnectError> {
    let endpoint =
        Endpoint::from_shared(url.to_string()).map_err(|e| ConnectError::InvalidUrl {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    #[cfg(feature = "tls")]
    let endpoint = with_tls(endpoint, url, &options)?;
    #[cfg(not(feature = "tls"))]
    if url.starts_with("https://") {
        return Err(ConnectError::Tls {
            url: url.to_string(),
            message: "this build of dacapo has no TLS (the `tls` feature is off)".to_string(),
        });
    }
    let endpoint = endpoint
        .connect_timeout(options.connect_timeout.unwrap_or(Duration::from_secs(10)))
        .tcp_nodelay(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| ConnectError::Unreachable {
            url: url.to_string(),
            message: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string()),
        })?;
    let auth = match options.api_key {
        Some(key) => Some(
            format!("Bearer {key}")
                .parse()
                .map_err(|_| ConnectError::InvalidApiKey)?,
        ),
        None => None,
    };
    let client = WorkflowServiceClient::with_interceptor(channel, Auth(auth))
        .max_decoding_message_size(128 * 1024 * 1024);
    Ok(Arc::new(RemoteService { client }))
}

/// Turns TLS on for `endpoint` when `options` give a CA or `url` is `https://`.
#[cfg(feature = "tls")]
fn with_tls(
    mut endpoint: Endpoint,
    url: &str,
    options: &ConnectOptions,
) -> Result<Endpoint, ConnectError> {
    if options.tls_ca.is_some() || url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &options.tls_ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| ConnectError::ReadCa {
                    path: path.clone(),
                    source,
                })?;
                tls.ca_certificate(Certificate::from_pem(pem))
            }
            None => tls.with_webpki_roots(),
        };
        if let Some(domain) = &options.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| ConnectError::Tls {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(endpoint)
}
