//! Ids and names are limited to `Limits::max_id_bytes` on every RPC and inside workflow task
//! commands, and a status message quotes at most a short prefix of anything a client sent.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::WorkflowTaskFailedCause as Cause;

/// Twenty times the default limit: what a hostile client sends.
const LONG: usize = 20_000;

fn long(c: char) -> String {
    c.to_string().repeat(LONG)
}

/// The call was refused with `InvalidArgument` naming `field`, the length and the limit, in a
/// message short enough for any client's metadata limit.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let status = expect_code(result, Code::InvalidArgument);
    let message = status.message();
    assert!(
        message.contains(field) && message.contains(&format!("{LONG} bytes")),
        "the message does not name {field} and its length: {message:.300}"
    );
    assert!(
        message.contains("1000") && message.contains("max_id_bytes"),
        "the message does not name the limit: {message:.300}"
    );
    assert!(
        message.len() < 300,
        "a {}-byte message for a long {field}",
        message.len()
    );
}

fn exec(workflow_id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    })
}

fn tq(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn long_ids_are_refused_on_starts_and_signals() {
    let h = Harness::new();
    let e = &h.engine;
    h.start("exists").await;
    let start = |f: &dyn Fn(&mut StartWorkflowExecutionRequest)| {
        let mut req = h.start_request("fresh");
        f(&mut req);
        e.start_workflow_execution(Request::new(req))
    };
    refused(start(&|r| r.workflow_id = long('w')).await, "workflow_id");
    refused(
        start(&|r| r.workflow_type = Some(WorkflowType { name: long('t') })).await,
        "workflow_type.name",
    );
    refused(
        start(&|r| r.task_queue = tq(&long('q'))).await,
        "task_queue.name",
    );
    refused(start(&|r| r.identity = long('i')).await, "identity");
    refused(start(&|r| r.request_id = long('r')).await, "request_id");
    refused(start(&|r| r.namespace = long('n')).await, "namespace");

    let sws = |f: &dyn Fn(&mut SignalWithStartWorkflowExecutionRequest)| {
        let mut req = SignalWithStartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: "exists".into(),
            workflow_type: Some(WorkflowType { name: "t".into() }),
            task_queue: tq(QUEUE),
            signal_name: "go".into(),
            ..Default::default()
        };
        f(&mut req);
        e.signal_with_start_workflow_execution(Request::new(req))
    };
    refused(sws(&|r| r.workflow_id = long('w')).await, "workflow_id");
    refused(sws(&|r| r.signal_name = long('s')).await, "signal_name");
    refused(
        sws(&|r| r.task_queue = tq(&long('q'))).await,
        "task_queue.name",
    );

    let signal = |f: &dyn Fn(&mut SignalWorkflowExecutionRequest)| {
        let mut req = SignalWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: exec("exists"),
            signal_name: "go".into(),
            ..Default::default()
        };
        f(&mut req);
        e.signal_workflow_execution(Request::new(req))
    };
    refused(
        signal(&|r| r.workflow_execution = exec(&long('w'))).await,
        "workflow_execution.workflow_id",
    );
    refused(signal(&|r| r.signal_name = long('s')).await, "signal_name");
    refused(signal(&|r| r.identity = long('i')).await, "identity");
    refused(signal(&|r| r.request_id = long('r')).await, "request_id");
    // Nothing of the refused calls reached the run.
    assert_eq!(h.types("exists").await.len(), 2);
}

#[tokio::test]
async fn long_ids_are_refused_on_cancels_terminates_and_reads() {
    let h = Harness::new();
    let e = &h.engine;
    h.start("exists").await;
    let cancel = |f: &dyn Fn(&mut RequestCancelWorkflowExecutionRequest)| {
        let mut req = RequestCancelWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: exec("exists"),
            ..Default::default()
        };
        f(&mut req);
        e.request_cancel_workflow_execution(Request::new(req))
    };
    refused(
        cancel(&|r| r.workflow_execution = exec(&long('w'))).await,
        "workflow_execution.workflow_id",
    );
    refused(cancel(&|r| r.identity = long('i')).await, "identity");
    refused(cancel(&|r| r.request_id = long('r')).await, "request_id");
    refused(cancel(&|r| r.reason = long('c')).await, "reason");
    refused(
        cancel(&|r| r.first_execution_run_id = long('f')).await,
        "first_execution_run_id",
    );
    let terminate = |f: &dyn Fn(&mut TerminateWorkflowExecutionRequest)| {
        let mut req = TerminateWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: exec("exists"),
            ..Default::default()
        };
        f(&mut req);
        e.terminate_workflow_execution(Request::new(req))
    };
    refused(
        terminate(&|r| r.workflow_execution = exec(&long('w'))).await,
        "workflow_execution.workflow_id",
    );
    refused(terminate(&|r| r.identity = long('i')).await, "identity");
    refused(terminate(&|r| r.reason = long('c')).await, "reason");
    refused(
        terminate(&|r| r.first_execution_run_id = long('f')).await,
        "first_execution_run_id",
    );
    let describe = DescribeWorkflowExecutionRequest {
        namespace: NS.into(),
        execution: exec(&long('w')),
    };
    refused(
        e.describe_workflow_execution(Request::new(describe)).await,
        "execution.workflow_id",
    );
    let history = GetWorkflowExecutionHistoryRequest {
        namespace: NS.into(),
        execution: exec(&long('w')),
        ..Default::default()
    };
    refused(
        e.get_workflow_execution_history(Request::new(history))
            .await,
        "execution.workflow_id",
    );
    let list = ListWorkflowExecutionsRequest {
        namespace: long('n'),
        ..Default::default()
    };
    refused(
        e.list_workflow_executions(Request::new(list)).await,
        "namespace",
    );
    let count = CountWorkflowExecutionsRequest {
        namespace: long('n'),
        ..Default::default()
    };
    refused(
        e.count_workflow_executions(Request::new(count)).await,
        "namespace",
    );
    let ns = DescribeNamespaceRequest {
        namespace: long('n'),
        ..Default::default()
    };
    refused(e.describe_namespace(Request::new(ns)).await, "namespace");
    let ns = DescribeNamespaceRequest {
        id: long('n'),
        ..Default::default()
    };
    refused(e.describe_namespace(Request::new(ns)).await, "id");
    // The run is as it was.
    assert_eq!(h.types("exists").await.len(), 2);
}

