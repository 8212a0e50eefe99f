//! Requests whose fields are hostile: task queue names polled once each, ids far over the
//! limit, and task tokens rewritten to name another namespace.

use crate::harness::{NS, Target, uuid_like};
use dacapo::proto::WorkflowServiceClient;
use dacapo::proto::command::command::Attributes as Cmd;
use dacapo::proto::command::{
    Command, CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
};
use dacapo::proto::common::{ActivityType, WorkflowExecution, WorkflowType};
use dacapo::proto::enums::CommandType;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use futures::StreamExt;
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

/// The engine's default `Limits::max_id_bytes`.
const MAX_ID_BYTES: usize = 1000;

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fn start_request(workflow_id: &str, task_queue: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "hostile".into(),
        }),
        task_queue: queue(task_queue),
        request_id: uuid_like(),
        ..Default::default()
    }
}

/// A workflow task poll of `name` that the server gives up after `wait` (the client's
/// deadline), so that no poll waits out the server's long-poll timeout.
async fn poll_once(
    mut client: WorkflowServiceClient<Channel>,
    name: String,
    wait: Duration,
) -> Result<PollWorkflowTaskQueueResponse, tonic::Status> {
    let mut req = tonic::Request::new(PollWorkflowTaskQueueRequest {
        namespace: NS.into(),
        task_queue: queue(&name),
        identity: "hostile-poller".into(),
        ..Default::default()
    });
    req.set_timeout(wait);
    let call = client.poll_workflow_task_queue(req);
    match tokio::time::timeout(wait + Duration::from_secs(30), call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => panic!("a poll with a {wait:?} deadline was not answered"),
    }
}

#[tokio::test]
async fn polls_of_many_queue_names_leave_memory_where_it_was() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let client = target.client().await;
    let wait = Duration::from_millis(100);
    // Warm up: the server's threads, pools and allocator arenas reach their working size.
    futures::stream::iter((0..200).map(|i| poll_once(client.clone(), format!("warm-{i}"), wait)))
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    let (before, _) = target.rss_kib();

    // Names at the limit: accepted, each poll waits until its deadline and leaves. At most 16
    // polls share a connection: a poll whose deadline passes ends in a stream reset, and h2
    // closes a connection on which too many resets pile up (its defence against rapid-reset
    // floods), which is not what this test is about.
    let target_ref = &target;
    futures::stream::iter(0..1250)
        .for_each_concurrent(8, |batch| async move {
            let client = target_ref.client().await;
            let polls = (0..16).map(|i| {
                let prefix = format!("sticky-{batch}-{i}-");
                let name = format!("{prefix}{}", "s".repeat(MAX_ID_BYTES - prefix.len()));
                poll_once(client.clone(), name, wait)
            });
            for result in futures::future::join_all(polls).await {
                match result {
                    Ok(resp) => assert!(resp.task_token.is_empty()),
                    // The deadline passed: the server says so, or the client gave up first.
                    Err(status) => assert!(
                        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
                        "{status:?}"
                    ),
                }
            }
        })
        .await;
    let (after_limit, _) = target.rss_kib();
    eprintln!(
        "server RSS: {before} KiB after warm-up, {after_limit} KiB after 20,000 polls of \
         {MAX_ID_BYTES}-byte names"
    );
    // Each name kept would hold over 1 KiB: 20,000 of them about 27 MiB.
    assert!(
        after_limit < before + 12 * 1024,
        "20,000 polls of distinct names grew the server from {before} KiB to {after_limit} KiB"
    );

    // Names of 1 MB: each refused at once, naming the limit.
    let huge = futures::stream::iter((0..1000).map(|i| {
        let name = format!("{i}-{}", "h".repeat(1024 * 1024));
        // Time enough to send 1 MB: the refusal itself comes at once.
        poll_once(client.clone(), name, Duration::from_secs(10))
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    for result in &huge {
        match result {
            Err(status) if status.code() == Code::InvalidArgument => {
                assert!(
                    status.message().contains("task_queue.name") && status.message().len() < 300,
                    "{:.300}",
                    status.message()
                );
            }
            other => panic!("a poll of a 1 MB queue name got {other:?}"),
        }
    }
    let (after_huge, peak) = target.rss_kib();
    eprintln!("server RSS: {after_huge} KiB after 1,000 polls of 1 MB names (peak {peak} KiB)");
    assert!(
        after_huge < before + 64 * 1024,
        "1,000 polls of 1 MB names grew the server from {before} KiB to {after_huge} KiB"
    );
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
}

#[tokio::test]
async fn long_ids_are_refused_short_and_long_existing_ids_quoted_short() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let huge = "w".repeat(20 * 1024);
    let status = client
        .start_workflow_execution(start_request(&huge, "ids"))
        .await
        .expect_err("a 20 KB workflow id is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("workflow_id")
            && status.message().contains(&format!("{} bytes", huge.len()))
            && status.message().contains(&MAX_ID_BYTES.to_string()),
        "{:.300}",
        status.message()
    );
    assert!(status.message().len() < 300, "{}", status.message().len());

    let long = "d".repeat(900);
    client
        .start_workflow_execution(start_request(&long, "ids"))
        .await
        .expect("a 900-byte workflow id is within the limit");
    let status = client
        .start_workflow_execution(start_request(&long, "ids"))
        .await
        .expect_err("a second start of a running id is refused");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().len() < 300,
        "a {}-byte message: {}",
        status.message().len(),
        status.message()
    );
    let ghost = "g".repeat(900);
    let status = client
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: ghost,
                run_id: String::new(),
            }),
        })
        .await
        .expect_err("an unknown id is not found");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().len() < 300, "{}", status.message());
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
    // The long id survived the restart, and is still refused as already started.
    let mut client = target.client().await;
    let status = client
        .start_workflow_execution(start_request(&long, "ids"))
        .await
        .expect_err("still running after the restart");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
}

