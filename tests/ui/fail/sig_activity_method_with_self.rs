use dacapo::prelude::*;

struct Payments;

impl Payments {
    #[activity]
    async fn charge_card(self, _ctx: ActivityContext) -> Result<(), ActivityError> {
        Ok(())
    }
}

fn main() {
    let _ = Payments;
}
