use dacapo::prelude::*;

#[activity]
const CHARGE_LIMIT: u64 = 500;

fn main() {}
