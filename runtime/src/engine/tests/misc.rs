//! Terminate, start rules, invalid commands, failing and timed-out workflow tasks, history
//! long-polls, lists, signal-with-start, shutdown, and request validation.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::{EventType as E, HistoryEventFilterType, WorkflowTaskFailedCause};
use prost::Message;

/// Scenario 9 of docs/semantics.md §10: terminate while an activity runs; the worker is told at
/// once.
#[tokio::test]
async fn terminate_while_an_activity_runs() {
    let h = Harness::new();
    let mut cancels = h.engine.cancel_shortcut();
    h.start("doomed").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("1", "long", 1_000)])
        .await
        .unwrap();
    let act = h.poll_activity().await;
    h.terminate("doomed").await.unwrap();
    let announced = tokio::time::timeout(Duration::from_secs(2), cancels.recv()).await;
    assert_eq!(announced.unwrap().unwrap(), act.task_token);
    assert_eq!(
        h.types("doomed").await[4..],
        [E::ActivityTaskScheduled, E::WorkflowExecutionTerminated]
    );
    expect_code(h.heartbeat(&act.task_token).await, Code::NotFound);
    let err = expect_code(h.activity_completed(&act.task_token).await, Code::NotFound);
    assert!(
        err.message().contains("already completed"),
        "{}",
        err.message()
    );
    let err = expect_code(h.terminate("doomed").await, Code::NotFound);
    assert!(
        err.message().contains("already completed"),
        "{}",
        err.message()
    );
    let d = h.describe("doomed").await;
    let info = d.workflow_execution_info.unwrap();
    assert_eq!(
        info.status,
        crate::proto::enums::WorkflowExecutionStatus::Terminated as i32
    );
    assert!(info.close_time.is_some() && d.pending_activities.is_empty());
}

#[tokio::test]
async fn terminate_during_a_task_fails_it_first() {
    let h = Harness::new();
    h.start("mid").await;
    let task = h.poll_wft().await;
    h.terminate("mid").await.unwrap();
    assert_eq!(
        h.types("mid").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskFailed,
            E::WorkflowExecutionTerminated,
        ]
    );
    expect_code(
        h.complete(&task, vec![complete_workflow()]).await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn unknown_ids_and_namespaces() {
    let h = Harness::new();
    let err = expect_code(h.terminate("ghost").await, Code::NotFound);
    assert!(err.message().contains("ghost"), "{}", err.message());
    let req = DescribeWorkflowExecutionRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: "ghost".into(),
            run_id: String::new(),
        }),
    };
    let err = expect_code(
        h.engine
            .describe_workflow_execution(Request::new(req))
            .await,
        Code::NotFound,
    );
    assert!(err.message().contains("ghost"), "{}", err.message());
    let mut start = h.start_request("x");
    start.namespace = "elsewhere".into();
    let err = expect_code(
        h.engine.start_workflow_execution(Request::new(start)).await,
        Code::NotFound,
    );
    assert!(err.message().contains("elsewhere"), "{}", err.message());
    let mut start = h.start_request("x");
    start.workflow_type = None;
    expect_code(
        h.engine.start_workflow_execution(Request::new(start)).await,
        Code::InvalidArgument,
    );
    let mut start = h.start_request("x");
    start.input = Some(Payloads {
        payloads: vec![crate::proto::common::Payload {
            data: vec![0; 3 * 1024 * 1024],
            ..Default::default()
        }],
    });
    let err = expect_code(
        h.engine.start_workflow_execution(Request::new(start)).await,
        Code::InvalidArgument,
    );
    assert!(err.message().contains("limit"), "{}", err.message());
    let bad = RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: b"garbage".to_vec(),
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_workflow_task_completed(Request::new(bad))
            .await,
        Code::InvalidArgument,
    );
}

