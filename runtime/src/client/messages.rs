//! Queries and updates from a client: typed through [`Query`] and [`Update`] constants, or by
//! name with raw payloads (for the CLI and values no constant describes).

use super::{Client, ClientError, WorkflowHandle, WorkflowStatus, execution};
use crate::failure::failure_text;
use crate::message::{Query, Update};
use crate::payload::{self, Payload};
use crate::proto::common::{Payload as RawPayload, WorkflowExecution};
use crate::proto::enums::{QueryRejectCondition, UpdateWorkflowExecutionLifecycleStage};
use crate::proto::query::WorkflowQuery;
use crate::proto::service::{
    PollWorkflowExecutionUpdateRequest, QueryWorkflowRequest, UpdateWorkflowExecutionRequest,
};
use crate::proto::update::{Input, Meta, Outcome, Request, UpdateRef, WaitPolicy, outcome};
use std::marker::PhantomData;

/// When a query is refused instead of answered, by the run's status
/// (`QueryRejectCondition` on the wire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueryReject {
    /// Never: a closed run is queried too (its worker replays its history to answer).
    #[default]
    Never,
    /// When the run is not open.
    NotOpen,
    /// When the run is not open and did not complete (it failed, was cancelled, terminated,
    /// timed out).
    NotCompletedCleanly,
}

impl QueryReject {
    fn to_proto(self) -> QueryRejectCondition {
        match self {
            Self::Never => QueryRejectCondition::None,
            Self::NotOpen => QueryRejectCondition::NotOpen,
            Self::NotCompletedCleanly => QueryRejectCondition::NotCompletedCleanly,
        }
    }
}

/// The stage an update call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStage {
    /// The workflow's validator accepted it (or rejected it: the call then gives the rejection).
    Accepted,
    /// The handler finished, with a result or a failure.
    Completed,
}

impl UpdateStage {
    fn to_proto(self) -> UpdateWorkflowExecutionLifecycleStage {
        match self {
            Self::Accepted => UpdateWorkflowExecutionLifecycleStage::Accepted,
            Self::Completed => UpdateWorkflowExecutionLifecycleStage::Completed,
        }
    }
}

/// Where an update stands, as [`Client::update_workflow_raw`] and [`Client::poll_update_raw`]
/// report it.
#[derive(Debug, Clone)]
pub struct UpdateStatus {
    /// The update id (the one given, or the one generated).
    pub update_id: String,
    /// The run the update went to.
    pub run_id: String,
    /// The stage reached: at least the one waited for.
    pub stage: UpdateStage,
    /// Once completed: its result payloads, or the failure's text (a validator's rejection or
    /// the handler's error).
    pub outcome: Option<Result<Vec<RawPayload>, String>>,
}

/// An update the workflow accepted, whose result may not be in yet; from
/// [`WorkflowHandle::start_update`].
#[derive(Debug, Clone)]
pub struct UpdateHandle<R> {
    client: Client,
    workflow_id: String,
    run_id: String,
    name: String,
    /// The update id.
    pub update_id: String,
    _out: PhantomData<fn() -> R>,
}

impl<R: Payload> UpdateHandle<R> {
    /// Waits for the handler to finish and returns its result.
    ///
    /// # Errors
    /// [`ClientError::UpdateFailed`] when the handler failed or the run closed before it
    /// finished; [`ClientError::Payload`] when the result does not decode into `R`.
    pub async fn result(&self) -> Result<R, ClientError> {
        let status = self
            .client
            .poll_update_raw(
                &self.workflow_id,
                Some(&self.run_id),
                &self.update_id,
                UpdateStage::Completed,
            )
            .await?;
        typed_outcome(&self.name, status)
    }
}

impl<T: Payload> WorkflowHandle<T> {
    /// Asks this run `query` with `args` and returns the answer of its query handler.
    ///
    /// # Errors
    /// As [`Client::query_workflow`].
    pub async fn query<A: Payload, R: Payload>(
        &self,
        query: Query<A, R>,
        args: A,
    ) -> Result<R, ClientError> {
        self.client
            .query_workflow(&self.workflow_id, Some(&self.run_id), query, args)
            .await
    }

    /// Sends this run `update` with `args`, waits for its handler to finish and returns its
    /// result.
    ///
    /// # Errors
    /// As [`Client::update_workflow`].
    pub async fn update<A: Payload, R: Payload>(
        &self,
        update: Update<A, R>,
        args: A,
    ) -> Result<R, ClientError> {
        self.client
            .update_workflow(&self.workflow_id, Some(&self.run_id), update, args)
            .await
    }

