//! Speculative workflow tasks: an update to a run with no workflow task pending rides a task
//! whose `WorkflowTaskScheduled` and `WorkflowTaskStarted` are in memory only, as on Temporal.
//! A worker that only rejects the update leaves the history as it was; anything else (an
//! acceptance, a command, a failure, a timeout, an event arriving first) writes the task.

use super::updates::{
    acceptance, ask, complete_with, failure_message, idle_run, rejection, response, success,
    the_request, update_request,
};
use super::*;
use crate::proto::enums::UpdateWorkflowExecutionLifecycleStage as Stage;
use crate::proto::service::respond_workflow_task_completed_request::Capabilities;
use crate::store::{MemoryStore, Store};
use std::sync::Arc;

/// A run whose first workflow task completed without a command: open, with no workflow task
/// pending and nothing written after its `WorkflowTaskCompleted` (event 4).
async fn quiet_run(h: &Harness, workflow_id: &str) -> Vec<HistoryEvent> {
    h.start(workflow_id).await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![]).await.expect("complete");
    let events = h.events(workflow_id).await;
    assert_eq!(events.len(), 4, "{events:?}");
    events
}

fn types_of(events: &[HistoryEvent]) -> Vec<EventType> {
    events.iter().map(event_type).collect()
}

/// The event types after the first `n` of a history.
async fn types_after(h: &Harness, workflow_id: &str, n: usize) -> Vec<EventType> {
    types_of(&h.events(workflow_id).await[n..])
}

#[tokio::test]
async fn a_rejected_update_on_an_idle_run_leaves_the_history_as_it_was() {
    use EventType::*;
    let h = Harness::new();
    let before = quiet_run(&h, "s-reject").await;
    let call = ask(&h, update_request("s-reject", "up-1", Stage::Completed)).await;
    let task = h.poll_wft().await;
    // The worker sees the task's events; readers of the history do not.
    let sent = task.history.clone().unwrap_or_default().events;
    assert_eq!(
        types_of(&sent[4..]),
        [WorkflowTaskScheduled, WorkflowTaskStarted]
    );
    assert_eq!(task.started_event_id, 6);
    assert_eq!(h.events("s-reject").await, before);
    let info = h.describe("s-reject").await.workflow_execution_info;
    assert_eq!(info.map(|i| i.history_length), Some(4));
    let request = the_request(&task);
    let resp = complete_with(&h, &task, vec![], vec![rejection(&request, "bad address")])
        .await
        .expect("complete");
    // The worker rolls back to the task it completed last.
    assert_eq!(resp.reset_history_event_id, 3);
    let answer = call.await.expect("join").expect("answered");
    assert_eq!(failure_message(&answer.outcome), "bad address");
    assert_eq!(h.events("s-reject").await, before);
    assert!(h.describe("s-reject").await.pending_workflow_task.is_none());

    // The next update's task takes the same event ids, and its acceptance writes it.
    let call = ask(&h, update_request("s-reject", "up-2", Stage::Completed)).await;
    let task = h.poll_wft().await;
    assert_eq!(task.started_event_id, 6);
    let request = the_request(&task);
    let messages = vec![acceptance(&request), response("up-2", "\"ok\"")];
    let resp = complete_with(&h, &task, vec![], messages)
        .await
        .expect("complete");
    assert_eq!(resp.reset_history_event_id, 0);
    let answer = call.await.expect("join").expect("answered");
    assert_eq!(success(&answer.outcome), serde_json::json!("ok"));
    assert_eq!(
        types_after(&h, "s-reject", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionUpdateAccepted,
            WorkflowExecutionUpdateCompleted
        ]
    );
}

/// Completes `task` with `messages` and no command, declaring (or not) that the worker can be
/// sent the same events twice.
async fn complete_declaring(
    h: &Harness,
    task: &PollWorkflowTaskQueueResponse,
    messages: Vec<crate::proto::protocol::Message>,
    repeatable: bool,
) -> RespondWorkflowTaskCompletedResponse {
    let req = RespondWorkflowTaskCompletedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        messages,
        identity: "test-worker".into(),
        capabilities: Some(Capabilities {
            discard_speculative_workflow_task_with_events: repeatable,
        }),
        ..Default::default()
    };
    h.engine
        .respond_workflow_task_completed(Request::new(req))
        .await
        .expect("complete")
        .into_inner()
}

