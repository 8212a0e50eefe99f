//! The client: start, cancel, terminate, signal, query, update and describe workflows and wait for their results,
//! through any WorkflowService (the embedded engine or a remote server).

use crate::definition::WorkflowDefinition;
use crate::failure::failure_text;
use crate::message::Signal;
use crate::payload::{self, Payload, PayloadError};
use crate::proto::EventAttributes;
use crate::proto::ServiceHandle;
use crate::proto::common::{WorkflowExecution, WorkflowType};
use crate::proto::enums::{HistoryEventFilterType, TaskQueueKind, WorkflowExecutionStatus};
use crate::proto::history::HistoryEvent;
use crate::proto::service::{
    DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest, RequestCancelWorkflowExecutionRequest,
    SignalWithStartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
};
use crate::proto::taskqueue::TaskQueue;
use crate::proto::{duration_to_proto, time_from_proto};
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

mod messages;

pub use messages::{QueryReject, UpdateHandle, UpdateStage, UpdateStatus};

/// What went wrong with a client call, or how a workflow ended when it did not complete.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No such workflow (or run).
    #[error("not found: {0}")]
    NotFound(String),
    /// A workflow with this id is already running.
    #[error("workflow `{workflow_id}` is already running (run id {run_id})")]
    AlreadyStarted {
        /// The workflow id.
        workflow_id: String,
        /// The running run's id, when the server said it.
        run_id: String,
    },
    /// The request was malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The workflow closed as Canceled.
    #[error("workflow `{workflow_id}` was cancelled")]
    Canceled {
        /// The workflow id.
        workflow_id: String,
    },
    /// The workflow closed as Failed.
    #[error("workflow `{workflow_id}` failed: {message}")]
    Failed {
        /// The workflow id.
        workflow_id: String,
        /// The failure's message.
        message: String,
    },
    /// The workflow was terminated.
    #[error("workflow `{workflow_id}` was terminated: {reason}")]
    Terminated {
        /// The workflow id.
        workflow_id: String,
        /// The reason given.
        reason: String,
    },
    /// The workflow timed out.
    #[error("workflow `{workflow_id}` timed out")]
    TimedOut {
        /// The workflow id.
        workflow_id: String,
    },
    /// The workflow's query handler failed, the workflow has no handler of that name, or the
    /// arguments did not decode into the handler's type.
    #[error("query `{name}` failed: {message}")]
    QueryFailed {
        /// The query's name.
        name: String,
        /// What the worker said.
        message: String,
    },
    /// The query was refused by the run's status, as the query's reject condition asked.
    #[error("query `{name}` was rejected: the workflow is {status}")]
    QueryRejected {
        /// The query's name.
        name: String,
        /// The run's status.
        status: WorkflowStatus,
    },
    /// The workflow's validator rejected the update, its handler failed, or the run closed
    /// before the handler finished.
    #[error("update `{name}` failed: {message}")]
    UpdateFailed {
        /// The update's name.
        name: String,
        /// The rejection's or the failure's text.
        message: String,
    },
    /// A value did not encode or decode.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Any other error from the service.
    #[error("the workflow service answered {code:?}: {message}")]
    Rpc {
        /// The gRPC status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::NotFound => Self::NotFound(s.message().to_string()),
            tonic::Code::InvalidArgument => Self::InvalidArgument(s.message().to_string()),
            code => Self::Rpc {
                code,
                message: s.message().to_string(),
            },
        }
    }
}

impl ClientError {
    /// Whether the workflow closed as Canceled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Canceled { .. })
    }

    /// Whether the service found no such workflow or run, or (for a signal or a terminate) found
    /// it already closed: `workflow execution already completed`, as Temporal answers.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}

/// Options for starting a workflow.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The workflow id; a random UUID when empty.
    pub id: String,
    /// The task queue its worker polls.
    pub task_queue: String,
    /// How long one workflow task may take before it is retried (default 10 s).
    pub workflow_task_timeout: Option<Duration>,
    /// How long the whole run may take.
    pub run_timeout: Option<Duration>,
}

impl StartOptions {
    /// Options with an id and a task queue.
    pub fn new(id: impl Into<String>, task_queue: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            task_queue: task_queue.into(),
            ..Default::default()
        }
    }
}

