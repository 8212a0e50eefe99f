use dacapo::prelude::*;

#[workflow]
fn checkout(ctx: WorkflowContext) -> WorkflowResult<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
