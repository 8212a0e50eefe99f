use dacapo::prelude::*;

#[workflow]
async fn order_age(ctx: WorkflowContext) -> WorkflowResult<u64> {
    use std::time::SystemTime as T;
    let age = T::now().duration_since(ctx.now()).unwrap_or_default();
    Ok(age.as_secs())
}

fn main() {}
