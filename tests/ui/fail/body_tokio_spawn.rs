use dacapo::prelude::*;

#[workflow]
async fn fan_out(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let _ = ctx;
    let handle = tokio::spawn(async { 1 + 1 });
    Ok(handle.await.unwrap_or_default())
}

fn main() {}
