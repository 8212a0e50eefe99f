//! Many runs at once on the SQLite engine: group commit, long polls and queues under
//! concurrency, and the engine used as `Arc<dyn WorkflowService>`.

use super::*;
use crate::proto::enums::EventType as E;
use std::sync::Arc;

fn assert_service<T: WorkflowService + Clone + Send + Sync + 'static>() {}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_runs_concurrently() {
    assert_service::<Engine>();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_sqlite(dir.path().join("load.db"), config()).unwrap();
    let service: Arc<dyn WorkflowService> = Arc::new(engine.clone());
    let h = Arc::new(Harness::on(engine));
    const RUNS: usize = 40;
    let mut starts = Vec::new();
    for i in 0..RUNS {
        let h = Arc::clone(&h);
        starts.push(tokio::spawn(
            async move { h.start(&format!("load-{i}")).await },
        ));
    }
    for s in starts {
        s.await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let wf = Arc::clone(&h);
        workers.push(tokio::spawn(async move {
            let h = wf;
            loop {
                let task = h.try_poll_wft().await;
                if task.task_token.is_empty() {
                    return;
                }
                let events = task.history.clone().unwrap_or_default().events;
                let done = events
                    .iter()
                    .any(|e| event_type(e) == E::ActivityTaskCompleted);
                let commands = if done {
                    vec![complete_workflow()]
                } else {
                    vec![schedule_activity("1", "work", 0)]
                };
                h.complete(&task, commands).await.unwrap();
            }
        }));
        let acts = Arc::clone(&h);
        workers.push(tokio::spawn(async move {
            let h = acts;
            loop {
                let act = h.try_poll_activity().await;
                if act.task_token.is_empty() {
                    return;
                }
                h.activity_completed(&act.task_token).await.unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let count = CountWorkflowExecutionsRequest {
        namespace: NS.into(),
        query: "ExecutionStatus = 'Completed'".into(),
    };
    let counted = service
        .count_workflow_executions(Request::new(count))
        .await
        .unwrap();
    assert_eq!(counted.get_ref().count, RUNS as i64);
    assert_eq!(h.types("load-7").await.len(), 11);
}
