//! Helpers shared by the integration tests.

use dacapo::Client;
use dacapo::proto::history::HistoryEvent;
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

/// Expands a compact list of names into owned strings for comparison.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The full event list of the seed scenario, cancelled while its activity heartbeats
/// (SEMANTICS.md scenario 2, workflow task events included).
pub fn seed_history() -> Vec<String> {
    let wft = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"];
    let mut v: Vec<&str> = vec!["WorkflowExecutionStarted"];
    v.extend(wft);
    v.extend(["ActivityTaskScheduled", "WorkflowExecutionCancelRequested"]);
    v.extend(wft);
    v.extend(["ActivityTaskCancelRequested", "ActivityTaskStarted", "ActivityTaskCanceled"]);
    v.extend(wft);
    v.extend(["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"]);
    v.extend(wft);
    v.push("WorkflowExecutionCanceled");
    names(&v)
}

pub mod procs;
