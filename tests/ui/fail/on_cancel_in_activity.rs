use dacapo::prelude::*;

#[activity]
async fn charge_card(ctx: ActivityContext) -> Result<(), ActivityError> {
    on_cancel! {
        println!("refund");
    }
    ctx.heartbeat(()).await
}

fn main() {}
