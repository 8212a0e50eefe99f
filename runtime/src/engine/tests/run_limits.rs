//! What one run and one completion may hold: commands per completion, pending activities and
//! timers, history size and length, signals, payload sizes, and history pages.

use super::*;
use crate::engine::Limits;
use crate::proto::EventAttributes;
use crate::proto::common::{Header, Payload, Payloads};
use crate::proto::enums::{
    EventType as E, WorkflowExecutionStatus, WorkflowTaskFailedCause as Cause,
};
use prost::Message;
use std::collections::HashMap;
use temporalio_protos::temporal::api::sdk::v1::WorkflowTaskCompletedMetadata;

/// The harness's configuration with `limits`.
fn limited(limits: Limits) -> EngineConfig {
    EngineConfig { limits, ..config() }
}

fn harness(limits: Limits) -> Harness {
    Harness::on(Engine::in_memory(limited(limits)))
}

fn execution(workflow_id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    })
}

/// Payloads of one payload whose data is `bytes` bytes long.
fn blob(bytes: usize) -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: HashMap::from([("encoding".to_string(), b"binary/plain".to_vec())]),
            data: vec![7; bytes],
            ..Default::default()
        }],
    })
}

fn header(bytes: usize) -> Option<Header> {
    let value = blob(bytes)?.payloads.pop()?;
    Some(Header {
        fields: HashMap::from([("big".to_string(), value)]),
    })
}

fn signal_request(workflow_id: &str, input: Option<Payloads>) -> SignalWorkflowExecutionRequest {
    SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution(workflow_id),
        signal_name: "poke".into(),
        input,
        identity: "test-client".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

async fn signal(h: &Harness, workflow_id: &str, input: Option<Payloads>) -> Result<(), Status> {
    let req = signal_request(workflow_id, input);
    h.engine
        .signal_workflow_execution(Request::new(req))
        .await
        .map(|_| ())
}

fn signal_with_start_request(
    h: &Harness,
    workflow_id: &str,
) -> SignalWithStartWorkflowExecutionRequest {
    let start = h.start_request(workflow_id);
    SignalWithStartWorkflowExecutionRequest {
        namespace: start.namespace,
        workflow_id: start.workflow_id,
        workflow_type: start.workflow_type,
        task_queue: start.task_queue,
        identity: start.identity,
        request_id: uuid::Uuid::new_v4().to_string(),
        signal_name: "poke".into(),
        ..Default::default()
    }
}

async fn signal_with_start(h: &Harness, workflow_id: &str) -> Result<(), Status> {
    let req = signal_with_start_request(h, workflow_id);
    h.engine
        .signal_with_start_workflow_execution(Request::new(req))
        .await
        .map(|_| ())
}

/// Completes a workflow task and asks for a new one, so that the next poll has a task.
async fn complete_and_continue(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<Command>,
) -> Result<(), Status> {
    let req = RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        commands,
        identity: "test-worker".into(),
        force_create_new_workflow_task: true,
        ..Default::default()
    };
    h.engine
        .respond_workflow_task_completed(Request::new(req))
        .await
        .map(|_| ())
}

