use dacapo::prelude::*;

struct Shop;

impl Shop {
    #[workflow]
    async fn checkout(&self, ctx: WorkflowContext) -> WorkflowResult<()> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {
    let _ = Shop;
}
