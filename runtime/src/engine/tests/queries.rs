//! Queries (`QueryWorkflow`), played from the worker's side: a query rides the next workflow
//! task when one is due or running, and becomes a query task of its own when none is or the run
//! is closed; the caller waits for the worker's answer, at most the query timeout; nothing a
//! query does is written to the history.

use super::*;
use crate::proto::enums::{QueryRejectCondition, QueryResultType, WorkflowExecutionStatus};
use crate::proto::query::{WorkflowQuery, WorkflowQueryResult};
use prost::Message as _;
use std::collections::HashMap;
use temporalio_protos::temporal::api::errordetails::v1::QueryFailedFailure;
use tokio::task::JoinHandle;

fn query_request(workflow_id: &str, query_type: &str) -> QueryWorkflowRequest {
    QueryWorkflowRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
        query: Some(WorkflowQuery {
            query_type: query_type.into(),
            query_args: payloads("\"arg\""),
            header: None,
        }),
        ..Default::default()
    }
}

/// Sends a query in the background, once the engine holds it (so that what the test does next
/// happens after the query arrived).
async fn ask(
    h: &Harness,
    req: QueryWorkflowRequest,
) -> JoinHandle<Result<QueryWorkflowResponse, Status>> {
    let engine = h.engine.clone();
    let call = async move {
        engine
            .query_workflow(Request::new(req))
            .await
            .map(tonic::Response::into_inner)
    };
    in_background("query", || h.engine.core().state.lock().queries.len(), call).await
}

fn answered(json: &str) -> WorkflowQueryResult {
    WorkflowQueryResult {
        result_type: QueryResultType::Answered as i32,
        answer: payloads(json),
        ..Default::default()
    }
}

async fn complete_with_answers(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<Command>,
    query_results: HashMap<String, WorkflowQueryResult>,
) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
    h.send_completion(RespondWorkflowTaskCompletedRequest {
        query_results,
        ..completion(task, commands)
    })
    .await
}

async fn answer_task(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    json: &str,
) -> Result<(), Status> {
    let req = RespondQueryTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        completed_type: QueryResultType::Answered as i32,
        query_result: payloads(json),
        ..Default::default()
    };
    h.engine
        .respond_query_task_completed(Request::new(req))
        .await
        .map(|_| ())
}

/// The answer a background query call got, as JSON.
async fn answer_to(call: JoinHandle<Result<QueryWorkflowResponse, Status>>) -> serde_json::Value {
    answer_of(&call.await.expect("join").expect("answered"))
}

fn answer_of(resp: &QueryWorkflowResponse) -> serde_json::Value {
    let p = &resp.query_result.as_ref().expect("a query result").payloads[0];
    serde_json::from_slice(&p.data).expect("json")
}

/// The only query a workflow task carries: (query id, query type).
fn the_query(task: &PollWorkflowTaskQueueResponse) -> (String, String) {
    assert_eq!(
        task.queries.len(),
        1,
        "the task carries one query: {:?}",
        task.queries
    );
    let (id, q) = task.queries.iter().next().expect("one query");
    (id.clone(), q.query_type.clone())
}

/// A run whose first workflow task completed with a timer: open, with no workflow task due.
async fn idle_run(h: &Harness, workflow_id: &str) {
    h.start(workflow_id).await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![start_timer("t", 3_600_000)])
        .await
        .expect("complete");
}

#[tokio::test]
async fn query_rides_the_scheduled_workflow_task_and_is_answered_in_its_completion() {
    let h = Harness::new();
    h.start("q-scheduled").await;
    let call = ask(&h, query_request("q-scheduled", "status")).await;
    let task = h.poll_wft().await;
    assert!(task.query.is_none(), "a workflow task, not a query task");
    let (id, query_type) = the_query(&task);
    assert_eq!(query_type, "status");
    assert_eq!(task.queries[&id].query_args, payloads("\"arg\""));
    let before = h.types("q-scheduled").await;
    complete_with_answers(
        &h,
        &task,
        vec![start_timer("t", 3_600_000)],
        HashMap::from([(id, answered("\"pending\""))]),
    )
    .await
    .expect("complete");
    let resp = call.await.expect("join").expect("query answered");
    assert_eq!(answer_of(&resp), serde_json::json!("pending"));
    assert!(resp.query_rejected.is_none());
    // The completion wrote its own events and nothing for the query.
    let after = h.types("q-scheduled").await;
    assert_eq!(after.len(), before.len() + 2, "{after:?}");
    assert_eq!(
        &after[before.len()..],
        &[EventType::WorkflowTaskCompleted, EventType::TimerStarted]
    );
}

