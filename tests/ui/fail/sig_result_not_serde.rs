use dacapo::prelude::*;

#[derive(Debug)]
pub struct Receipt {
    pub total: u64,
}

#[workflow]
async fn checkout(ctx: WorkflowContext) -> WorkflowResult<Receipt> {
    let _ = ctx;
    Ok(Receipt { total: 0 })
}

fn main() {}
