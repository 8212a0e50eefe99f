//! What one run and one completion may hold, with the server's default limits: a completion
//! with 30,000 commands, more pending activities than a run may have, a history over the size
//! limit, a history longer than one poll page, and more signals than a run may take.

use crate::harness::{NS, Target, uuid_like};
use dacapo::proto::WorkflowServiceClient;
use dacapo::proto::command::command::Attributes as Cmd;
use dacapo::proto::command::{Command, ScheduleActivityTaskCommandAttributes};
use dacapo::proto::common::{ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType};
use dacapo::proto::enums::{
    CommandType, EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause,
};
use dacapo::proto::history::HistoryEvent;
use dacapo::proto::history::history_event::Attributes;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Client = WorkflowServiceClient<Channel>;

/// `Limits::default()` as the server runs with it.
const MAX_COMMANDS: usize = 10_000;
const MAX_PENDING_ACTIVITIES: usize = 2000;
const MAX_SIGNALS: usize = 10_000;
const POLL_PAGE_EVENTS: usize = 256;
const PAGE_BYTES: usize = 4 * 1024 * 1024;
const MAX_PAGE_SIZE: usize = 1000;

/// A client that receives at most one page of `PAGE_BYTES` and a bit (an event of a few MB
/// alone on its page fits too): what a worker with a receive limit can read.
async fn reader(target: &Target) -> Client {
    let channel = Channel::from_shared(target.url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connect to the server");
    WorkflowServiceClient::new(channel).max_decoding_message_size(PAGE_BYTES + 2 * 1024 * 1024)
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fn execution(workflow_id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: workflow_id.into(),
        run_id: String::new(),
    })
}

/// Starts a run on its own task queue; returns the queue.
async fn start(client: &mut Client, workflow_id: &str) -> String {
    let task_queue = format!("limits-{}", uuid_like());
    client
        .start_workflow_execution(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "limited".into(),
            }),
            task_queue: queue(&task_queue),
            request_id: uuid_like(),
            ..Default::default()
        })
        .await
        .expect("start a run");
    task_queue
}

async fn poll(client: &mut Client, task_queue: &str) -> PollWorkflowTaskQueueResponse {
    let task = client
        .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(task_queue),
            identity: "hostile-worker".into(),
            ..Default::default()
        })
        .await
        .expect("poll")
        .into_inner();
    assert!(!task.task_token.is_empty(), "expected a workflow task");
    task
}

fn schedule(activity_id: String) -> Command {
    Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(Cmd::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id,
                activity_type: Some(ActivityType { name: "a".into() }),
                start_to_close_timeout: Some(dacapo::proto::duration_to_proto(
                    Duration::from_secs(60),
                )),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn activities(from: usize, to: usize) -> Vec<Command> {
    (from..to).map(|i| schedule(format!("a{i}"))).collect()
}

async fn complete(
    client: &mut Client,
    task: &PollWorkflowTaskQueueResponse,
    commands: Vec<Command>,
    force_new_task: bool,
) -> Result<(), Status> {
    client
        .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
            namespace: NS.into(),
            task_token: task.task_token.clone(),
            commands,
            identity: "hostile-worker".into(),
            force_create_new_workflow_task: force_new_task,
            ..Default::default()
        })
        .await
        .map(|_| ())
}

fn signal_request(workflow_id: &str, input: Option<Payloads>) -> SignalWorkflowExecutionRequest {
    SignalWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_execution: execution(workflow_id),
        signal_name: "poke".into(),
        input,
        request_id: uuid_like(),
        ..Default::default()
    }
}

/// Sends `n` small signals to `workflow_id`, 32 at a time.
async fn signals(target: &Target, workflow_id: &str, n: usize) {
    let mut clients = Vec::new();
    for _ in 0..32 {
        clients.push(target.client().await);
    }
    let mut running = JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let workflow_id = workflow_id.to_string();
        let share = n / 32 + usize::from(i < n % 32);
        running.spawn(async move {
            for _ in 0..share {
                client
                    .signal_workflow_execution(signal_request(&workflow_id, None))
                    .await
                    .expect("a signal under the limit");
            }
        });
    }
    while let Some(done) = running.join_next().await {
        done.expect("a signalling task");
    }
}

/// One page of a history read.
async fn page(
    client: &mut Client,
    execution: Option<WorkflowExecution>,
    maximum_page_size: i32,
    token: Vec<u8>,
) -> GetWorkflowExecutionHistoryResponse {
    client
        .get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution,
            maximum_page_size,
            next_page_token: token,
            ..Default::default()
        })
        .await
        .expect("a history page")
        .into_inner()
}

