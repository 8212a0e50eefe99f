//! The workflows and activities the benchmarks run, and the signals they give the driver.

use dacapo::prelude::*;
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::Notify;

/// One step of the throughput workflow: returns its input plus one.
#[activity(start_to_close = "30s")]
pub async fn step(_ctx: ActivityContext, n: u64) -> Result<u64, ActivityError> {
    Ok(n + 1)
}

/// The throughput workflow: three activities, one after the other.
#[workflow]
pub async fn three_steps(ctx: WorkflowContext, n: u64) -> WorkflowResult<u64> {
    let a = ctx.activity(step, n).await?;
    let b = ctx.activity(step, a).await?;
    let c = ctx.activity(step, b).await?;
    Ok(c)
}

/// Workflow ids whose heartbeating activity has sent its first heartbeat.
static HEARTBEATING: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Woken on every first heartbeat.
static HEARTBEAT_STARTED: Notify = Notify::const_new();

/// Waits until the heartbeating activity of `workflow_id` has sent its first heartbeat.
pub async fn heartbeating(workflow_id: &str) {
    loop {
        let woken = HEARTBEAT_STARTED.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if HEARTBEATING.lock().remove(workflow_id) {
            return;
        }
        woken.await;
    }
}

/// Heartbeats every second until it learns of a cancel.
#[activity(start_to_close = "10m", heartbeat_timeout = "2s")]
pub async fn heartbeat_until_cancelled(ctx: ActivityContext) -> Result<(), ActivityError> {
    let mut first = true;
    loop {
        ctx.heartbeat(()).await?;
        if first {
            first = false;
            HEARTBEATING.lock().insert(ctx.info().workflow_id.clone());
            HEARTBEAT_STARTED.notify_waiters();
        }
        ctx.sleep(Duration::from_secs(1)).await?;
    }
}

/// The cleanup the cancel-latency workflow runs after a cancel.
#[activity(start_to_close = "30s")]
pub async fn clean_up(_ctx: ActivityContext) -> Result<(), ActivityError> {
    Ok(())
}

/// The cancel-latency workflow: the seed's shape, a heartbeating activity that the workflow
/// waits on until it acknowledges the cancel, then a cleanup activity.
#[workflow]
pub async fn cancellable(ctx: WorkflowContext) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(clean_up, ()).await?;
    }
    ctx.activity(heartbeat_until_cancelled, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    Ok(())
}

/// The replay workflow: `steps` activities one after the other (six events each).
#[workflow]
pub async fn many_steps(ctx: WorkflowContext, steps: u64) -> WorkflowResult<u64> {
    let mut n = 0;
    for _ in 0..steps {
        n = ctx.activity(step, n).await?;
    }
    Ok(n)
}

/// The idle workflow: waits an hour on a timer.
#[workflow]
pub async fn wait_an_hour(ctx: WorkflowContext) -> WorkflowResult<()> {
    ctx.sleep(Duration::from_secs(3600)).await?;
    Ok(())
}

/// The cold-start workflow: returns at once, so its first workflow task closes it.
#[workflow]
pub async fn noop(_ctx: WorkflowContext) -> WorkflowResult<()> {
    Ok(())
}

/// The signal the messages benchmark sends.
pub const PING: Signal<u64> = Signal::new("ping");

/// The signal round-trip workflow: waits for one `ping` and returns its value plus one.
#[workflow]
pub async fn wait_for_ping(ctx: WorkflowContext) -> WorkflowResult<u64> {
    let mut pings = ctx.signal_channel(PING);
    Ok(pings.recv().await? + 1)
}

/// The update the messages benchmark sends.
pub const BUMP: Update<u64, u64> = Update::new("bump");

/// The update-latency workflow: answers `bump` with its argument plus one, until a `ping`.
#[workflow]
pub async fn takes_updates(ctx: WorkflowContext) -> WorkflowResult<u64> {
    ctx.on_update(BUMP, |n: u64| async move { Ok::<_, String>(n + 1) });
    ctx.signal_channel(PING).recv().await
}

/// The query the messages benchmark asks: how many steps the run has done.
pub const PROGRESS: Query<(), u64> = Query::new("progress");

/// The query-latency workflow: `steps` activities one after the other (six events each), each
/// result shared with the `progress` query, then waits for a `ping`.
#[workflow]
pub async fn queried_after_steps(ctx: WorkflowContext, steps: u64) -> WorkflowResult<u64> {
    let done = ctx.state(0u64);
    ctx.on_query(PROGRESS, done.reader());
    for _ in 0..steps {
        let n = ctx.activity(step, done.get()).await?;
        done.set(n);
    }
    ctx.signal_channel(PING).recv().await
}
