//! `dacapo server`.

use clap::Args;
use dacapo::engine::{Engine, EngineConfig};
use dacapo::proto::ServiceHandle;
use dacapo::server::{ServeOptions, bind};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `dacapo server`.
#[derive(Args, Debug)]
pub(crate) struct ServerArgs {
    /// The SQLite file (created if missing).
    #[arg(long, default_value = "dacapo.db", conflicts_with = "in_memory")]
    db: PathBuf,
    /// Keep everything in memory instead (lost when the server stops).
    #[arg(long)]
    in_memory: bool,
    /// The address to listen on. Only this machine can connect unless you change it.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// The port to listen on.
    #[arg(long, default_value_t = 7233)]
    port: u16,
    /// Refuse every call that does not carry `authorization: Bearer KEY`.
    #[arg(long, env = "DACAPO_API_KEY")]
    api_key: Option<String>,
    /// PEM certificate chain for TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Namespaces to serve, besides `default`.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// Largest payload accepted, in bytes.
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    max_payload_bytes: usize,
}

pub(crate) async fn run(args: ServerArgs) -> Result<(), String> {
    let mut config = EngineConfig::default();
    config.limits.max_payload_bytes = args.max_payload_bytes;
    for ns in args.namespaces {
        if !config.namespaces.contains(&ns) {
            config.namespaces.push(ns);
        }
    }
    let (engine, store) = if args.in_memory {
        (Engine::in_memory(config), "memory".to_string())
    } else {
        let engine = Engine::open_sqlite(&args.db, config).map_err(|e| e.to_string())?;
        (engine, args.db.display().to_string())
    };
    let service: ServiceHandle = Arc::new(engine.clone());
    let options = ServeOptions {
        addr: SocketAddr::new(args.ip, args.port),
        api_key: args.api_key.clone(),
        tls: args.tls_cert.zip(args.tls_key),
        max_message_bytes: args.max_payload_bytes.saturating_add(1024 * 1024),
    };
    let tls = options.tls.is_some();
    let bound = bind(service, options)
        .await
        .map_err(|e| e.to_string())?
        .report_health(engine.health());
    println!(
        "dacapo server listening on {}://{} (store: {store}{}{})",
        if tls { "https" } else { "http" },
        bound.local_addr(),
        if args.api_key.is_some() {
            ", API key required"
        } else {
            ""
        },
        if tls { ", TLS" } else { "" },
    );
    let result = bound
        .serve(crate::shutdown_signal())
        .await
        .map_err(|e| e.to_string());
    engine.shutdown();
    println!("dacapo server stopped");
    result
}
