use dacapo::prelude::*;
use std::time::Duration;

#[workflow]
async fn reminder(ctx: WorkflowContext) -> WorkflowResult<()> {
    std::thread::sleep(Duration::from_millis(500));
    let _ = ctx;
    Ok(())
}

fn main() {}
