use dacapo::prelude::*;

#[workflow]
async fn audit(ctx: WorkflowContext) -> WorkflowResult<()> {
    let _ = ctx;
    tokio::fs::write("audit.log", b"charged").await.ok();
    Ok(())
}

fn main() {}
