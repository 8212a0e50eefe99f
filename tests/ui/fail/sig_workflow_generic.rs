use dacapo::prelude::*;

#[workflow]
async fn checkout<T: Clone>(ctx: WorkflowContext, order: T) -> WorkflowResult<()> {
    let _ = (ctx, order);
    Ok(())
}

fn main() {}
