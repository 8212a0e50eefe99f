use dacapo::prelude::*;

#[workflow]
async fn stamp(ctx: WorkflowContext) -> WorkflowResult<String> {
    let _ = ctx;
    Ok(chrono::Utc::now().to_rfc3339())
}

fn main() {}
