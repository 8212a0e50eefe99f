//! dacapo under another name, found through `crate = ".."`. Cargo cannot give one package two
//! names in one manifest, so the test crate renames it the other way Rust offers.
#![deny(warnings)]

extern crate dacapo as flow;

use flow::prelude::*;

#[activity(crate = "flow")]
async fn release_stock(_ctx: ActivityContext, order_id: u64) -> Result<u64, ActivityError> {
    Ok(order_id)
}

#[workflow(crate = "flow")]
async fn checkout(ctx: WorkflowContext, order_id: u64) -> WorkflowResult<u64> {
    flow::on_cancel! {
        ctx.activity(release_stock, order_id).await?;
    }
    flow::select! {
        released = ctx.activity(release_stock, order_id) => released,
        () = ctx.cancelled() => Ok(0),
    }
}

fn main() {
    assert_eq!(<checkout as flow::WorkflowDefinition>::NAME, "checkout");
}
