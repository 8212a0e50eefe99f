//! Queries end to end, the same scenarios on three backends: the embedded engine (in memory, in
//! this process), `dacapo server` (the binary, in memory, one per test process) and the
//! Temporal dev server. Each scenario checks the same answers and failures on all three, and
//! that queries leave the history as it was. Then the `temporal` CLI, `dacapo workflow query`
//! and the Python client query a dacapo workflow on `dacapo server`, and a dacapo client
//! queries a workflow of Temporal's Python SDK.
//!
//! Needs `temporal` on PATH (scripts/test installs it).

use dacapo::prelude::*;
use dacapo::{Client, ClientError, QueryReject, StartOptions, WorkflowHandle, WorkflowStatus};
use dacapo_tests::backends::{
    Backend, Env, RunningWorker, WFT, dacapo_server_address, grpc_address, history, wait_for_count,
    within,
};
use dacapo_tests::procs::{binaries, python_client, run, tool};
use dacapo_tests::{assert_same_lists, event_types, names};
use std::fmt;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The messages and the workflow under test.

/// Adds an item to the cart.
pub const ADD_ITEM: Signal<String> = Signal::new("add_item");
/// Closes the cart: the workflow returns its items.
pub const CHECKOUT: Signal<()> = Signal::new("checkout");
/// The items so far.
pub const ITEMS: Query<(), Vec<String>> = Query::new("items");
/// The item at an index; fails for an index past the end.
pub const ITEM: Query<usize, String> = Query::new("item");
/// Tries to empty the cart from a query handler, which a query may not do.
pub const EMPTY: Query<(), usize> = Query::new("empty");

/// Collects items until checkout, answering queries about them.
#[workflow]
async fn cart(ctx: WorkflowContext) -> WorkflowResult<Vec<String>> {
    let items = ctx.state(Vec::<String>::new());
    ctx.on_query(ITEMS, {
        let items = items.clone();
        move |()| Ok::<_, String>(items.get())
    });
    ctx.on_query(ITEM, {
        let items = items.clone();
        move |i: usize| {
            items
                .with(|v| v.get(i).cloned())
                .ok_or_else(|| format!("no item {i}: the cart holds {}", items.with(Vec::len)))
        }
    });
    ctx.on_query(EMPTY, {
        let items = items.clone();
        move |()| empty_the_cart(&items)
    });
    let mut adds = ctx.signal_channel(ADD_ITEM);
    let mut checkout = ctx.signal_channel(CHECKOUT);
    loop {
        dacapo::select! {
            item = adds.recv() => {
                let item = item?;
                items.update(|v| v.push(item));
            }
            done = checkout.recv() => {
                done?;
                return Ok(items.get());
            }
        }
    }
}

/// `cart` after a change that breaks replay: it sleeps before it reads anything.
#[workflow(name = "cart")]
async fn cart_changed(ctx: WorkflowContext) -> WorkflowResult<Vec<String>> {
    ctx.on_query(ITEMS, |()| Ok::<_, String>(Vec::new()));
    ctx.sleep(Duration::from_secs(1)).await?;
    Ok(Vec::new())
}

/// What a query handler must not do, out of the macro's sight: the run refuses it at run time.
fn empty_the_cart(items: &dacapo::WorkflowState<Vec<String>>) -> Result<usize, String> {
    items.set(Vec::new());
    Ok(0)
}

/// A worker polling `queue` with the cart.
fn start_worker(env: &Env, queue: &str) -> RunningWorker {
    env.worker_with(queue, |b| b.workflow(cart))
}

/// Starts a cart (its id made of `what`) on a queue of its own with a worker polling it; returns
/// its id, the worker and a handle.
async fn start_cart(env: &Env, what: &str) -> (String, RunningWorker, WorkflowHandle<Vec<String>>) {
    let id = env.unique(what);
    let worker = start_worker(env, &id);
    let h = env
        .client
        .start_workflow(cart, (), StartOptions::new(&id, &id))
        .await
        .unwrap();
    (id, worker, h)
}

