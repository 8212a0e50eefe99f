//! Task queues are held only while they have a poller or a task: polling many distinct names
//! (as SDK workers do with their per-process sticky queues) leaves nothing behind, and a poll
//! still gets a task that arrives while it waits.

use super::*;
use futures::future::{Either, join_all};

fn quick_polls() -> EngineConfig {
    EngineConfig {
        long_poll_timeout: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

async fn poll_wft_on(engine: &Engine, name: &str) -> PollWorkflowTaskQueueResponse {
    let req = PollWorkflowTaskQueueRequest {
        namespace: NS.into(),
        task_queue: queue(name),
        identity: "queue-test".into(),
        ..Default::default()
    };
    let resp = engine.poll_workflow_task_queue(Request::new(req)).await;
    resp.expect("poll workflow task").into_inner()
}

async fn poll_activity_on(engine: &Engine, name: &str) -> PollActivityTaskQueueResponse {
    let req = PollActivityTaskQueueRequest {
        namespace: NS.into(),
        task_queue: queue(name),
        identity: "queue-test".into(),
        ..Default::default()
    };
    let resp = engine.poll_activity_task_queue(Request::new(req)).await;
    resp.expect("poll activity task").into_inner()
}

fn queue_count(engine: &Engine) -> usize {
    engine.core().state.lock().queue_count()
}

/// Waits (bounded) until the engine holds `n` queues: pollers registered, or tasks waiting.
async fn until_queues(engine: &Engine, n: usize) {
    for _ in 0..2000 {
        if queue_count(engine) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the engine holds {} task queues, expected {n}",
        queue_count(engine)
    );
}

#[tokio::test]
async fn polls_of_many_queue_names_leave_no_queue_behind() {
    let engine = Engine::in_memory(quick_polls());
    let names: Vec<String> = (0..300)
        .map(|i| format!("sticky-{i}-{}", "x".repeat(500)))
        .collect();
    let workflow_polls = names.iter().map(|n| poll_wft_on(&engine, n));
    let activity_polls = names.iter().map(|n| poll_activity_on(&engine, n));
    let (wfts, acts) = tokio::join!(join_all(workflow_polls), join_all(activity_polls));
    assert!(wfts.iter().all(|r| r.task_token.is_empty()));
    assert!(acts.iter().all(|r| r.task_token.is_empty()));
    assert_eq!(
        queue_count(&engine),
        0,
        "empty polls left their queues behind"
    );
}

#[tokio::test]
async fn a_poll_dropped_while_it_waits_leaves_no_queue_behind() {
    let engine = Engine::in_memory(EngineConfig {
        long_poll_timeout: Duration::from_secs(60),
        ..EngineConfig::default()
    });
    for i in 0..50 {
        let name = format!("abandoned-{i}");
        let gave_up = tokio::time::timeout(Duration::from_millis(1), poll_wft_on(&engine, &name));
        assert!(gave_up.await.is_err(), "the poll should still be waiting");
        let gave_up =
            tokio::time::timeout(Duration::from_millis(1), poll_activity_on(&engine, &name));
        assert!(gave_up.await.is_err(), "the poll should still be waiting");
    }
    assert_eq!(
        queue_count(&engine),
        0,
        "dropped polls left their queues behind"
    );
}

#[tokio::test]
async fn a_poll_gets_a_task_that_arrives_while_it_waits() {
    let engine = Engine::in_memory(EngineConfig {
        long_poll_timeout: Duration::from_secs(60),
        ..EngineConfig::default()
    });
    let h = Harness::on(engine.clone());
    // Two pollers wait on a queue that holds nothing yet.
    let first = tokio::spawn({
        let engine = engine.clone();
        async move { poll_wft_on(&engine, QUEUE).await }
    });
    let second = tokio::spawn({
        let engine = engine.clone();
        async move { poll_wft_on(&engine, QUEUE).await }
    });
    until_queues(&engine, 1).await;
    // One task arrives: one poller takes it and leaves, the queue empties while the other
    // still waits, and a later task must still reach that one.
    h.start("arrives-first").await;
    let (done, waiting) = match futures::future::select(first, second).await {
        Either::Left(taken) | Either::Right(taken) => taken,
    };
    let got_first = done.expect("poller task").task_token;
    assert!(!got_first.is_empty());
    h.start("arrives-later").await;
    let got_second = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting poll was not woken by the second task")
        .expect("poller task");
    assert!(!got_second.task_token.is_empty());
    let ids: Vec<String> = [&got_first, &got_second.task_token]
        .into_iter()
        .map(|t| {
            super::super::token::TaskToken::decode(t, super::super::token::TaskKind::Workflow, NS)
                .expect("a task token")
                .workflow_id
        })
        .collect();
    assert!(ids.contains(&"arrives-first".to_string()));
    assert!(ids.contains(&"arrives-later".to_string()));
    assert_eq!(queue_count(&engine), 0);
}

#[tokio::test]
async fn a_task_waiting_for_a_poller_keeps_its_queue() {
    let engine = Engine::in_memory(quick_polls());
    let h = Harness::on(engine.clone());
    h.start("queued").await;
    assert_eq!(queue_count(&engine), 1, "the queue holds a task");
    // Empty polls of other queues come and go; the task stays where it is.
    for i in 0..20 {
        poll_wft_on(&engine, &format!("other-{i}")).await;
    }
    assert_eq!(queue_count(&engine), 1);
    let task = poll_wft_on(&engine, QUEUE).await;
    assert!(!task.task_token.is_empty());
    assert_eq!(queue_count(&engine), 0);
}
