//! Queries nobody answers: a flood of them past `--limit max_in_flight_queries` is refused at
//! once and those admitted are still answered; `--query-timeout` bounds how long one waits.

use crate::harness::{NS, Target, uuid_like};
use dacapo::proto::common::{WorkflowExecution, WorkflowType};
use dacapo::proto::enums::QueryResultType;
use dacapo::proto::query::WorkflowQuery;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use dacapo_tests::procs;
use tokio::task::JoinSet;
use tonic::Code;

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_string(),
        ..Default::default()
    })
}

/// Starts a run on `task_queue` and completes its first workflow task without a command: open
/// and idle, so that a query to it is a query task no worker takes until the test polls.
async fn idle_run(target: &Target, workflow_id: &str, task_queue: &str) {
    let mut client = target.client().await;
    client
        .start_workflow_execution(target.request(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "hostile".into(),
            }),
            task_queue: queue(task_queue),
            request_id: uuid_like(),
            ..Default::default()
        }))
        .await
        .expect("start");
    let task = poll(target, task_queue).await;
    client
        .respond_workflow_task_completed(target.request(RespondWorkflowTaskCompletedRequest {
            namespace: NS.into(),
            task_token: task.task_token,
            ..Default::default()
        }))
        .await
        .expect("complete");
}

async fn poll(target: &Target, task_queue: &str) -> PollWorkflowTaskQueueResponse {
    let mut client = target.client().await;
    for _ in 0..10 {
        let task = client
            .poll_workflow_task_queue(target.request(PollWorkflowTaskQueueRequest {
                namespace: NS.into(),
                task_queue: queue(task_queue),
                ..Default::default()
            }))
            .await
            .expect("poll")
            .into_inner();
        if !task.task_token.is_empty() {
            return task;
        }
    }
    panic!("no task on {task_queue}");
}

fn query_request(workflow_id: &str) -> QueryWorkflowRequest {
    QueryWorkflowRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: workflow_id.into(),
            run_id: String::new(),
        }),
        query: Some(WorkflowQuery {
            query_type: "status".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_flood_of_queries_past_the_cap_is_refused_and_the_admitted_ones_are_answered() {
    let target = Target::start(&[
        "--limit",
        "max_in_flight_queries=5",
        "--query-timeout",
        "10m",
    ])
    .await;
    let seeded = target.seed(2).await;
    idle_run(&target, "flooded", "hostile-queries").await;
    let client = target.client().await;
    let mut calls = JoinSet::new();
    for _ in 0..40 {
        let mut client = client.clone();
        let request = target.request(query_request("flooded"));
        calls.spawn(async move { client.query_workflow(request).await });
    }
    // No worker polls: five wait, and every other one is refused at once.
    let mut refused = 0;
    while refused < 35 {
        let status = calls
            .join_next()
            .await
            .expect("a call")
            .expect("join")
            .expect_err("no worker answered yet");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("max_in_flight_queries"),
            "{}",
            status.message()
        );
        refused += 1;
    }
    let mut worker = target.client().await;
    for n in 0..5 {
        let task = poll(&target, "hostile-queries").await;
        assert!(task.query.is_some(), "a query task: {task:?}");
        worker
            .respond_query_task_completed(target.request(RespondQueryTaskCompletedRequest {
                namespace: NS.into(),
                task_token: task.task_token,
                completed_type: QueryResultType::Answered as i32,
                query_result: Some(dacapo::proto::common::Payloads {
                    payloads: vec![dacapo::proto::common::Payload {
                        data: format!("{n}").into_bytes(),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }))
            .await
            .expect("answer");
    }
    let mut answered = 0;
    while let Some(call) = calls.join_next().await {
        call.expect("join").expect("answered");
        answered += 1;
    }
    assert_eq!(answered, 5);
    // Room again once they are answered.
    let mut client = target.client().await;
    let later = tokio::spawn(async move { client.query_workflow(query_request("flooded")).await });
    let task = poll(&target, "hostile-queries").await;
    worker
        .respond_query_task_completed(target.request(RespondQueryTaskCompletedRequest {
            namespace: NS.into(),
            task_token: task.task_token,
            completed_type: QueryResultType::Answered as i32,
            ..Default::default()
        }))
        .await
        .expect("answer");
    later.await.expect("join").expect("answered");
    target.check_seeded(&seeded).await;
}

#[tokio::test]
async fn query_timeout_bounds_the_wait_for_an_answer_and_zero_is_refused() {
    let target = Target::start(&["--query-timeout", "1s"]).await;
    idle_run(&target, "unanswered", "hostile-unanswered").await;
    let mut client = target.client().await;
    let status = client
        .query_workflow(target.request(query_request("unanswered")))
        .await
        .expect_err("no worker answers");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // The message names the timeout the server was given, not the default 30 s.
    assert!(
        status.message().contains("within 1s"),
        "{}",
        status.message()
    );

    let bin = procs::binaries().join("dacapo");
    for (arg, says) in [("0s", "more than 0s"), ("soon", "--query-timeout")] {
        let output = std::process::Command::new(&bin)
            .args([
                "server",
                "--in-memory",
                "--port",
                "0",
                "--query-timeout",
                arg,
            ])
            .output()
            .expect("run dacapo server");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "the server started with --query-timeout {arg}"
        );
        assert!(stderr.contains(says), "--query-timeout {arg}: {stderr}");
    }
}
