use dacapo::prelude::*;

#[activity]
fn charge_card(_ctx: ActivityContext) -> Result<(), ActivityError> {
    Ok(())
}

fn main() {}
