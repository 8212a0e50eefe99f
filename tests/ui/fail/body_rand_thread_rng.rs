use dacapo::prelude::*;

#[workflow]
async fn pick(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let _ = ctx;
    let mut rng = rand::thread_rng();
    Ok(rng.next_u32())
}

fn main() {}
