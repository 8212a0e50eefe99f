//! The seed worker as its own process. Without `--address` it hosts the embedded engine and
//! serves it on 127.0.0.1:7233, so a starter and a cancel process (or the `temporal` CLI) can
//! reach it; with `--address URL` it polls a running `dacapo server` or a Temporal frontend.
//!
//! ```text
//! cargo run --example cancellation-worker [-- --address http://127.0.0.1:7233]
//! ```

#[path = "../cancellation/seed.rs"]
mod seed;

use clap::Parser;
use dacapo::remote::{ConnectOptions, connect};
use dacapo::server::ServeOptions;
use dacapo::{Embedded, Worker};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Runs the seed workflow's worker on task queue `cancel-activity`.
#[derive(Parser, Debug)]
struct Args {
    /// A WorkflowService to poll; when absent, host the embedded engine.
    #[arg(long)]
    address: Option<String>,
    /// The namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// API key sent as `authorization: Bearer KEY`.
    #[arg(long)]
    api_key: Option<String>,
    /// Where the embedded engine listens (only without `--address`).
    #[arg(long, default_value = "127.0.0.1:7233")]
    listen: SocketAddr,
    /// The embedded engine's SQLite file (only without `--address`).
    #[arg(long, default_value = "dacapo-worker.db")]
    db: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    match args.address {
        Some(url) => {
            let service = connect(
                &url,
                ConnectOptions {
                    api_key: args.api_key,
                    ..Default::default()
                },
            )
            .await?;
            let worker = seed::register(
                Worker::builder(service, seed::TASK_QUEUE).namespace(&args.namespace),
            )
            .build();
            println!("worker polling task queue {} at {url}", seed::TASK_QUEUE);
            let stopper = worker.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stopper.shutdown();
            });
            worker.run().await;
        }
        None => {
            let runtime = Embedded::builder()
                .sqlite(&args.db)
                .task_queue(seed::TASK_QUEUE)
                .workflow(seed::your_workflow)
                .activity(seed::activity_to_be_canceled)
                .activity(seed::activity_to_be_skipped)
                .activity(seed::cleanup_activity)
                .serve(ServeOptions {
                    addr: args.listen,
                    api_key: args.api_key,
                    ..Default::default()
                })
                .start()
                .await?;
            let addr = runtime
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            println!(
                "worker polling task queue {} on the embedded engine, served at http://{addr}",
                seed::TASK_QUEUE
            );
            tokio::signal::ctrl_c().await?;
            runtime.shutdown().await;
        }
    }
    println!("worker stopped");
    Ok(())
}
