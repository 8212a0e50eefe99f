use dacapo::prelude::*;

#[workflow]
async fn checkout(ctx: WorkflowContext) {
    let _ = ctx;
}

fn main() {}