/// The message of a failed query, or a panic naming what came instead.
fn query_failure<T: fmt::Debug>(what: &str, outcome: Result<T, ClientError>) -> String {
    match outcome {
        Err(ClientError::QueryFailed { message, .. }) => message,
        other => panic!("{what}: expected a failed query, got {other:?}"),
    }
}

/// The history of a cart that got `signals` signals, each in a workflow task of its own, and
/// is still open.
fn open_cart_history(signals: usize) -> Vec<String> {
    let mut parts: Vec<&[&str]> = vec![&["WorkflowExecutionStarted"], &WFT];
    for _ in 0..signals {
        parts.push(&["WorkflowExecutionSignaled"]);
        parts.push(&WFT);
    }
    names(&parts.concat())
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

/// Queries on an open run answer from the state the signals so far made, from the cached run
/// and, after a worker restart, from a replay; on the closed run from a replay of its
/// history. Failures (the handler's error, an unknown name, `__stack_trace`, arguments that
/// do not decode, a handler that tries to change the run) change nothing, and no query
/// writes to the history.
async fn queries_on_an_open_and_a_closed_run(env: &Env) {
    let what = format!("queries on {}", env.backend);
    let (id, worker, h) = start_cart(env, "cart").await;
    let client = &env.client;
    wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
    let items = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(h.query(ITEMS, ()).await.unwrap(), items(&[]), "{what}");
    h.signal(ADD_ITEM, "apple".to_string()).await.unwrap();
    wait_for_count(client, &id, "WorkflowTaskCompleted", 2).await;
    let before = history(client, &id).await;
    assert_eq!(
        h.query(ITEMS, ()).await.unwrap(),
        items(&["apple"]),
        "{what}"
    );
    assert_eq!(h.query(ITEM, 0).await.unwrap(), "apple", "{what}");

    let failed = query_failure(&what, h.query(ITEM, 5).await);
    assert_eq!(failed, "no item 5: the cart holds 1", "{what}");
    let unknown = query_failure(
        &what,
        client
            .query_workflow_raw(&id, None, "nope", Vec::new(), QueryReject::Never)
            .await,
    );
    assert_eq!(
        unknown, "unknown queryType nope. KnownQueryTypes=[empty, item, items]",
        "{what}"
    );
    let stack = query_failure(
        &what,
        client
            .query_workflow_raw(&id, None, "__stack_trace", Vec::new(), QueryReject::Never)
            .await,
    );
    assert!(stack.contains("not supported"), "{what}: {stack}");
    let metadata = client
        .query_workflow_raw(
            &id,
            None,
            "__temporal_workflow_metadata",
            Vec::new(),
            QueryReject::Never,
        )
        .await
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&metadata[0].data).unwrap();
    assert_eq!(
        metadata["definition"]["queryDefinitions"],
        serde_json::json!([{"name": "empty"}, {"name": "item"}, {"name": "items"}]),
        "{what}: {metadata}"
    );
    let not_an_index = dacapo::payload::encode("first").unwrap();
    let bad_args = query_failure(
        &what,
        client
            .query_workflow_raw(&id, None, "item", vec![not_an_index], QueryReject::Never)
            .await,
    );
    assert!(
        bad_args.contains("query `item`") && bad_args.contains("`usize`"),
        "{what}: {bad_args}"
    );
    let mutate = query_failure(&what, h.query(EMPTY, ()).await);
    assert_eq!(
        mutate,
        "a query handler cannot change workflow state (`WorkflowState::set`): queries must not \
         change the workflow (query `empty`)",
        "{what}"
    );
    assert_eq!(
        h.query(ITEMS, ()).await.unwrap(),
        items(&["apple"]),
        "{what}: the refused change left the cart as it was"
    );

    // A new worker has no cached run: it answers from a replay of the history.
    worker.stop().await;
    let worker = start_worker(env, &id);
    assert_eq!(
        h.query(ITEMS, ()).await.unwrap(),
        items(&["apple"]),
        "{what}"
    );
    assert_same_lists(
        &format!("{what}: the history before and after the queries"),
        ("before", &event_types(&before)),
        ("after", &event_types(&history(client, &id).await)),
    );
    assert_eq!(
        dacapo::proto::describe_history(&before),
        dacapo::proto::describe_history(&history(client, &id).await),
        "{what}"
    );

    // The worker keeps working after all of that: the run goes on and closes.
    h.signal(ADD_ITEM, "pear".to_string()).await.unwrap();
    wait_for_count(client, &id, "WorkflowTaskCompleted", 3).await;
    h.signal(CHECKOUT, ()).await.unwrap();
    let result = within(&what, Duration::from_secs(60), h.result()).await;
    assert_eq!(result.unwrap(), items(&["apple", "pear"]), "{what}");
    let closed = history(client, &id).await;
    let mut expected = open_cart_history(3);
    expected.push("WorkflowExecutionCompleted".to_string());
    assert_same_lists(
        &what,
        ("expected", &expected),
        (&env.backend.to_string(), &event_types(&closed)),
    );

    // The closed run: answered from a replay of its history, by this worker and by a new one.
    assert_eq!(
        h.query(ITEMS, ()).await.unwrap(),
        items(&["apple", "pear"]),
        "{what}"
    );
    let mutate = query_failure(&what, h.query(EMPTY, ()).await);
    assert!(mutate.contains("cannot change workflow state"), "{what}");
    worker.stop().await;
    let worker = start_worker(env, &id);
    assert_eq!(h.query(ITEM, 1).await.unwrap(), "pear", "{what}");

    // Reject conditions: the run completed, so it is not open but completed cleanly.
    let rejected = client
        .query_workflow_raw(&id, None, "items", Vec::new(), QueryReject::NotOpen)
        .await;
    assert!(
        matches!(
            rejected,
            Err(ClientError::QueryRejected {
                status: WorkflowStatus::Completed,
                ..
            })
        ),
        "{what}: {rejected:?}"
    );
    let clean = client
        .query_workflow_raw(
            &id,
            None,
            "items",
            Vec::new(),
            QueryReject::NotCompletedCleanly,
        )
        .await
        .unwrap();
    let clean: Vec<String> = dacapo::payload::decode(&clean, 0).unwrap();
    assert_eq!(clean, items(&["apple", "pear"]), "{what}");
    assert_eq!(
        dacapo::proto::describe_history(&closed),
        dacapo::proto::describe_history(&history(client, &id).await),
        "{what}: the queries of the closed run wrote nothing"
    );
    worker.stop().await;
}