fn marker(name: &str) -> Command {
    Command {
        command_type: CommandType::RecordMarker as i32,
        attributes: Some(CommandAttributes::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: name.into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

/// The cause and message of the last `WorkflowTaskFailed` of `workflow_id`.
async fn last_task_failure(h: &Harness, workflow_id: &str) -> (i32, String) {
    let events = h.events(workflow_id).await;
    events
        .iter()
        .rev()
        .find_map(|e| match &e.attributes {
            Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => Some((
                a.cause,
                a.failure
                    .as_ref()
                    .map(|f| f.message.clone())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .expect("a WorkflowTaskFailed event")
}

fn status_of(d: &DescribeWorkflowExecutionResponse) -> i32 {
    d.workflow_execution_info
        .as_ref()
        .map(|i| i.status)
        .unwrap_or_default()
}

/// Reads the whole history of `workflow_id` page by page, checking each page against
/// `max_bytes` (a page over it must be a single event).
async fn read_pages(
    h: &Harness,
    workflow_id: &str,
    page_size: i32,
    max_bytes: usize,
) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut token = Vec::new();
    for _ in 0..10_000 {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: execution(workflow_id),
            maximum_page_size: page_size,
            next_page_token: token,
            ..Default::default()
        };
        let page = h
            .engine
            .get_workflow_execution_history(Request::new(req))
            .await
            .expect("a history page")
            .into_inner();
        let page_events = page.history.unwrap_or_default().events;
        let bytes: usize = page_events.iter().map(Message::encoded_len).sum();
        assert!(!page_events.is_empty(), "a page with a token has events");
        assert!(
            bytes <= max_bytes || page_events.len() == 1,
            "a page of {} events takes {bytes} bytes, over {max_bytes}",
            page_events.len()
        );
        events.extend(page_events);
        if page.next_page_token.is_empty() {
            for (i, e) in events.iter().enumerate() {
                assert_eq!(e.event_id, i as i64 + 1, "pages join without gaps");
            }
            return events;
        }
        token = page.next_page_token;
    }
    panic!("the history of {workflow_id} never ended");
}

// ---------------------------------------------------------------------------------------------
// One completion

#[tokio::test]
async fn a_completion_with_too_many_commands_fails_the_task_and_keeps_nothing() {
    let h = harness(Limits {
        max_commands_per_workflow_task: 5,
        ..Limits::default()
    });
    h.start("chatty").await;
    let task = h.poll_wft().await;
    let commands = (0..6).map(|i| marker(&format!("m{i}"))).collect();
    let status = expect_code(h.complete(&task, commands).await, Code::InvalidArgument);
    assert!(
        status.message().contains("6 commands")
            && status.message().contains("limit of 5")
            && status.message().contains("max_commands_per_workflow_task"),
        "{}",
        status.message()
    );
    let (cause, message) = last_task_failure(&h, "chatty").await;
    assert_eq!(cause, Cause::GrpcMessageTooLarge as i32);
    assert!(
        message.contains("max_commands_per_workflow_task"),
        "{message}"
    );
    assert!(!h.types("chatty").await.contains(&E::MarkerRecorded));

    // At the limit the completion is taken.
    let task = h.poll_wft().await;
    let commands = (0..5).map(|i| marker(&format!("m{i}"))).collect();
    h.complete(&task, commands).await.unwrap();
    let markers = h.types("chatty").await;
    assert_eq!(
        markers.iter().filter(|t| **t == E::MarkerRecorded).count(),
        5
    );
}

#[tokio::test]
async fn pending_activities_are_capped_per_run() {
    let h = harness(Limits {
        max_pending_activities: 3,
        ..Limits::default()
    });
    h.start("busy").await;
    let task = h.poll_wft().await;
    let four = (0..4)
        .map(|i| schedule_activity(&format!("a{i}"), "work", 0))
        .collect();
    let status = expect_code(h.complete(&task, four).await, Code::InvalidArgument);
    assert!(
        status.message().contains("max_pending_activities"),
        "{}",
        status.message()
    );
    let (cause, message) = last_task_failure(&h, "busy").await;
    assert_eq!(cause, Cause::PendingActivitiesLimitExceeded as i32);
    assert!(
        message.contains("pending activities") && message.contains("limit of 3"),
        "{message}"
    );
    assert!(h.describe("busy").await.pending_activities.is_empty());

    // Three fit; a fourth in a later completion does not, until one of them closes.
    let task = h.poll_wft().await;
    let three = (0..3)
        .map(|i| schedule_activity(&format!("a{i}"), "work", 0))
        .collect();
    complete_and_continue(&h, &task, three).await.unwrap();
    let task = h.poll_wft().await;
    let one_more = vec![schedule_activity("a3", "work", 0)];
    expect_code(h.complete(&task, one_more).await, Code::InvalidArgument);
    assert_eq!(h.describe("busy").await.pending_activities.len(), 3);
    let act = h.poll_activity().await;
    h.activity_completed(&act.task_token).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("a3", "work", 0)])
        .await
        .unwrap();
    assert_eq!(h.describe("busy").await.pending_activities.len(), 3);
}

#[tokio::test]
async fn pending_timers_are_capped_per_run() {
    let h = harness(Limits {
        max_pending_timers: 2,
        ..Limits::default()
    });
    h.start("sleepy").await;
    let task = h.poll_wft().await;
    let three = (0..3)
        .map(|i| start_timer(&format!("t{i}"), 60_000))
        .collect();
    let status = expect_code(h.complete(&task, three).await, Code::InvalidArgument);
    assert!(
        status.message().contains("max_pending_timers") && status.message().contains("limit of 2"),
        "{}",
        status.message()
    );
    let (cause, _) = last_task_failure(&h, "sleepy").await;
    assert_eq!(cause, Cause::BadStartTimerAttributes as i32);
    assert!(h.describe("sleepy").await.pending_activities.is_empty());
    assert_eq!(h.engine.stats().pending_timers, 0);

    let task = h.poll_wft().await;
    let two = vec![start_timer("t0", 60_000), start_timer("t1", 60_000)];
    complete_and_continue(&h, &task, two).await.unwrap();
    let task = h.poll_wft().await;
    expect_code(
        h.complete(&task, vec![start_timer("t2", 60_000)]).await,
        Code::InvalidArgument,
    );
    // A cancelled timer frees its place.
    let task = h.poll_wft().await;
    let commands = vec![cancel_timer("t0"), start_timer("t2", 60_000)];
    h.complete(&task, commands).await.unwrap();
    assert_eq!(h.engine.stats().pending_timers, 2);
}

#[tokio::test]
async fn activity_ids_stay_indexed_through_rollback_restart_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.db");
    {
        let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
        h.start("ids").await;
        let task = h.poll_wft().await;
        complete_and_continue(&h, &task, vec![schedule_activity("a", "work", 0)])
            .await
            .unwrap();
        // "b" is scheduled, then the completion fails on the duplicate "a": "b" goes with it.
        let task = h.poll_wft().await;
        let commands = vec![
            schedule_activity("b", "work", 0),
            schedule_activity("a", "work", 0),
        ];
        expect_code(h.complete(&task, commands).await, Code::InvalidArgument);
        let (cause, _) = last_task_failure(&h, "ids").await;
        assert_eq!(cause, Cause::ScheduleActivityDuplicateId as i32);
        let task = h.poll_wft().await;
        complete_and_continue(&h, &task, vec![schedule_activity("b", "work", 0)])
            .await
            .unwrap();
    }
    let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
    // After a restart both ids are still taken ...
    for id in ["a", "b"] {
        let task = h.poll_wft().await;
        // Held while the task runs, written when it fails: the next task is not backed off.
        signal(&h, "ids", None).await.unwrap();
        let status = expect_code(
            h.complete(&task, vec![schedule_activity(id, "work", 0)])
                .await,
            Code::InvalidArgument,
        );
        assert!(
            status.message().contains("already used"),
            "{}",
            status.message()
        );
    }
    // ... and by-id calls find them.
    let act = h.poll_activity().await;
    let heartbeat = RecordActivityTaskHeartbeatByIdRequest {
        namespace: NS.into(),
        workflow_id: "ids".into(),
        activity_id: act.activity_id.clone(),
        identity: "test-activity-worker".into(),
        ..Default::default()
    };
    h.engine
        .record_activity_task_heartbeat_by_id(Request::new(heartbeat))
        .await
        .unwrap();
    // Once an activity closes its id is free again.
    h.activity_completed(&act.task_token).await.unwrap();
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity(&act.activity_id, "work", 0)])
        .await
        .unwrap();
    assert_eq!(h.describe("ids").await.pending_activities.len(), 2);
}