#[tokio::test]
async fn start_dedupe_already_started_and_reuse() {
    let h = Harness::new();
    let req = h.start_request("once");
    let first = h
        .engine
        .start_workflow_execution(Request::new(req.clone()))
        .await
        .unwrap();
    let again = h
        .engine
        .start_workflow_execution(Request::new(req))
        .await
        .unwrap();
    assert_eq!(
        first.get_ref().run_id,
        again.get_ref().run_id,
        "same request id: same run"
    );
    let other = h.start_request("once");
    let err = expect_code(
        h.engine.start_workflow_execution(Request::new(other)).await,
        Code::AlreadyExists,
    );
    assert!(
        err.message().contains("already started"),
        "{}",
        err.message()
    );
    let detail = temporalio_protos::google::rpc::Status::decode(err.details()).unwrap();
    let failure = temporalio_protos::temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure::decode(
        detail.details[0].value.as_slice(),
    )
    .unwrap();
    assert_eq!(failure.run_id, first.get_ref().run_id);
    h.terminate("once").await.unwrap();
    let second = h.start("once").await;
    assert_ne!(second, first.get_ref().run_id, "ids are reused after close");
    let list = ListWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: "WorkflowId = 'once'".into(),
        ..Default::default()
    };
    let listed = h
        .engine
        .list_workflow_executions(Request::new(list))
        .await
        .unwrap()
        .into_inner();
    let runs: Vec<String> = listed
        .executions
        .iter()
        .filter_map(|e| e.execution.as_ref().map(|x| x.run_id.clone()))
        .collect();
    assert_eq!(
        runs,
        [second.clone(), first.get_ref().run_id.clone()],
        "newest first"
    );
    let count = CountWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: "ExecutionStatus = 'Running'".into(),
    };
    let counted = h
        .engine
        .count_workflow_executions(Request::new(count))
        .await
        .unwrap();
    assert_eq!(counted.get_ref().count, 1);
    let bad = CountWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: "StartTime > 3".into(),
    };
    expect_code(
        h.engine.count_workflow_executions(Request::new(bad)).await,
        Code::InvalidArgument,
    );
}

#[tokio::test]
async fn invalid_commands_fail_the_task() {
    let h = Harness::new();
    h.start("bad").await;
    let task = h.poll_wft().await;
    let mut no_timeouts = schedule_activity("1", "a", 0);
    if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) =
        no_timeouts.attributes.as_mut()
    {
        a.start_to_close_timeout = None;
    }
    let err = expect_code(
        h.complete(&task, vec![start_timer("t", 10), no_timeouts])
            .await,
        Code::InvalidArgument,
    );
    assert!(
        err.message().contains("start_to_close_timeout"),
        "{}",
        err.message()
    );
    let events = h.events("bad").await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    assert_eq!(
        types[3..],
        [E::WorkflowTaskFailed, E::WorkflowTaskScheduled],
        "nothing kept"
    );
    match &events[3].attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => {
            assert_eq!(
                a.cause,
                WorkflowTaskFailedCause::BadScheduleActivityAttributes as i32
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let task = h.poll_wft().await;
    assert_eq!(task.attempt, 2);
    let child = Command {
        command_type: CommandType::StartChildWorkflowExecution as i32,
        attributes: Some(
            CommandAttributes::StartChildWorkflowExecutionCommandAttributes(Default::default()),
        ),
        ..Default::default()
    };
    let err = expect_code(h.complete(&task, vec![child]).await, Code::InvalidArgument);
    assert!(
        err.message().contains("StartChildWorkflowExecution"),
        "{}",
        err.message()
    );
    // Attempt 3 backs off (2 s): not handed out within one short poll.
    assert!(h.try_poll_wft().await.task_token.is_empty());
    let pending = h.describe("bad").await.pending_workflow_task.unwrap();
    assert_eq!(pending.attempt, 3);
}

#[tokio::test]
async fn workflow_task_timeout_brings_the_task_back() {
    let h = Harness::new();
    let mut req = h.start_request("slow");
    req.workflow_task_timeout = Some(millis(100));
    h.engine
        .start_workflow_execution(Request::new(req))
        .await
        .unwrap();
    let lost = h.poll_wft().await;
    let task = h.poll_wft().await;
    assert_eq!(task.attempt, 2);
    expect_code(h.complete(&lost, vec![]).await, Code::NotFound);
    h.complete(&task, vec![complete_workflow()]).await.unwrap();
    assert_eq!(
        h.types("slow").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskTimedOut,
            E::WorkflowTaskScheduled,
            E::WorkflowTaskStarted,
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionCompleted,
        ]
    );
}

