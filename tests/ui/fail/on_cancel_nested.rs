use dacapo::prelude::*;

#[activity]
async fn release_stock() -> Result<(), ActivityError> {
    Ok(())
}

#[activity]
async fn notify_customer() -> Result<(), ActivityError> {
    Ok(())
}

#[workflow]
async fn checkout(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(release_stock, ()).await?;
        on_cancel! {
            ctx.activity(notify_customer, ()).await?;
        }
    }
    ctx.sleep(std::time::Duration::from_secs(60)).await?;
    Ok(())
}

fn main() {}
