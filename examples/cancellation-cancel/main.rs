//! Requests cancellation of a workflow by id.
//!
//! ```text
//! cargo run --example cancellation-cancel [-- -wid ID --address http://127.0.0.1:7233]
//! ```

use clap::Parser;
use dacapo::Client;
use dacapo::remote::{ConnectOptions, connect};

/// Cancels a workflow by id (its current run).
#[derive(Parser, Debug)]
struct Args {
    /// The workflow id (`-wid ID`, as the seed programs spell it, or `--wid ID`).
    #[arg(long = "wid", default_value = "workflowID-to-cancel")]
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
    // Accept the single-dash long flag `-wid` of the seed programs.
    let argv = std::env::args().map(|a| if a == "-wid" { "--wid".to_string() } else { a });
    let args = Args::parse_from(argv);
    let service = connect(
        &args.address,
        ConnectOptions {
            api_key: args.api_key,
            ..Default::default()
        },
    )
    .await?;
    let client = Client::new(service).with_namespace(&args.namespace);
    client
        .cancel_workflow(&args.workflow_id, None, "cancelled by cancellation-cancel")
        .await?;
    println!("Cancellation requested for workflow {}", args.workflow_id);
    Ok(())
}
