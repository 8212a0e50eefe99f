use dacapo::prelude::*;

#[activity(start_to_close: "30s")]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