#[tokio::test]
async fn history_long_poll_for_the_close_event_and_paging() {
    let h = Harness::new();
    h.start("result").await;
    let engine = h.engine.clone();
    let waiter = tokio::spawn(async move {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: "result".into(),
                run_id: String::new(),
            }),
            wait_new_event: true,
            history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
            ..Default::default()
        };
        engine
            .get_workflow_execution_history(Request::new(req))
            .await
    });
    let task = h.poll_wft().await;
    h.complete(&task, vec![complete_workflow()]).await.unwrap();
    let resp = waiter.await.unwrap().unwrap().into_inner();
    let events = resp.history.unwrap().events;
    assert_eq!(events.len(), 1);
    assert_eq!(event_type(&events[0]), E::WorkflowExecutionCompleted);
    assert!(resp.next_page_token.is_empty());

    let mut token = Vec::new();
    let mut seen = Vec::new();
    loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: "result".into(),
                run_id: String::new(),
            }),
            maximum_page_size: 2,
            next_page_token: token,
            ..Default::default()
        };
        let page = h
            .engine
            .get_workflow_execution_history(Request::new(req))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.history.unwrap().events.iter().map(|e| e.event_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn a_new_task_can_come_back_with_the_completion() {
    let h = Harness::new();
    h.start("eager").await;
    let task = h.poll_wft().await;
    let req = RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        force_create_new_workflow_task: true,
        return_new_workflow_task: true,
        identity: "w".into(),
        ..Default::default()
    };
    let resp = h
        .engine
        .respond_workflow_task_completed(Request::new(req))
        .await
        .unwrap();
    let next = resp.into_inner().workflow_task.expect("a new task");
    assert_eq!(next.started_event_id, 6);
    assert_eq!(next.previous_started_event_id, 3);
    assert!(
        h.try_poll_wft().await.task_token.is_empty(),
        "handed out once"
    );
    h.complete(&next, vec![complete_workflow()]).await.unwrap();
}

#[tokio::test]
async fn shutdown_wakes_polls_and_refuses_requests() {
    let h = Harness::on(Engine::in_memory(EngineConfig {
        long_poll_timeout: Duration::from_secs(30),
        ..EngineConfig::default()
    }));
    let engine = h.engine.clone();
    let poll = tokio::spawn(async move {
        let req = PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: Some(TaskQueue {
                name: QUEUE.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        engine.poll_activity_task_queue(Request::new(req)).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.engine.shutdown();
    let resp = tokio::time::timeout(Duration::from_secs(2), poll).await;
    assert!(
        resp.unwrap()
            .unwrap()
            .unwrap()
            .into_inner()
            .task_token
            .is_empty()
    );
    let req = h.start_request("late");
    expect_code(
        h.engine.start_workflow_execution(Request::new(req)).await,
        Code::Unavailable,
    );
}

#[tokio::test]
async fn signal_with_start_starts_then_signals() {
    let h = Harness::new();
    let start = h.start_request("sws");
    let req = SignalWithStartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: "sws".into(),
        workflow_type: start.workflow_type.clone(),
        task_queue: start.task_queue.clone(),
        signal_name: "go".into(),
        request_id: "r1".into(),
        ..Default::default()
    };
    let first = h
        .engine
        .signal_with_start_workflow_execution(Request::new(req.clone()))
        .await
        .unwrap();
    assert!(first.get_ref().started);
    let mut again = req;
    again.request_id = "r2".into();
    let second = h
        .engine
        .signal_with_start_workflow_execution(Request::new(again))
        .await
        .unwrap();
    assert!(!second.get_ref().started);
    assert_eq!(first.get_ref().run_id, second.get_ref().run_id);
    assert_eq!(
        h.types("sws").await,
        [
            E::WorkflowExecutionStarted,
            E::WorkflowExecutionSignaled,
            E::WorkflowTaskScheduled,
            E::WorkflowExecutionSignaled,
        ]
    );
}
