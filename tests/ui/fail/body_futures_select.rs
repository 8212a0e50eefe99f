use dacapo::prelude::*;
use futures::FutureExt;
use std::time::Duration;

#[workflow]
async fn race(ctx: WorkflowContext) -> WorkflowResult<String> {
    let mut timer = ctx.sleep(Duration::from_secs(5)).fuse();
    let mut cancelled = ctx.cancelled().fuse();
    let winner = futures::select! {
        _ = timer => "timer",
        _ = cancelled => "cancel",
    };
    Ok(winner.to_string())
}

fn main() {}
