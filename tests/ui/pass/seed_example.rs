//! The workflow of docs/architecture.md §1.
#![deny(warnings)]

use dacapo::prelude::*;
use std::time::Duration;

#[activity(start_to_close = "30m", heartbeat_timeout = "5s")]
async fn activity_to_be_canceled(ctx: ActivityContext) -> Result<String, ActivityError> {
    loop {
        ctx.heartbeat(()).await?;
        ctx.sleep(Duration::from_secs(1)).await?;
    }
}

#[activity]
async fn cleanup_activity(_ctx: ActivityContext) -> Result<(), ActivityError> {
    Ok(())
}

#[workflow]
async fn your_workflow(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup_activity, ()).start_to_close(Duration::from_secs(2)).await?;
    }
    ctx.activity(activity_to_be_canceled, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    Ok(())
}

fn main() {
    use dacapo::{ActivityDefinition, WorkflowDefinition};
    assert_eq!(<your_workflow as WorkflowDefinition>::NAME, "your_workflow");
    assert_eq!(
        <cleanup_activity as ActivityDefinition>::NAME,
        "cleanup_activity"
    );
    assert_eq!(
        <activity_to_be_canceled as ActivityDefinition>::NAME,
        "activity_to_be_canceled"
    );
}
