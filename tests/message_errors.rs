//! The errors of queries, updates and update-with-start on three backends (the embedded engine, `dacapo server`,
//! the Temporal dev server), driven the same way with raw gRPC calls: each must answer with the
//! same gRPC code and the same `temporal.api.errordetails.v1` detail, which is how SDK clients
//! tell the errors apart.
//!
//! Needs `temporal` on PATH (scripts/test installs it).

use dacapo::proto::ServiceHandle;
use dacapo::proto::common::{WorkflowExecution, WorkflowType};
use dacapo::proto::enums::{QueryRejectCondition, QueryResultType, WorkflowExecutionStatus};
use dacapo::proto::query::WorkflowQuery;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use dacapo::proto::update::{Input, Meta, Request as UpdateRequest, UpdateRef};
use dacapo_tests::backends::{self, Backend};
use prost::Message as _;
use std::sync::atomic::{AtomicU32, Ordering};
use tonic::{Request, Status};

const NS: &str = "default";

/// A backend's service, and what keeps it up.
struct Env {
    backend: Backend,
    service: ServiceHandle,
    /// What keeps the backend up (none on a copy that only borrows its service).
    _shared: Option<backends::Env>,
}

impl Env {
    async fn open(backend: Backend) -> Env {
        let shared = backends::Env::open(backend).await;
        Env {
            backend,
            service: shared.service.clone(),
            _shared: Some(shared),
        }
    }

    fn unique(&self, what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        format!(
            "{what}-{:?}-{}-{}",
            self.backend,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_lowercase()
    }

    async fn start(&self, id: &str) {
        self.service
            .start_workflow_execution(Request::new(StartWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_id: id.into(),
                workflow_type: Some(WorkflowType {
                    name: "errors".into(),
                }),
                task_queue: queue(id),
                request_id: format!("start-{id}"),
                ..Default::default()
            }))
            .await
            .expect("start");
    }

    async fn poll(&self, id: &str) -> PollWorkflowTaskQueueResponse {
        for _ in 0..30 {
            let task = self
                .service
                .poll_workflow_task_queue(Request::new(PollWorkflowTaskQueueRequest {
                    namespace: NS.into(),
                    task_queue: queue(id),
                    identity: "test-worker".into(),
                    ..Default::default()
                }))
                .await
                .expect("poll")
                .into_inner();
            if !task.task_token.is_empty() {
                return task;
            }
        }
        panic!("{:?}: no task for {id}", self.backend);
    }

    /// A run whose first workflow task completed without a command.
    async fn quiet_run(&self, id: &str) {
        self.start(id).await;
        let task = self.poll(id).await;
        self.service
            .respond_workflow_task_completed(Request::new(RespondWorkflowTaskCompletedRequest {
                namespace: NS.into(),
                task_token: task.task_token,
                identity: "test-worker".into(),
                ..Default::default()
            }))
            .await
            .expect("complete");
    }