#[tokio::test]
async fn query_to_an_idle_run_is_a_query_task_that_writes_nothing() {
    let h = Harness::new();
    idle_run(&h, "q-idle").await;
    let before = h.events("q-idle").await;
    let call = ask(&h, query_request("q-idle", "status")).await;
    let task = h.poll_wft().await;
    let query = task.query.clone().expect("a query task");
    assert_eq!(query.query_type, "status");
    assert!(task.queries.is_empty());
    assert_eq!(
        task.workflow_execution
            .as_ref()
            .map(|e| e.workflow_id.as_str()),
        Some("q-idle")
    );
    assert_eq!(
        task.workflow_type.as_ref().map(|t| t.name.as_str()),
        Some("your_workflow")
    );
    // The whole history, for the worker to replay.
    assert_eq!(
        task.history.as_ref().map(|h| h.events.len()),
        Some(before.len())
    );
    assert!(task.next_page_token.is_empty());
    answer_task(&h, &task, "{\"items\":2}")
        .await
        .expect("answer");
    let resp = call.await.expect("join").expect("query answered");
    assert_eq!(answer_of(&resp), serde_json::json!({"items": 2}));
    assert_eq!(h.events("q-idle").await, before, "a query writes nothing");
    // The query task was answered once; a second answer finds nothing.
    expect_code(answer_task(&h, &task, "1").await, Code::NotFound);
    assert_eq!(h.engine.core().state.lock().queries.len(), 0);
}

#[tokio::test]
async fn query_during_a_running_task_rides_the_next_one_or_becomes_a_query_task() {
    let h = Harness::new();
    h.start("q-running").await;
    let task = h.poll_wft().await;
    // Arrives while the task runs: it waits for the next task.
    let call = ask(&h, query_request("q-running", "status")).await;
    h.signal("q-running", "poke").await;
    h.complete(&task, vec![start_timer("t", 3_600_000)])
        .await
        .expect("complete");
    // The held signal needs a new task: the query rides it.
    let next = h.poll_wft().await;
    let (id, _) = the_query(&next);
    complete_with_answers(&h, &next, vec![], HashMap::from([(id, answered("1"))]))
        .await
        .expect("complete");
    assert_eq!(answer_to(call).await, serde_json::json!(1));

    // With no next task, the waiting query becomes a query task once the running one ends.
    h.signal("q-running", "poke").await;
    let task = h.poll_wft().await;
    let call = ask(&h, query_request("q-running", "status")).await;
    h.complete(&task, vec![]).await.expect("complete");
    let query_task = h.poll_wft().await;
    assert!(query_task.query.is_some(), "a query task");
    answer_task(&h, &query_task, "2").await.expect("answer");
    assert_eq!(answer_to(call).await, serde_json::json!(2));
}

#[tokio::test]
async fn query_on_a_failed_task_rides_the_retry() {
    let h = Harness::new();
    h.start("q-retry").await;
    let call = ask(&h, query_request("q-retry", "status")).await;
    let task = h.poll_wft().await;
    the_query(&task);
    h.fail_task(&task).await;
    let retry = h.poll_wft().await;
    assert_eq!(retry.attempt, 2);
    let (id, _) = the_query(&retry);
    complete_with_answers(&h, &retry, vec![], HashMap::from([(id, answered("3"))]))
        .await
        .expect("complete");
    assert_eq!(answer_to(call).await, serde_json::json!(3));
}

#[tokio::test]
async fn query_on_a_closed_run_is_answered_by_a_worker_from_the_stored_history() {
    let h = Harness::new();
    h.start("q-closed").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![complete_workflow()])
        .await
        .expect("complete");
    let before = h.events("q-closed").await;
    let call = ask(&h, query_request("q-closed", "status")).await;
    let query_task = h.poll_wft().await;
    assert!(query_task.query.is_some());
    let history = query_task.history.clone().expect("history").events;
    assert_eq!(history, before, "the whole history of the closed run");
    answer_task(&h, &query_task, "\"done\"")
        .await
        .expect("answer");
    assert_eq!(answer_to(call).await, serde_json::json!("done"));
    assert_eq!(h.events("q-closed").await, before);
}

