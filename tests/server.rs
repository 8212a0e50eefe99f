//! The engine over gRPC: API keys, TLS, and clear statuses for bad requests.

use dacapo::engine::{Engine, EngineConfig};
use dacapo::proto::ServiceHandle;
use dacapo::proto::service::{
    DescribeNamespaceRequest, GetSystemInfoRequest, ListWorkflowExecutionsRequest,
    UpdateNamespaceRequest, UpdateNamespaceResponse,
};
use dacapo::remote::{ConnectOptions, connect};
use dacapo::server::{ServeOptions, bind};
use dacapo::{Client, ClientError, StartOptions};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// An in-memory engine served on a free port; stops when dropped.
struct Served {
    url: String,
    stop: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(options: ServeOptions) -> Served {
    let mut config = EngineConfig::default();
    config.limits.max_payload_bytes = 64 * 1024;
    let engine: ServiceHandle = Arc::new(Engine::in_memory(config));
    let tls = options.tls.is_some();
    let bound = bind(
        engine,
        ServeOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..options
        },
    )
    .await
    .unwrap();
    let url = format!(
        "{}://127.0.0.1:{}",
        if tls { "https" } else { "http" },
        bound.local_addr().port()
    );
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { bound.serve(stopped.cancelled_owned()).await });
    Served { url, stop }
}

/// Calls `UpdateNamespace`, which dacapo does not serve (nor generate code for), over plain gRPC.
async fn call_unserved(url: &str) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/temporal.api.workflowservice.v1.WorkflowService/UpdateNamespace",
    );
    grpc.unary::<UpdateNamespaceRequest, UpdateNamespaceResponse, _>(
        tonic::Request::new(UpdateNamespaceRequest::default()),
        path,
        tonic_prost::ProstCodec::default(),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn unimplemented_calls_name_the_rpc_and_bad_requests_get_clear_statuses() {
    let served = serve(ServeOptions::default()).await;
    let service = connect(&served.url, ConnectOptions::default())
        .await
        .unwrap();

    // An RPC the library has no code for, sent as any Temporal client sends it.
    let status = call_unserved(&served.url).await;
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().contains("UpdateNamespace"),
        "{}",
        status.message()
    );

    let info = service
        .get_system_info(tonic::Request::new(GetSystemInfoRequest::default()))
        .await
        .unwrap();
    assert!(!info.get_ref().server_version.is_empty());

    let status = service
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: "no-such-namespace".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("no-such-namespace"),
        "{}",
        status.message()
    );

    let status = service
        .list_workflow_executions(tonic::Request::new(ListWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: "this is not a query".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // A payload over the configured limit is refused and nothing is started.
    let client = Client::new(service);
    let big = dacapo::payload::encode(&"x".repeat(100 * 1024)).unwrap();
    let err = client
        .start_workflow_by_name("anything", vec![big], &StartOptions::new("too-big", "q"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
    assert!(matches!(
        client.describe_workflow("too-big", None).await.unwrap_err(),
        ClientError::NotFound(_)
    ));
}

#[tokio::test]
async fn a_keyed_server_refuses_calls_without_the_key() {
    let served = serve(ServeOptions {
        api_key: Some("k-123".into()),
        ..ServeOptions::default()
    })
    .await;
    let anonymous = Client::new(
        connect(&served.url, ConnectOptions::default())
            .await
            .unwrap(),
    );
    let err = anonymous.list_workflows("").await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rpc {
                code: tonic::Code::Unauthenticated,
                ..
            }
        ),
        "{err:?}"
    );
    let wrong = ConnectOptions {
        api_key: Some("k-124".into()),
        ..Default::default()
    };
    let err = Client::new(connect(&served.url, wrong).await.unwrap())
        .list_workflows("")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rpc {
                code: tonic::Code::Unauthenticated,
                ..
            }
        ),
        "{err:?}"
    );
    let right = ConnectOptions {
        api_key: Some("k-123".into()),
        ..Default::default()
    };
    let keyed = Client::new(connect(&served.url, right).await.unwrap());
    assert!(keyed.list_workflows("").await.unwrap().is_empty());
}

#[tokio::test]
async fn tls_with_the_servers_ca_works_and_without_it_fails() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let served = serve(ServeOptions {
        tls: Some((cert_path.clone(), key_path)),
        ..ServeOptions::default()
    })
    .await;
    let with_ca = ConnectOptions {
        tls_ca: Some(cert_path),
        tls_domain: Some("localhost".into()),
        ..Default::default()
    };
    let client = Client::new(connect(&served.url, with_ca).await.unwrap());
    assert!(client.list_workflows("").await.unwrap().is_empty());

    // The public roots do not vouch for a self-signed certificate.
    let without = ConnectOptions {
        tls_domain: Some("localhost".into()),
        ..Default::default()
    };
    let refused = match connect(&served.url, without).await {
        Err(_) => true,
        Ok(service) => Client::new(service).list_workflows("").await.is_err(),
    };
    assert!(refused, "a client without the CA must not get through");
}