    async fn terminate(&self, id: &str) {
        self.service
            .terminate_workflow_execution(Request::new(TerminateWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: execution(id),
                reason: "stop".into(),
                ..Default::default()
            }))
            .await
            .expect("terminate");
    }

    async fn query(
        &self,
        id: &str,
        condition: QueryRejectCondition,
    ) -> Result<QueryWorkflowResponse, Status> {
        self.service
            .query_workflow(Request::new(QueryWorkflowRequest {
                namespace: NS.into(),
                execution: execution(id),
                query: Some(WorkflowQuery {
                    query_type: "status".into(),
                    ..Default::default()
                }),
                query_reject_condition: condition as i32,
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn update(&self, id: &str) -> Result<UpdateWorkflowExecutionResponse, Status> {
        self.service
            .update_workflow_execution(Request::new(UpdateWorkflowExecutionRequest {
                namespace: NS.into(),
                workflow_execution: execution(id),
                request: Some(UpdateRequest {
                    meta: Some(Meta {
                        update_id: "up-1".into(),
                        identity: "test-client".into(),
                    }),
                    input: Some(Input {
                        header: None,
                        name: "set".into(),
                        args: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .map(tonic::Response::into_inner)
    }
}

fn queue(id: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: id.into(),
        ..Default::default()
    })
}

fn execution(id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: id.into(),
        run_id: String::new(),
    })
}

/// `google.rpc.Status`, the status details' encoding, as far as this test reads it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<AnyDetail>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct AnyDetail {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `temporal.api.errordetails.v1.MultiOperationExecutionFailure`, as far as this test reads it.
#[derive(Clone, PartialEq, prost::Message)]
struct MultiOperationFailure {
    #[prost(message, repeated, tag = "1")]
    statuses: Vec<OperationStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OperationStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// What an error looks like to an SDK client: its code and the types of its details (and, for
/// a multi-operation failure, each operation's code).
fn shape<T: std::fmt::Debug>(result: Result<T, Status>) -> (tonic::Code, Vec<String>) {
    let status = result.expect_err("an error");
    let mut details = Vec::new();
    for detail in RpcStatus::decode(status.details())
        .map(|s| s.details)
        .unwrap_or_default()
    {
        if detail.type_url.ends_with("MultiOperationExecutionFailure") {
            let failure = MultiOperationFailure::decode(detail.value.as_slice()).expect("decode");
            for op in failure.statuses {
                details.push(format!("operation: {:?}", tonic::Code::from(op.code)));
            }
        }
        details.insert(0, detail.type_url);
    }
    (status.code(), details)
}

/// Every error of the scenarios, in order, with the message where it is the worker's.
async fn errors(env: &Env) -> Vec<(tonic::Code, Vec<String>, String)> {
    let backend = env.backend;
    let mut seen = Vec::new();

    // A query whose handler failed: QueryFailed, with the worker's message.
    let id = env.unique("query-failed");
    env.quiet_run(&id).await;
    let service = env.service.clone();
    let asked = id.clone();
    let call = tokio::spawn(async move {
        let env = Env {
            backend,
            service,
            _shared: None,
        };
        env.query(&asked, QueryRejectCondition::None).await
    });
    let task = env.poll(&id).await;
    assert!(task.query.is_some(), "{backend:?}: a query task");
    env.service
        .respond_query_task_completed(Request::new(RespondQueryTaskCompletedRequest {
            namespace: NS.into(),
            task_token: task.task_token,
            completed_type: QueryResultType::Failed as i32,
            error_message: "no status yet".into(),
            failure: Some(dacapo::proto::failure::Failure {
                message: "no status yet".into(),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .expect("answer");
    let failed = call.await.expect("join");
    let message = failed
        .as_ref()
        .err()
        .map(|s| s.message().to_string())
        .unwrap_or_default();
    let (code, details) = shape(failed);
    seen.push((code, details, message));

    // A query to a run that closed before any workflow task completed: WorkflowNotReady.
    let id = env.unique("closed-early");
    env.start(&id).await;
    env.terminate(&id).await;
    let (code, details) = shape(env.query(&id, QueryRejectCondition::None).await);
    seen.push((code, details, String::new()));

    // The reject condition answers, without an error.
    let id = env.unique("rejected");
    env.quiet_run(&id).await;
    env.terminate(&id).await;
    let rejected = env
        .query(&id, QueryRejectCondition::NotOpen)
        .await
        .expect("rejected, not failed");
    assert_eq!(
        rejected.query_rejected.map(|r| r.status),
        Some(WorkflowExecutionStatus::Terminated as i32),
        "{backend:?}"
    );

    // An update to a closed run, and a poll of an update that never was: NotFound.
    let (code, details) = shape(env.update(&id).await);
    seen.push((code, details, String::new()));
    let poll = env
        .service
        .poll_workflow_execution_update(Request::new(PollWorkflowExecutionUpdateRequest {
            namespace: NS.into(),
            update_ref: Some(UpdateRef {
                workflow_execution: execution(&id),
                update_id: "never".into(),
            }),
            ..Default::default()
        }))
        .await;
    let (code, _) = shape(poll);
    seen.push((code, vec![], String::new()));

    // Update-with-start: operations not [Start, Update], then an update that names a run.
    let uws_id = env.unique("uws");
    let start = StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: uws_id.clone(),
        workflow_type: Some(WorkflowType {
            name: "errors".into(),
        }),
        task_queue: queue(&uws_id),
        request_id: format!("start-{uws_id}"),
        workflow_id_conflict_policy: 2, // USE_EXISTING
        ..Default::default()
    };
    let mut update = UpdateWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution(&uws_id),
        request: Some(UpdateRequest {
            meta: Some(Meta {
                update_id: "up-1".into(),
                identity: "test-client".into(),
            }),
            input: Some(Input {
                header: None,
                name: "set".into(),
                args: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let op = |o| execute_multi_operation_request::Operation { operation: Some(o) };
    use execute_multi_operation_request::operation::Operation as Op;
    let reversed = env
        .service
        .execute_multi_operation(Request::new(ExecuteMultiOperationRequest {
            namespace: NS.into(),
            operations: vec![
                op(Op::UpdateWorkflow(update.clone())),
                op(Op::StartWorkflow(start.clone())),
            ],
            ..Default::default()
        }))
        .await;
    let (code, details) = shape(reversed);
    seen.push((code, details, String::new()));
    update.workflow_execution = Some(WorkflowExecution {
        workflow_id: uws_id.clone(),
        run_id: "some-run".into(),
    });
    let named = env
        .service
        .execute_multi_operation(Request::new(ExecuteMultiOperationRequest {
            namespace: NS.into(),
            operations: vec![op(Op::StartWorkflow(start)), op(Op::UpdateWorkflow(update))],
            ..Default::default()
        }))
        .await;
    let (code, details) = shape(named);
    seen.push((code, details, String::new()));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_update_errors_carry_temporals_codes_and_details_on_every_backend() {
    // Opened first: starting a server blocks, and must not stall a scenario in flight.
    let envs = [
        Env::open(Backend::Embedded).await,
        Env::open(Backend::DacapoServer).await,
        Env::open(Backend::Temporal).await,
    ];
    let (embedded, server, temporal) =
        tokio::join!(errors(&envs[0]), errors(&envs[1]), errors(&envs[2]));
    let detail = |name: &str| {
        vec![format!(
            "type.googleapis.com/temporal.api.errordetails.v1.{name}"
        )]
    };
    let expected = vec![
        (
            tonic::Code::InvalidArgument,
            detail("QueryFailedFailure"),
            "no status yet".to_string(),
        ),
        (
            tonic::Code::FailedPrecondition,
            detail("WorkflowNotReadyFailure"),
            String::new(),
        ),
        (
            tonic::Code::NotFound,
            detail("NotFoundFailure"),
            String::new(),
        ),
        (tonic::Code::NotFound, vec![], String::new()),
        (tonic::Code::InvalidArgument, vec![], String::new()),
        (
            tonic::Code::InvalidArgument,
            [
                detail("MultiOperationExecutionFailure"),
                vec![
                    "operation: Aborted".to_string(),
                    "operation: InvalidArgument".to_string(),
                ],
            ]
            .concat(),
            String::new(),
        ),
    ];
    assert_eq!(temporal, expected, "the Temporal dev server");
    assert_eq!(embedded, expected, "the embedded engine");
    assert_eq!(server, expected, "dacapo server");
}
