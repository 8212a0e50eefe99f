use dacapo::prelude::*;

#[activity]
async fn charge_card(amount: impl Into<u64>) -> Result<u64, ActivityError> {
    Ok(amount.into())
}

fn main() {}