/// A query that arrives while a workflow task is due rides that task: the answer includes
/// the signal the task delivers.
async fn a_query_waits_for_the_task_in_flight(env: &Env) {
    let what = format!("a query while a workflow task is due, on {}", env.backend);
    let (id, worker, h) = start_cart(env, "cart-busy").await;
    let client = &env.client;
    wait_for_count(client, &id, "WorkflowTaskCompleted", 1).await;
    worker.stop().await;
    // No worker: the signal's workflow task waits, and so does the query.
    h.signal(ADD_ITEM, "plum".to_string()).await.unwrap();
    let asked = tokio::spawn({
        let h = h.clone();
        async move { h.query(ITEMS, ()).await }
    });
    let worker = start_worker(env, &id);
    let answer = within(&what, Duration::from_secs(60), asked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, vec!["plum".to_string()], "{what}");
    assert_same_lists(
        &what,
        ("expected", &open_cart_history(1)),
        (
            &env.backend.to_string(),
            &event_types(&history(client, &id).await),
        ),
    );
    client.terminate_workflow(&id, None, "done").await.unwrap();
    // A terminated run did not complete cleanly.
    let rejected = client
        .query_workflow_raw(
            &id,
            None,
            "items",
            Vec::new(),
            QueryReject::NotCompletedCleanly,
        )
        .await;
    assert!(
        matches!(
            rejected,
            Err(ClientError::QueryRejected {
                status: WorkflowStatus::Terminated,
                ..
            })
        ),
        "{what}: {rejected:?}"
    );
    worker.stop().await;
}

