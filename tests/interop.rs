//! Clients nobody here wrote, against `dacapo server` and the seed worker: the real `temporal`
//! CLI and the Python `temporalio` client; and the seed's three programs as separate processes.
//! Needs `temporal` and `temporalio` (scripts/test installs both).

use dacapo::Client;
use dacapo::remote::{ConnectOptions, connect};
use dacapo_tests::dev_server::shared_dev_server;
use dacapo_tests::procs::{
    Proc, binaries, free_port, python_worker, run, spawn, start_dacapo_server, temporal, tool,
    wait_for_port,
};
use dacapo_tests::{event_types, seed_history, wait_for_event};
use std::path::Path;
use std::time::{Duration, Instant};

const QUEUE: &str = "cancel-activity";

#[path = "../examples/cancellation/seed.rs"]
mod seed;

/// The seed workflow's type after an incompatible change: it sleeps instead.
#[dacapo::workflow(name = "your_workflow")]
async fn your_workflow_changed(ctx: dacapo::WorkflowContext) -> dacapo::WorkflowResult<()> {
    ctx.sleep(Duration::from_secs(1)).await?;
    Ok(())
}

/// A `dacapo server` (in memory) and the seed worker polling it.
struct Stack {
    _dir: tempfile::TempDir,
    server: Proc,
    _worker: Proc,
    port: u16,
}

