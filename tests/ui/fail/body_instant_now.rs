use dacapo::prelude::*;
use std::time::{Duration, Instant};

#[workflow]
async fn timed_wait(ctx: WorkflowContext) -> WorkflowResult<u64> {
    let started = Instant::now();
    ctx.sleep(Duration::from_secs(1)).await?;
    Ok(started.elapsed().as_secs())
}

fn main() {}