#[tokio::test]
async fn a_refused_completion_leaves_held_events_as_they_were() {
    let h = Harness::new();
    h.start("undo").await;
    let task = h.poll_wft().await;
    let commands = vec![start_timer("t", 50), schedule_activity("a", "work", 0)];
    complete_and_continue(&h, &task, commands).await.unwrap();
    let task = h.poll_wft().await;
    // The timer fires while the task runs: its TimerFired is held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scheduled = h
        .events("undo")
        .await
        .iter()
        .find(|e| event_type(e) == E::ActivityTaskScheduled)
        .map(|e| e.event_id)
        .unwrap();
    // Cancelling the fired timer drops its held TimerFired and cancelling the activity that
    // never started holds an ActivityTaskCanceled; the last command is invalid, so neither
    // stays.
    let commands = vec![
        cancel_timer("t"),
        cancel_activity(scheduled),
        schedule_activity("", "work", 0),
    ];
    expect_code(h.complete(&task, commands).await, Code::InvalidArgument);
    let types = h.types("undo").await;
    let failed = types
        .iter()
        .position(|t| *t == E::WorkflowTaskFailed)
        .unwrap();
    assert_eq!(
        types[failed + 1..],
        [E::TimerFired, E::WorkflowTaskScheduled]
    );
    assert!(!types.contains(&E::TimerCanceled));
    assert!(!types.contains(&E::ActivityTaskCanceled));
    assert_eq!(h.describe("undo").await.pending_activities.len(), 1);
    // The next task sees the timer fired and can cancel the activity.
    let task = h.poll_wft().await;
    h.complete(&task, vec![cancel_activity(scheduled)])
        .await
        .unwrap();
    assert!(h.describe("undo").await.pending_activities.is_empty());
}

