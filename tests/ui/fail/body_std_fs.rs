use dacapo::prelude::*;

#[workflow]
async fn load_config(ctx: WorkflowContext) -> WorkflowResult<String> {
    let _ = ctx;
    let config = std::fs::read_to_string("config.toml").unwrap_or_default();
    Ok(config)
}

fn main() {}