/// The body of a task token as `runtime/src/engine/token.rs` encodes it, after its magic.
#[derive(Clone, PartialEq, prost::Message)]
struct TokenBody {
    #[prost(uint32, tag = "1")]
    kind: u32,
    #[prost(string, tag = "2")]
    namespace: String,
    #[prost(string, tag = "3")]
    workflow_id: String,
    #[prost(string, tag = "4")]
    run_id: String,
    #[prost(int64, tag = "5")]
    scheduled_event_id: i64,
    #[prost(int64, tag = "6")]
    started_event_id: i64,
    #[prost(int32, tag = "7")]
    attempt: i32,
    #[prost(string, tag = "8")]
    activity_id: String,
}

const TOKEN_MAGIC: &[u8] = b"dcT1";

/// The token with its namespace rewritten to `namespace`, re-encoded.
fn rewritten(token: &[u8], namespace: &str) -> Vec<u8> {
    use prost::Message;
    let body = token
        .strip_prefix(TOKEN_MAGIC)
        .expect("a task token starts with its magic");
    let mut decoded = TokenBody::decode(body).expect("a task token body decodes");
    assert_eq!(decoded.namespace, NS);
    decoded.namespace = namespace.into();
    let mut out = TOKEN_MAGIC.to_vec();
    out.extend(decoded.encode_to_vec());
    out
}

#[tokio::test]
async fn a_task_token_rewritten_to_another_namespace_completes_nothing() {
    const OTHER: &str = "other";
    const QUEUE: &str = "token-victims";
    let mut target = Target::start(&["--namespace", OTHER]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let victim = format!("victim-{}", uuid_like());
    let run_id = client
        .start_workflow_execution(start_request(&victim, QUEUE))
        .await
        .expect("start the victim")
        .into_inner()
        .run_id;
    let task = client
        .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(QUEUE),
            ..Default::default()
        })
        .await
        .expect("poll")
        .into_inner();
    assert!(!task.task_token.is_empty(), "the victim's task is there");
    let forged = rewritten(&task.task_token, OTHER);
    let complete = |namespace: &str, task_token: Vec<u8>, command: Command| {
        RespondWorkflowTaskCompletedRequest {
            namespace: namespace.into(),
            task_token,
            commands: vec![command],
            ..Default::default()
        }
    };
    let close = Command {
        command_type: CommandType::CompleteWorkflowExecution as i32,
        attributes: Some(Cmd::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        )),
        ..Default::default()
    };
    let status = client
        .respond_workflow_task_completed(complete(OTHER, forged.clone(), close.clone()))
        .await
        .expect_err("a rewritten token completes nothing");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .respond_workflow_task_failed(RespondWorkflowTaskFailedRequest {
            namespace: OTHER.into(),
            task_token: forged,
            ..Default::default()
        })
        .await
        .expect_err("a rewritten token fails nothing");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // The genuine token still works: it schedules an activity.
    let schedule = Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(Cmd::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "a".into(),
                activity_type: Some(ActivityType {
                    name: "work".into(),
                }),
                start_to_close_timeout: Some(dacapo::proto::duration_to_proto(
                    Duration::from_secs(600),
                )),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    client
        .respond_workflow_task_completed(complete(NS, task.task_token.clone(), schedule))
        .await
        .expect("the genuine token completes the task");
    let act = client
        .poll_activity_task_queue(PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(QUEUE),
            ..Default::default()
        })
        .await
        .expect("poll activity")
        .into_inner();
    assert!(!act.task_token.is_empty(), "the activity is there");
    let forged = rewritten(&act.task_token, OTHER);
    let status = client
        .respond_activity_task_completed(RespondActivityTaskCompletedRequest {
            namespace: OTHER.into(),
            task_token: forged.clone(),
            ..Default::default()
        })
        .await
        .expect_err("a rewritten token completes no activity");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .respond_activity_task_failed(RespondActivityTaskFailedRequest {
            namespace: OTHER.into(),
            task_token: forged,
            ..Default::default()
        })
        .await
        .expect_err("a rewritten token fails no activity");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
    // After the restart the victim is still running with its activity pending, and the genuine
    // activity token, held across the restart, still completes it.
    let mut client = target.client().await;
    let described = client
        .describe_workflow_execution(DescribeWorkflowExecutionRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: victim.clone(),
                run_id: run_id.clone(),
            }),
        })
        .await
        .expect("describe the victim")
        .into_inner();
    assert_eq!(described.pending_activities.len(), 1);
    client
        .respond_activity_task_completed(RespondActivityTaskCompletedRequest {
            namespace: NS.into(),
            task_token: act.task_token,
            ..Default::default()
        })
        .await
        .expect("the genuine token completes the activity after a restart");
}