#[tokio::test]
async fn a_rejection_after_new_events_is_dropped_only_for_a_worker_that_can_see_them_twice() {
    use EventType::*;
    // The last completion wrote TimerStarted after its WorkflowTaskCompleted.
    let h = Harness::new();
    idle_run(&h, "s-events").await;
    let before = h.events("s-events").await;
    let call = ask(&h, update_request("s-events", "up-1", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    let resp = complete_declaring(&h, &task, vec![rejection(&request, "no")], true).await;
    assert_eq!(resp.reset_history_event_id, 3);
    call.await.expect("join").expect("answered");
    assert_eq!(h.events("s-events").await, before);

    // A worker that cannot be sent the TimerStarted again gets the task written.
    let call = ask(&h, update_request("s-events", "up-2", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    let resp = complete_declaring(&h, &task, vec![rejection(&request, "no")], false).await;
    assert_eq!(resp.reset_history_event_id, 0);
    let answer = call.await.expect("join").expect("answered");
    assert_eq!(failure_message(&answer.outcome), "no");
    assert_eq!(
        types_after(&h, "s-events", before.len()).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted
        ]
    );
}

#[tokio::test]
async fn a_signal_before_the_speculative_task_starts_makes_it_a_normal_one() {
    use EventType::*;
    let h = Harness::new();
    quiet_run(&h, "s-signal").await;
    let call = ask(&h, update_request("s-signal", "up-1", Stage::Completed)).await;
    h.signal("s-signal", "poke").await;
    // Written when the signal comes, before it, as Temporal converts the task.
    assert_eq!(
        types_after(&h, "s-signal", 4).await,
        [WorkflowTaskScheduled, WorkflowExecutionSignaled]
    );
    let task = h.poll_wft().await;
    let request = the_request(&task);
    let resp = complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    assert_eq!(resp.reset_history_event_id, 0);
    call.await.expect("join").expect("answered");
    assert_eq!(
        types_after(&h, "s-signal", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowExecutionSignaled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted
        ]
    );
}

#[tokio::test]
async fn a_signal_while_the_speculative_task_runs_writes_the_task_and_holds_the_signal() {
    use EventType::*;
    let h = Harness::new();
    quiet_run(&h, "s-held").await;
    let call = ask(&h, update_request("s-held", "up-1", Stage::Completed)).await;
    let task = h.poll_wft().await;
    h.signal("s-held", "poke").await;
    // The task is a normal one from now on: durable, and the signal held until it completes.
    assert_eq!(
        types_after(&h, "s-held", 4).await,
        [WorkflowTaskScheduled, WorkflowTaskStarted]
    );
    let request = the_request(&task);
    let resp = complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    assert_eq!(resp.reset_history_event_id, 0);
    call.await.expect("join").expect("answered");
    assert_eq!(
        types_after(&h, "s-held", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionSignaled,
            WorkflowTaskScheduled
        ]
    );
    let next = h.poll_wft().await;
    assert!(next.messages.is_empty(), "{:?}", next.messages);
}

#[tokio::test]
async fn a_terminate_forgets_a_speculative_task_not_started_and_fails_a_started_one() {
    use EventType::*;
    let h = Harness::new();
    quiet_run(&h, "s-term-1").await;
    let call = ask(&h, update_request("s-term-1", "up-1", Stage::Completed)).await;
    h.terminate("s-term-1").await.expect("terminate");
    expect_code(call.await.expect("join"), Code::NotFound);
    assert_eq!(
        types_after(&h, "s-term-1", 4).await,
        [WorkflowExecutionTerminated]
    );
    quiet_run(&h, "s-term-2").await;
    let call = ask(&h, update_request("s-term-2", "up-1", Stage::Completed)).await;
    let task = h.poll_wft().await;
    h.terminate("s-term-2").await.expect("terminate");
    expect_code(call.await.expect("join"), Code::NotFound);
    assert_eq!(
        types_after(&h, "s-term-2", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskFailed,
            WorkflowExecutionTerminated
        ]
    );
    // The worker's late answer finds the run closed.
    let request = the_request(&task);
    let late = complete_with(&h, &task, vec![], vec![rejection(&request, "no")]).await;
    expect_code(late, Code::NotFound);
}

#[tokio::test]
async fn a_failed_speculative_task_is_written_and_its_update_rides_the_retry() {
    use EventType::*;
    let h = Harness::new();
    quiet_run(&h, "s-fail").await;
    let call = ask(&h, update_request("s-fail", "up-1", Stage::Completed)).await;
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
    assert_eq!(
        types_after(&h, "s-fail", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskFailed,
            WorkflowTaskScheduled
        ]
    );
    let events = h.events("s-fail").await;
    let failed = &events[6];
    let Some(crate::proto::EventAttributes::WorkflowTaskFailedEventAttributes(a)) =
        &failed.attributes
    else {
        panic!("{failed:?}");
    };
    assert_eq!((a.scheduled_event_id, a.started_event_id), (5, 6));
    // The retry waits out its back-off, then carries the update.
    let mut retry = h.try_poll_wft().await;
    for _ in 0..20 {
        if !retry.task_token.is_empty() {
            break;
        }
        retry = h.try_poll_wft().await;
    }
    let request = the_request(&retry);
    complete_with(&h, &retry, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    let answer = call.await.expect("join").expect("answered");
    assert_eq!(failure_message(&answer.outcome), "no");
}

#[tokio::test]
async fn a_restart_forgets_a_speculative_task_and_the_retried_update_runs() {
    use EventType::*;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let before = {
        let h = Harness::on(Engine::with_store(Arc::clone(&store), config()).expect("engine"));
        let before = quiet_run(&h, "s-restart").await;
        let call = ask(&h, update_request("s-restart", "up-1", Stage::Completed)).await;
        let task = h.poll_wft().await;
        the_request(&task);
        h.engine.shutdown();
        // The caller never hears of a completion; it retries with the same update id.
        if let Ok(answer) = call.await.expect("join") {
            assert_ne!(answer.stage, Stage::Completed as i32, "{answer:?}");
        }
        before
    };
    let h = Harness::on(Engine::with_store(store, config()).expect("engine"));
    assert_eq!(h.events("s-restart").await, before);
    assert!(
        h.describe("s-restart")
            .await
            .pending_workflow_task
            .is_none()
    );
    let call = ask(&h, update_request("s-restart", "up-1", Stage::Completed)).await;
    let task = h.poll_wft().await;
    let request = the_request(&task);
    let messages = vec![acceptance(&request), response("up-1", "\"again\"")];
    complete_with(&h, &task, vec![], messages)
        .await
        .expect("complete");
    let answer = call.await.expect("join").expect("answered");
    assert_eq!(success(&answer.outcome), serde_json::json!("again"));
    assert_eq!(
        types_after(&h, "s-restart", 4).await,
        [
            WorkflowTaskScheduled,
            WorkflowTaskStarted,
            WorkflowTaskCompleted,
            WorkflowExecutionUpdateAccepted,
            WorkflowExecutionUpdateCompleted
        ]
    );
}

#[tokio::test]
async fn a_speculative_task_no_worker_starts_times_out_and_a_normal_one_carries_the_update() {
    use EventType::*;
    let h = Harness::new();
    quiet_run(&h, "s-late").await;
    let call = ask(&h, update_request("s-late", "up-1", Stage::Completed)).await;
    // No worker polls for Temporal's 5 s; then the task is written, timed out, and followed.
    let mut types = Vec::new();
    for _ in 0..300 {
        types = types_after(&h, "s-late", 4).await;
        if types.contains(&WorkflowTaskTimedOut) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        types,
        [
            WorkflowTaskScheduled,
            WorkflowTaskTimedOut,
            WorkflowTaskScheduled
        ]
    );
    let events = h.events("s-late").await;
    let Some(crate::proto::EventAttributes::WorkflowTaskTimedOutEventAttributes(a)) =
        &events[5].attributes
    else {
        panic!("{:?}", events[5]);
    };
    assert_eq!(
        a.timeout_type,
        crate::proto::enums::TimeoutType::ScheduleToStart as i32
    );
    let task = h.poll_wft().await;
    let request = the_request(&task);
    complete_with(&h, &task, vec![], vec![rejection(&request, "no")])
        .await
        .expect("complete");
    call.await.expect("join").expect("answered");
}