/// A workflow's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    /// Still running.
    Running,
    /// Returned `Ok`.
    Completed,
    /// Returned an error.
    Failed,
    /// Returned a cancellation.
    Canceled,
    /// Terminated.
    Terminated,
    /// Continued as a new run.
    ContinuedAsNew,
    /// Timed out.
    TimedOut,
    /// Unknown to this SDK.
    Unknown,
}

impl WorkflowStatus {
    fn from_proto(v: i32) -> Self {
        match WorkflowExecutionStatus::try_from(v) {
            Ok(WorkflowExecutionStatus::Running) => Self::Running,
            Ok(WorkflowExecutionStatus::Completed) => Self::Completed,
            Ok(WorkflowExecutionStatus::Failed) => Self::Failed,
            Ok(WorkflowExecutionStatus::Canceled) => Self::Canceled,
            Ok(WorkflowExecutionStatus::Terminated) => Self::Terminated,
            Ok(WorkflowExecutionStatus::ContinuedAsNew) => Self::ContinuedAsNew,
            Ok(WorkflowExecutionStatus::TimedOut) => Self::TimedOut,
            _ => Self::Unknown,
        }
    }
}

impl std::fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A pending activity, as describe reports it.
#[derive(Debug, Clone)]
pub struct PendingActivity {
    /// The activity id.
    pub activity_id: String,
    /// The activity type.
    pub activity_type: String,
    /// Scheduled, Started or CancelRequested.
    pub state: String,
    /// The current attempt.
    pub attempt: i32,
    /// The latest heartbeat details, as JSON text.
    pub heartbeat_details: Vec<String>,
    /// When the latest heartbeat arrived.
    pub last_heartbeat_time: Option<SystemTime>,
}

/// What describe reports.
#[derive(Debug, Clone)]
pub struct WorkflowDescription {
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// The workflow type.
    pub workflow_type: String,
    /// The status.
    pub status: WorkflowStatus,
    /// The task queue.
    pub task_queue: String,
    /// When it started.
    pub start_time: Option<SystemTime>,
    /// When it closed.
    pub close_time: Option<SystemTime>,
    /// Events in its history.
    pub history_length: i64,
    /// Activities not yet closed.
    pub pending_activities: Vec<PendingActivity>,
}

/// One row of a workflow list.
#[derive(Debug, Clone)]
pub struct WorkflowSummary {
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    /// The workflow type.
    pub workflow_type: String,
    /// The status.
    pub status: WorkflowStatus,
    /// The task queue.
    pub task_queue: String,
    /// When it started.
    pub start_time: Option<SystemTime>,
    /// When it closed.
    pub close_time: Option<SystemTime>,
}

/// A started workflow: its ids, and a way to wait for its typed result.
#[derive(Debug, Clone)]
pub struct WorkflowHandle<T> {
    client: Client,
    /// The workflow id.
    pub workflow_id: String,
    /// The run id.
    pub run_id: String,
    _out: PhantomData<fn() -> T>,
}

impl<T: Payload> WorkflowHandle<T> {
    /// Waits for the run to close and returns its result.
    ///
    /// # Errors
    /// [`ClientError::Canceled`], [`ClientError::Failed`], ... when it did not complete.
    pub async fn result(&self) -> Result<T, ClientError> {
        self.client
            .result(&self.workflow_id, Some(&self.run_id))
            .await
    }
    /// Requests cancellation of this run.
    ///
    /// # Errors
    /// As [`Client::cancel_workflow`].
    pub async fn cancel(&self, reason: &str) -> Result<(), ClientError> {
        self.client
            .cancel_workflow(&self.workflow_id, Some(&self.run_id), reason)
            .await
    }

    /// Sends `signal` with `value` to this run. Returns once the signal is durably recorded.
    ///
    /// # Errors
    /// As [`Client::signal_workflow`]: [`ClientError::NotFound`] when the run has closed.
    pub async fn signal<S: Payload>(&self, signal: Signal<S>, value: S) -> Result<(), ClientError> {
        self.client
            .signal_workflow(&self.workflow_id, Some(&self.run_id), signal, value)
            .await
    }
}

/// Answers queries without a round trip through the service's queues, where the client shares
/// a process with the engine and its worker (`Embedded`'s client).
pub(crate) trait LocalQueries: Send + Sync {
    /// The service's answer to `req`, when it can be given here; `None` sends the request.
    fn answer(
        &self,
        req: &crate::proto::service::QueryWorkflowRequest,
    ) -> Option<Result<crate::proto::service::QueryWorkflowResponse, tonic::Status>>;
}

