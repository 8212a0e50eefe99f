//! The seed scenario: a workflow whose activity heartbeats until the workflow is cancelled by
//! id, then cleans up in `on_cancel!` on a disconnected context.
//!
//! ```text
//! cargo run --example cancellation [-- --db PATH]
//! ```

use clap::Parser;
mod seed;

use dacapo::{ClientError, Embedded, StartOptions};
use seed::{
    TASK_QUEUE, activity_to_be_canceled, activity_to_be_skipped, cleanup_activity, your_workflow,
};
use std::path::PathBuf;
use std::time::Duration;

/// Runs the cancellation scenario on the embedded engine.
#[derive(Parser, Debug)]
struct Args {
    /// SQLite file to use (default: a fresh file in the system temp dir, removed at the end).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The workflow id to start and then cancel.
    #[arg(short = 'w', long, default_value = "workflowID-to-cancel")]
    workflow_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (db, temporary) = match args.db {
        Some(p) => (p, false),
        None => (
            std::env::temp_dir().join(format!("dacapo-cancellation-{}.db", std::process::id())),
            true,
        ),
    };
    println!("dacapo: embedded engine on {}", db.display());
    let runtime = Embedded::builder()
        .sqlite(&db)
        .task_queue(TASK_QUEUE)
        .workflow(your_workflow)
        .activity(activity_to_be_canceled)
        .activity(activity_to_be_skipped)
        .activity(cleanup_activity)
        .start()
        .await?;
    let client = runtime.client();

    let handle = client
        .start_workflow(
            your_workflow,
            (),
            StartOptions::new(&args.workflow_id, TASK_QUEUE),
        )
        .await?;
    println!(
        "started workflow {} (run {})",
        handle.workflow_id, handle.run_id
    );

    // Let the activity heartbeat about three times.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    println!("cancelling workflow {} by id", handle.workflow_id);
    client
        .cancel_workflow(&handle.workflow_id, None, "cancelled by the example")
        .await?;
    println!("cancel requested");

    let outcome = match handle.result().await {
        Ok(()) => "completed".to_string(),
        Err(ClientError::Canceled { .. }) => "cancelled, as requested".to_string(),
        Err(e) => format!("ended with an error: {e}"),
    };
    println!("result: workflow {outcome}");

    let description = client
        .describe_workflow(&handle.workflow_id, Some(&handle.run_id))
        .await?;
    println!("final status: {}", description.status);
    println!("history:");
    let history = client
        .history(&handle.workflow_id, Some(&handle.run_id))
        .await?;
    for line in dacapo::proto::describe_history(&history) {
        println!("  {line}");
    }
    runtime.shutdown().await;
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    if description.status != dacapo::WorkflowStatus::Canceled {
        return Err(format!(
            "expected the workflow to close Canceled, it is {}",
            description.status
        )
        .into());
    }
    Ok(())
}