impl Stack {
    fn start(api_key: Option<&str>) -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().unwrap();
        let extra = match api_key {
            Some(key) => vec!["--api-key", key],
            None => vec![],
        };
        let (server, port) = start_dacapo_server(dir.path(), &extra);
        let url = format!("http://127.0.0.1:{port}");
        let mut wargs = vec!["--address", url.as_str()];
        if let Some(key) = api_key {
            wargs.extend(["--api-key", key]);
        }
        let worker = spawn(
            dir.path(),
            "worker",
            &bin.join("examples/cancellation-worker"),
            &wargs,
        );
        Self {
            _dir: dir,
            server,
            _worker: worker,
            port,
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn client(&self, api_key: Option<&str>) -> Client {
        let service = connect(
            &format!("http://{}", self.address()),
            ConnectOptions {
                api_key: api_key.map(str::to_string),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        Client::new(service)
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// `EVENT_TYPE_WORKFLOW_TASK_STARTED` -> `WorkflowTaskStarted`.
fn short_event_type(long: &str) -> String {
    long.trim_start_matches("EVENT_TYPE_")
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_string() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

async fn wait_status(address: &str, id: &str, extra: &[&str], want: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut args = vec![
            "workflow",
            "describe",
            "--workflow-id",
            id,
            "--address",
            address,
            "-o",
            "json",
        ];
        args.extend(extra);
        let d = json(&temporal(&args));
        let status = d["workflowExecutionInfo"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == want {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is {status}, not {want}, after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporal_cli_starts_cancels_describes_shows_and_lists() {
    let stack = Stack::start(None);
    let address = stack.address();
    let a = address.as_str();
    let client = stack.client(None).await;
    temporal(&[
        "workflow",
        "start",
        "--type",
        "your_workflow",
        "--task-queue",
        QUEUE,
        "--workflow-id",
        "cli-seed",
        "--address",
        a,
    ]);
    wait_for_event(&client, "cli-seed", "ActivityTaskScheduled").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    temporal(&[
        "workflow",
        "cancel",
        "--workflow-id",
        "cli-seed",
        "--address",
        a,
    ]);
    let d = wait_status(a, "cli-seed", &[], "WORKFLOW_EXECUTION_STATUS_CANCELED").await;
    assert_eq!(d["workflowExecutionInfo"]["type"]["name"], "your_workflow");

    let shown = json(&temporal(&[
        "workflow",
        "show",
        "--workflow-id",
        "cli-seed",
        "--address",
        a,
        "-o",
        "json",
    ]));
    let types: Vec<String> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| short_event_type(e["eventType"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(types, seed_history());
    // What Temporal's CLI prints, dacapo reads back event for event.
    let reread = dacapo::history_json::from_json(&shown.to_string()).unwrap();
    assert_eq!(reread, client.history("cli-seed", None).await.unwrap());
    // The exported history replays against the current code, and not against changed code.
    let replayed = dacapo::replay::Replayer::new()
        .workflow(seed::your_workflow)
        .replay_json(&shown.to_string())
        .unwrap();
    assert!(replayed.finished, "{replayed:?}");
    let err = dacapo::replay::Replayer::new()
        .workflow(your_workflow_changed)
        .replay_json(&shown.to_string())
        .unwrap_err();
    assert!(
        matches!(err, dacapo::replay::ReplayError::NonDeterminism { .. }),
        "{err:?}"
    );

    let listed = temporal(&["workflow", "list", "--address", a, "-o", "json"]);
    assert!(listed.contains("cli-seed"), "{listed}");
    assert!(
        stack.server.log().contains("listening"),
        "{}",
        stack.server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporal_cli_needs_the_key_of_a_keyed_server() {
    let stack = Stack::start(Some("s3cret-key"));
    let address = stack.address();
    let a = address.as_str();
    let key = ["--api-key", "s3cret-key", "--tls=false"];

    let refused = run(
        &tool("temporal"),
        &["workflow", "list", "--address", a],
        Duration::from_secs(60),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        stderr.contains("authentication") || stderr.contains("unauthenticated"),
        "{stderr}"
    );

    let mut start = vec![
        "workflow",
        "start",
        "--type",
        "your_workflow",
        "--task-queue",
        QUEUE,
        "--workflow-id",
        "keyed",
        "--address",
        a,
    ];
    start.extend(key);
    temporal(&start);
    let client = stack.client(Some("s3cret-key")).await;
    wait_for_event(&client, "keyed", "ActivityTaskScheduled").await;
    let mut cancel = vec![
        "workflow",
        "cancel",
        "--workflow-id",
        "keyed",
        "--address",
        a,
    ];
    cancel.extend(key);
    temporal(&cancel);
    wait_status(a, "keyed", &key, "WORKFLOW_EXECUTION_STATUS_CANCELED").await;
    let mut list = vec!["workflow", "list", "--address", a, "-o", "json"];
    list.extend(key);
    assert!(temporal(&list).contains("keyed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_starts_cancels_and_sees_the_cancelled_error() {
    let stack = Stack::start(None);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/python_client.py");
    let out = run(
        &tool("python3"),
        &[script.to_str().unwrap(), &stack.address(), "py-seed", QUEUE],
        Duration::from_secs(90),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = json(stdout.lines().last().unwrap_or_default());
    assert_eq!(seen["result"], "cancelled", "{seen}");
    assert_eq!(seen["status"], "CANCELED", "{seen}");
    assert_eq!(seen["workflow_type"], "your_workflow", "{seen}");
    assert_eq!(seen["event_count"], seed_history().len(), "{seen}");
    let client = stack.client(None).await;
    assert_eq!(
        event_types(&client.history("py-seed", None).await.unwrap()),
        seed_history()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_programs_as_three_processes_reproduce_the_seed_history() {
    let bin = binaries();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let db = dir.path().join("worker.db");
    let worker = spawn(
        dir.path(),
        "worker",
        &bin.join("examples/cancellation-worker"),
        &["--listen", &listen, "--db", db.to_str().unwrap()],
    );
    wait_for_port(port, &worker);
    let url = format!("http://{listen}");
    let started = run(
        &bin.join("examples/cancellation-starter"),
        &["-w", "three-procs", "--address", &url],
        Duration::from_secs(30),
    );
    let started_text = String::from_utf8_lossy(&started.stdout);
    assert!(
        started.status.success() && started_text.contains("three-procs"),
        "{started_text}"
    );

    let client = Client::new(connect(&url, ConnectOptions::default()).await.unwrap());
    wait_for_event(&client, "three-procs", "ActivityTaskScheduled").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cancelled = run(
        &bin.join("examples/cancellation-cancel"),
        &["-wid", "three-procs", "--address", &url],
        Duration::from_secs(30),
    );
    let cancel_text = String::from_utf8_lossy(&cancelled.stdout);
    assert!(
        cancelled.status.success() && cancel_text.contains("Cancellation requested"),
        "{cancel_text}"
    );

    let err = client.result::<()>("three-procs", None).await.unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(
        event_types(&client.history("three-procs", None).await.unwrap()),
        seed_history()
    );
    assert!(
        worker.log().contains("cleanup_activity: cleaning up"),
        "{}",
        worker.log()
    );
}

/// Runs `interop/python_messages.py` (a Python worker and client) against the server at
/// `address`; returns what it printed.
fn python_messages(address: &str) -> serde_json::Value {
    python_script("interop/python_messages.py", address)
}

/// Runs the Python script `script` (a worker and client, printing one JSON line last) against
/// the server at `address`; returns what it printed.
fn python_script(script: &str, address: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = run(
        &tool("python3"),
        &[script.to_str().unwrap(), address],
        Duration::from_secs(150),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python worker and client failed against {address}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(stdout.lines().last().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_worker_answers_signals_queries_and_updates_on_dacapo_server_as_on_temporal() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_dacapo_server(dir.path(), &[]);
    let temporal = dacapo_tests::dev_server::shared_dev_server().await;
    temporal.connect().await;
    let on_temporal = python_messages(&temporal.address());
    let seen = python_messages(&format!("127.0.0.1:{port}"));
    assert_eq!(seen["query"], "pending/1", "{seen}");
    // A failed query handler is Temporal's QueryFailed to the Python client and the CLI.
    assert_eq!(
        seen["query_failed"], "WorkflowQueryFailedError: no status to show",
        "{seen}"
    );
    assert_eq!(
        seen["cli_query_failed"],
        serde_json::json!([1, ["Error: querying workflow failed: no status to show"]]),
        "{seen}"
    );
    assert_eq!(seen["update"], "now paid", "{seen}");
    assert_eq!(seen["rejected"], "empty status", "{seen}");
    assert_eq!(seen["started_update"], "now shipped", "{seen}");
    assert_eq!(seen["query_after"], "shipped/1", "{seen}");
    assert_eq!(seen["finish"], "finishing", "{seen}");
    assert_eq!(seen["result"], "shipped:1", "{seen}");
    // A query on the closed run, answered by the worker replaying its history.
    assert_eq!(seen["query_closed"], "shipped/1", "{seen}");
    assert!(
        seen["update_closed"]
            .as_str()
            .is_some_and(|s| s.contains("already completed")),
        "{seen}"
    );
    // The update the validator rejected rode a speculative workflow task: no trace of it.
    assert_eq!(seen["before_rejected"], seen["after_rejected"], "{seen}");
    // 26 signaled, 41 update accepted, 43 update completed, 2 workflow completed, in
    // Temporal's order.
    let messages: Vec<i64> = seen["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(serde_json::Value::as_i64)
        .filter(|t| [2, 26, 41, 43].contains(t))
        .collect();
    assert_eq!(messages, [26, 41, 43, 41, 43, 41, 43, 2], "{seen}");
    // The same answers and the same histories, event type by event type, as on Temporal.
    assert_eq!(
        seen, on_temporal,
        "dacapo server, then the Temporal dev server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_with_start_from_the_python_client_works_on_dacapo_server_as_on_temporal() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_dacapo_server(dir.path(), &[]);
    let temporal = dacapo_tests::dev_server::shared_dev_server().await;
    temporal.connect().await;
    let script = "interop/python_update_with_start.py";
    let on_temporal = python_script(script, &temporal.address());
    let seen = python_script(script, &format!("127.0.0.1:{port}"));
    // The update ran on the run the first call started, then on the same run found by the
    // second (USE_EXISTING); FAIL refused it as already started.
    assert_eq!(seen["first"], 1, "{seen}");
    assert_eq!(seen["again"], 2, "{seen}");
    assert_eq!(seen["same_run"], true, "{seen}");
    assert_eq!(seen["refused"], "WorkflowAlreadyStartedError", "{seen}");
    // The validator's rejection on the run the call started: the run stays, with its first
    // workflow task and no update event.
    assert_eq!(seen["rejected"], "empty item", "{seen}");
    assert_eq!(
        seen["rejected_events"],
        serde_json::json!([1, 5, 6, 7]),
        "{seen}"
    );
    assert_eq!(seen["result"], "apple,pear", "{seen}");
    // The temporal CLI's execute-update-with-start: a new run, then the same one.
    assert_eq!(seen["cli"], serde_json::json!([[0, 1], [0, 2]]), "{seen}");
    assert_eq!(seen["cli_items"], "kiwi,fig", "{seen}");
    assert_eq!(
        seen, on_temporal,
        "dacapo server, then the Temporal dev server"
    );
}

/// Runs the `dacapo` CLI against `address` with `words` (split at spaces); returns whether it
/// succeeded and its stdout and stderr together.
fn dacapo_cli(address: &str, words: &str) -> (bool, String) {
    let url = format!("http://{address}");
    let mut all: Vec<&str> = words.split_whitespace().collect();
    all.extend(["--address", url.as_str()]);
    let out = run(&binaries().join("dacapo"), &all, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text.into_owned())
}

/// `dacapo_cli`, which must succeed, with `-o json`: its output as JSON.
fn dacapo_json(address: &str, words: &str) -> serde_json::Value {
    let (ok, out) = dacapo_cli(address, &format!("{words} -o json"));
    assert!(ok, "dacapo {words} failed:\n{out}");
    json(&out)
}

/// Whether the `dacapo` command failed, and said `said` when it did.
fn dacapo_fails(address: &str, words: &str, said: &str) -> serde_json::Value {
    let (ok, out) = dacapo_cli(address, words);
    serde_json::json!({"ok": ok, "said": out.contains(said)})
}

/// What driving the Python `Order` workflow with the `dacapo` CLI, the `temporal` CLI and the
/// Rust client saw, in a form both servers must agree on.
async fn drive_python_order(address: &str, queue: &str) -> serde_json::Value {
    let w = format!("order-{queue}");
    dacapo_json(
        address,
        &format!("workflow start --type Order -t {queue} -w {w}"),
    );
    dacapo_json(
        address,
        &format!(r#"workflow signal -w {w} --name add -i "apple""#),
    );
    let update = format!("workflow update execute -w {w}");
    let query = format!("workflow query -w {w} --name get_status");
    let mut seen = serde_json::Map::new();
    let mut note = |k: &str, v: serde_json::Value| seen.insert(k.to_string(), v);
    note("query", dacapo_json(address, &query));
    let paid = dacapo_json(address, &format!(r#"{update} --name set_status -i "paid""#));
    note("update", paid["result"].clone());
    let empty = format!(r#"{update} --type set_status -i """#);
    note("rejected", dacapo_fails(address, &empty, "empty status"));
    let start = format!(
        r#"workflow update start -w {w} --name set_status -i "shipped" --update-id ship-1 --wait-for-stage accepted"#
    );
    note("started", dacapo_json(address, &start));
    let result = format!("workflow update result -w {w} --update-id ship-1");
    note("update_result", dacapo_json(address, &result));
    // The same id again is the same update: answered, not run a second time.
    let again = format!(r#"{update} --name set_status -i "other" --update-id ship-1"#);
    note(
        "same_id_again",
        dacapo_json(address, &again)["result"].clone(),
    );
    let describe = format!("workflow update describe -w {w} --update-id ship-1");
    note("describe", dacapo_json(address, &describe));
    // Temporal's CLI, against the same run.
    let by_temporal = temporal(&[
        "workflow",
        "query",
        "--workflow-id",
        &w,
        "--name",
        "get_status",
        "--address",
        address,
        "-o",
        "json",
    ]);
    note("temporal_query", json(&by_temporal)["queryResult"].clone());
    // The Rust client, typed: `finish` takes no argument, which travels as no payload.
    let service = connect(&format!("http://{address}"), ConnectOptions::default())
        .await
        .unwrap();
    let client = Client::new(service);
    const STATUS: dacapo::Query<(), String> = dacapo::Query::new("get_status");
    const FINISH: dacapo::Update<(), String> = dacapo::Update::new("finish");
    const SET_STATUS: dacapo::Update<String, String> = dacapo::Update::new("set_status");
    let typed_query = client.query_workflow(&w, None, STATUS, ()).await;
    note(
        "typed_query",
        serde_json::json!(typed_query.map_err(|e| e.to_string())),
    );
    let unknown = dacapo::Query::<(), String>::new("no_such_query");
    let unknown = client.query_workflow(&w, None, unknown, ()).await;
    let failed = matches!(unknown, Err(dacapo::ClientError::QueryFailed { .. }));
    note("unknown_query", serde_json::json!(failed));
    let finish = client.update_workflow(&w, None, FINISH, ()).await;
    note(
        "finish",
        serde_json::json!(finish.map_err(|e| e.to_string())),
    );
    let result: Result<String, _> = client.result(&w, None).await;
    note(
        "result",
        serde_json::json!(result.map_err(|e| e.to_string())),
    );
    note("query_closed", dacapo_json(address, &query));
    let rejected = format!("{query} --reject-condition not-open");
    note(
        "rejected_query",
        dacapo_fails(address, &rejected, "rejected"),
    );
    let late = client
        .update_workflow(&w, None, SET_STATUS, "late".into())
        .await;
    let refused = late
        .as_ref()
        .is_err_and(|e| e.is_not_found() && e.to_string().contains("already completed"));
    note("update_closed", serde_json::json!(refused));
    serde_json::Value::Object(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_rust_client_query_and_update_a_python_workflow_on_both_servers() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_dacapo_server(dir.path(), &[]);
    let on_dacapo = format!("127.0.0.1:{port}");
    let on_temporal = shared_dev_server().await.address();
    let mut seen = Vec::new();
    for (address, queue) in [
        (&on_dacapo, "py-order-dacapo"),
        (&on_temporal, "py-order-temporal"),
    ] {
        let _worker = python_worker(dir.path(), "python_message_worker", &[address, queue]).await;
        seen.push(drive_python_order(address, queue).await);
    }
    let expected = serde_json::json!({
        "query": {"queryResult": ["pending/1"]},
        "update": ["now paid"],
        "rejected": {"ok": false, "said": true},
        "started": {"name": "set_status", "updateId": "ship-1", "stage": "accepted"},
        "update_result": {"updateId": "ship-1", "result": ["now shipped"]},
        "same_id_again": ["now shipped"],
        "describe": {"updateId": "ship-1", "stage": "completed", "result": ["now shipped"]},
        "temporal_query": ["shipped/1"],
        "typed_query": {"Ok": "shipped/1"},
        "unknown_query": true,
        "finish": {"Ok": "finishing"},
        "result": {"Ok": "shipped:1"},
        "query_closed": {"queryResult": ["shipped/1"]},
        "rejected_query": {"ok": false, "said": true},
        "update_closed": true,
    });
    assert_eq!(seen[0], expected, "on dacapo server");
    assert_eq!(seen[1], expected, "on the Temporal dev server");
}