/// Reads a history page by page from `token`, checking that no page has more events than
/// `MAX_PAGE_SIZE` (bytes are checked by the receive limit of a [`reader`]).
async fn read_rest(
    client: &mut Client,
    execution: Option<WorkflowExecution>,
    mut events: Vec<HistoryEvent>,
    mut token: Vec<u8>,
) -> Vec<HistoryEvent> {
    while !token.is_empty() {
        let resp = page(client, execution.clone(), i32::MAX, token).await;
        let page_events = resp.history.unwrap_or_default().events;
        assert!(!page_events.is_empty(), "a page with a token has events");
        assert!(
            page_events.len() <= MAX_PAGE_SIZE,
            "{} events",
            page_events.len()
        );
        events.extend(page_events);
        token = resp.next_page_token;
    }
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event_id, i as i64 + 1, "pages join without gaps");
    }
    events
}

async fn whole_history(client: &mut Client, workflow_id: &str) -> Vec<HistoryEvent> {
    let first = page(client, execution(workflow_id), 0, Vec::new()).await;
    let events = first.history.unwrap_or_default().events;
    read_rest(
        client,
        execution(workflow_id),
        events,
        first.next_page_token,
    )
    .await
}

async fn describe(client: &mut Client, workflow_id: &str) -> DescribeWorkflowExecutionResponse {
    client
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: NS.into(),
            execution: execution(workflow_id),
        })
        .await
        .expect("describe")
        .into_inner()
}

fn status_of(d: &DescribeWorkflowExecutionResponse) -> i32 {
    d.workflow_execution_info
        .as_ref()
        .map(|i| i.status)
        .unwrap_or_default()
}

fn last_task_failed_cause(events: &[HistoryEvent]) -> Option<i32> {
    events.iter().rev().find_map(|e| match &e.attributes {
        Some(Attributes::WorkflowTaskFailedEventAttributes(a)) => Some(a.cause),
        _ => None,
    })
}

#[tokio::test]
async fn a_completion_of_30000_commands_is_refused_at_once_and_others_are_served_meanwhile() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let task_queue = start(&mut client, "flood").await;
    let task = poll(&mut client, &task_queue).await;

    // Another client keeps calling while the completion is handled.
    let mut bystander = target.client().await;
    let watched = seeded[0].workflow_id.clone();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let mut answered = 0;
        loop {
            let call = bystander.describe_workflow_execution(DescribeWorkflowExecutionRequest {
                namespace: NS.into(),
                execution: execution(&watched),
            });
            tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("another client's call answers within 10 s")
                .expect("describe a seeded run");
            answered += 1;
            tokio::select! {
                _ = &mut stopped => return answered,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    });
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        complete(&mut client, &task, activities(0, 30_000), false),
    )
    .await
    .expect("the completion is answered within a minute");
    let status = refused.expect_err("30,000 commands are refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("30000 commands")
            && status
                .message()
                .contains(&format!("limit of {MAX_COMMANDS}"))
            && status.message().contains("max_commands_per_workflow_task"),
        "{}",
        status.message()
    );
    let _ = stop.send(());
    let answered = watcher.await.expect("the bystander");
    assert!(answered > 0);

    let events = whole_history(&mut client, "flood").await;
    assert_eq!(
        last_task_failed_cause(&events),
        Some(WorkflowTaskFailedCause::GrpcMessageTooLarge as i32)
    );
    assert!(
        !events
            .iter()
            .any(|e| e.event_type == EventType::ActivityTaskScheduled as i32),
        "nothing of the completion is kept"
    );
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
}

