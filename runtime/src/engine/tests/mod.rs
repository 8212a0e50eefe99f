//! Engine tests that drive the WorkflowService by hand, the way a worker and a client would, and
//! check the exact histories that result.

use super::{Engine, EngineConfig};
use crate::proto::CommandAttributes;
use crate::proto::WorkflowService;
use crate::proto::command::*;
use crate::proto::common::{ActivityType, Payloads, RetryPolicy, WorkflowExecution, WorkflowType};
use crate::proto::enums::{CommandType, EventType};
use crate::proto::history::HistoryEvent;
use crate::proto::service::*;
use crate::proto::taskqueue::TaskQueue;
use std::time::Duration;
use tonic::{Code, Request, Status};

mod activities;
mod cancellation;
mod damaged;
mod ids;
mod load;
mod misc;
mod pages;
mod poison;
mod queries;
mod queues;
mod restart;
mod run_limits;
mod speculative;
mod store_faults;
mod timers;
mod tokens;
mod update_with_start;
mod updates;

pub(super) const NS: &str = "default";
pub(super) const QUEUE: &str = "queue";

/// Short timeouts so that empty polls return quickly.
pub(super) fn config() -> EngineConfig {
    EngineConfig {
        long_poll_timeout: Duration::from_millis(1000),
        ..EngineConfig::default()
    }
}

pub(super) fn millis(ms: i64) -> prost_wkt_types::Duration {
    super::clock::dur(ms)
}

pub(super) fn payloads(json: &str) -> Option<Payloads> {
    let p = crate::payload::encode(&serde_json::from_str::<serde_json::Value>(json).ok()).ok()?;
    Some(Payloads { payloads: vec![p] })
}

