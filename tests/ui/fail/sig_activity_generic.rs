use dacapo::prelude::*;

#[activity]
async fn charge_card<T>(_ctx: ActivityContext, card: T) -> Result<T, ActivityError> {
    Ok(card)
}

fn main() {}