    /// Sends this run `update` with `args` and returns once the workflow accepted it; the
    /// handle waits for the result.
    ///
    /// # Errors
    /// [`ClientError::UpdateFailed`] when the validator rejected it; otherwise as
    /// [`Client::update_workflow`].
    pub async fn start_update<A: Payload, R: Payload>(
        &self,
        update: Update<A, R>,
        args: A,
    ) -> Result<UpdateHandle<R>, ClientError> {
        let args = payload::encode_args(&args)?;
        let status = self
            .client
            .update_workflow_raw(
                &self.workflow_id,
                Some(&self.run_id),
                update.name(),
                args,
                None,
                UpdateStage::Accepted,
            )
            .await?;
        if let Some(Err(message)) = status.outcome {
            return Err(update_failed(update.name(), message));
        }
        Ok(UpdateHandle {
            client: self.client.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: status.run_id,
            name: update.name().to_string(),
            update_id: status.update_id,
            _out: PhantomData,
        })
    }
}

impl Client {
    /// Asks a workflow (`run_id` `None`: its current run) `query` with `args` and returns the
    /// answer. A query is answered by the run's worker from the workflow's state and writes
    /// nothing; a closed run is answered too, by replaying its history.
    ///
    /// # Errors
    /// [`ClientError::QueryFailed`] when the handler failed, the query is unknown to the
    /// workflow or its arguments do not decode; [`ClientError::NotFound`] for an unknown id;
    /// [`ClientError::Rpc`] with `DeadlineExceeded` when no worker answered in time.
    pub async fn query_workflow<A: Payload, R: Payload>(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        query: Query<A, R>,
        args: A,
    ) -> Result<R, ClientError> {
        let args = payload::encode_args(&args)?;
        let answer = self
            .query_workflow_raw(workflow_id, run_id, query.name(), args, QueryReject::Never)
            .await?;
        Ok(payload::decode(&answer, 0)?)
    }

    /// Asks a query by name with raw payloads, refusing it by the run's status as `reject`
    /// says; returns the answer's payloads.
    ///
    /// # Errors
    /// [`ClientError::QueryRejected`] when `reject` applied; otherwise as
    /// [`Client::query_workflow`].
    pub async fn query_workflow_raw(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        name: &str,
        args: Vec<RawPayload>,
        reject: QueryReject,
    ) -> Result<Vec<RawPayload>, ClientError> {
        let req = QueryWorkflowRequest {
            namespace: self.namespace.clone(),
            execution: execution(workflow_id, run_id),
            query: Some(WorkflowQuery {
                query_type: name.to_string(),
                query_args: payload::to_payloads(args),
                header: None,
            }),
            query_reject_condition: reject.to_proto() as i32,
        };
        let local = self.local_queries.as_ref().and_then(|l| l.answer(&req));
        let answered = match local {
            Some(answered) => answered,
            None => self
                .service
                .query_workflow(tonic::Request::new(req))
                .await
                .map(tonic::Response::into_inner),
        };
        let answer = match answered {
            Ok(answer) => answer,
            // Temporal answers a query whose handler failed as QueryFailed: an InvalidArgument
            // with a QueryFailedFailure detail. Without the detail, the request was refused.
            Err(s)
                if s.code() == tonic::Code::InvalidArgument
                    && has_detail(&s, "QueryFailedFailure") =>
            {
                return Err(ClientError::QueryFailed {
                    name: name.to_string(),
                    message: s.message().to_string(),
                });
            }
            Err(s) => return Err(s.into()),
        };
        if let Some(rejected) = answer.query_rejected {
            return Err(ClientError::QueryRejected {
                name: name.to_string(),
                status: WorkflowStatus::from_proto(rejected.status),
            });
        }
        Ok(payload::payload_list(&answer.query_result).to_vec())
    }

    /// Sends a workflow (`run_id` `None`: its current run) `update` with `args`, waits for its
    /// handler to finish and returns its result.
    ///
    /// # Errors
    /// [`ClientError::UpdateFailed`] when the validator rejected it, the handler failed or the
    /// run closed before it finished; [`ClientError::NotFound`] for an unknown id or a closed
    /// run (`workflow execution already completed`).
    pub async fn update_workflow<A: Payload, R: Payload>(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        update: Update<A, R>,
        args: A,
    ) -> Result<R, ClientError> {
        let args = payload::encode_args(&args)?;
        let status = self
            .update_workflow_raw(
                workflow_id,
                run_id,
                update.name(),
                args,
                None,
                UpdateStage::Completed,
            )
            .await?;
        typed_outcome(update.name(), status)
    }

