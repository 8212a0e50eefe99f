//! Helpers shared by the integration tests.

use dacapo::Client;
use dacapo::proto::history::HistoryEvent;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The event type names of a history, in order.
pub fn event_types(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| dacapo::proto::event_type_name(e.event_type))
        .collect()
}

/// Waits (up to 30 s) until the run's history contains an event of type `name`; returns it all.
pub async fn wait_for_event(client: &Client, workflow_id: &str, name: &str) -> Vec<HistoryEvent> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = client.history(workflow_id, None).await.unwrap_or_default();
        if event_types(&events).iter().any(|t| t == name) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {name} in the history of {workflow_id} after 30 s: {:?}",
            event_types(&events)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `probe` until it answers `Ok`; after `limit`, fails with `what` and the last `Err`,
/// which says what was seen instead.
pub async fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => {
                panic!("waited {limit:?} for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Fails, printing both lists side by side with the differing lines marked, unless they are
/// equal.
pub fn assert_same_lists(what: &str, left: (&str, &[String]), right: (&str, &[String])) {
    if left.1 == right.1 {
        return;
    }
    let mut table = format!("     {:<56} {}\n", left.0, right.0);
    for i in 0..left.1.len().max(right.1.len()) {
        let l = left.1.get(i).map_or("", String::as_str);
        let r = right.1.get(i).map_or("", String::as_str);
        let mark = if l == r { ' ' } else { '*' };
        let _ = writeln!(table, "{mark} {:>2} {l:<56} {r}", i + 1);
    }
    panic!("{what}: the histories differ (* marks the lines that do)\n{table}");
}

/// Expands a compact list of names into owned strings for comparison.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The full event list of the seed scenario, cancelled while its activity heartbeats
/// (docs/semantics.md §10, scenario 2, workflow task events included).
pub fn seed_history() -> Vec<String> {
    let wft = [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
    ];
    let mut v: Vec<&str> = vec!["WorkflowExecutionStarted"];
    v.extend(wft);
    v.extend(["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"]);
    v.extend(wft);
    v.extend([
        "ActivityTaskCancelRequested",
        "ActivityTaskStarted",
        "ActivityTaskCanceled",
    ]);
    v.extend(wft);
    v.extend([
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
    ]);
    v.extend(wft);
    v.push("WorkflowExecutionCanceled");
    names(&v)
}

pub mod backends;
pub mod dev_server;
pub mod procs;
