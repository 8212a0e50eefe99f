use dacapo::prelude::*;

#[workflow]
async fn reminder(ctx: WorkflowContext) -> WorkflowResult<u64> {
    use std::time::Duration;
    use tokio::time::{Instant as Clock, sleep as nap};
    let started = Clock::now();
    nap(Duration::from_secs(60)).await;
    let _ = ctx;
    Ok(started.elapsed().as_secs())
}

fn main() {}
