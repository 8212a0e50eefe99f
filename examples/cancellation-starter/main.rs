//! Starts the seed workflow on a running worker's engine and prints its ids.
//!
//! ```text
//! cargo run --example cancellation-starter [-- -w ID --address http://127.0.0.1:7233]
//! ```

#[path = "../cancellation/seed.rs"]
mod seed;

#[path = "../cancellation/connection.rs"]
mod connection;

use clap::Parser;
use connection::Connection;
use dacapo::StartOptions;

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
    #[command(flatten)]
    connection: Connection,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = args.connection.client().await?;
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
