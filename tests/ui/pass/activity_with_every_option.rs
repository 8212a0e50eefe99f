//! An activity with every argument set; its body is not linted, since activities are where
//! clocks, randomness and I/O belong.
#![deny(warnings)]

use dacapo::prelude::*;
use std::time::{Duration, SystemTime};

#[activity(
    name = "charge-card",
    start_to_close = "30s",
    schedule_to_close = "5m",
    schedule_to_start = "1m",
    heartbeat_timeout = "10s",
    cancellation = "WaitCompleted",
    task_queue = "payments",
    max_attempts = 5,
    initial_interval = "1s",
    backoff = 2.0,
    max_interval = "1m",
    non_retryable = ["InvalidCard", "Fraud"],
    crate = "dacapo"
)]
async fn charge_card(ctx: ActivityContext, amount: u64) -> Result<u64, ActivityError> {
    let started = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(1)).await;
    ctx.heartbeat(started.elapsed().unwrap_or_default().as_millis() as u64)
        .await?;
    let _ = std::fs::metadata(".").is_ok();
    Ok(amount)
}

fn main() {
    use dacapo::ActivityDefinition;
    assert_eq!(<charge_card as ActivityDefinition>::NAME, "charge-card");
    let options = <charge_card as ActivityDefinition>::options();
    assert_eq!(options.task_queue.as_deref(), Some("payments"));
}