/// A test client and worker in one.
pub(super) struct Harness {
    pub engine: Engine,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self {
            engine: Engine::in_memory(config()),
        }
    }

    pub(super) fn on(engine: Engine) -> Self {
        Self { engine }
    }

    pub(super) fn start_request(&self, workflow_id: &str) -> StartWorkflowExecutionRequest {
        StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "your_workflow".into(),
            }),
            task_queue: Some(TaskQueue {
                name: QUEUE.into(),
                ..Default::default()
            }),
            identity: "test-client".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        }
    }

    /// Starts a workflow; returns its run id.
    pub(super) async fn start(&self, workflow_id: &str) -> String {
        let req = self.start_request(workflow_id);
        let resp = self
            .engine
            .start_workflow_execution(Request::new(req))
            .await;
        resp.expect("start").into_inner().run_id
    }

    /// Polls for a workflow task and expects one.
    pub(super) async fn poll_wft(&self) -> PollWorkflowTaskQueueResponse {
        let resp = self.try_poll_wft().await;
        assert!(!resp.task_token.is_empty(), "expected a workflow task");
        resp
    }

    pub(super) async fn try_poll_wft(&self) -> PollWorkflowTaskQueueResponse {
        let req = PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: Some(TaskQueue {
                name: QUEUE.into(),
                ..Default::default()
            }),
            identity: "test-worker".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .poll_workflow_task_queue(Request::new(req))
            .await;
        resp.expect("poll workflow task").into_inner()
    }

    /// Completes a workflow task with commands.
    pub(super) async fn complete(
        &self,
        task: &PollWorkflowTaskQueueResponse,
        commands: Vec<Command>,
    ) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
        self.send_completion(completion(task, commands)).await
    }

    /// Sends a workflow task's completion, as built by [`completion`] and then added to.
    pub(super) async fn send_completion(
        &self,
        req: RespondWorkflowTaskCompletedRequest,
    ) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
        self.engine
            .respond_workflow_task_completed(Request::new(req))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Fails a workflow task (no cause given), as a worker whose code broke does; expects the
    /// engine to take it.
    pub(super) async fn fail_task(&self, task: &PollWorkflowTaskQueueResponse) {
        let req = RespondWorkflowTaskFailedRequest {
            namespace: NS.into(),
            task_token: task.task_token.clone(),
            identity: "test-worker".into(),
            ..Default::default()
        };
        self.engine
            .respond_workflow_task_failed(Request::new(req))
            .await
            .expect("fail");
    }

    /// Polls for an activity task and expects one.
    pub(super) async fn poll_activity(&self) -> PollActivityTaskQueueResponse {
        let resp = self.try_poll_activity().await;
        assert!(!resp.task_token.is_empty(), "expected an activity task");
        resp
    }

    pub(super) async fn try_poll_activity(&self) -> PollActivityTaskQueueResponse {
        let req = PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: Some(TaskQueue {
                name: QUEUE.into(),
                ..Default::default()
            }),
            identity: "test-activity-worker".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .poll_activity_task_queue(Request::new(req))
            .await;
        resp.expect("poll activity task").into_inner()
    }

    pub(super) async fn heartbeat(&self, token: &[u8]) -> Result<bool, Status> {
        let req = RecordActivityTaskHeartbeatRequest {
            namespace: NS.into(),
            task_token: token.to_vec(),
            identity: "test-activity-worker".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .record_activity_task_heartbeat(Request::new(req))
            .await;
        resp.map(|r| r.into_inner().cancel_requested)
    }

    pub(super) async fn activity_completed(&self, token: &[u8]) -> Result<(), Status> {
        let req = RespondActivityTaskCompletedRequest {
            namespace: NS.into(),
            task_token: token.to_vec(),
            result: payloads("\"done\""),
            identity: "test-activity-worker".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .respond_activity_task_completed(Request::new(req))
            .await;
        resp.map(|_| ())
    }

    pub(super) async fn activity_canceled(&self, token: &[u8]) -> Result<(), Status> {
        let req = RespondActivityTaskCanceledRequest {
            namespace: NS.into(),
            task_token: token.to_vec(),
            identity: "test-activity-worker".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .respond_activity_task_canceled(Request::new(req))
            .await;
        resp.map(|_| ())
    }

    pub(super) async fn cancel(&self, workflow_id: &str, run_id: &str) -> Result<(), Status> {
        let req = RequestCancelWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: run_id.into(),
            }),
            identity: "test-client".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            reason: "user asked".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .request_cancel_workflow_execution(Request::new(req))
            .await;
        resp.map(|_| ())
    }

    /// Signals the latest run of `workflow_id` and expects it to take the signal.
    pub(super) async fn signal(&self, workflow_id: &str, signal_name: &str) {
        let req = SignalWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            signal_name: signal_name.into(),
            identity: "test-client".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let resp = self
            .engine
            .signal_workflow_execution(Request::new(req))
            .await;
        resp.expect("signal");
    }

    pub(super) async fn terminate(&self, workflow_id: &str) -> Result<(), Status> {
        let req = TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            reason: "stop".into(),
            identity: "test-client".into(),
            ..Default::default()
        };
        let resp = self
            .engine
            .terminate_workflow_execution(Request::new(req))
            .await;
        resp.map(|_| ())
    }

    pub(super) async fn describe(&self, workflow_id: &str) -> DescribeWorkflowExecutionResponse {
        let req = DescribeWorkflowExecutionRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
        };
        let resp = self
            .engine
            .describe_workflow_execution(Request::new(req))
            .await;
        resp.expect("describe").into_inner()
    }

    /// The full history of the latest run of `workflow_id`.
    pub(super) async fn events(&self, workflow_id: &str) -> Vec<HistoryEvent> {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            ..Default::default()
        };
        let resp = self
            .engine
            .get_workflow_execution_history(Request::new(req))
            .await;
        let events = resp
            .expect("history")
            .into_inner()
            .history
            .unwrap_or_default()
            .events;
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.event_id, i as i64 + 1, "event ids are dense");
            assert!(e.event_time.is_some() && e.task_id > 0);
        }
        events
    }

    /// The event types of the latest run of `workflow_id`.
    pub(super) async fn types(&self, workflow_id: &str) -> Vec<EventType> {
        self.events(workflow_id)
            .await
            .iter()
            .map(event_type)
            .collect()
    }
}

pub(super) fn event_type(e: &HistoryEvent) -> EventType {
    EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)
}

