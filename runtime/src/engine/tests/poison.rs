//! Failures with cause chains deeper than a stored event can hold, through every request that
//! writes a failure into a history or a record: each is accepted, its chain is cut to
//! `Limits::max_failure_depth`, the history still reads, and the run goes on.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::enums::WorkflowExecutionStatus;
use crate::proto::failure::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use prost::Message;
use std::sync::Arc;

/// Deeper than prost decodes once a history event wraps it (100 levels in all).
const DEEP: usize = 100;

/// A failure with `depth - 1` causes below it, built from the bottom up.
fn chain(depth: usize) -> Failure {
    let mut failure: Option<Failure> = None;
    for level in (1..=depth).rev() {
        failure = Some(Failure {
            message: format!("level {level}"),
            source: "poison-test".into(),
            cause: failure.map(Box::new),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: "Deep".into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        });
    }
    failure.unwrap_or_default()
}

/// How many failures the chain holds, and the last one.
fn measure(failure: &Failure) -> (usize, &Failure) {
    let mut n = 1;
    let mut last = failure;
    while let Some(cause) = last.cause.as_deref() {
        n += 1;
        last = cause;
    }
    (n, last)
}

/// The chain was cut to the default limit, keeping its first levels, and says so.
fn assert_cut(failure: Option<&Failure>) {
    let failure = failure.expect("the failure is kept");
    let limit = EngineConfig::default().limits.max_failure_depth;
    let (n, last) = measure(failure);
    assert_eq!(n, limit, "the chain keeps {limit} levels");
    assert_eq!(failure.message, "level 1");
    assert!(
        last.message.starts_with(&format!("level {limit} "))
            && last
                .message
                .contains(&format!("{} deeper cause", DEEP - limit))
            && last.message.contains("Limits::max_failure_depth"),
        "the last level kept says that causes were cut: {}",
        last.message
    );
}

/// Every event of the history decodes again from its encoding, inside a poll response too.
fn assert_decodes(events: &[HistoryEvent]) {
    let response = PollWorkflowTaskQueueResponse {
        history: Some(crate::proto::history::History {
            events: events.to_vec(),
        }),
        ..Default::default()
    };
    PollWorkflowTaskQueueResponse::decode(response.encode_to_vec().as_slice())
        .expect("a poll response carrying the history decodes");
}

fn failed_activity_schedule(id: &str, max_attempts: i32) -> Command {
    with_retry(schedule_activity(id, "work", 0), 1, max_attempts)
}

/// Starts `workflow_id`, schedules one activity and takes its first attempt.
async fn started_activity(
    h: &Harness,
    workflow_id: &str,
    max_attempts: i32,
) -> PollActivityTaskQueueResponse {
    h.start(workflow_id).await;
    let task = h.poll_wft().await;
    h.complete(&task, vec![failed_activity_schedule("a1", max_attempts)])
        .await
        .unwrap();
    h.poll_activity().await
}

/// The run still works: its next workflow task is handed out with a history that decodes,
/// and completing it closes the run.
async fn finish(h: &Harness, workflow_id: &str) {
    let task = h.poll_wft().await;
    assert_decodes(&task.history.clone().unwrap_or_default().events);
    h.complete(&task, vec![complete_workflow()]).await.unwrap();
    let info = h.describe(workflow_id).await.workflow_execution_info;
    assert_eq!(
        info.unwrap().status,
        WorkflowExecutionStatus::Completed as i32
    );
    assert_decodes(&h.events(workflow_id).await);
}

#[tokio::test]
async fn a_deep_workflow_task_failure_is_cut_and_the_run_goes_on() {
    let h = Harness::new();
    h.start("deep-wft").await;
    let task = h.poll_wft().await;
    let req = RespondWorkflowTaskFailedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        failure: Some(chain(DEEP)),
        identity: "test-worker".into(),
        ..Default::default()
    };
    h.engine
        .respond_workflow_task_failed(Request::new(req))
        .await
        .expect("the failure report is accepted");
    let events = h.events("deep-wft").await;
    assert_decodes(&events);
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_cut(failure);
    finish(&h, "deep-wft").await;
}

