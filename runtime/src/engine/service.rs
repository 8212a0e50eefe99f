//! The WorkflowService implementation: one thin method per RPC, delegating to the module that
//! owns it. RPCs not listed keep the trait's default answer, `Unimplemented`.

use super::Engine;
use super::activity::{self, Report, Target};
use super::clock::dur;
use super::ids::{self, Ids};
use super::rpc_error::clip;
use super::token::{NamespaceCursor, TaskKind, TaskToken};
use super::{
    cancel, history, query, signal, start, terminate, update, update_with_start, visibility,
    workflow_task,
};
use crate::proto::WorkflowService;
use crate::proto::enums::NamespaceState;
use crate::proto::namespace::{NamespaceConfig, NamespaceInfo, namespace_info};
use crate::proto::service::get_system_info_response::Capabilities;
use crate::proto::service::*;
use tonic::{Request, Response, Status};

type Rpc<T> = Result<Response<T>, Status>;

/// Retention the engine reports; it keeps closed runs until their store is deleted.
const RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

impl Engine {
    /// Refuses a request with an id or name over `Limits::max_id_bytes`.
    fn check_ids(&self, req: &impl Ids) -> Result<(), Status> {
        ids::check(req, self.core().cfg.limits.max_id_bytes)
    }

    fn namespace(&self, name: &str) -> DescribeNamespaceResponse {
        DescribeNamespaceResponse {
            namespace_info: Some(NamespaceInfo {
                name: name.to_string(),
                state: NamespaceState::Registered as i32,
                description: "a namespace of the embedded dacapo engine".to_string(),
                id: namespace_id(name),
                capabilities: Some(namespace_info::Capabilities::default()),
                ..Default::default()
            }),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(dur(RETENTION_MS)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A stable UUID-shaped id for a namespace name (FNV-1a, twice).
fn namespace_id(name: &str) -> String {
    let hash = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let bits =
        (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(hash(0x8422_2325_cbf2_9ce4));
    uuid::Builder::from_u128(bits).into_uuid().to_string()
}

fn activity_token(engine: &Engine, token: &[u8], namespace: &str) -> Result<Target, Status> {
    engine.core().check_namespace(namespace)?;
    TaskToken::decode(token, TaskKind::Activity, namespace).map(Target::Token)
}

fn by_id(workflow_id: &str, run_id: &str, activity_id: &str) -> Target {
    Target::Id {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
        activity_id: activity_id.to_string(),
    }
}

#[tonic::async_trait]
impl WorkflowService for Engine {
    async fn get_system_info(
        &self,
        _: Request<GetSystemInfoRequest>,
    ) -> Rpc<GetSystemInfoResponse> {
        self.core().check_available()?;
        Ok(Response::new(GetSystemInfoResponse {
            server_version: concat!("dacapo-", env!("CARGO_PKG_VERSION")).to_string(),
            capabilities: Some(Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                sdk_metadata: true,
                ..Default::default()
            }),
        }))
    }

    async fn describe_namespace(
        &self,
        request: Request<DescribeNamespaceRequest>,
    ) -> Rpc<DescribeNamespaceResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        self.core().check_available()?;
        let found = self.core().cfg.namespaces.iter().find(|n| {
            (!req.namespace.is_empty() && **n == req.namespace)
                || (!req.id.is_empty() && namespace_id(n) == req.id)
        });
        match found {
            Some(name) => Ok(Response::new(self.namespace(name))),
            None if req.namespace.is_empty() && req.id.is_empty() => {
                Err(Status::invalid_argument("namespace is not set"))
            }
            None => Err(Status::not_found(format!(
                "namespace \"{}\" not found",
                clip(if req.namespace.is_empty() {
                    &req.id
                } else {
                    &req.namespace
                })
            ))),
        }
    }

    async fn list_namespaces(
        &self,
        request: Request<ListNamespacesRequest>,
    ) -> Rpc<ListNamespacesResponse> {
        let req = request.into_inner();
        self.core().check_available()?;
        let first = if req.next_page_token.is_empty() {
            0
        } else {
            let next = NamespaceCursor::decode(&req.next_page_token)?.next;
            usize::try_from(next).unwrap_or(usize::MAX)
        };
        let all = &self.core().cfg.namespaces;
        let page = visibility::page_size(req.page_size, self.core().cfg.limits.max_page_size);
        let end = first.saturating_add(page).min(all.len());
        let namespaces = all
            .get(first..end)
            .unwrap_or_default()
            .iter()
            .map(|n| self.namespace(n))
            .collect();
        let next_page_token = if end < all.len() {
            NamespaceCursor { next: end as u64 }.encode()
        } else {
            Vec::new()
        };
        Ok(Response::new(ListNamespacesResponse {
            namespaces,
            next_page_token,
        }))
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> Rpc<StartWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        start::start(self.core(), req).await.map(Response::new)
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Rpc<SignalWithStartWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        start::signal_with_start(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<SignalWorkflowExecutionRequest>,
    ) -> Rpc<SignalWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        signal::signal(self.core(), req).await.map(Response::new)
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Rpc<RequestCancelWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        cancel::request_cancel(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn query_workflow(
        &self,
        request: Request<QueryWorkflowRequest>,
    ) -> Rpc<QueryWorkflowResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        query::query(self.core(), req).await.map(Response::new)
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<RespondQueryTaskCompletedRequest>,
    ) -> Rpc<RespondQueryTaskCompletedResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        query::respond_completed(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn update_workflow_execution(
        &self,
        request: Request<UpdateWorkflowExecutionRequest>,
    ) -> Rpc<UpdateWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        update::update(self.core(), req).await.map(Response::new)
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ExecuteMultiOperationRequest>,
    ) -> Rpc<ExecuteMultiOperationResponse> {
        let req = request.into_inner();
        update_with_start::execute(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Rpc<PollWorkflowExecutionUpdateResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        update::poll(self.core(), req).await.map(Response::new)
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<TerminateWorkflowExecutionRequest>,
    ) -> Rpc<TerminateWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        terminate::terminate(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> Rpc<DescribeWorkflowExecutionResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        visibility::describe(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Rpc<GetWorkflowExecutionHistoryResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        history::get(self.core(), req).await.map(Response::new)
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ListWorkflowExecutionsRequest>,
    ) -> Rpc<ListWorkflowExecutionsResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        visibility::list(self.core(), req).await.map(Response::new)
    }

    async fn count_workflow_executions(
        &self,
        request: Request<CountWorkflowExecutionsRequest>,
    ) -> Rpc<CountWorkflowExecutionsResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        visibility::count(self.core(), req).await.map(Response::new)
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<PollWorkflowTaskQueueRequest>,
    ) -> Rpc<PollWorkflowTaskQueueResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        workflow_task::poll(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Rpc<RespondWorkflowTaskCompletedResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        workflow_task::respond_completed(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Rpc<RespondWorkflowTaskFailedResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        workflow_task::respond_failed(self.core(), req)
            .await
            .map(Response::new)
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<PollActivityTaskQueueRequest>,
    ) -> Rpc<PollActivityTaskQueueResponse> {
        let req = request.into_inner();
        self.check_ids(&req)?;
        activity::poll(self.core(), req).await.map(Response::new)
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Rpc<RecordActivityTaskHeartbeatResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = activity_token(self, &r.task_token, &r.namespace)?;
        let report = Report::Heartbeat(r.details);
        let cancel_requested =
            activity::report(self.core(), &r.namespace, target, &r.identity, report).await?;
        Ok(Response::new(RecordActivityTaskHeartbeatResponse {
            cancel_requested,
            ..Default::default()
        }))
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Rpc<RecordActivityTaskHeartbeatByIdResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = by_id(&r.workflow_id, &r.run_id, &r.activity_id);
        let report = Report::Heartbeat(r.details);
        let cancel_requested =
            activity::report(self.core(), &r.namespace, target, &r.identity, report).await?;
        Ok(Response::new(RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested,
            ..Default::default()
        }))
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<RespondActivityTaskCompletedRequest>,
    ) -> Rpc<RespondActivityTaskCompletedResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = activity_token(self, &r.task_token, &r.namespace)?;
        activity::report(
            self.core(),
            &r.namespace,
            target,
            &r.identity,
            Report::Completed(r.result),
        )
        .await?;
        Ok(Response::new(
            RespondActivityTaskCompletedResponse::default(),
        ))
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Rpc<RespondActivityTaskCompletedByIdResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = by_id(&r.workflow_id, &r.run_id, &r.activity_id);
        activity::report(
            self.core(),
            &r.namespace,
            target,
            &r.identity,
            Report::Completed(r.result),
        )
        .await?;
        Ok(Response::new(
            RespondActivityTaskCompletedByIdResponse::default(),
        ))
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<RespondActivityTaskFailedRequest>,
    ) -> Rpc<RespondActivityTaskFailedResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = activity_token(self, &r.task_token, &r.namespace)?;
        let report = Report::Failed {
            failure: r.failure,
            last_heartbeat_details: r.last_heartbeat_details,
        };
        activity::report(self.core(), &r.namespace, target, &r.identity, report).await?;
        Ok(Response::new(RespondActivityTaskFailedResponse::default()))
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Rpc<RespondActivityTaskFailedByIdResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = by_id(&r.workflow_id, &r.run_id, &r.activity_id);
        let report = Report::Failed {
            failure: r.failure,
            last_heartbeat_details: r.last_heartbeat_details,
        };
        activity::report(self.core(), &r.namespace, target, &r.identity, report).await?;
        Ok(Response::new(
            RespondActivityTaskFailedByIdResponse::default(),
        ))
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<RespondActivityTaskCanceledRequest>,
    ) -> Rpc<RespondActivityTaskCanceledResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = activity_token(self, &r.task_token, &r.namespace)?;
        activity::report(
            self.core(),
            &r.namespace,
            target,
            &r.identity,
            Report::Canceled(r.details),
        )
        .await?;
        Ok(Response::new(RespondActivityTaskCanceledResponse::default()))
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Rpc<RespondActivityTaskCanceledByIdResponse> {
        let r = request.into_inner();
        self.check_ids(&r)?;
        let target = by_id(&r.workflow_id, &r.run_id, &r.activity_id);
        activity::report(
            self.core(),
            &r.namespace,
            target,
            &r.identity,
            Report::Canceled(r.details),
        )
        .await?;
        Ok(Response::new(
            RespondActivityTaskCanceledByIdResponse::default(),
        ))
    }
}
