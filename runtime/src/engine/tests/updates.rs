//! Updates (`UpdateWorkflowExecution`, `PollWorkflowExecutionUpdate`), played from the worker's
//! side with the protocol messages: the request rides a workflow task's `messages`, the worker
//! answers with an acceptance, a rejection or a response in its completion's `messages`, named
//! by `ProtocolMessage` commands; the engine writes `WorkflowExecutionUpdateAccepted` and
//! `WorkflowExecutionUpdateCompleted` and answers the caller at the stage it waits for.

use super::*;
use crate::proto::enums::UpdateWorkflowExecutionLifecycleStage as Stage;
use crate::proto::enums::WorkflowTaskFailedCause;
use crate::proto::history::history_event::Attributes;
use crate::proto::protocol::{Message, message::SequencingId};
use crate::proto::update::{
    Acceptance, Input, Meta, Outcome, Rejection, Request as UpdateRequest, Response, UpdateRef,
    WaitPolicy, outcome,
};
use crate::store::{MemoryStore, Store};
use prost::Message as _;
use std::sync::Arc;
use tokio::task::JoinHandle;

pub(super) type UpdateCall = JoinHandle<Result<UpdateWorkflowExecutionResponse, Status>>;

pub(super) fn update_request(
    workflow_id: &str,
    update_id: &str,
    stage: Stage,
) -> UpdateWorkflowExecutionRequest {
    UpdateWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
        wait_policy: Some(WaitPolicy {
            lifecycle_stage: stage as i32,
        }),
        request: Some(UpdateRequest {
            meta: Some(Meta {
                update_id: update_id.into(),
                identity: "test-client".into(),
            }),
            input: Some(Input {
                header: None,
                name: "set_address".into(),
                args: payloads("\"Main St\""),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Sends update `update_id` to `workflow_id` and waits, in the foreground, until it completes.
async fn update_now(
    h: &Harness,
    workflow_id: &str,
    update_id: &str,
) -> Result<tonic::Response<UpdateWorkflowExecutionResponse>, Status> {
    h.engine
        .update_workflow_execution(Request::new(update_request(
            workflow_id,
            update_id,
            Stage::Completed,
        )))
        .await
}

/// Sends an update in the background, once the engine tracks it.
pub(super) async fn ask(h: &Harness, req: UpdateWorkflowExecutionRequest) -> UpdateCall {
    let engine = h.engine.clone();
    let call = async move {
        engine
            .update_workflow_execution(Request::new(req))
            .await
            .map(tonic::Response::into_inner)
    };
    in_background(
        "update",
        || h.engine.core().state.lock().updates.len(),
        call,
    )
    .await
}

/// Message `{update_id}/{step}` of an update's protocol, carrying `value`, an encoded
/// `temporal.api.update.v1.{type_name}`.
fn protocol_message(update_id: &str, step: &str, type_name: &str, value: Vec<u8>) -> Message {
    let mut body = Message::default().body.unwrap_or_default();
    body.type_url = format!("type.googleapis.com/temporal.api.update.v1.{type_name}");
    body.value = value;
    Message {
        id: format!("{update_id}/{step}"),
        protocol_instance_id: update_id.into(),
        body: Some(body),
        ..Default::default()
    }
}

pub(super) fn acceptance(request: &Message) -> Message {
    let Some(SequencingId::EventId(seq)) = request.sequencing_id else {
        panic!("the request is sequenced by event id");
    };
    let acc = Acceptance {
        accepted_request_message_id: request.id.clone(),
        accepted_request_sequencing_event_id: seq,
        accepted_request: None,
    };
    protocol_message(
        &request.protocol_instance_id,
        "accept",
        "Acceptance",
        acc.encode_to_vec(),
    )
}

pub(super) fn rejection(request: &Message, why: &str) -> Message {
    let rej = Rejection {
        rejected_request_message_id: request.id.clone(),
        failure: Some(crate::proto::failure::Failure {
            message: why.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    protocol_message(
        &request.protocol_instance_id,
        "reject",
        "Rejection",
        rej.encode_to_vec(),
    )
}

pub(super) fn response(update_id: &str, json: &str) -> Message {
    let resp = Response {
        meta: Some(Meta {
            update_id: update_id.into(),
            identity: "test-worker".into(),
        }),
        outcome: Some(Outcome {
            value: Some(outcome::Value::Success(payloads(json).expect("payloads"))),
        }),
    };
    protocol_message(update_id, "complete", "Response", resp.encode_to_vec())
}

fn protocol_command(message: &Message) -> Command {
    Command {
        command_type: CommandType::ProtocolMessage as i32,
        attributes: Some(CommandAttributes::ProtocolMessageCommandAttributes(
            ProtocolMessageCommandAttributes {
                message_id: message.id.clone(),
            },
        )),
        ..Default::default()
    }
}

/// Completes `task`, accepting the update it carries and answering it (`update_id`) with
/// `json`, with `commands` after the messages' own.
async fn accept_and_answer(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<Command>,
    update_id: &str,
    json: &str,
) {
    let request = the_request(task);
    complete_with(
        h,
        task,
        commands,
        vec![acceptance(&request), response(update_id, json)],
    )
    .await
    .expect("complete");
}

/// The successful outcome a background update call got, as JSON.
async fn outcome_of(call: UpdateCall) -> serde_json::Value {
    success(&call.await.expect("join").expect("answered").outcome)
}

pub(super) async fn complete_with(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    mut commands: Vec<Command>,
    messages: Vec<Message>,
) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
    // Each acceptance and response is named by a command, placed before the others, as SDKs do.
    let named: Vec<Command> = messages
        .iter()
        .filter(|m| !m.id.ends_with("/reject"))
        .map(protocol_command)
        .collect();
    commands.splice(0..0, named);
    h.send_completion(RespondWorkflowTaskCompletedRequest {
        messages,
        ..completion(task, commands)
    })
    .await
}

async fn poll_update(
    h: &Harness,
    workflow_id: &str,
    update_id: &str,
    stage: Stage,
) -> Result<PollWorkflowExecutionUpdateResponse, Status> {
    let req = PollWorkflowExecutionUpdateRequest {
        namespace: NS.into(),
        update_ref: Some(UpdateRef {
            workflow_execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            update_id: update_id.into(),
        }),
        identity: "test-client".into(),
        wait_policy: Some(WaitPolicy {
            lifecycle_stage: stage as i32,
        }),
    };
    h.engine
        .poll_workflow_execution_update(Request::new(req))
        .await
        .map(tonic::Response::into_inner)
}

pub(super) fn success(outcome: &Option<Outcome>) -> serde_json::Value {
    match outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(outcome::Value::Success(p)) => {
            serde_json::from_slice(&p.payloads[0].data).expect("json")
        }
        other => panic!("expected a successful outcome, got {other:?}"),
    }
}

pub(super) fn failure_message(outcome: &Option<Outcome>) -> String {
    match outcome.as_ref().and_then(|o| o.value.as_ref()) {
        Some(outcome::Value::Failure(f)) => f.message.clone(),
        other => panic!("expected a failed outcome, got {other:?}"),
    }
}

/// A run whose first workflow task completed with a timer: open, with no workflow task due.
pub(super) async fn idle_run(h: &Harness, workflow_id: &str) {
    h.start(workflow_id).await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("t", 3_600_000)])
        .await
        .expect("complete");
}

/// The one update request a workflow task carries.
pub(super) fn the_request(task: &PollWorkflowTaskQueueResponse) -> Message {
    assert_eq!(task.messages.len(), 1, "{:?}", task.messages);
    task.messages[0].clone()
}

#[tokio::test]
async fn an_update_is_delivered_accepted_and_completed_with_temporals_events() {
    let h = Harness::new();
    idle_run(&h, "u-ok").await;
    let call = ask(&h, update_request("u-ok", "up-1", Stage::Completed)).await;
    // The update needs the workflow: a workflow task is scheduled for it.
    let task = h.poll_wft().await;
    let request = the_request(&task);
    assert_eq!(request.id, "up-1/request");
    assert_eq!(request.protocol_instance_id, "up-1");
    assert_eq!(
        request.sequencing_id,
        Some(SequencingId::EventId(task.started_event_id - 1))
    );
    let body = request.body.clone().expect("body");
    assert_eq!(
        body.type_url,
        "type.googleapis.com/temporal.api.update.v1.Request"
    );
    let sent = UpdateRequest::decode(body.value.as_slice()).expect("a Request");
    assert_eq!(
        sent.input.as_ref().map(|i| i.name.as_str()),
        Some("set_address")
    );
    assert_eq!(
        sent.meta.as_ref().map(|m| m.update_id.as_str()),
        Some("up-1")
    );

    accept_and_answer(&h, &task, vec![], "up-1", "\"quoted\"").await;
    let resp = call.await.expect("join").expect("update answered");
    assert_eq!(resp.stage, Stage::Completed as i32);
    assert_eq!(success(&resp.outcome), serde_json::json!("quoted"));
    let update_ref = resp.update_ref.expect("update_ref");
    assert_eq!(update_ref.update_id, "up-1");

    let events = h.events("u-ok").await;
    let types: Vec<EventType> = events.iter().map(event_type).collect();
    assert_eq!(
        &types[types.len() - 5..],
        &[
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionUpdateAccepted,
            EventType::WorkflowExecutionUpdateCompleted,
        ]
    );
    let accepted = &events[events.len() - 2];
    let Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) = &accepted.attributes
    else {
        panic!("{accepted:?}");
    };
    assert_eq!(a.protocol_instance_id, "up-1");
    assert_eq!(a.accepted_request_message_id, "up-1/request");
    assert_eq!(
        a.accepted_request
            .as_ref()
            .and_then(|r| r.input.as_ref())
            .map(|i| i.name.as_str()),
        Some("set_address")
    );
    let Some(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(c)) =
        &events[events.len() - 1].attributes
    else {
        panic!("not a completed event");
    };
    assert_eq!(c.accepted_event_id, accepted.event_id);
    assert_eq!(c.meta.as_ref().map(|m| m.update_id.as_str()), Some("up-1"));

    // The same update id again: the same outcome, nothing sent, nothing written.
    let again = update_now(&h, "u-ok", "up-1")
        .await
        .expect("dedup")
        .into_inner();
    assert_eq!(success(&again.outcome), serde_json::json!("quoted"));
    assert_eq!(h.events("u-ok").await.len(), events.len());
    let polled = poll_update(&h, "u-ok", "up-1", Stage::Completed)
        .await
        .expect("poll");
    assert_eq!(polled.stage, Stage::Completed as i32);
    assert_eq!(success(&polled.outcome), serde_json::json!("quoted"));
}

#[tokio::test]
async fn waiting_for_accepted_answers_at_acceptance_and_poll_waits_for_completion() {
    let h = Harness::new();
    idle_run(&h, "u-stages").await;
    let call = ask(&h, update_request("u-stages", "up-2", Stage::Accepted)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![acceptance(&request)])
        .await
        .expect("complete");
    let resp = call.await.expect("join").expect("accepted");
    assert_eq!(resp.stage, Stage::Accepted as i32);
    assert!(resp.outcome.is_none());

    let engine = h.engine.clone();
    let poll = tokio::spawn(async move {
        let h = Harness::on(engine);
        poll_update(&h, "u-stages", "up-2", Stage::Completed).await
    });
    // The handler finishes in a later task (here, one a signal brings).
    h.signal("u-stages", "poke").await;
    let next = h.poll_wft().await;
    assert!(
        next.messages.is_empty(),
        "an accepted update is not sent again"
    );
    complete_with(&h, &next, vec![], vec![response("up-2", "7")])
        .await
        .expect("complete");
    let polled = poll.await.expect("join").expect("poll");
    assert_eq!(polled.stage, Stage::Completed as i32);
    assert_eq!(success(&polled.outcome), serde_json::json!(7));
}

#[tokio::test]
async fn a_rejected_update_writes_no_update_event_and_keeps_its_rejection() {
    let h = Harness::new();
    idle_run(&h, "u-reject").await;
    let call = ask(&h, update_request("u-reject", "up-3", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![rejection(&request, "bad address")])
        .await
        .expect("complete");
    let resp = call.await.expect("join").expect("answered");
    assert_eq!(resp.stage, Stage::Completed as i32);
    assert_eq!(failure_message(&resp.outcome), "bad address");
    let types = h.types("u-reject").await;
    assert!(
        !types.contains(&EventType::WorkflowExecutionUpdateAccepted),
        "{types:?}"
    );
    assert!(
        !types.contains(&EventType::WorkflowExecutionUpdateCompleted),
        "{types:?}"
    );
    let again = update_now(&h, "u-reject", "up-3")
        .await
        .expect("dedup")
        .into_inner();
    assert_eq!(failure_message(&again.outcome), "bad address");
}

#[tokio::test]
async fn an_update_the_worker_did_not_handle_is_rejected_and_one_on_a_failed_task_is_resent() {
    let h = Harness::new();
    idle_run(&h, "u-unhandled").await;
    let call = ask(&h, update_request("u-unhandled", "up-4", Stage::Completed)).await;
    let task = h.poll_wft().await;
    the_request(&task);
    // A failed task: the update rides the retry.
    h.fail_task(&task).await;
    let retry = h.poll_wft().await;
    the_request(&retry);
    // Completed without a word about it: rejected, as Temporal does.
    complete_with(&h, &retry, vec![], vec![])
        .await
        .expect("complete");
    let resp = call.await.expect("join").expect("answered");
    assert!(failure_message(&resp.outcome).contains("wasn't processed by worker"));
}

#[tokio::test]
async fn updates_to_closed_runs_are_refused_and_in_flight_ones_are_answered_at_close() {
    let h = Harness::new();
    // Admitted, then the run is terminated before a worker saw it.
    idle_run(&h, "u-term").await;
    let call = ask(&h, update_request("u-term", "up-5", Stage::Completed)).await;
    h.terminate("u-term").await.expect("terminate");
    let status = expect_code(call.await.expect("join"), Code::NotFound);
    assert!(
        status.message().contains("aborted by closing workflow"),
        "{}",
        status.message()
    );
    assert_eq!(
        detail(&status).0,
        "temporal.api.errordetails.v1.NotFoundFailure"
    );
    // A new update to the closed run.
    let late = update_now(&h, "u-term", "up-6").await;
    expect_refusal(late, Code::NotFound, "already completed");

    // Accepted, then the workflow completes before the update does.
    idle_run(&h, "u-done").await;
    let call = ask(&h, update_request("u-done", "up-7", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(
        &h,
        &task,
        vec![complete_workflow()],
        vec![acceptance(&request)],
    )
    .await
    .expect("complete");
    let resp = call.await.expect("join").expect("answered");
    assert!(failure_message(&resp.outcome).contains("completed before the Update completed"));
    // From the stored history of the closed run: the same answer; an unknown id is NotFound.
    let polled = poll_update(&h, "u-done", "up-7", Stage::Completed)
        .await
        .expect("poll");
    assert!(failure_message(&polled.outcome).contains("completed before the Update completed"));
    expect_code(
        poll_update(&h, "u-done", "nope", Stage::Completed).await,
        Code::NotFound,
    );
    expect_code(
        poll_update(&h, "u-term", "up-5", Stage::Completed).await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn a_completed_update_is_found_in_the_closed_runs_history() {
    let h = Harness::new();
    idle_run(&h, "u-closed").await;
    let call = ask(&h, update_request("u-closed", "up-8", Stage::Completed)).await;
    let task = h.poll_wft().await;
    accept_and_answer(&h, &task, vec![complete_workflow()], "up-8", "1").await;
    assert_eq!(outcome_of(call).await, serde_json::json!(1));
    let polled = poll_update(&h, "u-closed", "up-8", Stage::Completed)
        .await
        .expect("poll");
    assert_eq!(success(&polled.outcome), serde_json::json!(1));
    let types = h.types("u-closed").await;
    let n = types.len();
    assert_eq!(
        &types[n - 3..],
        &[
            EventType::WorkflowExecutionUpdateAccepted,
            EventType::WorkflowExecutionUpdateCompleted,
            EventType::WorkflowExecutionCompleted,
        ]
    );
}

#[tokio::test]
async fn an_update_accepted_before_a_restart_completes_after_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    {
        let h = Harness::on(Engine::with_store(Arc::clone(&store), config()).expect("engine"));
        idle_run(&h, "u-restart").await;
        let call = ask(&h, update_request("u-restart", "up-9", Stage::Accepted)).await;
        let task = h.poll_wft().await;
        let request = the_request(&task);
        complete_with(&h, &task, vec![], vec![acceptance(&request)])
            .await
            .expect("complete");
        // Answered Accepted only once the acceptance is durable: the next engine reads it.
        let resp = call.await.expect("join").expect("accepted");
        assert_eq!(resp.stage, Stage::Accepted as i32);
        h.engine.shutdown();
    }
    let h = Harness::on(Engine::with_store(store, config()).expect("engine"));
    let engine = h.engine.clone();
    let poll = tokio::spawn(async move {
        let h = Harness::on(engine);
        poll_update(&h, "u-restart", "up-9", Stage::Completed).await
    });
    h.signal("u-restart", "poke").await;
    let task = h.poll_wft().await;
    complete_with(&h, &task, vec![], vec![response("up-9", "\"after\"")])
        .await
        .expect("complete");
    let polled = poll.await.expect("join").expect("poll");
    assert_eq!(success(&polled.outcome), serde_json::json!("after"));
}

#[tokio::test]
async fn bad_update_messages_fail_the_task_and_bad_requests_are_refused_by_name() {
    let h = Harness::new();
    idle_run(&h, "u-bad").await;
    let call = ask(&h, update_request("u-bad", "up-10", Stage::Completed)).await;
    let task = h.poll_wft().await;
    the_request(&task);
    // A response to an update that was never accepted.
    let err = complete_with(&h, &task, vec![], vec![response("up-10", "1")]).await;
    expect_refusal(err, Code::InvalidArgument, "up-10");
    let events = h.events("u-bad").await;
    let failed = events
        .iter()
        .rev()
        .find(|e| event_type(e) == EventType::WorkflowTaskFailed)
        .expect("task failed");
    let Some(Attributes::WorkflowTaskFailedEventAttributes(f)) = &failed.attributes else {
        panic!("{failed:?}");
    };
    assert_eq!(
        f.cause,
        WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage as i32
    );
    // The update rides the retry.
    let retry = h.poll_wft().await;
    accept_and_answer(&h, &retry, vec![], "up-10", "2").await;
    assert_eq!(outcome_of(call).await, serde_json::json!(2));

    let mut no_request = update_request("u-bad", "x", Stage::Completed);
    no_request.request = None;
    let no_id = update_request("u-bad", "", Stage::Completed);
    let mut no_name = update_request("u-bad", "y", Stage::Completed);
    if let Some(input) = no_name.request.as_mut().and_then(|r| r.input.as_mut()) {
        input.name.clear();
    }
    let admitted = update_request("u-bad", "z", Stage::Admitted);
    for (req, field) in [
        (no_request, "request"),
        (no_id, "request.meta.update_id"),
        (no_name, "request.input.name"),
        (admitted, "ADMITTED"),
    ] {
        let status = expect_code(
            h.engine.update_workflow_execution(Request::new(req)).await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains(field), "{}", status.message());
    }
    expect_code(
        poll_update(&h, "u-bad", "never-sent", Stage::Completed).await,
        Code::NotFound,
    );
    // The refused requests were not admitted: only the completed up-10 is tracked (for its
    // callers and duplicates while the run is open).
    assert_eq!(h.engine.core().state.lock().updates.len(), 1);
}

#[tokio::test]
async fn a_run_may_not_close_over_an_update_that_arrived_while_its_task_ran() {
    let h = Harness::new();
    idle_run(&h, "u-close").await;
    h.signal("u-close", "poke").await;
    let task = h.poll_wft().await;
    let call = ask(&h, update_request("u-close", "up-11", Stage::Completed)).await;
    let err = complete_with(&h, &task, vec![complete_workflow()], vec![]).await;
    expect_refusal(err, Code::InvalidArgument, "update arrived");
    let events = h.events("u-close").await;
    let failed = events
        .iter()
        .rev()
        .find(|e| event_type(e) == EventType::WorkflowTaskFailed)
        .expect("task failed");
    let Some(Attributes::WorkflowTaskFailedEventAttributes(f)) = &failed.attributes else {
        panic!("{failed:?}");
    };
    assert_eq!(f.cause, WorkflowTaskFailedCause::UnhandledCommand as i32);
    // The next task carries the update; the workflow handles it, then closes.
    let next = h.poll_wft().await;
    accept_and_answer(&h, &next, vec![complete_workflow()], "up-11", "5").await;
    assert_eq!(outcome_of(call).await, serde_json::json!(5));
}

#[tokio::test]
async fn a_cancel_requested_run_takes_updates_with_the_cancel_in_the_same_task() {
    let h = Harness::new();
    idle_run(&h, "u-cancel").await;
    h.cancel("u-cancel", "").await.expect("cancel");
    let call = ask(&h, update_request("u-cancel", "up-12", Stage::Completed)).await;
    // The task the cancel scheduled carries the update: cleanup code can handle it.
    let task = h.poll_wft().await;
    let events = task.history.as_ref().expect("history").events.clone();
    assert!(
        events
            .iter()
            .any(|e| event_type(e) == EventType::WorkflowExecutionCancelRequested)
    );
    accept_and_answer(&h, &task, vec![cancel_workflow()], "up-12", "\"cleaned\"").await;
    assert_eq!(outcome_of(call).await, serde_json::json!("cleaned"));
    let types = h.types("u-cancel").await;
    let n = types.len();
    assert_eq!(
        &types[n - 3..],
        &[
            EventType::WorkflowExecutionUpdateAccepted,
            EventType::WorkflowExecutionUpdateCompleted,
            EventType::WorkflowExecutionCanceled,
        ]
    );
}

#[tokio::test]
async fn updates_past_the_run_limits_are_refused() {
    let mut cfg = config();
    cfg.limits.max_in_flight_updates = 1;
    cfg.limits.max_updates_per_run = 2;
    let h = Harness::on(Engine::with_store(Arc::new(MemoryStore::new()), cfg).expect("engine"));
    idle_run(&h, "u-limits").await;
    let first = ask(&h, update_request("u-limits", "a", Stage::Completed)).await;
    let second = update_now(&h, "u-limits", "b").await;
    let status = expect_code(second, Code::ResourceExhausted);
    assert!(
        status.message().contains("max_in_flight_updates"),
        "{}",
        status.message()
    );
    // As Temporal's: cause CONCURRENT_LIMIT, scope namespace, so that SDKs retry it.
    let (name, value) = detail(&status);
    assert_eq!(
        name,
        "temporal.api.errordetails.v1.ResourceExhaustedFailure"
    );
    let exhausted =
        temporalio_protos::temporal::api::errordetails::v1::ResourceExhaustedFailure::decode(
            value.as_slice(),
        )
        .expect("decode");
    assert_eq!(
        exhausted.cause,
        crate::proto::enums::ResourceExhaustedCause::ConcurrentLimit as i32
    );
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    first.await.expect("join").expect("answered");
    // One in flight again is fine; a third update over the run's life is not.
    let _second = ask(&h, update_request("u-limits", "b", Stage::Completed)).await;
    h.terminate("u-limits").await.expect("terminate");
    idle_run(&h, "u-limits-2").await;
    let _c = ask(&h, update_request("u-limits-2", "c", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    let _d = ask(&h, update_request("u-limits-2", "d", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    let third = update_now(&h, "u-limits-2", "e").await;
    // Refused for good, as Temporal refuses an update past its total limit.
    expect_refusal(third, Code::FailedPrecondition, "max_updates_per_run");
}

#[tokio::test]
async fn an_update_to_a_run_whose_task_keeps_failing_is_not_ready() {
    let h = Harness::new();
    h.start("u-failing").await;
    for _ in 0..2 {
        let task = h.poll_wft().await;
        let req = RespondWorkflowTaskFailedRequest {
            namespace: NS.into(),
            task_token: task.task_token.clone(),
            identity: "test-worker".into(),
            ..Default::default()
        };
        h.engine
            .respond_workflow_task_failed(Request::new(req))
            .await
            .expect("fail");
    }
    let result = h
        .engine
        .update_workflow_execution(Request::new(update_request(
            "u-failing",
            "up-1",
            Stage::Completed,
        )))
        .await;
    let status = expect_code(result, Code::FailedPrecondition);
    assert!(
        status.message().contains("Workflow Task in failed state"),
        "{}",
        status.message()
    );
    let (name, _) = detail(&status);
    assert_eq!(name, "temporal.api.errordetails.v1.WorkflowNotReadyFailure");
}

/// A poll for an update the run never had reads the run's history once; the run's close forgets
/// that, so that nothing of a closed run stays behind.
#[tokio::test]
async fn a_closed_run_leaves_no_update_bookkeeping() {
    let h = Harness::new();
    idle_run(&h, "u-forget").await;
    expect_code(
        poll_update(&h, "u-forget", "never-sent", Stage::Completed).await,
        Code::NotFound,
    );
    assert_eq!(h.engine.core().state.lock().updates.histories_read(), 1);
    h.terminate("u-forget").await.expect("terminate");
    let st = h.engine.core().state.lock();
    assert_eq!(st.updates.histories_read(), 0);
    assert_eq!(st.updates.len(), 0);
}
