//! `ExecuteMultiOperation` (update-with-start), driven by hand: the update rides the first
//! workflow task of the run the start makes, or goes to the running run the start finds, and a
//! bad request is refused as Temporal's `MultiOperationExecution`, naming the operation.

use super::updates::{acceptance, response, success, the_request, update_request};
use super::*;
use crate::proto::enums::UpdateWorkflowExecutionLifecycleStage as Stage;
use crate::proto::enums::WorkflowIdConflictPolicy;
use crate::proto::service::execute_multi_operation_request::{Operation, operation};
use crate::proto::service::execute_multi_operation_response::response::Response as OpResponse;
use prost::Message as _;
use temporalio_protos::google::rpc::Status as RpcStatus;
use temporalio_protos::temporal::api::errordetails::v1::MultiOperationExecutionFailure;

fn multi(
    h: &Harness,
    workflow_id: &str,
    update_id: &str,
    policy: WorkflowIdConflictPolicy,
) -> ExecuteMultiOperationRequest {
    let mut start = h.start_request(workflow_id);
    start.workflow_id_conflict_policy = policy as i32;
    ExecuteMultiOperationRequest {
        namespace: NS.into(),
        operations: vec![
            Operation {
                operation: Some(operation::Operation::StartWorkflow(start)),
            },
            Operation {
                operation: Some(operation::Operation::UpdateWorkflow(update_request(
                    workflow_id,
                    update_id,
                    Stage::Completed,
                ))),
            },
        ],
        ..Default::default()
    }
}

type Call = tokio::task::JoinHandle<Result<ExecuteMultiOperationResponse, Status>>;

fn send(h: &Harness, req: ExecuteMultiOperationRequest) -> Call {
    let engine = h.engine.clone();
    tokio::spawn(async move {
        engine
            .execute_multi_operation(Request::new(req))
            .await
            .map(tonic::Response::into_inner)
    })
}

fn parts(
    resp: ExecuteMultiOperationResponse,
) -> (
    StartWorkflowExecutionResponse,
    UpdateWorkflowExecutionResponse,
) {
    let mut it = resp.responses.into_iter().map(|r| r.response);
    match (it.next().flatten(), it.next().flatten()) {
        (Some(OpResponse::StartWorkflow(s)), Some(OpResponse::UpdateWorkflow(u))) => (s, u),
        other => panic!("expected a start and an update response, got {other:?}"),
    }
}

/// The operations' statuses of a multi-operation error: (code, message) of each.
fn statuses(status: &Status) -> Vec<(i32, String)> {
    let rpc = RpcStatus::decode(status.details()).expect("a google.rpc.Status");
    let any = &rpc.details[0];
    assert_eq!(
        any.type_url,
        "type.googleapis.com/temporal.api.errordetails.v1.MultiOperationExecutionFailure"
    );
    MultiOperationExecutionFailure::decode(any.value.as_slice())
        .expect("decode")
        .statuses
        .into_iter()
        .map(|s| (s.code, s.message))
        .collect()
}

/// Completes a task by accepting its one update and answering it with `json`.
async fn accept_and_answer(h: &Harness, task: &PollWorkflowTaskQueueResponse, json: &str) {
    let request = the_request(task);
    let id = request.protocol_instance_id.clone();
    super::updates::complete_with(
        h,
        task,
        vec![],
        vec![acceptance(&request), response(&id, json)],
    )
    .await
    .expect("complete");
}

#[tokio::test]
async fn the_update_rides_the_first_task_of_the_run_it_starts_then_finds_that_run() {
    use EventType::*;
    let h = Harness::new();
    let call = send(
        &h,
        multi(&h, "uws", "up-1", WorkflowIdConflictPolicy::UseExisting),
    );
    let task = h.poll_wft().await;
    assert_eq!(task.started_event_id, 3);
    accept_and_answer(&h, &task, "\"first\"").await;
    let (start, update) = parts(call.await.expect("join").expect("answered"));
    assert!(start.started);
    assert_eq!(success(&update.outcome), serde_json::json!("first"));
    assert_eq!(
        h.types("uws").await,
        [
            WorkflowExecutionStarted,
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionUpdateAccepted,
            WorkflowExecutionUpdateCompleted
        ]
    );
    // USE_EXISTING: the running run takes the next update; nothing is started.
    let call = send(
        &h,
        multi(&h, "uws", "up-2", WorkflowIdConflictPolicy::UseExisting),
    );
    let task = h.poll_wft().await;
    accept_and_answer(&h, &task, "\"second\"").await;
    let (again, update) = parts(call.await.expect("join").expect("answered"));
    assert!(!again.started);
    assert_eq!(again.run_id, start.run_id);
    assert_eq!(success(&update.outcome), serde_json::json!("second"));
    // The same update id again is answered from the run, without a task.
    let (_, update) = parts(
        send(&h, multi(&h, "uws", "up-2", WorkflowIdConflictPolicy::Fail))
            .await
            .expect("join")
            .expect("answered"),
    );
    assert_eq!(success(&update.outcome), serde_json::json!("second"));
    // FAIL with a new update: already started, the update aborted.
    let refused = send(&h, multi(&h, "uws", "up-3", WorkflowIdConflictPolicy::Fail))
        .await
        .expect("join");
    let status = expect_code(refused, Code::AlreadyExists);
    let ops = statuses(&status);
    assert_eq!(ops[0].0, Code::AlreadyExists as i32, "{ops:?}");
    assert_eq!(ops[1].0, Code::Aborted as i32, "{ops:?}");
}

