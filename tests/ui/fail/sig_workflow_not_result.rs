use dacapo::prelude::*;

#[workflow]
async fn checkout(ctx: WorkflowContext, order_id: u64) -> u64 {
    let _ = ctx;
    order_id
}

fn main() {}
