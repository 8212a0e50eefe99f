use dacapo::prelude::*;

#[workflow]
async fn fetch_price(ctx: WorkflowContext) -> WorkflowResult<String> {
    let _ = ctx;
    let page = reqwest::get("https://prices.example/eur").await;
    Ok(page.map(|_| "ok".to_string()).unwrap_or_default())
}

fn main() {}
