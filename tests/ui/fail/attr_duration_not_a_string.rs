use dacapo::prelude::*;

#[activity(heartbeat_timeout = 5)]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
