//! A task token belongs to one namespace and workflow: a token rewritten to name another one
//! (and sent to that namespace) reaches no run.

use super::super::token::{TaskKind, TaskToken};
use super::*;

const OTHER: &str = "other";

fn two_namespaces() -> Harness {
    Harness::on(Engine::in_memory(EngineConfig {
        namespaces: vec![NS.to_string(), OTHER.to_string()],
        ..config()
    }))
}

/// The token with its namespace (or workflow id) changed, as an attacker would re-encode it.
fn rewritten(token: &[u8], kind: TaskKind, f: impl Fn(&mut TaskToken)) -> Vec<u8> {
    let mut decoded = TaskToken::decode(token, kind, NS).expect("a token of the engine");
    f(&mut decoded);
    decoded.encode()
}

#[tokio::test]
async fn a_workflow_task_token_rewritten_to_another_namespace_reaches_no_run() {
    let h = two_namespaces();
    h.start("victim").await;
    let task = h.poll_wft().await;
    let forged = rewritten(&task.task_token, TaskKind::Workflow, |t| {
        t.namespace = OTHER.into()
    });
    let complete = RespondWorkflowTaskCompletedRequest {
        namespace: OTHER.into(),
        task_token: forged.clone(),
        commands: vec![complete_workflow()],
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_workflow_task_completed(Request::new(complete))
            .await,
        Code::NotFound,
    );
    let fail = RespondWorkflowTaskFailedRequest {
        namespace: OTHER.into(),
        task_token: forged,
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_workflow_task_failed(Request::new(fail))
            .await,
        Code::NotFound,
    );
    // A token naming another workflow id of the same namespace reaches nothing either.
    let renamed = rewritten(&task.task_token, TaskKind::Workflow, |t| {
        t.workflow_id = "someone-else".into()
    });
    let forged_task = PollWorkflowTaskQueueResponse {
        task_token: renamed,
        ..Default::default()
    };
    expect_code(
        h.complete(&forged_task, vec![complete_workflow()]).await,
        Code::NotFound,
    );
    assert_eq!(
        h.types("victim").await,
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
        ],
        "the forged tokens changed the run"
    );
    // The genuine token still works.
    h.complete(&task, vec![complete_workflow()])
        .await
        .expect("the genuine token completes the task");
    assert_eq!(
        h.types("victim").await.last(),
        Some(&EventType::WorkflowExecutionCompleted)
    );
}

#[tokio::test]
async fn an_activity_token_rewritten_to_another_namespace_reaches_no_run() {
    let h = two_namespaces();
    h.start("victim").await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![schedule_activity("a", "work", 0)])
        .await
        .unwrap();
    let act = h.poll_activity().await;
    let forged = rewritten(&act.task_token, TaskKind::Activity, |t| {
        t.namespace = OTHER.into()
    });
    let beat = RecordActivityTaskHeartbeatRequest {
        namespace: OTHER.into(),
        task_token: forged.clone(),
        ..Default::default()
    };
    expect_code(
        h.engine
            .record_activity_task_heartbeat(Request::new(beat))
            .await,
        Code::NotFound,
    );
    let done = RespondActivityTaskCompletedRequest {
        namespace: OTHER.into(),
        task_token: forged.clone(),
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_activity_task_completed(Request::new(done))
            .await,
        Code::NotFound,
    );
    let failed = RespondActivityTaskFailedRequest {
        namespace: OTHER.into(),
        task_token: forged.clone(),
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_activity_task_failed(Request::new(failed))
            .await,
        Code::NotFound,
    );
    let canceled = RespondActivityTaskCanceledRequest {
        namespace: OTHER.into(),
        task_token: forged,
        ..Default::default()
    };
    expect_code(
        h.engine
            .respond_activity_task_canceled(Request::new(canceled))
            .await,
        Code::NotFound,
    );
    let renamed = rewritten(&act.task_token, TaskKind::Activity, |t| {
        t.workflow_id = "someone-else".into()
    });
    expect_code(h.activity_completed(&renamed).await, Code::NotFound);
    let d = h.describe("victim").await;
    assert_eq!(
        d.pending_activities.len(),
        1,
        "the forged tokens closed the activity"
    );
    assert_eq!(
        h.types("victim").await.last(),
        Some(&EventType::ActivityTaskScheduled)
    );
    h.activity_completed(&act.task_token)
        .await
        .expect("the genuine token completes the attempt");
    assert!(h.describe("victim").await.pending_activities.is_empty());
}
