use dacapo::prelude::*;
use std::time::{Duration, SystemTime};

#[activity]
async fn send_receipt(_ctx: ActivityContext, order_id: u64) -> Result<(), ActivityError> {
    let _ = order_id;
    Ok(())
}

#[workflow]
async fn checkout(ctx: WorkflowContext, order_id: u64) -> WorkflowResult<u64> {
    on_cancel! {
        std::fs::remove_file("/tmp/lock").ok();
    }
    let started = SystemTime::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let discount: u8 = rand::random();
    println!("started at {:?}", std::time::Instant::now());
    send_receipt(order_id).await?;
    ctx.sleep(Duration::from_secs(1)).await?;
    let _ = started;
    Ok(u64::from(discount))
}

fn main() {}