#[tokio::test]
async fn sixty_thousand_activities_in_one_completion_do_not_stall_the_engine() {
    let h = harness(Limits {
        max_commands_per_workflow_task: 60_000,
        max_pending_activities: 60_000,
        history_count_limit: 100_000,
        ..Limits::default()
    });
    h.start("flood").await;
    h.start("bystander").await;
    let task = h.poll_wft().await;
    let commands: Vec<Command> = (0..60_000)
        .map(|i| schedule_activity(&format!("act-{i}"), "work", 0))
        .collect();
    let engine = h.engine.clone();
    let token = task.task_token.clone();
    let completion = tokio::spawn(async move {
        let req = RespondWorkflowTaskCompletedRequest {
            namespace: NS.into(),
            task_token: token,
            commands,
            identity: "test-worker".into(),
            ..Default::default()
        };
        engine
            .respond_workflow_task_completed(Request::new(req))
            .await
    });
    // Generous bounds: the point is minutes before, not milliseconds now.
    let done = tokio::time::timeout(Duration::from_secs(60), completion)
        .await
        .expect("the completion is handled within a minute")
        .unwrap();
    done.unwrap();
    let described = tokio::time::timeout(Duration::from_secs(10), async {
        h.describe("bystander").await
    })
    .await
    .expect("another call answers");
    assert_eq!(
        status_of(&described),
        WorkflowExecutionStatus::Running as i32
    );
    assert_eq!(h.engine.stats().pending_activities, 60_000);
}

// ---------------------------------------------------------------------------------------------
// History size and length

#[tokio::test]
async fn a_run_over_the_history_size_limit_is_terminated_and_cleaned_up() {
    let h = harness(Limits {
        history_size_warn_bytes: 8 * 1024,
        history_size_limit_bytes: 40 * 1024,
        history_page_bytes: 12 * 1024,
        ..Limits::default()
    });
    h.start("hoarder").await;
    h.start("bystander").await;
    let task = h.poll_wft().await;
    let commands = vec![schedule_activity("a", "work", 0), start_timer("t", 60_000)];
    complete_and_continue(&h, &task, commands).await.unwrap();
    let act = h.poll_activity().await;
    // A workflow task is running: the signals are held, and held events count too. (The
    // bystander's first task comes before the hoarder's second.)
    let bystander = h.poll_wft().await;
    assert_eq!(
        bystander
            .workflow_execution
            .as_ref()
            .map(|e| e.workflow_id.as_str()),
        Some("bystander")
    );
    let _task = h.poll_wft().await;
    let mut accepted = 0;
    let refusal = loop {
        match signal(&h, "hoarder", blob(4 * 1024)).await {
            Ok(()) => accepted += 1,
            Err(status) => break status,
        }
        assert!(accepted < 100, "the run was never stopped");
    };
    assert_eq!(refusal.code(), Code::NotFound, "{refusal:?}");
    assert!(accepted >= 8, "only {accepted} signals were taken");
    let d = h.describe("hoarder").await;
    assert_eq!(status_of(&d), WorkflowExecutionStatus::Terminated as i32);
    let stats = h.engine.stats();
    assert_eq!((stats.pending_activities, stats.pending_timers), (0, 0));
    assert_eq!(stats.open_runs, 1, "only the bystander is open");
    // The started activity is told to stop.
    expect_code(h.heartbeat(&act.task_token).await, Code::NotFound);

    let events = read_pages(&h, "hoarder", 0, 12 * 1024).await;
    let types: Vec<E> = events.iter().map(event_type).collect();
    let signals = types
        .iter()
        .filter(|t| **t == E::WorkflowExecutionSignaled)
        .count();
    assert_eq!(signals, accepted, "the held signals are written");
    // The running task is failed, then the held signals are written, then the terminate.
    let failed = types.len() - 2 - signals;
    assert_eq!(types[failed], E::WorkflowTaskFailed, "{types:?}");
    assert_eq!(types.last(), Some(&E::WorkflowExecutionTerminated));
    let Some(EventAttributes::WorkflowExecutionTerminatedEventAttributes(t)) =
        &events.last().unwrap().attributes
    else {
        panic!("the run ends terminated");
    };
    assert!(
        t.reason.contains("history size exceeds limit")
            && t.reason.contains("history_size_limit_bytes"),
        "{}",
        t.reason
    );
    assert_eq!(
        status_of(&h.describe("bystander").await),
        WorkflowExecutionStatus::Running as i32
    );
}

