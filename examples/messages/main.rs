//! The README's signal and query example, run on the embedded engine in memory: an order waits
//! for an approval, and a client asks its status before and after sending one.
//!
//! ```text
//! cargo run --example messages
//! ```

use dacapo::prelude::*;
use dacapo::{Embedded, StartOptions};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
}

pub const APPROVE: Signal<Approval> = Signal::new("approve");
pub const STATUS: Query<(), String> = Query::new("status");

#[workflow]
async fn order(ctx: WorkflowContext) -> WorkflowResult<String> {
    let status = ctx.state("waiting for approval".to_string()); // shared with the handlers
    ctx.on_query(STATUS, status.reader()); // answers with the current status
    let mut approvals = ctx.signal_channel(APPROVE); // signals sent earlier are kept
    dacapo::select! {
        a = approvals.recv() => status.set(format!("approved by {}", a?.by)),
        t = ctx.sleep(Duration::from_secs(24 * 3600)) => { t?; status.set("escalated".into()) }
    }
    Ok(status.get())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Embedded::builder()
        .in_memory()
        .task_queue("orders")
        .workflow(order)
        .start()
        .await?;
    let client = runtime.client();
    let handle = client
        .start_workflow(order, (), StartOptions::new("order-1", "orders"))
        .await?;
    println!("status: {}", handle.query(STATUS, ()).await?);
    handle
        .signal(APPROVE, Approval { by: "ops".into() })
        .await?;
    println!("result: {}", handle.result().await?);
    // A closed run is queried too: its worker replays the history to answer.
    println!("status after close: {}", handle.query(STATUS, ()).await?);
    runtime.shutdown().await;
    Ok(())
}
