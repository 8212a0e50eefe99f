//! Type-erased registrations: what a worker can run, looked up by type name.

use crate::activity::ActivityContext;
use crate::definition::{ActivityDefinition, BoxFuture, WorkflowDefinition};
use crate::error::{ActivityError, WorkflowError};
use crate::payload;
use crate::proto::common::Payload as RawPayload;
use crate::workflow::WorkflowContext;
use crate::workflow::executor::RunOutput;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A registered workflow, without its types.
pub(crate) trait ErasedWorkflow: Send + Sync {
    fn start(&self, ctx: WorkflowContext, input: &[RawPayload]) -> BoxFuture<RunOutput>;
}

/// A registered activity, without its types.
pub(crate) trait ErasedActivity: Send + Sync {
    fn start(
        &self,
        ctx: ActivityContext,
        input: &[RawPayload],
    ) -> BoxFuture<Result<Vec<RawPayload>, ActivityError>>;
}

pub(crate) struct WorkflowEntry<W>(PhantomData<fn() -> W>);
impl<W> WorkflowEntry<W> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

pub(crate) struct ActivityEntry<A>(PhantomData<fn() -> A>);
impl<A> ActivityEntry<A> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

/// The input of a workflow or activity did not fit its argument types.
#[derive(Debug, thiserror::Error)]
#[error("the input of {kind} `{name}` is invalid: {source}")]
struct InputError {
    kind: &'static str,
    name: &'static str,
    source: payload::PayloadError,
}

impl<W: WorkflowDefinition> ErasedWorkflow for WorkflowEntry<W> {
    fn start(&self, ctx: WorkflowContext, input: &[RawPayload]) -> BoxFuture<RunOutput> {
        match W::decode_input(input) {
            Ok(input) => {
                let body = W::execute(ctx, input);
                Box::pin(async move {
                    let out = body.await?;
                    Ok(vec![payload::encode(&out)?])
                })
            }
            Err(source) => {
                let err = WorkflowError::from(InputError {
                    kind: "workflow",
                    name: W::NAME,
                    source,
                });
                Box::pin(async move { Err(err) })
            }
        }
    }
}

impl<A: ActivityDefinition> ErasedActivity for ActivityEntry<A> {
    fn start(
        &self,
        ctx: ActivityContext,
        input: &[RawPayload],
    ) -> BoxFuture<Result<Vec<RawPayload>, ActivityError>> {
        match A::decode_input(input) {
            Ok(input) => {
                let body = A::execute(ctx, input);
                Box::pin(async move {
                    let out = body.await?;
                    payload::encode(&out)
                        .map(|p| vec![p])
                        .map_err(ActivityError::non_retryable)
                })
            }
            Err(source) => {
                let err = ActivityError::non_retryable(InputError {
                    kind: "activity",
                    name: A::NAME,
                    source,
                });
                Box::pin(async move { Err(err) })
            }
        }
    }
}

/// Everything registered on a worker.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) workflows: BTreeMap<String, Arc<dyn ErasedWorkflow>>,
    pub(crate) activities: BTreeMap<String, Arc<dyn ErasedActivity>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .field("activities", &self.activities.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    pub(crate) fn workflow_names(&self) -> String {
        names(self.workflows.keys())
    }
    pub(crate) fn activity_names(&self) -> String {
        names(self.activities.keys())
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(|s| s.as_str()).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}