#[tokio::test]
async fn a_run_over_the_history_count_limit_is_terminated() {
    let h = harness(Limits {
        history_count_warn: 10,
        history_count_limit: 30,
        ..Limits::default()
    });
    h.start("long").await;
    let mut accepted = 0;
    let refusal = loop {
        match signal(&h, "long", None).await {
            Ok(()) => accepted += 1,
            Err(status) => break status,
        }
        assert!(accepted < 100, "the run was never stopped");
    };
    assert_eq!(refusal.code(), Code::NotFound, "{refusal:?}");
    let events = h.events("long").await;
    assert!(
        events.len() > 30 && events.len() < 35,
        "{} events",
        events.len()
    );
    let Some(EventAttributes::WorkflowExecutionTerminatedEventAttributes(t)) =
        &events.last().unwrap().attributes
    else {
        panic!("the run ends terminated: {:?}", events.last());
    };
    assert!(
        t.reason.contains("history count exceeds limit")
            && t.reason.contains("history_count_limit"),
        "{}",
        t.reason
    );
}

// ---------------------------------------------------------------------------------------------
// Signals

#[tokio::test]
async fn signals_past_the_limit_are_refused_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signals.db");
    let cfg = limited(Limits {
        max_signals_per_run: 3,
        ..Limits::default()
    });
    let repeated = {
        let h = Harness::on(Engine::open_sqlite(&path, cfg.clone()).unwrap());
        // The signal of a signal-with-start that starts the run counts.
        signal_with_start(&h, "noisy").await.unwrap();
        signal(&h, "noisy", None).await.unwrap();
        let third = signal_request("noisy", None);
        h.engine
            .signal_workflow_execution(Request::new(third.clone()))
            .await
            .unwrap();
        let status = expect_code(signal(&h, "noisy", None).await, Code::InvalidArgument);
        assert!(
            status.message().contains("signal") && status.message().contains("max_signals_per_run"),
            "{}",
            status.message()
        );
        let status = expect_code(signal_with_start(&h, "noisy").await, Code::InvalidArgument);
        assert!(
            status.message().contains("max_signals_per_run"),
            "{}",
            status.message()
        );
        third
    };
    let h = Harness::on(Engine::open_sqlite(&path, cfg).unwrap());
    expect_code(signal(&h, "noisy", None).await, Code::InvalidArgument);
    // A retry of a signal that was taken is still answered as taken.
    h.engine
        .signal_workflow_execution(Request::new(repeated))
        .await
        .unwrap();
    let signals = h
        .types("noisy")
        .await
        .into_iter()
        .filter(|t| *t == E::WorkflowExecutionSignaled)
        .count();
    assert_eq!(signals, 3);
}

// ---------------------------------------------------------------------------------------------
// Payload sizes of every stored field