/// A closed run whose history the worker's code no longer replays: the query fails saying
/// so, and the run's history is left as it was.
async fn a_query_the_worker_cannot_replay_for(env: &Env) {
    let what = format!("a query the code cannot replay for, on {}", env.backend);
    let (id, worker, h) = start_cart(env, "cart-changed").await;
    let client = &env.client;
    h.signal(CHECKOUT, ()).await.unwrap();
    let result = within(&what, Duration::from_secs(60), h.result()).await;
    assert_eq!(result.unwrap(), Vec::<String>::new(), "{what}");
    worker.stop().await;
    let before = history(client, &id).await;
    let changed = env.worker_with(&id, |b| b.workflow(cart_changed));
    let failed = query_failure(&what, h.query(ITEMS, ()).await);
    assert!(
        failed.contains("could not replay workflow")
            && failed.contains("non-deterministic")
            && failed.contains("query `items`"),
        "{what}: {failed}"
    );
    assert_eq!(
        dacapo::proto::describe_history(&before),
        dacapo::proto::describe_history(&history(client, &id).await),
        "{what}"
    );
    changed.stop().await;
}

async fn check_all(backend: Backend) {
    let env = Env::open(backend).await;
    within("the query scenarios", Duration::from_secs(240), async {
        queries_on_an_open_and_a_closed_run(&env).await;
        a_query_waits_for_the_task_in_flight(&env).await;
        a_query_the_worker_cannot_replay_for(&env).await;
    })
    .await;
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_on_the_embedded_engine() {
    check_all(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_on_dacapo_server() {
    check_all(Backend::DacapoServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_on_the_temporal_dev_server() {
    check_all(Backend::Temporal).await;
}

/// With no worker polling, the engine gives up after its query timeout with a message that
/// says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_no_worker_answers_times_out_with_a_clear_message() {
    let config = dacapo::engine::EngineConfig {
        query_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let env = Env::embedded(config).await;
    let (id, worker, h) = start_cart(&env, "cart-alone").await;
    wait_for_count(&env.client, &id, "WorkflowTaskCompleted", 1).await;
    worker.stop().await;
    let outcome = within(
        "the unanswered query",
        Duration::from_secs(30),
        h.query(ITEMS, ()),
    )
    .await;
    match outcome {
        Err(ClientError::Rpc { code, message }) => {
            assert_eq!(code, tonic::Code::DeadlineExceeded, "{message}");
            assert!(
                message.contains("was not answered") && message.contains("worker"),
                "{message}"
            );
        }
        other => panic!("expected DeadlineExceeded, got {other:?}"),
    }
    env.close().await;
}

/// `Embedded`'s own client answers a query to an idle run from the embedded worker's cached
/// run, after the engine's checks, without queueing it: with the engine's query queue closed
/// (`max_in_flight_queries` 0), it is answered, while a plain client of the same engine,
/// whose query is queued, is refused. The answer is the one a query task gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_client_answers_an_idle_runs_query_from_its_worker() {
    let mut config = dacapo::engine::EngineConfig::default();
    config.limits.max_in_flight_queries = 0;
    let rt = dacapo::Embedded::builder()
        .in_memory()
        .engine_config(config)
        .task_queue("local-queries")
        .workflow(cart)
        .start()
        .await
        .expect("the engine starts");
    let client = rt.client();
    let h = client
        .start_workflow(cart, (), StartOptions::new("local-cart", "local-queries"))
        .await
        .expect("start");
    wait_for_count(&client, "local-cart", "WorkflowTaskCompleted", 1).await;
    h.signal(ADD_ITEM, "tea".to_string()).await.expect("signal");
    wait_for_count(&client, "local-cart", "WorkflowTaskCompleted", 2).await;
    let items = h.query(ITEMS, ()).await.expect("answered in this process");
    assert_eq!(items, ["tea"]);
    match h.query(ITEM, 3).await {
        Err(ClientError::QueryFailed { message, .. }) => {
            assert_eq!(message, "no item 3: the cart holds 1");
        }
        other => panic!("expected the handler's failure, got {other:?}"),
    }
    // A request the engine refuses is not a failed query.
    match client
        .query_workflow_raw("local-cart", None, "", Vec::new(), QueryReject::Never)
        .await
    {
        Err(ClientError::InvalidArgument(message)) => {
            assert!(message.contains("query.query_type"), "{message}");
        }
        other => panic!("expected the request's refusal, got {other:?}"),
    }
    let plain = Client::new(rt.service());
    match plain.query_workflow("local-cart", None, ITEMS, ()).await {
        Err(ClientError::Rpc { code, .. }) => assert_eq!(code, tonic::Code::ResourceExhausted),
        other => panic!("expected the queue's refusal, got {other:?}"),
    }
    h.signal(CHECKOUT, ()).await.expect("checkout");
    assert_eq!(h.result().await.expect("result"), ["tea"]);
    // A closed run is not cached: its query is queued, and refused here.
    match h.query(ITEMS, ()).await {
        Err(ClientError::Rpc { code, .. }) => assert_eq!(code, tonic::Code::ResourceExhausted),
        other => panic!("expected the queue's refusal, got {other:?}"),
    }
    rt.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Clients nobody here wrote.

/// Runs the `temporal` CLI or ours (`dacapo`) with `args`; returns whether it succeeded and
/// its stdout and stderr.
async fn cli(program: std::path::PathBuf, args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&program, &args, Duration::from_secs(60));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("the CLI's thread panicked")
}

/// `temporal workflow query` and `dacapo workflow query`, with the same flags, get the same
/// answers from a dacapo workflow on `dacapo server`, and both report a failed query with the
/// handler's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporal_cli_and_ours_query_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let address = dacapo_server_address().await;
    let (id, worker, h) = start_cart(&env, "cli-query").await;
    h.signal(ADD_ITEM, "fig".to_string()).await.unwrap();
    // The query waits for the signal's task: the cart holds the fig when it answers.
    assert_eq!(h.query(ITEMS, ()).await.unwrap(), vec!["fig".to_string()]);
    let programs = [
        ("temporal", tool("temporal")),
        ("dacapo", binaries().join("dacapo")),
    ];
    for (name, program) in programs {
        let query = |extra: &[&str]| {
            let mut args = vec![
                "workflow",
                "query",
                "--workflow-id",
                &id,
                "--address",
                &address,
            ];
            args.extend_from_slice(extra);
            cli(
                program.clone(),
                args.iter().map(|s| s.to_string()).collect(),
            )
        };
        let (ok, items, err) = query(&["--name", "items", "-o", "json"]).await;
        assert!(ok, "{name}: {err}");
        let items: serde_json::Value = serde_json::from_str(&items).unwrap();
        assert_eq!(
            items["queryResult"],
            serde_json::json!([["fig"]]),
            "{name}: {items}"
        );
        let (ok, item, err) = query(&["--name", "item", "--input", "0", "-o", "json"]).await;
        assert!(ok, "{name}: {err}");
        let item: serde_json::Value = serde_json::from_str(&item).unwrap();
        assert_eq!(
            item["queryResult"],
            serde_json::json!(["fig"]),
            "{name}: {item}"
        );
        let (ok, out, err) = query(&["--name", "item", "--input", "9"]).await;
        assert!(
            !ok && err.contains("no item 9: the cart holds 1"),
            "{name}: a failed query:\n{out}{err}"
        );
    }
    // The workflow's definition, as Temporal's tools ask for it; the CLI decodes it as the
    // proto message it is.
    let args = [
        "workflow",
        "metadata",
        "--workflow-id",
        &id,
        "--address",
        &address,
        "-o",
        "json",
    ];
    let (ok, metadata, err) = cli(
        tool("temporal"),
        args.iter().map(|s| s.to_string()).collect(),
    )
    .await;
    assert!(ok, "temporal workflow metadata: {err}");
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).unwrap_or_else(|e| panic!("{e}: {metadata}"));
    assert_eq!(
        metadata["queryResult"][0]["definition"],
        serde_json::json!({
            "type": "cart",
            "queryDefinitions": [{"name": "empty"}, {"name": "item"}, {"name": "items"}],
            "signalDefinitions": [{"name": "add_item"}, {"name": "checkout"}],
        }),
        "{metadata}"
    );
    worker.stop().await;
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_queries_a_dacapo_workflow_on_dacapo_server() {
    let env = Env::open(Backend::DacapoServer).await;
    let id = env.unique("python-queries");
    let worker = start_worker(&env, &id);
    let address = dacapo_server_address().await;
    let seen = python_client("python_query_client", &[&address, &id, &id]).await;
    assert_eq!(
        seen,
        serde_json::json!({
            "open": ["kiwi"],
            "item": "kiwi",
            "metadata": {
                "type": "cart",
                "queries": ["empty", "item", "items"],
                "signals": ["add_item", "checkout"],
            },
            "failed": "no item 3: the cart holds 1",
            "result": ["kiwi"],
            "closed": ["kiwi"],
        }),
        "what python_query_client saw"
    );
    worker.stop().await;
    env.close().await;
}

/// The README's example (examples/messages) runs and prints what the README says.
#[test]
fn the_readme_signal_and_query_example_runs() {
    let out = run(
        &binaries().join("examples").join("messages"),
        &[],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "status: waiting for approval",
            "result: approved by ops",
            "status after close: approved by ops",
        ]
    );
}

/// A workflow of Temporal's Python SDK (tests/interop/python_activity_worker.py) with query
/// handlers, on `backend`, queried by a dacapo client through typed constants: a query without
/// an argument (no payload on the wire, as the Python handler without parameters expects), one
/// with an argument, the handler's failure, and the closed run.
async fn a_dacapo_client_queries_a_python_workflow(backend: Backend) {
    const STATUS: Query<(), String> = Query::new("status");
    const FIELD: Query<String, String> = Query::new("approval_field");
    let env = Env::open(backend).await;
    let address = grpc_address(backend).await;
    let queue = env.unique("py-query");
    let logs = tempfile::tempdir().unwrap();
    let _python = dacapo_tests::procs::python_worker(
        logs.path(),
        "python_activity_worker",
        &[&address, &format!("{queue}-activities"), &queue],
    )
    .await;
    let id = env.unique("python-answers-queries");
    let client = &env.client;
    client
        .start_workflow_by_name(
            "python_waits_for_approval",
            Vec::new(),
            &StartOptions::new(&id, &queue),
        )
        .await
        .unwrap();
    let what = format!("a Python workflow queried by dacapo, on {backend}");
    let status = client.query_workflow(&id, None, STATUS, ()).await;
    assert_eq!(status.unwrap(), "waiting", "{what}");
    let missing = client
        .query_workflow(&id, None, FIELD, "by".to_string())
        .await;
    let missing = query_failure(&what, missing);
    assert!(missing.contains("no field by"), "{what}: {missing}");
    client
        .signal_workflow(
            &id,
            None,
            Signal::<serde_json::Value>::new("approve"),
            serde_json::json!({"by": "dacapo"}),
        )
        .await
        .unwrap();
    within(
        &what,
        Duration::from_secs(60),
        client.result::<serde_json::Value>(&id, None),
    )
    .await
    .unwrap();
    let field = client
        .query_workflow(&id, None, FIELD, "by".to_string())
        .await;
    assert_eq!(field.unwrap(), "dacapo", "{what}: the closed run, replayed");
    let status = client.query_workflow(&id, None, STATUS, ()).await;
    assert_eq!(status.unwrap(), "approved by dacapo", "{what}");
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_client_queries_a_python_workflow_on_temporal() {
    a_dacapo_client_queries_a_python_workflow(Backend::Temporal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dacapo_client_queries_a_python_workflow_on_dacapo_server() {
    a_dacapo_client_queries_a_python_workflow(Backend::DacapoServer).await;
}

/// Compile-time checks: the query futures can be held by spawned tasks, and a workflow state
/// can be captured by a handler (which must be `Send`) and shared across threads.
#[allow(dead_code)]
fn query_futures_and_state_are_send(
    client: Client,
    handle: dacapo::WorkflowHandle<Vec<String>>,
    state: dacapo::WorkflowState<Vec<String>>,
) {
    fn send<T: Send>(_: T) {}
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    send(handle.query(ITEMS, ()));
    send(client.query_workflow("id", None, ITEM, 0));
    send(client.query_workflow_raw("id", None, "items", Vec::new(), QueryReject::Never));
    send_sync_clone(&state);
}
