//! The context's stand-ins for clocks, timers and randomness, and deterministic code that looks
//! like what the lint rejects.
#![deny(warnings)]

use dacapo::prelude::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

#[workflow]
async fn stand_ins(ctx: WorkflowContext) -> WorkflowResult<String> {
    let started = ctx.now();
    ctx.sleep(Duration::from_millis(1500)).await?;
    let waited = ctx.now().duration_since(started).unwrap_or_default();
    let since_epoch = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let roll: u8 = ctx.random();
    let id = ctx.uuid();
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, 7233));
    let sleep = |seconds: u64| ctx.sleep(Duration::from_secs(seconds));
    sleep(1).await?;
    Ok(format!("{waited:?} {since_epoch:?} {roll} {id} {address}"))
}

fn main() {
    let _ = stand_ins;
}
