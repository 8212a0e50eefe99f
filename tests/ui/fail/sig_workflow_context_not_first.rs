use dacapo::prelude::*;

#[workflow]
async fn checkout(order_id: u64, ctx: WorkflowContext) -> WorkflowResult<u64> {
    let _ = ctx;
    Ok(order_id)
}

fn main() {}