#[tokio::test]
async fn every_stored_field_is_held_to_the_payload_limit() {
    // Ids far longer than the payloads, so that a reason is held to the payload limit here.
    let h = harness(Limits {
        max_payload_bytes: 1024,
        max_id_bytes: 1 << 20,
        ..Limits::default()
    });
    h.start("sizes").await;
    let too_big = |status: Status, what: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(
            status.message().contains("max_payload_bytes"),
            "{what}: {}",
            status.message()
        );
    };

    let mut req = signal_request("sizes", None);
    req.header = header(2048);
    let result = h.engine.signal_workflow_execution(Request::new(req)).await;
    too_big(result.map(|_| ()).unwrap_err(), "signal header");

    let mut req = signal_with_start_request(&h, "sizes-sws");
    req.header = header(2048);
    let result = h
        .engine
        .signal_with_start_workflow_execution(Request::new(req))
        .await;
    too_big(result.map(|_| ()).unwrap_err(), "signal-with-start header");

    let mut req = h.start_request("sizes-retry");
    req.retry_policy = Some(RetryPolicy {
        non_retryable_error_types: vec!["x".repeat(2048)],
        ..Default::default()
    });
    let result = h.engine.start_workflow_execution(Request::new(req)).await;
    too_big(result.map(|_| ()).unwrap_err(), "start retry policy");

    let cancel = RequestCancelWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution("sizes"),
        reason: "r".repeat(2048),
        ..Default::default()
    };
    let result = h
        .engine
        .request_cancel_workflow_execution(Request::new(cancel))
        .await;
    too_big(result.map(|_| ()).unwrap_err(), "cancel reason");

    let terminate = TerminateWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution("sizes"),
        reason: "r".repeat(2048),
        ..Default::default()
    };
    let result = h
        .engine
        .terminate_workflow_execution(Request::new(terminate))
        .await;
    too_big(result.map(|_| ()).unwrap_err(), "terminate reason");

    // The SDK metadata of a completion is written into its WorkflowTaskCompleted, and headers
    // of commands into their events: each fails the task with PayloadsTooLarge. (A fresh engine
    // for each, so that the failures do not back off.)
    let too_big_metadata = RespondWorkflowTaskCompletedRequest {
        sdk_metadata: Some(WorkflowTaskCompletedMetadata {
            sdk_name: "s".repeat(2048),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut activity = schedule_activity("a", "work", 0);
    if let Some(CommandAttributes::ScheduleActivityTaskCommandAttributes(a)) =
        activity.attributes.as_mut()
    {
        a.header = header(2048);
    }
    let mut record = marker("m");
    if let Some(CommandAttributes::RecordMarkerCommandAttributes(a)) = record.attributes.as_mut() {
        a.header = header(2048);
    }
    let with_command = |c: Command| RespondWorkflowTaskCompletedRequest {
        commands: vec![c],
        ..Default::default()
    };
    let cases = [
        (too_big_metadata, "sdk metadata"),
        (with_command(activity), "activity header"),
        (with_command(record), "marker header"),
    ];
    for (mut req, what) in cases {
        let h = harness(Limits {
            max_payload_bytes: 1024,
            ..Limits::default()
        });
        h.start("sizes").await;
        let task = h.poll_wft().await;
        req.namespace = NS.into();
        req.task_token = task.task_token.clone();
        req.identity = "test-worker".into();
        let result = h
            .engine
            .respond_workflow_task_completed(Request::new(req))
            .await;
        let status = result.map(|_| ()).unwrap_err();
        too_big(status.clone(), what);
        assert!(
            status.message().contains(what),
            "{what}: {}",
            status.message()
        );
        let (cause, _) = last_task_failure(&h, "sizes").await;
        assert_eq!(cause, Cause::PayloadsTooLarge as i32, "{what}");
        let types = h.types("sizes").await;
        assert!(!types.contains(&E::WorkflowTaskCompleted), "{what}");
        assert!(!types.contains(&E::ActivityTaskScheduled), "{what}");
        assert!(!types.contains(&E::MarkerRecorded), "{what}");
    }
    let types = h.types("sizes").await;
    assert!(!types.contains(&E::WorkflowExecutionSignaled));
    assert!(!types.contains(&E::WorkflowExecutionCancelRequested));
    assert!(!types.contains(&E::WorkflowExecutionTerminated));
}

// ---------------------------------------------------------------------------------------------
// History pages

#[tokio::test]
async fn a_poll_carries_a_bounded_first_page_and_a_token_for_the_rest() {
    let h = harness(Limits {
        poll_history_page_events: 10,
        max_page_size: 7,
        ..Limits::default()
    });
    let mut start = h.start_request("paged");
    start.workflow_task_timeout = Some(millis(1000));
    h.engine
        .start_workflow_execution(Request::new(start))
        .await
        .unwrap();
    for _ in 0..30 {
        signal(&h, "paged", None).await.unwrap();
    }
    let task = h.poll_wft().await;
    let first = task.history.clone().unwrap_or_default().events;
    assert_eq!(
        first.len(),
        10,
        "the first page holds poll_history_page_events"
    );
    assert!(!task.next_page_token.is_empty(), "a token for the rest");
    // The rest comes page by page, each capped at max_page_size whatever is asked for, and
    // ends at the task's WorkflowTaskStarted even when the history grew since (the task
    // timed out meanwhile).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = read_pages(&h, "paged", 0, usize::MAX).await;
    assert!(now.iter().any(|e| event_type(e) == E::WorkflowTaskTimedOut));
    let mut events = first;
    let mut token = task.next_page_token.clone();
    while !token.is_empty() {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: task.workflow_execution.clone(),
            maximum_page_size: 1000,
            next_page_token: token,
            ..Default::default()
        };
        let page = h
            .engine
            .get_workflow_execution_history(Request::new(req))
            .await
            .unwrap()
            .into_inner();
        let page_events = page.history.unwrap_or_default().events;
        assert!(page_events.len() <= 7, "{} events", page_events.len());
        events.extend(page_events);
        token = page.next_page_token;
    }
    let ids: Vec<i64> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, (1..=task.started_event_id).collect::<Vec<_>>());
    assert_eq!(events.last().map(event_type), Some(E::WorkflowTaskStarted));
}

