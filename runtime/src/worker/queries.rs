//! Queries in the worker: those attached to a workflow task, answered after the task's
//! activation in its completion, and query tasks (a poll response with `query` set), answered
//! with `RespondQueryTaskCompleted` from the cached run or from a replay of the history the
//! task carries. Answering never sends a command, writes nothing, and leaves a cached run as
//! it was.

use super::history::{full_history, whole_history};
use super::inner::WorkerInner;
use super::runs::new_run;
use crate::failure::application_failure;
use crate::payload;
use crate::proto::EventAttributes;
use crate::proto::common::{Payload as RawPayload, WorkflowExecution};
use crate::proto::enums::QueryResultType;
use crate::proto::history::HistoryEvent;
use crate::proto::query::{WorkflowQuery, WorkflowQueryResult};
use crate::proto::service::{PollWorkflowTaskQueueResponse, RespondQueryTaskCompletedRequest};
use crate::workflow::executor::WorkflowRun;
use std::collections::HashMap;

/// The answers to the queries a workflow task carried, by query id, from the run's state after
/// the task's activation. Each query is answered on its own; none changes the run.
pub(super) fn answer_attached(
    run: &WorkflowRun,
    queries: &HashMap<String, WorkflowQuery>,
) -> HashMap<String, WorkflowQueryResult> {
    // A query cannot change the run, so the order does not change any answer; by id keeps
    // logs and tests repeatable.
    let mut ids: Vec<&String> = queries.keys().collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let query = &queries[id];
            let result = query_result(answer(run, query));
            (id.clone(), result)
        })
        .collect()
}

/// Answers a query task: from the cached run when it has handled exactly the workflow tasks
/// the history records as completed, otherwise from a run rebuilt by replaying that history.
pub(super) async fn handle_query_task(w: &WorkerInner, mut task: PollWorkflowTaskQueueResponse) {
    let Some(query) = task.query.take() else {
        return;
    };
    let execution = task.workflow_execution.clone().unwrap_or_default();
    // The server names the last completed task: a cached run that handled exactly that far
    // answers without the rest of a long history being read.
    let cached = match task.previous_started_event_id {
        0 => None,
        last_completed => answer_cached(w, &execution, last_completed, &query),
    };
    let outcome = match cached {
        Some(answer) => answer,
        None => match full_history(w, &mut task).await {
            Ok(history) => {
                let last_completed = last_completed_task(&history, task.previous_started_event_id);
                answer_task(w, &execution, history, last_completed, &query).await
            }
            Err(status) => Err(format!(
                "could not read the history of workflow `{}` to answer query `{}`: {status}",
                execution.workflow_id, query.query_type
            )),
        },
    };
    if let Err(message) = &outcome {
        tracing::debug!(workflow_id = %execution.workflow_id, query = %query.query_type, "query failed: {message}");
    }
    let answered = outcome.is_ok();
    let status = match respond(w, &task.task_token, query_result(outcome)).await {
        Ok(()) => return,
        Err(status) => status,
    };
    // An answer the server refuses (over its payload limit, say) would leave the caller
    // waiting for the query timeout: tell it why instead.
    if answered && status.code() == tonic::Code::InvalidArgument {
        let message = format!(
            "the server refused the answer to query `{}`: {}",
            query.query_type,
            status.message()
        );
        match respond(w, &task.task_token, query_result(Err(message))).await {
            Ok(()) => return,
            Err(again) => {
                tracing::debug!(workflow_id = %execution.workflow_id, "query failure not taken: {again}");
                return;
            }
        }
    }
    // The caller stopped waiting, or the engine gave up on the query.
    tracing::debug!(workflow_id = %execution.workflow_id, "query answer not taken: {status}");
}

/// Sends the outcome of the query task with `token`.
async fn respond(
    w: &WorkerInner,
    token: &[u8],
    result: WorkflowQueryResult,
) -> Result<(), tonic::Status> {
    let req = RespondQueryTaskCompletedRequest {
        task_token: token.to_vec(),
        completed_type: result.result_type,
        query_result: result.answer,
        error_message: result.error_message,
        namespace: w.namespace.clone(),
        failure: result.failure,
        ..Default::default()
    };
    w.service
        .respond_query_task_completed(tonic::Request::new(req))
        .await
        .map(drop)
}