#[tokio::test]
async fn long_ids_are_refused_on_polls_and_task_reports() {
    let h = Harness::new();
    let e = &h.engine;
    let poll_wft = |f: &dyn Fn(&mut PollWorkflowTaskQueueRequest)| {
        let mut req = PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: tq(QUEUE),
            ..Default::default()
        };
        f(&mut req);
        e.poll_workflow_task_queue(Request::new(req))
    };
    refused(
        poll_wft(&|r| r.task_queue = tq(&long('q'))).await,
        "task_queue.name",
    );
    refused(poll_wft(&|r| r.identity = long('i')).await, "identity");
    let poll_act = |f: &dyn Fn(&mut PollActivityTaskQueueRequest)| {
        let mut req = PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: tq(QUEUE),
            ..Default::default()
        };
        f(&mut req);
        e.poll_activity_task_queue(Request::new(req))
    };
    refused(
        poll_act(&|r| r.task_queue = tq(&long('q'))).await,
        "task_queue.name",
    );
    refused(poll_act(&|r| r.identity = long('i')).await, "identity");

    h.start("worked").await;
    let task = h.poll_wft().await;
    let failed = RespondWorkflowTaskFailedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_workflow_task_failed(Request::new(failed)).await,
        "identity",
    );
    let completed = RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        commands: vec![schedule_activity("a", "work", 0)],
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_workflow_task_completed(Request::new(completed))
            .await,
        "identity",
    );
    h.complete(&task, vec![schedule_activity("a", "work", 0)])
        .await
        .expect("the task is still started: the refusals changed nothing");
    let act = h.poll_activity().await;
    let token = act.task_token.clone();
    let beat = RecordActivityTaskHeartbeatRequest {
        namespace: NS.into(),
        task_token: token.clone(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.record_activity_task_heartbeat(Request::new(beat)).await,
        "identity",
    );
    let done = RespondActivityTaskCompletedRequest {
        namespace: NS.into(),
        task_token: token.clone(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_activity_task_completed(Request::new(done)).await,
        "identity",
    );
    let failed = RespondActivityTaskFailedRequest {
        namespace: NS.into(),
        task_token: token.clone(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_activity_task_failed(Request::new(failed)).await,
        "identity",
    );
    let canceled = RespondActivityTaskCanceledRequest {
        namespace: NS.into(),
        task_token: token.clone(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_activity_task_canceled(Request::new(canceled))
            .await,
        "identity",
    );
    let by_id = |workflow_id: String, activity_id: String, identity: String| {
        RespondActivityTaskCompletedByIdRequest {
            namespace: NS.into(),
            workflow_id,
            activity_id,
            identity,
            ..Default::default()
        }
    };
    for (req, field) in [
        (by_id(long('w'), "a".into(), String::new()), "workflow_id"),
        (
            by_id("worked".into(), long('a'), String::new()),
            "activity_id",
        ),
        (by_id("worked".into(), "a".into(), long('i')), "identity"),
    ] {
        refused(
            e.respond_activity_task_completed_by_id(Request::new(req))
                .await,
            field,
        );
    }
    let beat = RecordActivityTaskHeartbeatByIdRequest {
        namespace: NS.into(),
        workflow_id: "worked".into(),
        activity_id: long('a'),
        ..Default::default()
    };
    refused(
        e.record_activity_task_heartbeat_by_id(Request::new(beat))
            .await,
        "activity_id",
    );
    let failed = RespondActivityTaskFailedByIdRequest {
        namespace: NS.into(),
        workflow_id: long('w'),
        activity_id: "a".into(),
        ..Default::default()
    };
    refused(
        e.respond_activity_task_failed_by_id(Request::new(failed))
            .await,
        "workflow_id",
    );
    let canceled = RespondActivityTaskCanceledByIdRequest {
        namespace: NS.into(),
        workflow_id: "worked".into(),
        activity_id: "a".into(),
        identity: long('i'),
        ..Default::default()
    };
    refused(
        e.respond_activity_task_canceled_by_id(Request::new(canceled))
            .await,
        "identity",
    );
    // The attempt is still running and completes normally.
    h.activity_completed(&token).await.expect("complete");
}

/// A command carrying an id over the limit fails the workflow task with `cause`; nothing of
/// the completion is kept. Each case has its engine, so that the task polled is its own.
async fn command_refused(workflow_id: &str, command: Command, field: &str, cause: Cause) {
    let h = Harness::new();
    h.start(workflow_id).await;
    let task = h.poll_wft().await;
    refused(h.complete(&task, vec![command]).await, field);
    let events = h.events(workflow_id).await;
    let failed = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => Some(a),
        _ => None,
    });
    let Some(failed) = failed else {
        panic!(
            "no WorkflowTaskFailed for a long {field}: {:?}",
            h.types(workflow_id).await
        );
    };
    assert_eq!(failed.cause, cause as i32, "{field}");
    let message = failed.failure.as_ref().map_or("", |f| f.message.as_str());
    assert!(message.contains(field), "{message:.300}");
    assert!(
        message.len() < 300,
        "a {}-byte failure message",
        message.len()
    );
    // Nothing of the completion was kept: the task failed and was scheduled again.
    assert_eq!(
        h.types(workflow_id).await[3..],
        [
            EventType::WorkflowTaskFailed,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert!(h.describe(workflow_id).await.pending_activities.is_empty());
}

#[tokio::test]
async fn long_ids_in_commands_fail_the_workflow_task() {
    let with = |f: &dyn Fn(&mut ScheduleActivityTaskCommandAttributes)| {
        let mut c = schedule_activity("a", "work", 0);
        if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) =
            c.attributes.as_mut()
        {
            f(a);
        }
        c
    };
    let bad = Cause::BadScheduleActivityAttributes;
    let c = with(&|a| a.activity_id = long('a'));
    command_refused("c1", c, "activity_id", bad).await;
    let c = with(&|a| a.activity_type = Some(ActivityType { name: long('t') }));
    command_refused("c2", c, "activity_type.name", bad).await;
    let c = with(&|a| a.task_queue = tq(&long('q')));
    command_refused("c3", c, "task_queue.name", bad).await;
    let c = start_timer(&long('t'), 1000);
    command_refused("c4", c, "timer_id", Cause::BadStartTimerAttributes).await;
    let c = cancel_timer(&long('t'));
    command_refused("c5", c, "timer_id", Cause::BadCancelTimerAttributes).await;
    let marker = Command {
        command_type: CommandType::RecordMarker as i32,
        attributes: Some(CommandAttributes::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: long('m'),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    command_refused(
        "c6",
        marker,
        "marker_name",
        Cause::BadRecordMarkerAttributes,
    )
    .await;
}

#[tokio::test]
async fn ids_at_the_limit_are_accepted_and_quoted_short() {
    let h = Harness::new();
    let id = "d".repeat(900);
    let first = h.start_request(&id);
    h.engine
        .start_workflow_execution(Request::new(first))
        .await
        .expect("a 900-byte id is within the limit");
    let again = h.start_request(&id);
    let status = expect_code(
        h.engine.start_workflow_execution(Request::new(again)).await,
        Code::AlreadyExists,
    );
    assert!(
        status.message().len() < 300,
        "a {}-byte message: {}",
        status.message().len(),
        status.message()
    );
    assert!(status.message().contains("ddd"), "{}", status.message());
    // NotFound for an unknown long id, and an invalid run id, are quoted short too.
    let ghost = "g".repeat(1000);
    let status = expect_code(h.terminate(&ghost).await, Code::NotFound);
    assert!(status.message().len() < 300, "{}", status.message());
    let req = DescribeWorkflowExecutionRequest {
        namespace: NS.into(),
        execution: Some(WorkflowExecution {
            workflow_id: id.clone(),
            run_id: "r".repeat(1000),
        }),
    };
    let status = expect_code(
        h.engine
            .describe_workflow_execution(Request::new(req))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().len() < 300, "{}", status.message());
    let list = ListWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: format!("Nonsense = '{}'", "q".repeat(5000)),
        ..Default::default()
    };
    let status = expect_code(
        h.engine.list_workflow_executions(Request::new(list)).await,
        Code::InvalidArgument,
    );
    assert!(status.message().len() < 600, "{}", status.message());
    let mut elsewhere = h.start_request("x");
    elsewhere.namespace = "n".repeat(1000);
    let status = expect_code(
        h.engine
            .start_workflow_execution(Request::new(elsewhere))
            .await,
        Code::NotFound,
    );
    assert!(status.message().len() < 300, "{}", status.message());
}
