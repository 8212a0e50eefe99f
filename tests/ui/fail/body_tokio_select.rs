use dacapo::prelude::*;
use std::time::Duration;

#[workflow]
async fn race(ctx: WorkflowContext) -> WorkflowResult<String> {
    let winner = tokio::select! {
        _ = ctx.sleep(Duration::from_secs(5)) => "timer",
        () = ctx.cancelled() => "cancel",
    };
    Ok(winner.to_string())
}

fn main() {}
