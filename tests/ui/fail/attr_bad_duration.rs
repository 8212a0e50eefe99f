use dacapo::prelude::*;

#[activity(start_to_close = "5 parsecs")]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
