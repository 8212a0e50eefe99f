use dacapo::prelude::*;

#[workflow]
async fn checkout(order_id: u64) -> WorkflowResult<u64> {
    Ok(order_id)
}

fn main() {}