/// The answer to `query` from the run whose last completed workflow task started at event
/// `last_completed`.
async fn answer_task(
    w: &WorkerInner,
    execution: &WorkflowExecution,
    history: Vec<HistoryEvent>,
    last_completed: i64,
    query: &WorkflowQuery,
) -> Result<Vec<RawPayload>, String> {
    if let Some(answer) = answer_cached(w, execution, last_completed, query) {
        return answer;
    }
    if last_completed <= 0 {
        return Err(format!(
            "workflow `{}` has completed no workflow task: there is no state to answer query `{}` from",
            execution.workflow_id, query.query_type
        ));
    }
    // A sticky query task carries only the newest events: read the rest.
    let history = match history.first().map(|e| e.event_id) {
        Some(first) if first > 1 => whole_history(w, execution, 0).await.map_err(|status| {
            format!(
                "could not read the history of workflow `{}` to answer query `{}`: {status}",
                execution.workflow_id, query.query_type
            )
        })?,
        _ => history,
    };
    let mut run = new_run(w, execution, &history)?;
    run.replay_for_query(&history, last_completed)
        .map_err(|e| {
            format!(
                "could not replay workflow `{}` to answer query `{}`: {e}",
                execution.workflow_id, query.query_type
            )
        })?;
    answer(&run, query)
}

/// The answer from the cached run, when the cache holds one that has handled exactly the
/// workflow tasks up to the one started at `last_completed`; the run stays cached either way.
pub(super) fn answer_cached(
    w: &WorkerInner,
    execution: &WorkflowExecution,
    last_completed: i64,
    query: &WorkflowQuery,
) -> Option<Result<Vec<RawPayload>, String>> {
    let run = w.cache.take(&execution.run_id)?;
    // Behind or ahead of the history the task stands for: a replay answers instead.
    let answer = (run.processed() == last_completed).then(|| answer(&run, query));
    w.cache.put_back(
        execution.run_id.clone(),
        run,
        w.options.max_cached_workflows,
    );
    answer
}

/// The `WorkflowTaskStarted` event id of the last workflow task `history` records as
/// completed, or `previous_started` (the task's own say) when the history shows none.
fn last_completed_task(history: &[HistoryEvent], previous_started: i64) -> i64 {
    history
        .iter()
        .rev()
        .find_map(|e| match &e.attributes {
            Some(EventAttributes::WorkflowTaskCompletedEventAttributes(a)) => {
                Some(a.started_event_id)
            }
            _ => None,
        })
        .unwrap_or(previous_started)
}

fn answer(run: &WorkflowRun, query: &WorkflowQuery) -> Result<Vec<RawPayload>, String> {
    run.answer_query(&query.query_type, payload::payload_list(&query.query_args))
}

