//! Requests cancellation of a workflow by id.
//!
//! ```text
//! cargo run --example cancellation-cancel [-- -wid ID --address http://127.0.0.1:7233]
//! ```

#[path = "../cancellation/connection.rs"]
mod connection;

use clap::Parser;
use connection::Connection;

/// Cancels a workflow by id (its current run).
#[derive(Parser, Debug)]
struct Args {
    /// The workflow id (`-wid ID`, as the seed programs spell it, or `--wid ID`).
    #[arg(long = "wid", default_value = "workflowID-to-cancel")]
    workflow_id: String,
    #[command(flatten)]
    connection: Connection,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Accept the single-dash long flag `-wid` of the seed programs.
    let argv = std::env::args().map(|a| if a == "-wid" { "--wid".to_string() } else { a });
    let args = Args::parse_from(argv);
    let client = args.connection.client().await?;
    client
        .cancel_workflow(&args.workflow_id, None, "cancelled by cancellation-cancel")
        .await?;
    println!("Cancellation requested for workflow {}", args.workflow_id);
    Ok(())
}