/// A client of a WorkflowService.
#[derive(Clone)]
pub struct Client {
    service: ServiceHandle,
    namespace: String,
    identity: String,
    /// Answers queries in this process, when the client is `Embedded`'s.
    local_queries: Option<std::sync::Arc<dyn LocalQueries>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("namespace", &self.namespace)
            .finish()
    }
}

fn execution(workflow_id: &str, run_id: Option<&str>) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.unwrap_or_default().to_string(),
    })
}

impl Client {
    /// A client on `service` in namespace `default`.
    pub fn new(service: ServiceHandle) -> Self {
        Self {
            service,
            namespace: "default".to_string(),
            identity: format!("{}@dacapo-client", std::process::id()),
            local_queries: None,
        }
    }

    /// The same client, answering the queries `local` can answer without calling the service.
    pub(crate) fn with_local_queries(mut self, local: std::sync::Arc<dyn LocalQueries>) -> Self {
        self.local_queries = Some(local);
        self
    }

    /// The same client in another namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The service this client calls.
    pub fn service(&self) -> &ServiceHandle {
        &self.service
    }

    /// Starts a workflow with typed input.
    ///
    /// # Errors
    /// [`ClientError::AlreadyStarted`] when the id is running; others from the service.
    pub async fn start_workflow<W: WorkflowDefinition>(
        &self,
        _def: W,
        input: W::Input,
        options: StartOptions,
    ) -> Result<WorkflowHandle<W::Output>, ClientError> {
        let payloads = W::encode_input(&input)?;
        let run_id = self
            .start_workflow_by_name(W::NAME, payloads, &options)
            .await?;
        Ok(WorkflowHandle {
            client: self.clone(),
            workflow_id: options.id.clone(),
            run_id,
            _out: PhantomData,
        })
    }

    /// Starts a workflow by type name with raw payloads; returns the run id.
    ///
    /// # Errors
    /// [`ClientError::AlreadyStarted`] when the id is running; others from the service.
    pub async fn start_workflow_by_name(
        &self,
        workflow_type: &str,
        input: Vec<crate::proto::common::Payload>,
        options: &StartOptions,
    ) -> Result<String, ClientError> {
        let req = StartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id: options.id.clone(),
            workflow_type: Some(WorkflowType {
                name: workflow_type.to_string(),
            }),
            task_queue: Some(TaskQueue {
                name: options.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            input: payload::to_payloads(input),
            workflow_task_timeout: options.workflow_task_timeout.map(duration_to_proto),
            workflow_run_timeout: options.run_timeout.map(duration_to_proto),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        match self
            .service
            .start_workflow_execution(tonic::Request::new(req))
            .await
        {
            Ok(r) => Ok(r.into_inner().run_id),
            Err(s) if s.code() == tonic::Code::AlreadyExists => Err(ClientError::AlreadyStarted {
                workflow_id: options.id.clone(),
                run_id: running_run_id(&s),
            }),
            Err(s) => Err(s.into()),
        }
    }

    /// Requests cancellation of a workflow by id (`run_id` `None`: the current run). Returns
    /// once the request is durably recorded, not when the workflow has closed.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id; [`ClientError::InvalidArgument`] for an
    /// empty id or a run id that is not a UUID.
    pub async fn cancel_workflow(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        reason: &str,
    ) -> Result<(), ClientError> {
        let req = RequestCancelWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: execution(workflow_id, run_id),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            reason: reason.to_string(),
            ..Default::default()
        };
        self.service
            .request_cancel_workflow_execution(tonic::Request::new(req))
            .await?;
        Ok(())
    }

    /// Terminates a workflow at once: no workflow code and no cleanup runs.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown or already closed run.
    pub async fn terminate_workflow(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        reason: &str,
    ) -> Result<(), ClientError> {
        let req = TerminateWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: execution(workflow_id, run_id),
            reason: reason.to_string(),
            identity: self.identity.clone(),
            ..Default::default()
        };
        self.service
            .terminate_workflow_execution(tonic::Request::new(req))
            .await?;
        Ok(())
    }

    /// Sends `signal` with `value` to a workflow (`run_id` `None`: its current run). Returns
    /// once the signal is durably recorded (`WorkflowExecutionSignaled`), not when the workflow
    /// has read it.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id, and for a run that has closed (`workflow
    /// execution already completed`), naming the signal and the workflow;
    /// [`ClientError::InvalidArgument`] for a value over the service's payload limit.
    pub async fn signal_workflow<S: Payload>(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        signal: Signal<S>,
        value: S,
    ) -> Result<(), ClientError> {
        let input = payload::encode_args(&value)?;
        self.signal_workflow_raw(workflow_id, run_id, signal.name(), input)
            .await
    }