#[tokio::test]
async fn bad_update_with_start_requests_are_refused_naming_the_operation() {
    let h = Harness::new();
    // Not [Start, Update].
    let mut req = multi(&h, "bad", "up", WorkflowIdConflictPolicy::Fail);
    req.operations.reverse();
    let status = expect_code(
        h.engine.execute_multi_operation(Request::new(req)).await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("[Start, Update]"),
        "{}",
        status.message()
    );
    let mut req = multi(&h, "bad", "up", WorkflowIdConflictPolicy::Fail);
    req.operations.pop();
    expect_code(
        h.engine.execute_multi_operation(Request::new(req)).await,
        Code::InvalidArgument,
    );
    // The update names another workflow: its status says so, the start's is aborted.
    let mut req = multi(&h, "bad", "up", WorkflowIdConflictPolicy::Fail);
    if let Some(operation::Operation::UpdateWorkflow(u)) = req.operations[1].operation.as_mut() {
        u.workflow_execution = Some(WorkflowExecution {
            workflow_id: "other".into(),
            run_id: String::new(),
        });
    }
    let status = expect_code(
        h.engine.execute_multi_operation(Request::new(req)).await,
        Code::InvalidArgument,
    );
    let ops = statuses(&status);
    assert_eq!(ops[0].0, Code::Aborted as i32, "{ops:?}");
    assert_eq!(ops[1].0, Code::InvalidArgument as i32, "{ops:?}");
    assert!(ops[1].1.contains("WorkflowId is not consistent"), "{ops:?}");
    // A start delay is not allowed: the start's status says so.
    let mut req = multi(&h, "bad", "up", WorkflowIdConflictPolicy::Fail);
    if let Some(operation::Operation::StartWorkflow(s)) = req.operations[0].operation.as_mut() {
        s.workflow_start_delay = Some(millis(1000));
    }
    let status = expect_code(
        h.engine.execute_multi_operation(Request::new(req)).await,
        Code::InvalidArgument,
    );
    let ops = statuses(&status);
    assert!(ops[0].1.contains("WorkflowStartDelay"), "{ops:?}");
    assert_eq!(ops[1].0, Code::Aborted as i32, "{ops:?}");
    // Nothing was started.
    let describe = h
        .engine
        .describe_workflow_execution(Request::new(DescribeWorkflowExecutionRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: "bad".into(),
                run_id: String::new(),
            }),
        }))
        .await;
    expect_code(describe, Code::NotFound);
}

#[tokio::test]
async fn an_update_completed_in_the_closed_current_run_is_answered_from_its_history() {
    let h = Harness::new();
    let call = send(
        &h,
        multi(&h, "uws-closed", "up-1", WorkflowIdConflictPolicy::Fail),
    );
    let task = h.poll_wft().await;
    let request = the_request(&task);
    let id = request.protocol_instance_id.clone();
    let messages = vec![acceptance(&request), response(&id, "\"done\"")];
    super::updates::complete_with(&h, &task, vec![complete_workflow()], messages)
        .await
        .expect("complete");
    let (first, _) = parts(call.await.expect("join").expect("answered"));
    // The run is closed; the same update again is its outcome, and no run is started.
    let (again, update) = parts(
        send(
            &h,
            multi(&h, "uws-closed", "up-1", WorkflowIdConflictPolicy::Fail),
        )
        .await
        .expect("join")
        .expect("answered"),
    );
    assert!(!again.started);
    assert_eq!(again.run_id, first.run_id);
    assert_eq!(
        again.status,
        crate::proto::enums::WorkflowExecutionStatus::Completed as i32
    );
    assert_eq!(success(&update.outcome), serde_json::json!("done"));
    // Another update id starts a new run.
    let call = send(
        &h,
        multi(&h, "uws-closed", "up-2", WorkflowIdConflictPolicy::Fail),
    );
    let task = h.poll_wft().await;
    accept_and_answer(&h, &task, "\"new\"").await;
    let (fresh, _) = parts(call.await.expect("join").expect("answered"));
    assert!(fresh.started);
    assert_ne!(fresh.run_id, first.run_id);
}
