use dacapo::prelude::*;
use std::time::SystemTime;

#[workflow]
async fn order_age(ctx: WorkflowContext) -> WorkflowResult<u64> {
    let now = SystemTime::now();
    let age = now.duration_since(ctx.now()).unwrap_or_default();
    Ok(age.as_secs())
}

fn main() {}