    /// Sends `signal` with `value` to the running run of `options.id`, or starts `W` with
    /// `input` (and the signal as its first event after the start) when none is running.
    /// Either way the workflow sees the signal; the handle is the run signalled.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a bad request; others from the service.
    pub async fn signal_with_start<W: WorkflowDefinition, S: Payload>(
        &self,
        _def: W,
        input: W::Input,
        options: StartOptions,
        signal: Signal<S>,
        value: S,
    ) -> Result<WorkflowHandle<W::Output>, ClientError> {
        let req = SignalWithStartWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_id: options.id.clone(),
            workflow_type: Some(WorkflowType {
                name: W::NAME.to_string(),
            }),
            task_queue: Some(TaskQueue {
                name: options.task_queue.clone(),
                kind: TaskQueueKind::Normal as i32,
                ..Default::default()
            }),
            input: payload::to_payloads(W::encode_input(&input)?),
            workflow_task_timeout: options.workflow_task_timeout.map(duration_to_proto),
            workflow_run_timeout: options.run_timeout.map(duration_to_proto),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            signal_name: signal.name().to_string(),
            signal_input: payload::to_payloads(payload::encode_args(&value)?),
            ..Default::default()
        };
        let run_id = self
            .service
            .signal_with_start_workflow_execution(tonic::Request::new(req))
            .await?
            .into_inner()
            .run_id;
        Ok(WorkflowHandle {
            client: self.clone(),
            workflow_id: options.id,
            run_id,
            _out: PhantomData,
        })
    }

    /// Describes a workflow run.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id.
    pub async fn describe_workflow(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<WorkflowDescription, ClientError> {
        let req = DescribeWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            execution: execution(workflow_id, run_id),
        };
        let r = self
            .service
            .describe_workflow_execution(tonic::Request::new(req))
            .await?
            .into_inner();
        let info = r.workflow_execution_info.unwrap_or_default();
        let exec = info.execution.unwrap_or_default();
        Ok(WorkflowDescription {
            workflow_id: exec.workflow_id,
            run_id: exec.run_id,
            workflow_type: info.r#type.map(|t| t.name).unwrap_or_default(),
            status: WorkflowStatus::from_proto(info.status),
            task_queue: info.task_queue,
            start_time: info.start_time.as_ref().map(time_from_proto),
            close_time: info.close_time.as_ref().map(time_from_proto),
            history_length: info.history_length,
            pending_activities: r
                .pending_activities
                .into_iter()
                .map(|a| PendingActivity {
                    activity_id: a.activity_id,
                    activity_type: a.activity_type.map(|t| t.name).unwrap_or_default(),
                    state: crate::proto::enums::PendingActivityState::try_from(a.state)
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_default(),
                    attempt: a.attempt,
                    heartbeat_details: payload::payload_list(&a.heartbeat_details)
                        .iter()
                        .map(payload::display)
                        .collect(),
                    last_heartbeat_time: a.last_heartbeat_time.as_ref().map(time_from_proto),
                })
                .collect(),
        })
    }

    /// Lists workflow runs, newest first. `query` uses Temporal's list filter syntax; the
    /// embedded engine understands `WorkflowId`, `WorkflowType` and `ExecutionStatus` joined by
    /// `AND`; empty lists everything.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] for a query the service cannot read.
    pub async fn list_workflows(&self, query: &str) -> Result<Vec<WorkflowSummary>, ClientError> {
        let mut out = Vec::new();
        let mut token = Vec::new();
        loop {
            let req = ListWorkflowExecutionsRequest {
                namespace: self.namespace.clone(),
                page_size: 1000,
                next_page_token: token,
                query: query.to_string(),
            };
            let page = self
                .service
                .list_workflow_executions(tonic::Request::new(req))
                .await?
                .into_inner();
            out.extend(page.executions.into_iter().map(|info| {
                let exec = info.execution.unwrap_or_default();
                WorkflowSummary {
                    workflow_id: exec.workflow_id,
                    run_id: exec.run_id,
                    workflow_type: info.r#type.map(|t| t.name).unwrap_or_default(),
                    status: WorkflowStatus::from_proto(info.status),
                    task_queue: info.task_queue,
                    start_time: info.start_time.as_ref().map(time_from_proto),
                    close_time: info.close_time.as_ref().map(time_from_proto),
                }
            }));
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    /// Sends a signal by name with raw payloads, for values no [`Signal`] constant describes.
    ///
    /// # Errors
    /// As [`Client::signal_workflow`].
    pub async fn signal_workflow_raw(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
        name: &str,
        input: Vec<crate::proto::common::Payload>,
    ) -> Result<(), ClientError> {
        let req = SignalWorkflowExecutionRequest {
            namespace: self.namespace.clone(),
            workflow_execution: execution(workflow_id, run_id),
            signal_name: name.to_string(),
            input: payload::to_payloads(input),
            identity: self.identity.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        match self
            .service
            .signal_workflow_execution(tonic::Request::new(req))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Err(ClientError::NotFound(format!(
                "signal `{name}` to workflow `{workflow_id}`: {}",
                s.message()
            ))),
            Err(s) => Err(s.into()),
        }
    }

    /// Waits for a run to close and returns its close event.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id.
    pub async fn close_event(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<HistoryEvent, ClientError> {
        self.wait_close_event(workflow_id, run_id).await
    }

    /// The full history of a run.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] for an unknown id.
    pub async fn history(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<Vec<HistoryEvent>, ClientError> {
        let mut events = Vec::new();
        let mut token = Vec::new();
        loop {
            let req = GetWorkflowExecutionHistoryRequest {
                namespace: self.namespace.clone(),
                execution: execution(workflow_id, run_id),
                next_page_token: token,
                ..Default::default()
            };
            let page = self
                .service
                .get_workflow_execution_history(tonic::Request::new(req))
                .await?
                .into_inner();
            events.extend(page.history.map(|h| h.events).unwrap_or_default());
            if page.next_page_token.is_empty() {
                return Ok(events);
            }
            token = page.next_page_token;
        }
    }

    /// Waits for a run to close and returns its typed result.
    ///
    /// # Errors
    /// [`ClientError::Canceled`], [`ClientError::Failed`], [`ClientError::Terminated`],
    /// [`ClientError::TimedOut`] when it did not complete; [`ClientError::NotFound`] for an
    /// unknown id.
    pub async fn result<T: Payload>(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<T, ClientError> {
        let close = self.wait_close_event(workflow_id, run_id).await?;
        let wf = workflow_id.to_string();
        match close.attributes {
            Some(EventAttributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                Ok(payload::decode(payload::payload_list(&a.result), 0)?)
            }
            Some(EventAttributes::WorkflowExecutionFailedEventAttributes(a)) => {
                Err(ClientError::Failed {
                    workflow_id: wf,
                    message: failure_text(a.failure.as_ref()),
                })
            }
            Some(EventAttributes::WorkflowExecutionCanceledEventAttributes(_)) => {
                Err(ClientError::Canceled { workflow_id: wf })
            }
            Some(EventAttributes::WorkflowExecutionTerminatedEventAttributes(a)) => {
                Err(ClientError::Terminated {
                    workflow_id: wf,
                    reason: a.reason,
                })
            }
            Some(EventAttributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                Err(ClientError::TimedOut { workflow_id: wf })
            }
            _ => Err(ClientError::Rpc {
                code: tonic::Code::Internal,
                message: format!(
                    "workflow `{workflow_id}` closed with an event this client does not know"
                ),
            }),
        }
    }

    async fn wait_close_event(
        &self,
        workflow_id: &str,
        run_id: Option<&str>,
    ) -> Result<HistoryEvent, ClientError> {
        loop {
            let req = GetWorkflowExecutionHistoryRequest {
                namespace: self.namespace.clone(),
                execution: execution(workflow_id, run_id),
                wait_new_event: true,
                history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
                ..Default::default()
            };
            let page = self
                .service
                .get_workflow_execution_history(tonic::Request::new(req))
                .await?
                .into_inner();
            if let Some(event) = page.history.and_then(|h| h.events.into_iter().last()) {
                return Ok(event);
            }
        }
    }
}

/// The run id a WorkflowExecutionAlreadyStarted status carries in its message, if any.
fn running_run_id(s: &tonic::Status) -> String {
    s.message()
        .split_whitespace()
        .find_map(|w| {
            uuid::Uuid::parse_str(w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
                .ok()
        })
        .map(|u| u.to_string())
        .unwrap_or_default()
}
