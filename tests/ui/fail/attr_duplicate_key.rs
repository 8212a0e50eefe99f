use dacapo::prelude::*;

#[activity(start_to_close = "30s", max_attempts = 3, start_to_close = "1m")]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    ctx.heartbeat(()).await
}

fn main() {}
