//! The seed scenario's workflow and activities, shared by the cancellation examples.
#![allow(dead_code)] // each example uses only part of the seed

use dacapo::prelude::*;
use std::time::Duration;

/// The task queue the seed worker polls.
pub const TASK_QUEUE: &str = "cancel-activity";

/// Heartbeats every second until a cancel reaches it.
#[activity(start_to_close = "30m", heartbeat_timeout = "5s")]
pub async fn activity_to_be_canceled(ctx: ActivityContext) -> Result<String, ActivityError> {
    let mut beats = 0u32;
    loop {
        beats += 1;
        println!("  activity_to_be_canceled: heartbeat {beats}");
        if let Err(e) = ctx.heartbeat(beats).await {
            println!("  activity_to_be_canceled: cancel received, stopping");
            return Err(e);
        }
        if let Err(e) = ctx.sleep(Duration::from_secs(1)).await {
            println!("  activity_to_be_canceled: cancel received while sleeping, stopping");
            return Err(e);
        }
    }
}

/// Follows the first activity in the body; never runs when the workflow is cancelled.
#[activity(start_to_close = "1m")]
pub async fn activity_to_be_skipped(_ctx: ActivityContext) -> Result<(), ActivityError> {
    println!("  activity_to_be_skipped: this should not run");
    Ok(())
}

/// Runs in `on_cancel!`, on a disconnected context.
#[activity]
pub async fn cleanup_activity(_ctx: ActivityContext) -> Result<(), ActivityError> {
    println!("  cleanup_activity: cleaning up after the cancel");
    Ok(())
}

/// The seed workflow.
#[workflow]
pub async fn your_workflow(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        // Runs only if the workflow was cancelled, on a disconnected context.
        ctx.activity(cleanup_activity, ())
            .start_to_close(Duration::from_secs(2))
            .await?;
    }
    ctx.activity(activity_to_be_canceled, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    ctx.activity(activity_to_be_skipped, ()).await?;
    Ok(())
}

/// Registers the seed workflow and its activities on a worker.
pub fn register(builder: dacapo::worker::WorkerBuilder) -> dacapo::worker::WorkerBuilder {
    builder
        .workflow(your_workflow)
        .activity(activity_to_be_canceled)
        .activity(activity_to_be_skipped)
        .activity(cleanup_activity)
}
