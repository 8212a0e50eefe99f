use dacapo::prelude::*;

#[activity(start_to_close, max_attempts = 3)]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