    /// Sends an update by name with raw payloads and waits for `wait`. `update_id` names it
    /// (a random UUID when `None`): sending the same id again is answered by the same update,
    /// never run twice.
    ///
    /// # Errors
    /// As [`Client::update_workflow`], except that a rejection or a failure is the returned
    /// status' outcome, not an error.
    pub async fn update_workflow_raw(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        name: &str,
        args: Vec<RawPayload>,
        update_id: Option<&str>,
        wait: UpdateStage,
    ) -> Result<UpdateStatus, ClientError> {
        let run_id_in = run_id;
        let update_id = update_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        let req = UpdateWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: execution(workflow_id, run_id),
            first_execution_run_id: String::new(),
            wait_policy: Some(WaitPolicy {
                lifecycle_stage: wait.to_proto() as i32,
            }),
            request: Some(Request {
                meta: Some(Meta {
                    update_id: update_id.clone(),
                    identity: self.identity.clone(),
                }),
                input: Some(Input {
                    header: None,
                    name: name.to_string(),
                    args: payload::to_payloads(args),
                }),
                ..Default::default()
            }),
        };
        let answer = match self
            .service
            .update_workflow_execution(tonic::Request::new(req))
            .await
        {
            Ok(answer) => answer.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(ClientError::NotFound(format!(
                    "update `{name}` of workflow `{workflow_id}`: {}",
                    s.message()
                )));
            }
            Err(s) => return Err(s.into()),
        };
        let run_id = run_of(answer.update_ref);
        if let Some(status) = status_of(
            update_id.clone(),
            run_id.clone(),
            answer.stage,
            answer.outcome,
        ) && reached(&status, wait)
        {
            return Ok(status);
        }
        // The service answers at its long-poll timeout with the stage reached so far.
        let run_id = (!run_id.is_empty()).then_some(run_id);
        self.poll_update_raw(
            workflow_id,
            run_id.as_deref().or(run_id_in),
            &update_id,
            wait,
        )
        .await
    }

    /// Waits for update `update_id` of a workflow to reach `wait` and reports where it stands.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] when the run has no such update, or for an unknown id.
    pub async fn poll_update_raw(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        update_id: &str,
        wait: UpdateStage,
    ) -> Result<UpdateStatus, ClientError> {
        loop {
            let req = PollWorkflowExecutionUpdateRequest {
                namespace: self.namespace.clone(),
                update_ref: Some(UpdateRef {
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: workflow_id.to_string(),
                        run_id: run_id.unwrap_or_default().to_string(),
                    }),
                    update_id: update_id.to_string(),
                }),
                identity: self.identity.clone(),
                wait_policy: Some(WaitPolicy {
                    lifecycle_stage: wait.to_proto() as i32,
                }),
            };
            let answer = self
                .service
                .poll_workflow_execution_update(tonic::Request::new(req))
                .await?
                .into_inner();
            let run_id = run_of(answer.update_ref);
            if let Some(status) =
                status_of(update_id.to_string(), run_id, answer.stage, answer.outcome)
                && reached(&status, wait)
            {
                return Ok(status);
            }
        }
    }
}

/// Whether `s` carries a `temporal.api.errordetails.v1.{name}` detail, as Temporal's server
/// (and dacapo's) marks the kind of an error.
fn has_detail(s: &tonic::Status, name: &str) -> bool {
    use prost::Message as _;
    let wanted = format!("type.googleapis.com/temporal.api.errordetails.v1.{name}");
    temporalio_protos::google::rpc::Status::decode(s.details())
        .is_ok_and(|status| status.details.iter().any(|d| d.type_url == wanted))
}

/// The run an update reference names (empty when the service named none).
fn run_of(update_ref: Option<UpdateRef>) -> String {
    update_ref
        .and_then(|r| r.workflow_execution)
        .map(|e| e.run_id)
        .unwrap_or_default()
}

/// Reads a service's answer about an update: `None` while it is only admitted (no worker has
/// seen it yet), which answers no caller.
fn status_of(
    update_id: String,
    run_id: String,
    stage: i32,
    outcome: Option<Outcome>,
) -> Option<UpdateStatus> {
    let outcome = outcome.and_then(|o| o.value).map(|v| match v {
        outcome::Value::Success(p) => Ok(p.payloads),
        outcome::Value::Failure(f) => Err(failure_text(Some(&f))),
    });
    let stage =
        if outcome.is_some() || stage == UpdateWorkflowExecutionLifecycleStage::Completed as i32 {
            UpdateStage::Completed
        } else if stage == UpdateWorkflowExecutionLifecycleStage::Accepted as i32 {
            UpdateStage::Accepted
        } else {
            return None;
        };
    Some(UpdateStatus {
        update_id,
        run_id,
        stage,
        outcome,
    })
}

/// Whether `status` answers a caller waiting for `wait`: the stage is reached, or the update
/// is already over (a rejection answers a caller waiting for acceptance).
fn reached(status: &UpdateStatus, wait: UpdateStage) -> bool {
    status.outcome.is_some() || (wait == UpdateStage::Accepted && status.stage == wait)
}

fn update_failed(name: &str, message: String) -> ClientError {
    ClientError::UpdateFailed {
        name: name.to_string(),
        message,
    }
}

/// The typed result of a completed update.
fn typed_outcome<R: Payload>(name: &str, status: UpdateStatus) -> Result<R, ClientError> {
    match status.outcome {
        Some(Ok(payloads)) => Ok(payload::decode(&payloads, 0)?),
        Some(Err(message)) => Err(update_failed(name, message)),
        None => Err(ClientError::Rpc {
            code: tonic::Code::Internal,
            message: format!("update `{name}` was reported completed without an outcome"),
        }),
    }
}
