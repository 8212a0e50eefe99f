use dacapo::prelude::*;

#[workflow]
async fn checkout(
    ctx: WorkflowContext,
    items: impl IntoIterator<Item = u32>,
) -> WorkflowResult<u32> {
    let _ = ctx;
    Ok(items.into_iter().sum())
}

fn main() {}
