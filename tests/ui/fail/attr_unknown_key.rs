use dacapo::prelude::*;

#[activity(heartbeat_timout = "5s")]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
