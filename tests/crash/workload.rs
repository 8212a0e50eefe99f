//! What the crash test runs: a mix of workflows (activities, timers, cancels with cleanup) and
//! the plan that says, from a seed, which workflow each id is and when it is cancelled. The
//! child process runs this code; the test replays the histories against the same code.

// Each includer uses its own part of this module.
#![allow(dead_code)]

use dacapo::prelude::*;
use dacapo::replay::Replayer;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Duration;

/// The task queue of every workflow and activity here.
pub const QUEUE: &str = "crash";

/// How long a workflow task may run before the engine hands it out again: short, so that a task
/// that died with its process comes back quickly.
pub const WORKFLOW_TASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Some work that takes `ms`. Not idempotent on purpose: after a crash it may run again.
#[activity(
    start_to_close = "2s",
    initial_interval = "100ms",
    max_interval = "500ms"
)]
pub async fn work(ms: u64) -> Result<u64, ActivityError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(ms)
}

/// Heartbeats until it is cancelled. A process crash stops the heartbeats, so the attempt times
/// out a second later and is retried.
#[activity(
    start_to_close = "10m",
    heartbeat_timeout = "1s",
    initial_interval = "100ms",
    max_interval = "500ms"
)]
pub async fn wait_for_cancel(ctx: ActivityContext) -> Result<(), ActivityError> {
    loop {
        ctx.heartbeat(()).await?;
        ctx.sleep(Duration::from_millis(100)).await?;
    }
}

/// The cleanup of a cancelled run.
#[activity(
    start_to_close = "2s",
    initial_interval = "100ms",
    max_interval = "500ms"
)]
pub async fn cleanup(ms: u64) -> Result<(), ActivityError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

/// A cleanup that notes each attempt in `marker` (synced, so the test can wait for it), and
/// whose first attempt never ends: the test kills the process while it runs.
#[activity(
    start_to_close = "1s",
    initial_interval = "100ms",
    max_interval = "500ms"
)]
pub async fn cleanup_until_killed(
    ctx: ActivityContext,
    marker: String,
) -> Result<(), ActivityError> {
    let attempt = ctx.info().attempt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&marker)
        .map_err(ActivityError::non_retryable)?;
    file.write_all(format!("cleanup attempt {attempt}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(ActivityError::non_retryable)?;
    if attempt == 1 {
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// The timings of one workflow, drawn from the seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// (work ms, pause ms) per step.
    pub steps: Vec<(u64, u64)>,
    /// How long the cleanup takes.
    pub cleanup_ms: u64,
}

/// Activities and pauses in turn; completes.
#[workflow]
pub async fn chain(ctx: WorkflowContext, plan: Plan) -> WorkflowResult<u64> {
    let mut total = 0;
    for (work_ms, pause_ms) in plan.steps {
        total += ctx.activity(work, work_ms).await?;
        ctx.sleep(Duration::from_millis(pause_ms)).await?;
    }
    Ok(total)
}

/// Timers only; completes.
#[workflow]
pub async fn timers(ctx: WorkflowContext, plan: Plan) -> WorkflowResult<usize> {
    for (_, pause_ms) in &plan.steps {
        ctx.sleep(Duration::from_millis(*pause_ms)).await?;
    }
    Ok(plan.steps.len())
}

/// The seed sample: waits (`WaitCompleted`) on an activity that runs until cancelled, cleans up.
#[workflow]
pub async fn cancel_waiting(ctx: WorkflowContext, plan: Plan) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup, plan.cleanup_ms).await?;
    }
    ctx.activity(wait_for_cancel, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    ctx.activity(work, 1).await?;
    Ok(())
}

/// Works, then sleeps an hour: the cancel finds it in the activity or on the timer.
#[workflow]
pub async fn cancel_sleeping(ctx: WorkflowContext, plan: Plan) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup, plan.cleanup_ms).await?;
    }
    let (work_ms, _) = plan.steps.first().copied().unwrap_or((10, 0));
    ctx.activity(work, work_ms).await?;
    ctx.sleep(Duration::from_secs(3600)).await?;
    Ok(())
}

/// Gives up on its activity as soon as it is cancelled (`TryCancel`), cleans up.
#[workflow]
pub async fn cancel_trying(ctx: WorkflowContext, plan: Plan) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup, plan.cleanup_ms).await?;
    }
    ctx.activity(wait_for_cancel, ())
        .cancellation(Cancellation::TryCancel)
        .await?;
    Ok(())
}

/// Scenario 8 of docs/semantics.md §10: cancelled while its activity runs; the cleanup's first
/// attempt is killed with the process.
#[workflow]
pub async fn cleanup_killed(ctx: WorkflowContext, marker: String) -> WorkflowResult<()> {
    on_cancel! {
        ctx.activity(cleanup_until_killed, marker).await?;
    }
    ctx.activity(wait_for_cancel, ())
        .cancellation(Cancellation::WaitCompleted)
        .await?;
    Ok(())
}

/// A replayer that knows every workflow here.
pub fn replayer() -> Replayer {
    Replayer::new()
        .workflow(chain)
        .workflow(timers)
        .workflow(cancel_waiting)
        .workflow(cancel_sleeping)
        .workflow(cancel_trying)
        .workflow(cleanup_killed)
}

/// The activity types a cleanup runs as.
pub const CLEANUP_TYPES: [&str; 2] = ["cleanup", "cleanup_until_killed"];

/// Which workflow an id of the crash test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chain,
    Timers,
    CancelWaiting,
    CancelSleeping,
    CancelTrying,
}

impl Kind {
    /// Whether the child cancels workflows of this kind.
    pub fn is_cancelled(self) -> bool {
        matches!(
            self,
            Kind::CancelWaiting | Kind::CancelSleeping | Kind::CancelTrying
        )
    }
}

/// Everything about workflow `index` of a run of the crash test.
#[derive(Debug, Clone)]
pub struct Planned {
    pub workflow_id: String,
    pub kind: Kind,
    pub plan: Plan,
    /// For cancelled kinds: how long after the child starts it sends the cancel.
    pub cancel_after_ms: u64,
}

/// The workflows of a crash test run: the same for every process given the same seed.
pub fn planned(seed: u64, count: usize) -> Vec<Planned> {
    (0..count)
        .map(|index| {
            let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let kind = match index % 5 {
                0 => Kind::Chain,
                1 => Kind::Timers,
                2 => Kind::CancelWaiting,
                3 => Kind::CancelSleeping,
                _ => Kind::CancelTrying,
            };
            let steps = (0..rng.range(1, 4))
                .map(|_| (rng.range(20, 300), rng.range(50, 1500)))
                .collect();
            Planned {
                workflow_id: format!("crash-{index}"),
                kind,
                plan: Plan {
                    steps,
                    cleanup_ms: rng.range(20, 400),
                },
                cancel_after_ms: rng.range(0, 1500),
            }
        })
        .collect()
}

/// SplitMix64: small, seedable, and the same everywhere, so a seed reproduces a run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}