pub(super) fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// The one `temporal.api.errordetails.v1` detail of a status: its type name (after
/// `type.googleapis.com/`) and encoded value.
pub(super) fn detail(status: &Status) -> (String, Vec<u8>) {
    use prost::Message as _;
    let rpc = temporalio_protos::google::rpc::Status::decode(status.details())
        .expect("the status details are a google.rpc.Status");
    assert_eq!(rpc.details.len(), 1, "{rpc:?}");
    let any = &rpc.details[0];
    let name = any
        .type_url
        .strip_prefix("type.googleapis.com/")
        .unwrap_or_else(|| panic!("type url {}", any.type_url));
    (name.to_string(), any.value.clone())
}

/// Runs `call` on a task of its own and returns once `held` (how many calls of its kind the
/// engine holds) has grown, or the call has finished, so that what the test does next happens
/// after the call arrived.
pub(super) async fn in_background<T: Send + 'static>(
    what: &str,
    held: impl Fn() -> usize,
    call: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let before = held();
    let call = tokio::spawn(call);
    for _ in 0..10_000 {
        if held() > before || call.is_finished() {
            return call;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the {what} never reached the engine");
}

/// The completion of `task` with `commands`, as a test worker sends it.
pub(super) fn completion(
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<Command>,
) -> RespondWorkflowTaskCompletedRequest {
    RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        commands,
        identity: "test-worker".into(),
        ..Default::default()
    }
}

/// Fails unless `result` is a refusal with `code` whose message says `says`.
pub(super) fn expect_refusal<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    says: &str,
) {
    let status = expect_code(result, code);
    assert!(
        status.message().contains(says),
        "expected {code:?} saying {says:?}, got: {}",
        status.message()
    );
}

pub(super) fn schedule_activity(id: &str, activity_type: &str, heartbeat_ms: i64) -> Command {
    command(
        CommandType::ScheduleActivityTask,
        CommandAttributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: id.into(),
                activity_type: Some(ActivityType {
                    name: activity_type.into(),
                }),
                start_to_close_timeout: Some(millis(30 * 60 * 1000)),
                heartbeat_timeout: (heartbeat_ms > 0).then(|| millis(heartbeat_ms)),
                input: payloads("null"),
                ..Default::default()
            },
        ),
    )
}

pub(super) fn with_retry(mut c: Command, initial_ms: i64, max_attempts: i32) -> Command {
    if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) = c.attributes.as_mut()
    {
        a.retry_policy = Some(RetryPolicy {
            initial_interval: Some(millis(initial_ms)),
            maximum_attempts: max_attempts,
            ..Default::default()
        });
    }
    c
}

pub(super) fn cancel_activity(scheduled_event_id: i64) -> Command {
    command(
        CommandType::RequestCancelActivityTask,
        CommandAttributes::RequestCancelActivityTaskCommandAttributes(
            RequestCancelActivityTaskCommandAttributes { scheduled_event_id },
        ),
    )
}

pub(super) fn start_timer(id: &str, ms: i64) -> Command {
    command(
        CommandType::StartTimer,
        CommandAttributes::StartTimerCommandAttributes(StartTimerCommandAttributes {
            timer_id: id.into(),
            start_to_fire_timeout: Some(millis(ms)),
        }),
    )
}

pub(super) fn cancel_timer(id: &str) -> Command {
    command(
        CommandType::CancelTimer,
        CommandAttributes::CancelTimerCommandAttributes(CancelTimerCommandAttributes {
            timer_id: id.into(),
        }),
    )
}

pub(super) fn complete_workflow() -> Command {
    command(
        CommandType::CompleteWorkflowExecution,
        CommandAttributes::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes {
                result: payloads("\"ok\""),
            },
        ),
    )
}

pub(super) fn cancel_workflow() -> Command {
    command(
        CommandType::CancelWorkflowExecution,
        CommandAttributes::CancelWorkflowExecutionCommandAttributes(
            CancelWorkflowExecutionCommandAttributes { details: None },
        ),
    )
}

fn command(command_type: CommandType, attributes: CommandAttributes) -> Command {
    Command {
        command_type: command_type as i32,
        attributes: Some(attributes),
        ..Default::default()
    }
}
