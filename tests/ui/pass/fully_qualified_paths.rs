//! The macros and types named by their full paths, with nothing imported.
#![deny(warnings)]

#[::dacapo::activity(start_to_close = "1m")]
async fn release_stock(
    _ctx: ::dacapo::ActivityContext,
    order_id: u64,
) -> ::core::result::Result<u64, ::dacapo::ActivityError> {
    Ok(order_id)
}

#[::dacapo::workflow(name = "checkout")]
async fn checkout(ctx: ::dacapo::WorkflowContext, order_id: u64) -> ::dacapo::WorkflowResult<u64> {
    ::dacapo::on_cancel! {
        ctx.activity(release_stock, order_id).await?;
    }
    ::dacapo::select! {
        released = ctx.activity(release_stock, order_id) => released,
        () = ctx.cancelled() => Ok(0),
    }
}

fn main() {
    assert_eq!(<checkout as ::dacapo::WorkflowDefinition>::NAME, "checkout");
}