/// A query's outcome as the wire carries it: the answer, or the failure's message (in both
/// `error_message` and `failure`, for servers and SDKs that read either).
fn query_result(outcome: Result<Vec<RawPayload>, String>) -> WorkflowQueryResult {
    match outcome {
        Ok(answer) => WorkflowQueryResult {
            result_type: QueryResultType::Answered as i32,
            answer: Some(crate::proto::common::Payloads { payloads: answer }),
            ..Default::default()
        },
        Err(message) => WorkflowQueryResult {
            result_type: QueryResultType::Failed as i32,
            failure: Some(application_failure(&message, "QueryFailed", true)),
            error_message: message,
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    //! Which path answers a query, seen from the service the worker talks to: a query that
    //! reaches the engine while the run's workflow task is due rides that task, one to an idle
    //! run is a query task of its own.

    use crate::definition::{BoxFuture, WorkflowDefinition};
    use crate::error::WorkflowError;
    use crate::message::{Query, Signal};
    use crate::payload::PayloadError;
    use crate::proto::common::Payload as RawPayload;
    use crate::proto::service::*;
    use crate::proto::{RpcResult, ServiceHandle, WorkflowService};
    use crate::{Embedded, StartOptions, Worker, WorkflowContext};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const ADD: Signal<u32> = Signal::new("add");
    const COUNT: Query<(), u32> = Query::new("count");
    const ADD_NOW: crate::message::Update<u32, u32> = crate::message::Update::new("add_now");

    /// How many times each run's body started: once, unless a worker replayed it.
    static STARTS: parking_lot::Mutex<std::collections::BTreeMap<String, usize>> =
        parking_lot::Mutex::new(std::collections::BTreeMap::new());

    /// Adds up the `add` signals, answering `count`.
    struct Counter;
    impl WorkflowDefinition for Counter {
        type Input = ();
        type Output = u32;
        const NAME: &'static str = "counter";
        fn encode_input(_: &()) -> Result<Vec<RawPayload>, PayloadError> {
            Ok(Vec::new())
        }
        fn decode_input(_: &[RawPayload]) -> Result<(), PayloadError> {
            Ok(())
        }
        fn execute(ctx: WorkflowContext, (): ()) -> BoxFuture<Result<u32, WorkflowError>> {
            Box::pin(async move {
                *STARTS.lock().entry(ctx.info().run_id).or_default() += 1;
                let count = ctx.state(0u32);
                ctx.on_query(COUNT, {
                    let count = count.clone();
                    move |()| Ok::<_, String>(count.get())
                });
                ctx.on_update(ADD_NOW, |n: u32| async move { Ok::<_, String>(n) })
                    .validator(|_: &u32| Err::<(), _>("adding now is closed"));
                let mut adds = ctx.signal_channel(ADD);
                loop {
                    let n = adds.recv().await?;
                    count.update(|c| *c += n);
                }
            })
        }
    }

    /// The engine, counting the answers the worker gives on each path.
    struct Counting {
        inner: ServiceHandle,
        attached: AtomicUsize,
        query_tasks: AtomicUsize,
        history_reads: AtomicUsize,
    }

    #[tonic::async_trait]
    impl WorkflowService for Counting {
        async fn poll_workflow_task_queue(
            &self,
            r: tonic::Request<PollWorkflowTaskQueueRequest>,
        ) -> RpcResult<PollWorkflowTaskQueueResponse> {
            self.inner.poll_workflow_task_queue(r).await
        }
        async fn poll_activity_task_queue(
            &self,
            r: tonic::Request<PollActivityTaskQueueRequest>,
        ) -> RpcResult<PollActivityTaskQueueResponse> {
            self.inner.poll_activity_task_queue(r).await
        }
        async fn get_workflow_execution_history(
            &self,
            r: tonic::Request<GetWorkflowExecutionHistoryRequest>,
        ) -> RpcResult<GetWorkflowExecutionHistoryResponse> {
            self.history_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_workflow_execution_history(r).await
        }
        async fn respond_workflow_task_completed(
            &self,
            r: tonic::Request<RespondWorkflowTaskCompletedRequest>,
        ) -> RpcResult<RespondWorkflowTaskCompletedResponse> {
            let answers = r.get_ref().query_results.len();
            self.attached.fetch_add(answers, Ordering::SeqCst);
            self.inner.respond_workflow_task_completed(r).await
        }
        async fn respond_workflow_task_failed(
            &self,
            r: tonic::Request<RespondWorkflowTaskFailedRequest>,
        ) -> RpcResult<RespondWorkflowTaskFailedResponse> {
            self.inner.respond_workflow_task_failed(r).await
        }
        async fn respond_query_task_completed(
            &self,
            r: tonic::Request<RespondQueryTaskCompletedRequest>,
        ) -> RpcResult<RespondQueryTaskCompletedResponse> {
            self.query_tasks.fetch_add(1, Ordering::SeqCst);
            self.inner.respond_query_task_completed(r).await
        }
    }

    fn worker(service: &Arc<Counting>) -> (Worker, tokio::task::JoinHandle<()>) {
        let handle: ServiceHandle = service.clone();
        let worker = Worker::builder(handle, "q").workflow(Counter).build();
        let runner = tokio::spawn({
            let w = worker.clone();
            async move { w.run().await }
        });
        (worker, runner)
    }

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..30_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{what} did not happen");
    }

    fn counting(rt: &Embedded) -> Arc<Counting> {
        Arc::new(Counting {
            inner: rt.service(),
            attached: AtomicUsize::new(0),
            query_tasks: AtomicUsize::new(0),
            history_reads: AtomicUsize::new(0),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_rides_the_task_due_and_an_idle_run_gets_a_query_task() {
        let rt = Embedded::builder().in_memory().start().await.unwrap();
        let client = rt.client();
        let service = counting(&rt);
        let (first, runner) = worker(&service);
        let h = client
            .start_workflow(Counter, (), StartOptions::new("wf", "q"))
            .await
            .unwrap();
        wait_for("the first task", || first.inner.cache.holds(&h.run_id)).await;
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 0);
        assert_eq!(service.query_tasks.load(Ordering::SeqCst), 1);
        first.shutdown();
        runner.await.unwrap();

        // No worker: the signal's task is due, and the query waits in the engine for it.
        h.signal(ADD, 5).await.unwrap();
        let asked = tokio::spawn({
            let h = h.clone();
            async move { h.query(COUNT, ()).await }
        });
        let engine = rt.engine();
        wait_for("the query reaching the engine", || {
            engine.core().state.lock().queries.has_run(&h.run_id)
        })
        .await;
        let (second, runner) = worker(&service);
        assert_eq!(
            asked.await.unwrap().unwrap(),
            5,
            "the answer after the signal"
        );
        assert_eq!(service.attached.load(Ordering::SeqCst), 1, "rode the task");
        assert_eq!(service.query_tasks.load(Ordering::SeqCst), 1);
        second.shutdown();
        runner.await.unwrap();
        rt.shutdown().await;
    }

    /// A task that only rejected an update rides a speculative task the engine drops: the
    /// history loses the events the cached run applied last, so the worker drops the run (it
    /// is rebuilt from the history on its next task), and the run goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_speculative_task_evicts_the_cached_run() {
        let rt = Embedded::builder().in_memory().start().await.unwrap();
        let client = rt.client();
        let service = counting(&rt);
        let (worker, runner) = worker(&service);
        let h = client
            .start_workflow(Counter, (), StartOptions::new("wf", "q"))
            .await
            .unwrap();
        h.signal(ADD, 2).await.unwrap();
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 2);
        wait_for("the run in the cache", || {
            worker.inner.cache.holds(&h.run_id)
        })
        .await;
        let before = client.history("wf", None).await.unwrap().len();
        let refused = h.update(ADD_NOW, 1).await.unwrap_err();
        assert!(
            refused.to_string().contains("adding now is closed"),
            "{refused}"
        );
        assert_eq!(client.history("wf", None).await.unwrap().len(), before);
        wait_for("the cached run dropped", || {
            !worker.inner.cache.holds(&h.run_id)
        })
        .await;
        h.signal(ADD, 3).await.unwrap();
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 5, "rebuilt, and on");
        worker.shutdown();
        runner.await.unwrap();
        rt.shutdown().await;
    }

    /// Query tasks answered from the cached run leave it cached and as it was: the run's next
    /// task resumes it instead of replaying the history.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_tasks_leave_the_cached_run_in_the_cache_and_unchanged() {
        let rt = Embedded::builder().in_memory().start().await.unwrap();
        let client = rt.client();
        let service = counting(&rt);
        let (worker, runner) = worker(&service);
        let h = client
            .start_workflow(Counter, (), StartOptions::new("wf", "q"))
            .await
            .unwrap();
        h.signal(ADD, 2).await.unwrap();
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 2);
        // The answer may come before the worker put the run back in its cache.
        wait_for("the run in the cache", || {
            worker.inner.cache.holds(&h.run_id)
        })
        .await;
        let starts = STARTS.lock().get(&h.run_id).copied();
        let tasks_before = service.query_tasks.load(Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(h.query(COUNT, ()).await.unwrap(), 2);
            assert!(worker.inner.cache.holds(&h.run_id), "still cached");
        }
        assert_eq!(
            service.query_tasks.load(Ordering::SeqCst),
            tasks_before + 3,
            "an idle run's queries are query tasks"
        );
        h.signal(ADD, 3).await.unwrap();
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 5);
        assert_eq!(
            STARTS.lock().get(&h.run_id).copied(),
            starts,
            "the queries and the signal's task found the run in the cache: no replay started \
             the body again"
        );
        worker.shutdown();
        runner.await.unwrap();
        rt.shutdown().await;
    }

    /// A query task to a run the worker has cached answers from the cache without reading
    /// the pages of history the task did not carry.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_run_answers_without_reading_the_rest_of_a_long_history() {
        let mut config = crate::engine::EngineConfig::default();
        config.limits.poll_history_page_events = 2;
        let rt = Embedded::builder()
            .in_memory()
            .engine_config(config)
            .start()
            .await
            .unwrap();
        let client = rt.client();
        let service = counting(&rt);
        let (worker, runner) = worker(&service);
        let h = client
            .start_workflow(Counter, (), StartOptions::new("wf", "q"))
            .await
            .unwrap();
        for n in 1..=3 {
            h.signal(ADD, n).await.unwrap();
        }
        // A history of a dozen events, in pages of two.
        let mut total = 0;
        for _ in 0..1_000 {
            total = h.query(COUNT, ()).await.unwrap();
            if total == 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(total, 6, "every signal's task ran");
        wait_for("the run in the cache", || {
            worker.inner.cache.holds(&h.run_id)
        })
        .await;
        let reads = service.history_reads.load(Ordering::SeqCst);
        assert_eq!(h.query(COUNT, ()).await.unwrap(), 6);
        assert_eq!(service.history_reads.load(Ordering::SeqCst), reads);
        worker.shutdown();
        runner.await.unwrap();
        rt.shutdown().await;
    }

    /// An answer over the server's payload limit fails the query with the server's reason,
    /// instead of leaving the caller to wait for the query timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_the_server_refuses_fails_the_query_saying_why() {
        const BIG: Query<(), String> = Query::new("big");
        struct Big;
        impl WorkflowDefinition for Big {
            type Input = ();
            type Output = ();
            const NAME: &'static str = "big";
            fn encode_input(_: &()) -> Result<Vec<RawPayload>, PayloadError> {
                Ok(Vec::new())
            }
            fn decode_input(_: &[RawPayload]) -> Result<(), PayloadError> {
                Ok(())
            }
            fn execute(ctx: WorkflowContext, (): ()) -> BoxFuture<Result<(), WorkflowError>> {
                Box::pin(async move {
                    let text = ctx.state("x".repeat(4_000));
                    ctx.on_query(BIG, text.reader());
                    ctx.cancelled().await;
                    Ok(())
                })
            }
        }
        let mut config = crate::engine::EngineConfig::default();
        config.limits.max_payload_bytes = 1_000;
        config.query_timeout = Duration::from_secs(60);
        let rt = Embedded::builder()
            .in_memory()
            .engine_config(config)
            .start()
            .await
            .unwrap();
        let worker = rt.worker_builder("q").workflow(Big).build();
        let runner = tokio::spawn({
            let w = worker.clone();
            async move { w.run().await }
        });
        let h = rt
            .client()
            .start_workflow(Big, (), StartOptions::new("wf", "q"))
            .await
            .unwrap();
        wait_for("the first task", || worker.inner.cache.holds(&h.run_id)).await;
        let outcome = tokio::time::timeout(Duration::from_secs(30), h.query(BIG, ()))
            .await
            .expect("the query is answered well before its timeout");
        match outcome {
            Err(crate::ClientError::QueryFailed { message, .. }) => assert!(
                message.starts_with("the server refused the answer to query `big`:")
                    && message.contains("1000"),
                "{message}"
            ),
            other => panic!("expected a failed query, got {other:?}"),
        }
        worker.shutdown();
        runner.await.unwrap();
        rt.shutdown().await;
    }
}
