use dacapo::prelude::*;

#[workflow]
async fn fan_out(ctx: WorkflowContext) -> WorkflowResult<u32> {
    let _ = ctx;
    let worker = std::thread::spawn(|| 2);
    Ok(worker.join().unwrap_or_default())
}

fn main() {}
