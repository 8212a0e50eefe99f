use dacapo::prelude::*;
use std::time::Duration;

#[workflow]
async fn reminder(ctx: WorkflowContext) -> WorkflowResult<()> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let _ = ctx;
    Ok(())
}

fn main() {}
