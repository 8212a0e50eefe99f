use dacapo::prelude::*;

#[workflow]
struct Checkout {
    order_id: u64,
}

fn main() {}
