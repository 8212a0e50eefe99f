//! One failure report with a cause chain about 100 deep, which the request itself still
//! decodes at: the history written from it must decode too, and the file must open again.
//! The by-id variant needs nothing but a workflow id and an activity id.

use crate::harness::{NS, Target, uuid_like};
use dacapo::proto::WorkflowServiceClient;
use dacapo::proto::command::command::Attributes as Cmd;
use dacapo::proto::command::{Command, ScheduleActivityTaskCommandAttributes};
use dacapo::proto::common::{ActivityType, RetryPolicy, WorkflowExecution, WorkflowType};
use dacapo::proto::enums::CommandType;
use dacapo::proto::failure::Failure;
use dacapo::proto::history::HistoryEvent;
use dacapo::proto::history::history_event::Attributes as Ev;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use tonic::transport::Channel;

const QUEUE: &str = "hostile-poison";
/// The most a request decodes at: the request is level 0, so the last failure is level 100.
const DEEP: usize = 100;

fn chain(depth: usize) -> Failure {
    let mut failure: Option<Failure> = None;
    for level in (1..=depth).rev() {
        failure = Some(Failure {
            message: format!("level {level}"),
            cause: failure.map(Box::new),
            ..Default::default()
        });
    }
    failure.unwrap_or_default()
}

fn chain_len(failure: &Failure) -> usize {
    let mut n = 1;
    let mut f = failure;
    while let Some(cause) = f.cause.as_deref() {
        n += 1;
        f = cause;
    }
    n
}

fn queue() -> Option<TaskQueue> {
    Some(TaskQueue {
        name: QUEUE.into(),
        ..Default::default()
    })
}

async fn poll_workflow_task(
    client: &mut WorkflowServiceClient<Channel>,
) -> PollWorkflowTaskQueueResponse {
    let task = client
        .poll_workflow_task_queue(PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(),
            identity: "hostile-worker".into(),
            ..Default::default()
        })
        .await
        .expect("poll a workflow task")
        .into_inner();
    assert!(!task.task_token.is_empty(), "a workflow task is waiting");
    task
}

async fn history(
    client: &mut WorkflowServiceClient<Channel>,
    workflow_id: &str,
) -> Vec<HistoryEvent> {
    client
        .get_workflow_execution_history(GetWorkflowExecutionHistoryRequest {
            namespace: NS.into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.into(),
                run_id: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("read the history of {workflow_id}: {e:?}"))
        .into_inner()
        .history
        .unwrap_or_default()
        .events
}

/// The failures in `events` written from the deep reports, cut to Temporal's depth of 20.
fn assert_cut(events: &[HistoryEvent], reports: usize) {
    let failures: Vec<&Failure> = events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Ev::ActivityTaskFailedEventAttributes(a)) => a.failure.as_ref(),
            Some(Ev::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref(),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), reports, "one failure event per report");
    for failure in failures {
        assert_eq!(chain_len(failure), 20);
    }
}

#[tokio::test]
async fn a_deep_failure_by_id_is_cut_and_the_file_opens_again() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let mut client = target.client().await;
    let workflow_id = format!("poison-{}", uuid_like());
    client
        .start_workflow_execution(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.clone(),
            workflow_type: Some(WorkflowType {
                name: "poisoned".into(),
            }),
            task_queue: queue(),
            request_id: uuid_like(),
            ..Default::default()
        })
        .await
        .expect("start");
    let task = poll_workflow_task(&mut client).await;
    let schedule = Command {
        command_type: CommandType::ScheduleActivityTask as i32,
        attributes: Some(Cmd::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: "a1".into(),
                activity_type: Some(ActivityType {
                    name: "work".into(),
                }),
                start_to_close_timeout: Some(dacapo::proto::duration_to_proto(
                    std::time::Duration::from_secs(600),
                )),
                retry_policy: Some(RetryPolicy {
                    maximum_attempts: 1,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    client
        .respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest {
            namespace: NS.into(),
            task_token: task.task_token,
            commands: vec![schedule],
            identity: "hostile-worker".into(),
            ..Default::default()
        })
        .await
        .expect("schedule the activity");
    let act = client
        .poll_activity_task_queue(PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(),
            identity: "hostile-worker".into(),
            ..Default::default()
        })
        .await
        .expect("poll the activity")
        .into_inner();
    assert_eq!(act.activity_id, "a1");

    // The attack: only the ids are needed.
    client
        .respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.clone(),
            activity_id: "a1".into(),
            failure: Some(chain(DEEP)),
            identity: "attacker".into(),
            ..Default::default()
        })
        .await
        .expect("a failure report is accepted, truncated");
    assert_cut(&history(&mut client, &workflow_id).await, 1);

    // The same through the workflow task the failure scheduled.
    let task = poll_workflow_task(&mut client).await;
    assert_cut(&task.history.clone().unwrap_or_default().events, 1);
    client
        .respond_workflow_task_failed(RespondWorkflowTaskFailedRequest {
            namespace: NS.into(),
            task_token: task.task_token,
            failure: Some(chain(DEEP)),
            identity: "attacker".into(),
            ..Default::default()
        })
        .await
        .expect("a failure report is accepted, truncated");
    assert_cut(&history(&mut client, &workflow_id).await, 2);
    target.check_seeded(&seeded).await;

    target.restart().await;
    target.check_seeded(&seeded).await;
    let mut client = target.client().await;
    assert_cut(&history(&mut client, &workflow_id).await, 2);
    // The run goes on: its next task comes with a history the worker decodes.
    let task = poll_workflow_task(&mut client).await;
    assert_cut(&task.history.unwrap_or_default().events, 2);
}
