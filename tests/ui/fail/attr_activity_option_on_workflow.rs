use dacapo::prelude::*;

#[workflow(name = "checkout-v2", start_to_close = "1m")]
async fn checkout(ctx: WorkflowContext) -> WorkflowResult<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