#[tokio::test]
async fn a_deep_activity_failure_is_cut_and_the_run_goes_on() {
    let h = Harness::new();
    let act = started_activity(&h, "deep-act", 1).await;
    let req = RespondActivityTaskFailedRequest {
        namespace: NS.into(),
        task_token: act.task_token.clone(),
        failure: Some(chain(DEEP)),
        identity: "test-activity-worker".into(),
        ..Default::default()
    };
    h.engine
        .respond_activity_task_failed(Request::new(req))
        .await
        .expect("the failure report is accepted");
    let events = h.events("deep-act").await;
    assert_decodes(&events);
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_cut(failure);
    finish(&h, "deep-act").await;
}

#[tokio::test]
async fn a_deep_activity_failure_by_id_is_cut_and_the_run_goes_on() {
    let h = Harness::new();
    started_activity(&h, "deep-act-id", 1).await;
    let req = RespondActivityTaskFailedByIdRequest {
        namespace: NS.into(),
        workflow_id: "deep-act-id".into(),
        activity_id: "a1".into(),
        failure: Some(chain(DEEP)),
        identity: "test-activity-worker".into(),
        ..Default::default()
    };
    h.engine
        .respond_activity_task_failed_by_id(Request::new(req))
        .await
        .expect("the failure report is accepted");
    let events = h.events("deep-act-id").await;
    assert_decodes(&events);
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_cut(failure);
    finish(&h, "deep-act-id").await;
}

#[tokio::test]
async fn a_deep_failure_of_a_retried_attempt_is_cut_in_the_record_and_the_next_start() {
    let h = Harness::new();
    let act = started_activity(&h, "deep-retry", 2).await;
    let req = RespondActivityTaskFailedRequest {
        namespace: NS.into(),
        task_token: act.task_token.clone(),
        failure: Some(chain(DEEP)),
        identity: "test-activity-worker".into(),
        ..Default::default()
    };
    h.engine
        .respond_activity_task_failed(Request::new(req))
        .await
        .expect("the failure report is accepted");
    let described = h.describe("deep-retry").await;
    let pending = described.pending_activities.first().expect("a retry waits");
    assert_cut(pending.last_failure.as_ref());
    DescribeWorkflowExecutionResponse::decode(described.encode_to_vec().as_slice())
        .expect("the description decodes");
    let second = h.poll_activity().await;
    assert_eq!(second.attempt, 2);
    h.activity_completed(&second.task_token).await.unwrap();
    let events = h.events("deep-retry").await;
    let last_failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::ActivityTaskStartedEventAttributes(a)) => a.last_failure.as_ref(),
        _ => None,
    });
    assert_cut(last_failure);
    finish(&h, "deep-retry").await;
}

#[tokio::test]
async fn a_deep_workflow_failure_is_cut_and_the_closed_history_reads() {
    let h = Harness::new();
    h.start("deep-fail").await;
    let task = h.poll_wft().await;
    let fail = Command {
        command_type: CommandType::FailWorkflowExecution as i32,
        attributes: Some(CommandAttributes::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(chain(DEEP)),
            },
        )),
        ..Default::default()
    };
    h.complete(&task, vec![fail]).await.expect("accepted");
    let info = h.describe("deep-fail").await.workflow_execution_info;
    assert_eq!(info.unwrap().status, WorkflowExecutionStatus::Failed as i32);
    // A closed run's history comes from the store.
    let events = h.events("deep-fail").await;
    assert_decodes(&events);
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::WorkflowExecutionFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_cut(failure);
}

