use dacapo::prelude::*;

async fn release_stock(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        println!("released");
    }
    let _ = ctx;
    Ok(())
}

fn main() {
    let _ = release_stock;
}
