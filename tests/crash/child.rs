//! The process the crash test kills. It opens the embedded engine on a SQLite file and drives
//! the crash workload; every start and cancel that the engine acknowledged is appended to a
//! side file and synced before anything else happens, so the test knows what must survive.
//!
//! ```text
//! crash-child run <db> <acks> <workflows> <seed> <spacing-ms> [finish]
//!                                          the workload: the first 20 workflows at once, the
//!                                          others one per spacing; with `finish`, all at once,
//!                                          and exit once every workflow has closed
//! crash-child scenario8 <db> <marker> [finish]              docs/semantics.md §10, scenario 8
//! crash-child open <db>                                     open, report, close
//! crash-child hold <db>                                     open and wait to be killed
//! ```
//!
//! Exit codes: 0 done, 2 usage, 3 the engine did not open (the message is on stderr), 4 a
//! request failed.

#[path = "workload.rs"]
mod workload;

use dacapo::{Client, ClientError, Embedded, StartOptions, WorkflowDefinition, WorkflowStatus};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workload::*;

const USAGE: &str = "usage: crash-child run <db> <acks> <workflows> <seed> <spacing-ms> [finish] | scenario8 <db> <marker> [finish] | open <db> | hold <db>";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    let finish = args.last().is_some_and(|a| a == "finish");
    match arg(0).as_str() {
        "run" => {
            let count = arg(3).parse().unwrap_or_else(|_| usage());
            let seed = arg(4).parse().unwrap_or_else(|_| usage());
            let spacing = Duration::from_millis(arg(5).parse().unwrap_or_else(|_| usage()));
            run(
                Path::new(&arg(1)),
                Path::new(&arg(2)),
                count,
                seed,
                spacing,
                finish,
            )
            .await
        }
        "scenario8" => scenario8(Path::new(&arg(1)), arg(2), finish).await,
        "open" => {
            let rt = open(Path::new(&arg(1))).await;
            println!("opened {}", arg(1));
            rt.shutdown().await;
        }
        "hold" => {
            let _rt = open(Path::new(&arg(1))).await;
            println!("holding {}", arg(1));
            std::future::pending::<()>().await;
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("crash-child: {what}: {err}");
    std::process::exit(4)
}

/// The engine with every workflow and activity of the workload registered.
async fn open(db: &Path) -> Embedded {
    let started = Embedded::builder()
        .sqlite(db)
        .task_queue(QUEUE)
        .workflow(chain)
        .workflow(timers)
        .workflow(cancel_waiting)
        .workflow(cancel_sleeping)
        .workflow(cancel_trying)
        .workflow(cleanup_killed)
        .activity(work)
        .activity(wait_for_cancel)
        .activity(cleanup)
        .activity(cleanup_until_killed)
        .start()
        .await;
    match started {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(3)
        }
    }
}

/// The side file of acknowledged requests: one line each, synced before the next step.
struct Acks {
    file: Mutex<std::fs::File>,
    lines: HashSet<String>,
}

impl Acks {
    fn open(path: &Path) -> Acks {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // A line cut short by a kill was never synced, so it acknowledges nothing: drop it, so
        // that the next line starts on a line of its own.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let lines = text[..complete].lines().map(str::to_string).collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| fail("cannot open the acks file", e));
        file.set_len(complete as u64)
            .unwrap_or_else(|e| fail("cannot trim the acks file", e));
        Acks {
            file: Mutex::new(file),
            lines,
        }
    }

    fn has(&self, line: &str) -> bool {
        self.lines.contains(line)
    }

    fn record(&self, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write of the whole line, then a sync: only then is it an acknowledgement.
        file.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| file.sync_data())
            .unwrap_or_else(|e| fail("cannot write the acks file", e));
    }
}

/// Starts `def` unless it exists: a start whose answer was lost with the previous process may
/// have been committed, and starting it again would open a second run.
async fn start_once<W: WorkflowDefinition>(
    client: &Client,
    def: W,
    input: W::Input,
    workflow_id: &str,
) {
    match client.describe_workflow(workflow_id, None).await {
        Ok(_) => return,
        Err(ClientError::NotFound(_)) => {}
        Err(e) => fail("describe failed", e),
    }
    let options = StartOptions {
        workflow_task_timeout: Some(WORKFLOW_TASK_TIMEOUT),
        ..StartOptions::new(workflow_id, QUEUE)
    };
    if let Err(e) = client.start_workflow(def, input, options).await {
        fail("start failed", e);
    }
}