#[tokio::test]
async fn a_deep_marker_failure_is_cut_and_the_run_goes_on() {
    let h = Harness::new();
    h.start("deep-marker").await;
    let task = h.poll_wft().await;
    let marker = Command {
        command_type: CommandType::RecordMarker as i32,
        attributes: Some(CommandAttributes::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: "side-effect".into(),
                failure: Some(chain(DEEP)),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let timer = start_timer("t1", 1);
    h.complete(&task, vec![marker, timer]).await.unwrap();
    let events = h.events("deep-marker").await;
    assert_decodes(&events);
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::MarkerRecordedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_cut(failure);
    finish(&h, "deep-marker").await;
}

#[tokio::test]
async fn after_deep_failures_the_sqlite_file_opens_again_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.db");
    {
        let h = Harness::on(Engine::open_sqlite(&path, config()).unwrap());
        h.start("deep-file").await;
        let task = h.poll_wft().await;
        let req = RespondWorkflowTaskFailedRequest {
            namespace: NS.into(),
            task_token: task.task_token.clone(),
            failure: Some(chain(DEEP)),
            identity: "test-worker".into(),
            ..Default::default()
        };
        h.engine
            .respond_workflow_task_failed(Request::new(req))
            .await
            .unwrap();
        let task = h.poll_wft().await;
        h.complete(&task, vec![failed_activity_schedule("a1", 3)])
            .await
            .unwrap();
        h.poll_activity().await;
        let req = RespondActivityTaskFailedByIdRequest {
            namespace: NS.into(),
            workflow_id: "deep-file".into(),
            activity_id: "a1".into(),
            failure: Some(chain(DEEP)),
            identity: "test-activity-worker".into(),
            ..Default::default()
        };
        h.engine
            .respond_activity_task_failed_by_id(Request::new(req))
            .await
            .unwrap();
    }
    let h = Harness::on(Engine::open_sqlite(&path, config()).expect("the file opens"));
    let events = h.events("deep-file").await;
    assert_decodes(&events);
    let described = h.describe("deep-file").await;
    assert_cut(
        described
            .pending_activities
            .first()
            .and_then(|a| a.last_failure.as_ref()),
    );
    let act = h.poll_activity().await;
    h.activity_completed(&act.task_token).await.unwrap();
    finish(&h, "deep-file").await;
}

#[tokio::test]
async fn the_failure_depth_limit_is_configurable_within_bounds() {
    let mut cfg = config();
    cfg.limits.max_failure_depth = 3;
    let h = Harness::on(Engine::in_memory(cfg));
    h.start("shallow").await;
    let task = h.poll_wft().await;
    let req = RespondWorkflowTaskFailedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        failure: Some(chain(10)),
        ..Default::default()
    };
    h.engine
        .respond_workflow_task_failed(Request::new(req))
        .await
        .unwrap();
    let events = h.events("shallow").await;
    let failure = events.iter().find_map(|e| match &e.attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    let (n, last) = measure(failure.expect("kept"));
    assert_eq!(n, 3);
    assert!(last.message.contains("7 deeper cause"), "{}", last.message);
    // A chain that already fits is kept as it is.
    let task = h.poll_wft().await;
    let req = RespondWorkflowTaskFailedRequest {
        namespace: NS.into(),
        task_token: task.task_token.clone(),
        failure: Some(chain(3)),
        ..Default::default()
    };
    h.engine
        .respond_workflow_task_failed(Request::new(req))
        .await
        .unwrap();
    let events = h.events("shallow").await;
    let last_failed = events.iter().rev().find_map(|e| match &e.attributes {
        Some(EventAttributes::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref(),
        _ => None,
    });
    assert_eq!(last_failed, Some(&chain(3)));
    for depth in [0, 33, 1000] {
        let mut cfg = config();
        cfg.limits.max_failure_depth = depth;
        let err = Engine::with_store(Arc::new(crate::store::MemoryStore::new()), cfg)
            .expect_err("an unusable depth is refused");
        assert!(err.to_string().contains("max_failure_depth"), "{err}");
    }
}