#[tokio::test]
async fn pages_are_bounded_in_bytes_and_carry_at_least_one_event() {
    let limits = Limits {
        poll_history_page_events: 1000,
        history_page_bytes: 3000,
        max_payload_bytes: 8 * 1024,
        ..Limits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Engine::open_sqlite(dir.path().join("pages.db"), limited(limits.clone())).unwrap();
    // Closed runs are read from the store: both stores cut pages by size.
    for engine in [Engine::in_memory(limited(limits)), sqlite] {
        let h = Harness::on(engine);
        h.start("heavy").await;
        for bytes in [1000, 1000, 1000, 5000, 1000, 1000] {
            signal(&h, "heavy", blob(bytes)).await.unwrap();
        }
        let task = h.poll_wft().await;
        let first = task.history.clone().unwrap_or_default().events;
        let bytes: usize = first.iter().map(Message::encoded_len).sum();
        assert!(bytes <= 3000, "the first page takes {bytes} bytes");
        assert!(!task.next_page_token.is_empty());
        let open = read_pages(&h, "heavy", 0, 3000).await;
        assert_eq!(open.len() as i64, task.started_event_id);
        h.complete(&task, vec![complete_workflow()]).await.unwrap();
        let closed = read_pages(&h, "heavy", 0, 3000).await;
        assert_eq!(closed.len(), open.len() + 2);
        assert_eq!(closed[..open.len()], open[..]);
    }
}

#[tokio::test]
async fn the_embedded_worker_reads_paged_histories() {
    use crate::definition::{BoxFuture, WorkflowDefinition};
    use crate::error::WorkflowError;
    use crate::payload::PayloadError;
    use crate::test_support::Echo;
    use crate::workflow::WorkflowContext;

    struct Many;
    impl WorkflowDefinition for Many {
        type Input = ();
        type Output = String;
        const NAME: &'static str = "many";
        fn encode_input(_: &()) -> Result<Vec<Payload>, PayloadError> {
            Ok(Vec::new())
        }
        fn decode_input(_: &[Payload]) -> Result<(), PayloadError> {
            Ok(())
        }
        fn execute(ctx: WorkflowContext, _: ()) -> BoxFuture<Result<String, WorkflowError>> {
            Box::pin(async move {
                let mut last = String::new();
                for i in 0..15 {
                    last = ctx.activity(Echo, format!("step {i}")).await?;
                }
                Ok(last)
            })
        }
    }

    let limits = Limits {
        poll_history_page_events: 4,
        max_page_size: 3,
        history_page_bytes: 600,
        ..Limits::default()
    };
    let rt = crate::Embedded::builder()
        .in_memory()
        .engine_config(limited(limits))
        .task_queue("paged-worker")
        .workflow(Many)
        .activity(Echo)
        .start()
        .await
        .unwrap();
    let client = rt.client();
    let handle = client
        .start_workflow(Many, (), crate::StartOptions::new("many", "paged-worker"))
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), handle.result())
        .await
        .expect("the workflow finishes");
    assert_eq!(result.unwrap(), "step 14");
    let history = client.history("many", None).await.unwrap();
    assert!(history.len() > 15 * 6, "{} events", history.len());
    rt.shutdown().await;
}
