//! `dacapo server`.

use clap::Args;
use dacapo::engine::{Engine, EngineConfig, Limits};
use dacapo::proto::ServiceHandle;
use dacapo::server::{ServeError, ServeOptions, bind};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// Refuse every call that does not carry `authorization: Bearer KEY`. Must not be empty.
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
    /// Largest payload accepted, in bytes [default: 2097152]; the same as
    /// `--limit max_payload_bytes=BYTES`.
    #[arg(long)]
    max_payload_bytes: Option<usize>,
    /// Set an engine limit (repeatable); `--help` lists them.
    #[arg(
        long = "limit",
        value_name = "NAME=VALUE",
        value_parser = parse_limit,
        long_help = limit_help(),
    )]
    limits: Vec<(String, String)>,
    /// How long a query waits for a worker's answer before it fails with
    /// `DEADLINE_EXCEEDED` [default: 30s]; more than zero.
    #[arg(long, value_parser = parse_query_timeout)]
    query_timeout: Option<Duration>,
    /// Largest request message accepted, in bytes [default: 4194304, or the payload limit
    /// plus 1 MiB when that is more].
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Most connections served at once [default: 1000].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Most calls in flight on one connection [default: 1000].
    #[arg(long)]
    max_concurrent_streams: Option<u32>,
    /// Most calls in flight over all connections [default: 5000].
    #[arg(long)]
    max_calls_in_flight: Option<usize>,
    /// Most bytes that requests still arriving may hold together [default: 67108864, or the
    /// message limit when that is more].
    #[arg(long)]
    max_pending_request_bytes: Option<usize>,
    /// How long a request body may take to arrive [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    request_body_timeout: Option<Duration>,
    /// How long a connection has for its TLS handshake and HTTP/2 preface [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    handshake_timeout: Option<Duration>,
    /// Ping a client not heard from for this long [default: 1m].
    #[arg(long, value_parser = humantime::parse_duration)]
    keepalive_time: Option<Duration>,
    /// Close a connection whose ping goes unanswered this long [default: 10s].
    #[arg(long, value_parser = humantime::parse_duration)]
    keepalive_timeout: Option<Duration>,
    /// Close a connection with no call in flight for this long [default: 2m].
    #[arg(long, value_parser = humantime::parse_duration)]
    max_connection_idle: Option<Duration>,
}

fn parse_limit(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) => Ok((name.trim().to_string(), value.trim().to_string())),
        None => Err(format!("expected NAME=VALUE, not `{arg}`")),
    }
}

fn parse_query_timeout(arg: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(arg).map_err(|e| e.to_string())?;
    if timeout.is_zero() {
        return Err("a query must be given some time to be answered: more than 0s".to_string());
    }
    Ok(timeout)
}

fn limit_help() -> String {
    let mut help = String::from(
        "Set an engine limit by name, e.g. `--limit max_pending_activities=5000` (repeatable; \
         values are whole numbers, optionally with KiB, MiB or GiB). The limits and their \
         defaults:\n",
    );
    for (name, default, doc) in Limits::described() {
        help.push_str(&format!("\n  {name} = {default}\n      {doc}"));
    }
    help
}

/// The serve options the flags ask for, on top of the defaults.
fn serve_options(args: &ServerArgs, limits: &Limits) -> ServeOptions {
    let defaults = ServeOptions::default();
    let message_default = defaults
        .max_message_bytes
        .max(limits.max_payload_bytes.saturating_add(1024 * 1024));
    let max_message_bytes = args.max_message_bytes.unwrap_or(message_default);
    ServeOptions {
        addr: SocketAddr::new(args.ip, args.port),
        api_key: args.api_key.clone(),
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        max_message_bytes,
        max_connections: args.max_connections.unwrap_or(defaults.max_connections),
        max_concurrent_streams: args
            .max_concurrent_streams
            .unwrap_or(defaults.max_concurrent_streams),
        max_calls_in_flight: args
            .max_calls_in_flight
            .unwrap_or(defaults.max_calls_in_flight),
        // Room for at least one message of the largest size, however large that is.
        max_pending_request_bytes: args
            .max_pending_request_bytes
            .unwrap_or(defaults.max_pending_request_bytes.max(max_message_bytes)),
        request_body_timeout: args
            .request_body_timeout
            .unwrap_or(defaults.request_body_timeout),
        handshake_timeout: args.handshake_timeout.unwrap_or(defaults.handshake_timeout),
        keepalive_time: args.keepalive_time.unwrap_or(defaults.keepalive_time),
        keepalive_timeout: args.keepalive_timeout.unwrap_or(defaults.keepalive_timeout),
        max_connection_idle: args
            .max_connection_idle
            .unwrap_or(defaults.max_connection_idle),
    }
}

pub(crate) async fn run(args: ServerArgs) -> Result<(), String> {
    let mut config = EngineConfig::default();
    if let Some(bytes) = args.max_payload_bytes {
        config.limits.max_payload_bytes = bytes;
    }
    if let Some(timeout) = args.query_timeout {
        config.query_timeout = timeout;
    }
    for (name, value) in &args.limits {
        config
            .limits
            .set(name, value)
            .map_err(|e| format!("--limit {name}={value}: {e}"))?;
    }
    let options = serve_options(&args, &config.limits);
    // Before the store is opened: options that could serve no one are refused first.
    options.check().map_err(|e| match e {
        ServeError::InvalidApiKey { .. } => format!("--api-key (or DACAPO_API_KEY): {e}"),
        ServeError::InvalidOption { name, message } => {
            format!("--{} {message}", name.replace('_', "-"))
        }
        e => e.to_string(),
    })?;
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
