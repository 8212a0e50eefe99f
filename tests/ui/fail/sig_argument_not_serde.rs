use dacapo::prelude::*;

struct Card {
    number: String,
}

#[activity]
async fn charge_card(card: Card) -> Result<usize, ActivityError> {
    Ok(card.number.len())
}

fn main() {}