async fn start_planned(client: &Client, p: &Planned) {
    let (id, plan) = (p.workflow_id.as_str(), p.plan.clone());
    match p.kind {
        Kind::Chain => start_once(client, chain, plan, id).await,
        Kind::Timers => start_once(client, timers, plan, id).await,
        Kind::CancelWaiting => start_once(client, cancel_waiting, plan, id).await,
        Kind::CancelSleeping => start_once(client, cancel_sleeping, plan, id).await,
        Kind::CancelTrying => start_once(client, cancel_trying, plan, id).await,
    }
}

/// How many workflows the first run starts at once; the rest follow one by one.
const BURST: usize = 20;

async fn run(db: &Path, acks: &Path, count: usize, seed: u64, spacing: Duration, finish: bool) {
    let rt = open(db).await;
    let client = rt.client();
    let acks = Arc::new(Acks::open(acks));
    let plans = planned(seed, count);
    let mut requests = tokio::task::JoinSet::new();
    let mut first_of_this_run = true;
    for (index, p) in plans.iter().cloned().enumerate() {
        let started = format!("started {}", p.workflow_id);
        if index >= BURST && !finish && !acks.has(&started) {
            // Spread the starts over the kills, so that every restart finds fresh work.
            if !first_of_this_run {
                tokio::time::sleep(spacing).await;
            }
            first_of_this_run = false;
        }
        let (client, acks) = (client.clone(), Arc::clone(&acks));
        requests.spawn(async move {
            if !acks.has(&started) {
                start_planned(&client, &p).await;
                acks.record(&started);
            }
            let cancelled = format!("cancelled {}", p.workflow_id);
            if p.kind.is_cancelled() && !acks.has(&cancelled) {
                tokio::time::sleep(Duration::from_millis(p.cancel_after_ms)).await;
                // Twice at once, as a client that retries would: whichever answers first is
                // acknowledged, and the second one answers "already requested".
                let cancel = || async {
                    if let Err(e) = client
                        .cancel_workflow(&p.workflow_id, None, "crash test")
                        .await
                    {
                        fail("cancel failed", e);
                    }
                    acks.record(&cancelled);
                };
                tokio::join!(cancel(), cancel());
            }
        });
    }
    while let Some(done) = requests.join_next().await {
        if let Err(e) = done {
            fail("a request task failed", e);
        }
    }
    if !finish {
        std::future::pending::<()>().await;
    }
    let ids: Vec<String> = plans.into_iter().map(|p| p.workflow_id).collect();
    wait_closed(&client, &ids).await;
    drop(client);
    rt.shutdown().await;
}

/// Waits until every workflow in `ids` has closed.
async fn wait_closed(client: &Client, ids: &[String]) {
    let mut open: Vec<&String> = ids.iter().collect();
    while !open.is_empty() {
        let mut still = Vec::new();
        for id in open {
            match client.describe_workflow(id, None).await {
                Ok(d) if d.status != WorkflowStatus::Running => {}
                Ok(_) => still.push(id),
                Err(e) => fail("describe failed", e),
            }
        }
        open = still;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scenario 8 of docs/semantics.md §10: start, cancel once the activity runs; the cleanup's first
/// attempt blocks until the test kills this process. Run again with `finish`, the cleanup's retry
/// completes.
async fn scenario8(db: &Path, marker: String, finish: bool) {
    const ID: &str = "scenario-8";
    let rt = open(db).await;
    let client = rt.client();
    if !finish {
        start_once(&client, cleanup_killed, marker, ID).await;
        loop {
            let d = client
                .describe_workflow(ID, None)
                .await
                .unwrap_or_else(|e| fail("describe failed", e));
            if !d.pending_activities.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the activity heartbeat before the cancel reaches it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        client
            .cancel_workflow(ID, None, "scenario 8")
            .await
            .unwrap_or_else(|e| fail("cancel failed", e));
        println!("cancelled");
        std::future::pending::<()>().await;
    }
    wait_closed(&client, &[ID.to_string()]).await;
    drop(client);
    rt.shutdown().await;
}
