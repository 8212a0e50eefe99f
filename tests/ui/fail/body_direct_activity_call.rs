use dacapo::prelude::*;

#[activity]
async fn cleanup_activity(_ctx: ActivityContext, order_id: u64) -> Result<(), ActivityError> {
    let _ = order_id;
    Ok(())
}

#[workflow]
async fn checkout(ctx: WorkflowContext, order_id: u64) -> WorkflowResult<()> {
    let _ = ctx;
    cleanup_activity(order_id).await?;
    Ok(())
}

fn main() {}
