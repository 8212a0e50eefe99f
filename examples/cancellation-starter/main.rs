//! Starts the seed workflow on a running worker's engine and prints its ids.
//!
//! ```text
//! cargo run --example cancellation-starter [-- -w ID --address http://127.0.0.1:7233]
//! ```

#[path = "../cancellation/seed.rs"]
mod seed;

use clap::Parser;
use dacapo::remote::{ConnectOptions, connect};
use dacapo::{Client, StartOptions};

/// Starts `your_workflow` on task queue `cancel-activity`.
#[derive(Parser, Debug)]
struct Args {
    /// The workflow id.
    #[arg(
        short = 'w',
        long = "workflow-id",
        default_value = "workflowID-to-cancel"
    )]
    workflow_id: String,
    /// The WorkflowService to call.
    #[arg(long, default_value = "http://127.0.0.1:7233")]
    address: String,
    /// The namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// API key sent as `authorization: Bearer KEY`.
    #[arg(long)]
    api_key: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let service = connect(
        &args.address,
        ConnectOptions {
            api_key: args.api_key,
            ..Default::default()
        },
    )
    .await?;
    let client = Client::new(service).with_namespace(&args.namespace);
    let handle = client
        .start_workflow(
            seed::your_workflow,
            (),
            StartOptions::new(&args.workflow_id, seed::TASK_QUEUE),
        )
        .await?;
    println!(
        "Started workflow WorkflowID {} RunID {}",
        handle.workflow_id, handle.run_id
    );
    Ok(())
}
