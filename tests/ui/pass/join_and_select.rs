//! Waiting on several futures in a workflow, in the deterministic ways.
#![deny(warnings)]

use dacapo::prelude::*;
use futures::FutureExt;
use std::pin::pin;
use std::time::Duration;

#[activity]
async fn charge(_ctx: ActivityContext, amount: u64) -> Result<u64, ActivityError> {
    Ok(amount)
}

#[workflow]
async fn joined(ctx: WorkflowContext) -> WorkflowResult<u64> {
    let (first, second) = futures::join!(
        ctx.activity(charge, 1).into_future(),
        ctx.activity(charge, 2).into_future()
    );
    Ok(first? + second?)
}

#[workflow]
async fn all_joined(ctx: WorkflowContext, amounts: Vec<u64>) -> WorkflowResult<u64> {
    let calls = amounts
        .into_iter()
        .map(|amount| ctx.activity(charge, amount).into_future());
    let charged = futures::future::join_all(calls).await;
    charged.into_iter().sum()
}

#[workflow]
async fn biased(ctx: WorkflowContext) -> WorkflowResult<String> {
    let mut timer = pin!(ctx.sleep(Duration::from_secs(5)).fuse());
    let mut cancelled = pin!(ctx.cancelled().fuse());
    let winner = futures::select_biased! {
        _ = timer => "timer",
        () = cancelled => "cancel",
    };
    Ok(winner.to_string())
}

#[workflow]
async fn deadline(ctx: WorkflowContext, amount: u64) -> WorkflowResult<Option<u64>> {
    dacapo::select! {
        charged = ctx.activity(charge, amount) => charged.map(Some),
        slept = ctx.sleep(Duration::from_secs(60)) => slept.map(|()| None),
    }
}

#[workflow]
async fn tokio_biased(ctx: WorkflowContext) -> WorkflowResult<String> {
    let winner = tokio::select! {
        biased;
        _ = ctx.sleep(Duration::from_secs(5)) => "timer",
        () = ctx.cancelled() => "cancel",
    };
    Ok(winner.to_string())
}

fn main() {
    let _ = (joined, all_joined, biased, deadline, tokio_biased);
}
