use dacapo::prelude::*;

#[workflow]
async fn coin_toss(ctx: WorkflowContext) -> WorkflowResult<bool> {
    let _ = ctx;
    let heads: bool = rand::random();
    Ok(heads)
}

fn main() {}