#[tokio::test]
async fn a_run_may_have_2000_pending_activities_and_not_one_more() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let task_queue = start(&mut client, "busy").await;

    let task = poll(&mut client, &task_queue).await;
    let status = complete(&mut client, &task, activities(0, 2001), false)
        .await
        .expect_err("2,001 pending activities are refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("per-run limit of {MAX_PENDING_ACTIVITIES}"))
            && status.message().contains("max_pending_activities"),
        "{}",
        status.message()
    );
    let events = whole_history(&mut client, "busy").await;
    assert_eq!(
        last_task_failed_cause(&events),
        Some(WorkflowTaskFailedCause::PendingActivitiesLimitExceeded as i32)
    );
    assert!(
        describe(&mut client, "busy")
            .await
            .pending_activities
            .is_empty()
    );

    // 2,000 fit, in one completion; one more in the next does not, also after a restart.
    let task = poll(&mut client, &task_queue).await;
    complete(&mut client, &task, activities(0, 2000), true)
        .await
        .expect("2,000 pending activities are taken");
    let task = poll(&mut client, &task_queue).await;
    let status = complete(&mut client, &task, activities(2000, 2001), false)
        .await
        .expect_err("the 2,001st is refused");
    assert!(
        status.message().contains("max_pending_activities"),
        "{status:?}"
    );
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
    let mut client = target.client().await;
    assert_eq!(
        describe(&mut client, "busy").await.pending_activities.len(),
        MAX_PENDING_ACTIVITIES
    );
    let task = poll(&mut client, &task_queue).await;
    let status = complete(&mut client, &task, activities(2000, 2001), false)
        .await
        .expect_err("the 2,001st is refused after a restart");
    assert!(
        status.message().contains("max_pending_activities"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_history_over_the_size_limit_terminates_its_run_and_still_reads_page_by_page() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    start(&mut client, "hoarder").await;
    // Signals of 2,000,000 bytes, under the payload limit: a 140 MB history once.
    let big = Payloads {
        payloads: vec![Payload {
            metadata: HashMap::from([("encoding".to_string(), b"binary/plain".to_vec())]),
            data: vec![b'x'; 2_000_000],
            ..Default::default()
        }],
    };
    let mut accepted = 0;
    let mut refusal = None;
    for _ in 0..70 {
        let req = signal_request("hoarder", Some(big.clone()));
        match client.signal_workflow_execution(req).await {
            Ok(_) => accepted += 1,
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let refusal = refusal.expect("the run stops taking signals");
    assert_eq!(refusal.code(), Code::NotFound, "{refusal:?}");
    assert!(
        (20..=27).contains(&accepted),
        "{accepted} signals of 2 MB were taken"
    );
    let described = describe(&mut client, "hoarder").await;
    assert_eq!(
        status_of(&described),
        WorkflowExecutionStatus::Terminated as i32
    );
    // A cancel of the closed run is answered, as for any closed run.
    client
        .request_cancel_workflow_execution(RequestCancelWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_execution: execution("hoarder"),
            request_id: uuid_like(),
            ..Default::default()
        })
        .await
        .expect("a cancel of the terminated run");

    let check = |events: &[HistoryEvent]| {
        let signals = events
            .iter()
            .filter(|e| e.event_type == EventType::WorkflowExecutionSignaled as i32)
            .count();
        assert_eq!(signals, accepted);
        let Some(Attributes::WorkflowExecutionTerminatedEventAttributes(t)) =
            events.last().and_then(|e| e.attributes.as_ref())
        else {
            panic!("the run ends terminated");
        };
        assert!(
            t.reason.contains("history size exceeds limit")
                && t.reason.contains("history_size_limit_bytes"),
            "{}",
            t.reason
        );
    };
    check(&whole_history(&mut reader(&target).await, "hoarder").await);
    let log = target.proc().log();
    assert_eq!(
        log.matches("history size exceeds warn limit").count(),
        1,
        "one warning: {log}"
    );
    assert!(log.contains("terminating the run"), "{log}");
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
    check(&whole_history(&mut reader(&target).await, "hoarder").await);
}

#[tokio::test]
async fn a_poll_of_a_long_history_carries_a_bounded_first_page_and_a_token() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let task_queue = start(&mut client, "long").await;
    signals(&target, "long", 1200).await;

    let mut client = reader(&target).await;
    let task = poll(&mut client, &task_queue).await;
    let first = task.history.clone().unwrap_or_default().events;
    assert_eq!(first.len(), POLL_PAGE_EVENTS);
    assert!(!task.next_page_token.is_empty(), "a token for the rest");
    let events = read_rest(
        &mut client,
        task.workflow_execution.clone(),
        first,
        task.next_page_token.clone(),
    )
    .await;
    assert_eq!(events.len() as i64, task.started_event_id);
    assert_eq!(
        events.last().map(|e| e.event_type),
        Some(EventType::WorkflowTaskStarted as i32)
    );
    // A read that asks for everything gets a page of max_page_size.
    let asked_all = page(&mut client, execution("long"), i32::MAX, Vec::new()).await;
    assert_eq!(
        asked_all.history.unwrap_or_default().events.len(),
        MAX_PAGE_SIZE
    );
    assert!(!asked_all.next_page_token.is_empty());
    // The worker answers, and the run goes on.
    complete(&mut client, &task, Vec::new(), true)
        .await
        .expect("the task completes");
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
}

#[tokio::test]
async fn signals_past_the_limit_are_refused_also_after_a_restart() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let task_queue = start(&mut client, "noisy").await;
    signals(&target, "noisy", MAX_SIGNALS).await;
    let refused = |status: Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("signal") && status.message().contains("max_signals_per_run"),
            "{}",
            status.message()
        );
    };
    let status = client
        .signal_workflow_execution(signal_request("noisy", None))
        .await
        .expect_err("signal 10,001 is refused");
    refused(status);
    let status = client
        .signal_with_start_workflow_execution(SignalWithStartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: "noisy".into(),
            workflow_type: Some(WorkflowType {
                name: "limited".into(),
            }),
            task_queue: queue(&task_queue),
            request_id: uuid_like(),
            signal_name: "poke".into(),
            ..Default::default()
        })
        .await
        .expect_err("a signal-with-start to the run is refused too");
    refused(status);
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
    let mut client = target.client().await;
    let status = client
        .signal_workflow_execution(signal_request("noisy", None))
        .await
        .expect_err("still refused after a restart");
    refused(status);
    assert_eq!(
        status_of(&describe(&mut client, "noisy").await),
        WorkflowExecutionStatus::Running as i32
    );
}