#[tokio::test]
async fn a_closed_runs_long_history_comes_in_pages() {
    let mut cfg = config();
    cfg.limits.poll_history_page_events = 2;
    let h = Harness::on(Engine::in_memory(cfg));
    h.start("q-pages").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![complete_workflow()])
        .await
        .expect("complete");
    let all = h.events("q-pages").await;
    let call = ask(&h, query_request("q-pages", "status")).await;
    let query_task = h.poll_wft().await;
    let mut events = query_task.history.clone().expect("history").events;
    assert_eq!(events.len(), 2);
    let mut token = query_task.next_page_token.clone();
    while !token.is_empty() {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: query_task.workflow_execution.clone(),
            next_page_token: token,
            ..Default::default()
        };
        let page = h
            .engine
            .get_workflow_execution_history(Request::new(req))
            .await
            .expect("page")
            .into_inner();
        events.extend(page.history.unwrap_or_default().events);
        token = page.next_page_token;
    }
    assert_eq!(events, all);
    answer_task(&h, &query_task, "0").await.expect("answer");
    call.await.expect("join").expect("answered");
}

#[tokio::test]
async fn reject_conditions_follow_the_runs_status() {
    let h = Harness::new();
    idle_run(&h, "q-open").await;
    h.start("q-done").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![complete_workflow()])
        .await
        .expect("complete");
    h.start("q-terminated").await;
    h.terminate("q-terminated").await.expect("terminate");

    let with = |id: &str, c: QueryRejectCondition| QueryWorkflowRequest {
        query_reject_condition: c as i32,
        ..query_request(id, "status")
    };
    let rejected = |r: Result<QueryWorkflowResponse, Status>| {
        r.expect("rejected, not failed")
            .query_rejected
            .map(|q| q.status)
    };
    let done = h
        .engine
        .query_workflow(Request::new(with("q-done", QueryRejectCondition::NotOpen)))
        .await;
    assert_eq!(
        rejected(done.map(tonic::Response::into_inner)),
        Some(WorkflowExecutionStatus::Completed as i32)
    );
    let term = h
        .engine
        .query_workflow(Request::new(with(
            "q-terminated",
            QueryRejectCondition::NotCompletedCleanly,
        )))
        .await;
    assert_eq!(
        rejected(term.map(tonic::Response::into_inner)),
        Some(WorkflowExecutionStatus::Terminated as i32)
    );

    // Not rejected: an open run under NotOpen, a cleanly completed one under NotCompletedCleanly.
    for (id, c) in [
        ("q-open", QueryRejectCondition::NotOpen),
        ("q-done", QueryRejectCondition::NotCompletedCleanly),
    ] {
        let call = ask(&h, with(id, c)).await;
        let query_task = h.poll_wft().await;
        assert!(query_task.query.is_some(), "{id}");
        answer_task(&h, &query_task, "true").await.expect("answer");
        let resp = call.await.expect("join").expect("answered");
        assert!(resp.query_rejected.is_none(), "{id}");
        assert_eq!(answer_of(&resp), serde_json::json!(true));
    }
    assert_eq!(h.engine.core().state.lock().queries.len(), 0);
}

#[tokio::test]
async fn query_with_no_worker_times_out_with_a_clear_error_and_is_forgotten() {
    let mut cfg = config();
    cfg.query_timeout = Duration::from_millis(200);
    let h = Harness::on(Engine::in_memory(cfg));
    // A workflow task is due but no worker takes it; and an idle run whose query task nobody
    // polls.
    h.start("q-down").await;
    idle_run(&h, "q-down-idle").await;
    for id in ["q-down", "q-down-idle"] {
        let result = h
            .engine
            .query_workflow(Request::new(query_request(id, "status")))
            .await;
        let status = expect_code(result, Code::DeadlineExceeded);
        assert!(status.message().contains(id), "{}", status.message());
        assert!(
            status.message().contains("not answered"),
            "{}",
            status.message()
        );
    }
    assert_eq!(h.engine.core().state.lock().queries.len(), 0);
    // The stale query task is skipped: the next poll hands out the workflow task.
    let task = h.poll_wft().await;
    assert!(task.query.is_none());
    assert!(task.queries.is_empty());
}

