use dacapo::prelude::*;

#[activity]
async fn charge_card(amount: u64, ctx: ActivityContext) -> Result<u64, ActivityError> {
    ctx.heartbeat(()).await?;
    Ok(amount)
}

fn main() {}