#[tokio::test]
async fn a_failed_query_is_an_invalid_argument_with_the_workers_message() {
    let h = Harness::new();
    idle_run(&h, "q-fail").await;
    let call = ask(&h, query_request("q-fail", "nope")).await;
    let task = h.poll_wft().await;
    let req = RespondQueryTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        completed_type: QueryResultType::Failed as i32,
        error_message: "unknown query type \"nope\"".into(),
        failure: Some(crate::proto::failure::Failure {
            message: "unknown query type \"nope\"".into(),
            stack_trace: "at the handler".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    h.engine
        .respond_query_task_completed(Request::new(req))
        .await
        .expect("respond");
    let status = expect_code(call.await.expect("join"), Code::InvalidArgument);
    assert_eq!(status.message(), "unknown query type \"nope\"");
    // Temporal's QueryFailed: the worker's failure rides a QueryFailedFailure detail.
    let (name, value) = detail(&status);
    assert_eq!(name, "temporal.api.errordetails.v1.QueryFailedFailure");
    let failed = QueryFailedFailure::decode(value.as_slice()).expect("decode");
    assert_eq!(
        failed.failure.map(|f| f.stack_trace).as_deref(),
        Some("at the handler")
    );

    // The same through a workflow task's query results.
    h.signal("q-fail", "poke").await;
    let call = ask(&h, query_request("q-fail", "nope")).await;
    let task = h.poll_wft().await;
    let (id, _) = the_query(&task);
    let failed = WorkflowQueryResult {
        result_type: QueryResultType::Failed as i32,
        error_message: "handler panicked".into(),
        ..Default::default()
    };
    complete_with_answers(&h, &task, vec![], HashMap::from([(id, failed)]))
        .await
        .expect("complete");
    let status = expect_code(call.await.expect("join"), Code::InvalidArgument);
    assert_eq!(status.message(), "handler panicked");
    let (name, _) = detail(&status);
    assert_eq!(name, "temporal.api.errordetails.v1.QueryFailedFailure");
}

#[tokio::test]
async fn stack_trace_query_is_passed_to_the_worker() {
    let h = Harness::new();
    idle_run(&h, "q-stack").await;
    let call = ask(&h, query_request("q-stack", "__stack_trace")).await;
    let task = h.poll_wft().await;
    assert_eq!(
        task.query.as_ref().map(|q| q.query_type.as_str()),
        Some("__stack_trace")
    );
    answer_task(&h, &task, "\"at order.rs:12\"")
        .await
        .expect("answer");
    assert_eq!(answer_to(call).await, serde_json::json!("at order.rs:12"));
}

#[tokio::test]
async fn bad_queries_are_refused_by_name() {
    let h = Harness::new();
    idle_run(&h, "q-bad").await;
    let mut no_query = query_request("q-bad", "status");
    no_query.query = None;
    let no_type = query_request("q-bad", "");
    let mut bad_condition = query_request("q-bad", "status");
    bad_condition.query_reject_condition = 99;
    for (req, field) in [
        (no_query, "query"),
        (no_type, "query.query_type"),
        (bad_condition, "query_reject_condition"),
    ] {
        let status = expect_code(
            h.engine.query_workflow(Request::new(req)).await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains(field), "{}", status.message());
    }
    let unknown = h
        .engine
        .query_workflow(Request::new(query_request("no-such-workflow", "status")))
        .await;
    expect_code(unknown, Code::NotFound);

    let respond = |task_token: Vec<u8>, completed_type: i32| RespondQueryTaskCompletedRequest {
        namespace: NS.into(),
        task_token,
        completed_type,
        ..Default::default()
    };
    h.start("q-bad-other").await;
    let workflow_token = h.poll_wft().await.task_token;
    for (token, ty) in [
        (Vec::new(), QueryResultType::Answered as i32),
        (workflow_token, QueryResultType::Answered as i32),
        (b"junk".to_vec(), QueryResultType::Answered as i32),
    ] {
        let r = h
            .engine
            .respond_query_task_completed(Request::new(respond(token, ty)))
            .await;
        expect_code(r, Code::InvalidArgument);
    }
    let call = ask(&h, query_request("q-bad", "status")).await;
    let task = h.poll_wft().await;
    let r = h
        .engine
        .respond_query_task_completed(Request::new(respond(task.task_token.clone(), 0)))
        .await;
    expect_refusal(r, Code::InvalidArgument, "completed_type");
    answer_task(&h, &task, "0").await.expect("answer");
    call.await.expect("join").expect("answered");
}

#[tokio::test]
async fn queries_no_worker_could_answer_fail_fast_as_not_ready() {
    let h = Harness::new();
    // Closed before any workflow task completed.
    h.start("q-early").await;
    h.terminate("q-early").await.expect("terminate");
    // A start delay: no workflow task yet.
    let mut delayed = h.start_request("q-delayed");
    delayed.workflow_start_delay = Some(millis(3_600_000));
    h.engine
        .start_workflow_execution(Request::new(delayed))
        .await
        .expect("start");
    // A workflow task that keeps failing: attempt 3 is scheduled.
    h.start("q-failing").await;
    for _ in 0..2 {
        let task = h.poll_wft().await;
        h.fail_task(&task).await;
    }
    for (id, says) in [
        ("q-early", "closed before any workflow task completed"),
        ("q-delayed", "not scheduled yet"),
        ("q-failing", "Workflow Task in failed state"),
    ] {
        let result = h
            .engine
            .query_workflow(Request::new(query_request(id, "status")))
            .await;
        let status = expect_code(result, Code::FailedPrecondition);
        assert!(
            status.message().contains(says),
            "{id}: {}",
            status.message()
        );
        // Temporal's WorkflowNotReady, which SDK clients tell by its detail.
        let (name, _) = detail(&status);
        assert_eq!(name, "temporal.api.errordetails.v1.WorkflowNotReadyFailure");
    }
    assert_eq!(h.engine.core().state.lock().queries.len(), 0);
}

#[tokio::test]
async fn a_query_to_a_cancel_requested_run_rides_the_task_the_cancel_scheduled() {
    let h = Harness::new();
    idle_run(&h, "q-cancel").await;
    h.cancel("q-cancel", "").await.expect("cancel");
    let call = ask(&h, query_request("q-cancel", "status")).await;
    let task = h.poll_wft().await;
    let events = task.history.as_ref().expect("history").events.clone();
    assert!(
        events
            .iter()
            .any(|e| event_type(e) == EventType::WorkflowExecutionCancelRequested)
    );
    let (id, _) = the_query(&task);
    complete_with_answers(
        &h,
        &task,
        vec![cancel_workflow()],
        HashMap::from([(id, answered("\"cleaning up\""))]),
    )
    .await
    .expect("complete");
    assert_eq!(answer_to(call).await, serde_json::json!("cleaning up"));
}

#[tokio::test]
async fn queries_past_the_in_flight_cap_are_refused_until_some_are_answered() {
    let mut cfg = config();
    cfg.limits.max_in_flight_queries = 2;
    let h = Harness::on(Engine::in_memory(cfg));
    idle_run(&h, "q-cap-1").await;
    idle_run(&h, "q-cap-2").await;
    // The cap counts over all runs.
    let first = ask(&h, query_request("q-cap-1", "status")).await;
    let second = ask(&h, query_request("q-cap-2", "status")).await;
    let third = h
        .engine
        .query_workflow(Request::new(query_request("q-cap-1", "status")))
        .await;
    let status = expect_code(third, Code::ResourceExhausted);
    assert!(
        status.message().contains("max_in_flight_queries"),
        "{}",
        status.message()
    );
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
    assert_eq!(
        exhausted.scope,
        crate::proto::enums::ResourceExhaustedScope::System as i32
    );
    // Nothing of the refused query is kept.
    assert_eq!(h.engine.core().state.lock().queries.len(), 2);
    // One answered: room for one more.
    let task = h.poll_wft().await;
    answer_task(&h, &task, "1").await.expect("answer");
    first.await.expect("join").expect("answered");
    let again = ask(&h, query_request("q-cap-1", "status")).await;
    for answer in ["0", "2"] {
        // The second run's query task first, then the new one.
        let task = h.poll_wft().await;
        answer_task(&h, &task, answer).await.expect("answer");
    }
    assert_eq!(
        answer_of(&again.await.expect("join").expect("answered")),
        serde_json::json!(2)
    );
    assert_eq!(
        answer_of(&second.await.expect("join").expect("answered")),
        serde_json::json!(0)
    );
}
