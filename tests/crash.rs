//! Crash anywhere, lose nothing: a child process runs the embedded engine on a SQLite file and
//! is killed with SIGKILL at random moments, then restarted on the same file. After every kill
//! the test reads the file as the crash left it and checks that nothing acknowledged was lost;
//! at the end it lets everything finish and checks every history.
//!
//! ```text
//! cargo test -p dacapo-tests --test crash -- --nocapture            # 20 kills, 40 workflows
//! DACAPO_CRASH_KILLS=200 cargo test --release -p dacapo-tests --test crash -- --nocapture
//! ```
//!
//! `DACAPO_CRASH_KILLS`, `DACAPO_CRASH_WORKFLOWS` (default: twice the kills, at least 40) and
//! `DACAPO_CRASH_SEED` set the number of kills, the number of workflows, and the seed (printed at the start: the same seed gives the
//! same workflows, cancel times and kill delays).
//!
//! The other tests here are about single processes: docs/semantics.md §10, scenario 8 (killed
//! during cleanup), a second process on a file in use, and files the engine must refuse.

#[path = "crash/workload.rs"]
mod workload;

use dacapo::proto::enums::{EventType, WorkflowExecutionStatus};
use dacapo::proto::event_type_name;
use dacapo::proto::history::HistoryEvent;
use dacapo::proto::history::history_event::Attributes as Ev;
use dacapo::store::{ExecutionRecord, SqliteStore, Store};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use workload::{CLEANUP_TYPES, Kind, Planned, Rng, planned};

const CHILD: &str = env!("CARGO_BIN_EXE_crash-child");

/// How long a child lives before it is killed: a quarter of the kills land right after the
/// start (often before the engine is up), the others while the workload runs.
fn kill_delay_ms(rng: &mut Rng) -> u64 {
    if rng.range(0, 4) == 0 {
        rng.range(0, 60)
    } else {
        rng.range(150, 1500)
    }
}

/// The mean of [`kill_delay_ms`].
const MEAN_KILL_DELAY_MS: u64 = (30 + 3 * 825) / 4;

/// How long the last run may take to finish every workflow.
const FINISH_BOUND: Duration = Duration::from_secs(90);

/// A child process that is killed and reaped when dropped, so that a failing test leaves
/// nothing running.
struct ChildGuard {
    child: Option<Child>,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts the child with `args`; its output goes to `log` (appended).
    fn spawn(args: &[&str], log: &Path) -> ChildGuard {
        Self::spawn_with(Command::new(CHILD).args(args), log)
    }

    fn spawn_with(command: &mut Command, log: &Path) -> ChildGuard {
        Self::try_spawn_with(command, log).unwrap_or_else(|e| panic!("cannot start {CHILD}: {e}"))
    }

    fn try_spawn_with(command: &mut Command, log: &Path) -> std::io::Result<ChildGuard> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok(ChildGuard {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().unwrap()?;
        self.child = None;
        Some(status)
    }

    /// Waits for the child to exit, up to `bound`.
    fn wait_for(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Copies the database (and its WAL) as the crash left it, so that checking it does not
/// checkpoint the original: the next process must recover the raw state itself.
fn snapshot_of(db: &Path, into: &Path) -> PathBuf {
    let copy = into.join("check.db");
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        let to = PathBuf::from(format!("{}{suffix}", copy.display()));
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    copy
}

/// Acknowledged requests, from the child's side file.
#[derive(Default)]
struct Acked {
    started: HashSet<String>,
    cancelled: HashSet<String>,
}

fn read_acks(path: &Path) -> Acked {
    let mut acked = Acked::default();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A last line without its newline was cut short by a kill: it acknowledges nothing.
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    for line in text[..complete].lines() {
        match line.split_once(' ') {
            Some(("started", id)) => acked.started.insert(id.to_string()),
            Some(("cancelled", id)) => acked.cancelled.insert(id.to_string()),
            _ => panic!("unexpected line in the acks file: {line:?}"),
        };
    }
    acked
}

/// What the checks went through, summed over all of them.
#[derive(Default, Debug)]
struct Figures {
    checks: usize,
    events: usize,
    replays: usize,
    activity_retries: usize,
    workflow_task_timeouts: usize,
    cleanups: usize,
    failed_after_cancel_timeout: usize,
}

/// The facts of one history that the checks rely on.
#[derive(Default)]
struct HistoryFacts {
    cancel_requested: bool,
    cleanups_scheduled: usize,
    cleanups_completed: usize,
    /// A `WaitCompleted` activity that timed out after the cancel (its worker died).
    waited_activity_timed_out: bool,
    close: Option<EventType>,
    activity_retries: usize,
    workflow_task_timeouts: usize,
}

/// When an event was written, in Unix milliseconds.
fn event_ms(event: &HistoryEvent) -> i64 {
    event
        .event_time
        .as_ref()
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

fn kind(event: &HistoryEvent) -> EventType {
    EventType::try_from(event.event_type).unwrap_or(EventType::Unspecified)
}

/// Structural checks on one history: dense ids, no command or outcome recorded twice, the close
/// event last.
fn check_history(where_: &str, workflow_id: &str, events: &[HistoryEvent]) -> HistoryFacts {
    let at = |e: &HistoryEvent| format!("{where_}: {workflow_id} event {}", e.event_id);
    let mut facts = HistoryFacts::default();
    let mut once: HashSet<(EventType, String)> = HashSet::new();
    let mut activity_types: HashMap<i64, String> = HashMap::new();
    // Timer id -> when it is due, in Unix milliseconds.
    let mut timers_due: HashMap<String, i64> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.event_id,
            i as i64 + 1,
            "{where_}: {workflow_id}: event ids must be 1..n"
        );
        assert!(facts.close.is_none(), "{}: an event after the close", at(e));
        let key = match &e.attributes {
            Some(Ev::ActivityTaskScheduledEventAttributes(a)) => {
                let name = a.activity_type.clone().unwrap_or_default().name;
                activity_types.insert(e.event_id, name.clone());
                if CLEANUP_TYPES.contains(&name.as_str()) {
                    facts.cleanups_scheduled += 1;
                }
                Some(a.activity_id.clone())
            }
            Some(Ev::ActivityTaskStartedEventAttributes(a)) => {
                facts.activity_retries += usize::try_from(a.attempt - 1).unwrap_or(0);
                Some(a.scheduled_event_id.to_string())
            }
            Some(Ev::ActivityTaskCancelRequestedEventAttributes(a)) => {
                Some(a.scheduled_event_id.to_string())
            }
            Some(Ev::ActivityTaskCompletedEventAttributes(a)) => {
                let name = activity_types.get(&a.scheduled_event_id);
                if name.is_some_and(|n| CLEANUP_TYPES.contains(&n.as_str())) {
                    facts.cleanups_completed += 1;
                }
                // One outcome per activity, whatever its kind.
                Some(format!("outcome {}", a.scheduled_event_id))
            }
            Some(Ev::ActivityTaskFailedEventAttributes(a)) => {
                Some(format!("outcome {}", a.scheduled_event_id))
            }
            Some(Ev::ActivityTaskCanceledEventAttributes(a)) => {
                Some(format!("outcome {}", a.scheduled_event_id))
            }
            Some(Ev::ActivityTaskTimedOutEventAttributes(a)) => {
                let name = activity_types.get(&a.scheduled_event_id);
                if facts.cancel_requested && name.is_some_and(|n| n == "wait_for_cancel") {
                    facts.waited_activity_timed_out = true;
                }
                Some(format!("outcome {}", a.scheduled_event_id))
            }
            Some(Ev::TimerStartedEventAttributes(a)) => {
                let duration = a.start_to_fire_timeout.as_ref().map_or(0, |d| {
                    d.seconds * 1000 + (i64::from(d.nanos) + 999_999) / 1_000_000
                });
                timers_due.insert(a.timer_id.clone(), event_ms(e) + duration);
                Some(a.timer_id.clone())
            }
            Some(Ev::TimerFiredEventAttributes(a)) => {
                // Late is allowed (the process may have been down); early never is.
                let due = timers_due.get(&a.timer_id).copied().unwrap_or(i64::MAX);
                assert!(
                    event_ms(e) >= due,
                    "{}: timer {} fired {} ms early",
                    at(e),
                    a.timer_id,
                    due - event_ms(e)
                );
                Some(format!("end {}", a.timer_id))
            }
            Some(Ev::TimerCanceledEventAttributes(a)) => Some(format!("end {}", a.timer_id)),
            Some(Ev::WorkflowTaskStartedEventAttributes(a)) => {
                Some(a.scheduled_event_id.to_string())
            }
            Some(Ev::WorkflowTaskTimedOutEventAttributes(_)) => {
                facts.workflow_task_timeouts += 1;
                None
            }
            Some(Ev::WorkflowExecutionCancelRequestedEventAttributes(_)) => {
                facts.cancel_requested = true;
                Some(String::new())
            }
            _ => None,
        };
        if let Some(key) = key {
            // Outcomes share one key per activity or timer; other kinds key on their own type.
            let family = match kind(e) {
                EventType::ActivityTaskCompleted
                | EventType::ActivityTaskFailed
                | EventType::ActivityTaskCanceled
                | EventType::ActivityTaskTimedOut
                | EventType::TimerFired
                | EventType::TimerCanceled => EventType::Unspecified,
                other => other,
            };
            assert!(
                once.insert((family, key.clone())),
                "{}: {} recorded twice (key {key:?})",
                at(e),
                event_type_name(e.event_type)
            );
        }
        if matches!(
            kind(e),
            EventType::WorkflowExecutionCompleted
                | EventType::WorkflowExecutionFailed
                | EventType::WorkflowExecutionCanceled
                | EventType::WorkflowExecutionTerminated
                | EventType::WorkflowExecutionTimedOut
        ) {
            facts.close = Some(kind(e));
        }
    }
    facts
}

/// The status a closed workflow of `kind` must have, given its history.
fn expected_status(kind: Kind, facts: &HistoryFacts) -> WorkflowExecutionStatus {
    match kind {
        Kind::Chain | Kind::Timers => WorkflowExecutionStatus::Completed,
        // A `WaitCompleted` activity whose worker died after the cancel times out instead of
        // reporting Canceled; the body then returns that failure, and the body decides
        // (docs/semantics.md §4.3, scenario 11 of §10).
        Kind::CancelWaiting if facts.waited_activity_timed_out => WorkflowExecutionStatus::Failed,
        Kind::CancelWaiting | Kind::CancelSleeping | Kind::CancelTrying => {
            WorkflowExecutionStatus::Canceled
        }
    }
}

/// Reads the file and checks everything that must hold at any instant (and, when `finished`,
/// what must hold once every workflow has closed).
fn check_file(
    where_: &str,
    db: &Path,
    plans: &[Planned],
    acked: &Acked,
    finished: bool,
    figures: &mut Figures,
) {
    let store = SqliteStore::open(db).unwrap_or_else(|e| panic!("{where_}: {e}"));
    store.verify().unwrap_or_else(|e| panic!("{where_}: {e}"));
    let snapshot = store.load().unwrap_or_else(|e| panic!("{where_}: {e}"));
    let mut runs: BTreeMap<String, Vec<ExecutionRecord>> = BTreeMap::new();
    for rec in snapshot.executions {
        runs.entry(rec.workflow_id.clone()).or_default().push(rec);
    }
    for id in &acked.started {
        assert!(
            runs.contains_key(id),
            "{where_}: the start of {id} was acknowledged but the workflow is gone"
        );
    }
    let replayer = workload::replayer();
    figures.checks += 1;
    for plan in plans {
        let id = &plan.workflow_id;
        let Some(recs) = runs.get(id) else {
            assert!(!finished, "{where_}: {id} was never started");
            continue;
        };
        assert_eq!(recs.len(), 1, "{where_}: {id} has {} runs", recs.len());
        let rec = &recs[0];
        if acked.cancelled.contains(id) {
            assert!(
                rec.cancel_requested,
                "{where_}: the cancel of {id} was acknowledged but is not recorded"
            );
        }
        let events = store
            .read_history(&rec.run_id, 1, usize::MAX)
            .unwrap_or_else(|e| panic!("{where_}: {e}"));
        let facts = check_history(where_, id, &events);
        assert!(
            facts.cleanups_scheduled <= 1,
            "{where_}: {id} scheduled its cleanup {} times",
            facts.cleanups_scheduled
        );
        figures.events += events.len();
        replayer.replay(&events).unwrap_or_else(|e| {
            panic!(
                "{where_}: {e}\nhistory:\n  {}",
                dacapo::proto::describe_history(&events).join("\n  ")
            )
        });
        figures.replays += 1;
        let open = rec.status == WorkflowExecutionStatus::Running as i32;
        if open {
            assert!(!finished, "{where_}: {id} is still open");
            continue;
        }
        if plan.kind.is_cancelled() {
            // These run until cancelled: a closed one was cancelled, and cleaned up once.
            assert!(
                facts.cancel_requested,
                "{where_}: {id} closed without a cancel"
            );
            assert_eq!(
                (facts.cleanups_scheduled, facts.cleanups_completed),
                (1, 1),
                "{where_}: {id} must have scheduled and completed its cleanup exactly once"
            );
        }
        let expected = expected_status(plan.kind, &facts);
        assert_eq!(
            WorkflowExecutionStatus::try_from(rec.status).ok(),
            Some(expected),
            "{where_}: {id} ({:?}) closed with the wrong status\nhistory:\n  {}",
            plan.kind,
            dacapo::proto::describe_history(&events).join("\n  ")
        );
        if finished {
            figures.activity_retries += facts.activity_retries;
            figures.workflow_task_timeouts += facts.workflow_task_timeouts;
            figures.cleanups += facts.cleanups_scheduled;
            figures.failed_after_cancel_timeout += usize::from(facts.waited_activity_timed_out);
        }
    }
}

/// The workflows that are still open in `db`, for a failure message.
fn unfinished(db: &Path) -> Vec<String> {
    let Ok(store) = SqliteStore::open(db) else {
        return vec!["(the file could not be opened)".into()];
    };
    let Ok(snapshot) = store.load() else {
        return vec!["(the file could not be read)".into()];
    };
    snapshot
        .open_runs
        .iter()
        .map(|rows| {
            let id = snapshot
                .executions
                .iter()
                .find(|r| r.run_id == rows.run_id)
                .map(|r| r.workflow_id.clone())
                .unwrap_or_default();
            let last: Vec<String> = rows
                .events
                .iter()
                .rev()
                .take(3)
                .map(|e| match e.decode() {
                    Ok(event) => event_type_name(event.event_type).to_string(),
                    Err(_) => format!("event {} (does not decode)", e.event_id),
                })
                .collect();
            format!("{id} (last events: {})", last.join(" <- "))
        })
        .collect()
}

#[test]
fn killed_at_random_moments_loses_nothing() {
    let kills = env_number("DACAPO_CRASH_KILLS", 20);
    let count = env_number("DACAPO_CRASH_WORKFLOWS", (2 * kills).max(40)) as usize;
    let seed = env_number(
        "DACAPO_CRASH_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    println!(
        "crash test: {kills} kills, {count} workflows, seed {seed} (DACAPO_CRASH_SEED={seed} repeats this run)"
    );
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let acks = dir.path().join("acks");
    let log = dir.path().join("child.log");
    let plans = planned(seed, count);
    // The first 20 workflows start at once; the child spaces the others so that their starts
    // spread over the expected lifetime of all the children.
    let spacing = kills * MEAN_KILL_DELAY_MS / (count.saturating_sub(20).max(1) as u64);
    let (count_arg, seed_arg, spacing_arg) =
        (count.to_string(), seed.to_string(), spacing.to_string());
    let args = [
        "run",
        db.to_str().unwrap(),
        acks.to_str().unwrap(),
        &count_arg,
        &seed_arg,
        &spacing_arg,
    ];
    let mut delays = Rng::new(seed ^ 0x00C0_FFEE);
    let mut figures = Figures::default();
    for kill in 1..=kills {
        let delay = kill_delay_ms(&mut delays);
        let mut child = ChildGuard::spawn(&args, &log);
        std::thread::sleep(Duration::from_millis(delay));
        if let Some(status) = child.try_wait() {
            panic!(
                "kill {kill}: the child exited by itself ({status}):\n{}",
                child.output()
            );
        }
        child.kill();
        let copy = snapshot_of(&db, scratch.path());
        if !copy.exists() {
            continue; // killed before SQLite created the file
        }
        let where_ = format!("after kill {kill} ({delay} ms)");
        check_file(
            &where_,
            &copy,
            &plans,
            &read_acks(&acks),
            false,
            &mut figures,
        );
    }
    let mut finish_args = args.to_vec();
    finish_args.push("finish");
    let mut child = ChildGuard::spawn(&finish_args, &log);
    match child.wait_for(FINISH_BOUND) {
        Some(status) => assert!(
            status.success(),
            "the last run failed ({status}):\n{}",
            child.output()
        ),
        None => {
            child.kill();
            panic!(
                "not every workflow finished within {FINISH_BOUND:?} of the last restart; still open:\n  {}",
                unfinished(&db).join("\n  ")
            );
        }
    }
    let acked = read_acks(&acks);
    assert_eq!(acked.started.len(), count, "every start was acknowledged");
    check_file("at the end", &db, &plans, &acked, true, &mut figures);
    let cancelled = plans.iter().filter(|p| p.kind.is_cancelled()).count();
    println!(
        "crash test passed in {:.1} s: {kills} kills; {count} workflows ({cancelled} cancelled) all closed exactly once with the right status; {} file checks, {} histories replayed, {} events checked; {} activity retries, {} workflow task timeouts, {} cleanups (one per cancelled run), {} cancelled runs failed because their waited-on activity died with its worker",
        began.elapsed().as_secs_f64(),
        figures.checks,
        figures.replays,
        figures.events,
        figures.activity_retries,
        figures.workflow_task_timeouts,
        figures.cleanups,
        figures.failed_after_cancel_timeout,
    );
}

/// Waits until `path` contains `text`.
fn wait_for_text(path: &Path, text: &str, child: &mut ChildGuard, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
            return;
        }
        if let Some(status) = child.try_wait() {
            panic!(
                "the child exited ({status}) before {text:?}:\n{}",
                child.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {} within {bound:?}:\n{}",
            path.display(),
            child.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn scenario_8_worker_killed_during_cleanup_then_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s8.db");
    let marker = dir.path().join("cleanup-attempts");
    let log = dir.path().join("child.log");
    let (db_arg, marker_arg) = (db.to_str().unwrap(), marker.to_str().unwrap());
    let mut child = ChildGuard::spawn(&["scenario8", db_arg, marker_arg], &log);
    wait_for_text(
        &marker,
        "cleanup attempt 1\n",
        &mut child,
        Duration::from_secs(30),
    );
    child.kill();
    let mut child = ChildGuard::spawn(&["scenario8", db_arg, marker_arg, "finish"], &log);
    let status = child
        .wait_for(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the restarted run did not finish:\n{}", child.output()));
    assert!(status.success(), "{status}:\n{}", child.output());

    let store = SqliteStore::open(&db).unwrap();
    store.verify().unwrap();
    let snapshot = store.load().unwrap();
    let rec = &snapshot.executions[0];
    assert_eq!(rec.status, WorkflowExecutionStatus::Canceled as i32);
    let events = store.read_history(&rec.run_id, 1, usize::MAX).unwrap();
    let summary: Vec<String> = events
        .iter()
        .map(|e| event_type_name(e.event_type))
        .filter(|t| !t.starts_with("WorkflowTask") && t != "ActivityTaskStarted")
        .collect();
    assert_eq!(
        summary,
        [
            "WorkflowExecutionStarted",
            "ActivityTaskScheduled",
            "WorkflowExecutionCancelRequested",
            "ActivityTaskCancelRequested",
            "ActivityTaskCanceled",
            "ActivityTaskScheduled",
            "ActivityTaskCompleted",
            "WorkflowExecutionCanceled",
        ],
        "{}",
        dacapo::proto::describe_history(&events).join("\n")
    );
    let facts = check_history("scenario 8", "scenario-8", &events);
    assert_eq!(facts.cleanups_scheduled, 1, "the cleanup is scheduled once");
    let cleanup_attempt = events.iter().rev().find_map(|e| match &e.attributes {
        Some(Ev::ActivityTaskStartedEventAttributes(a)) => Some(a.attempt),
        _ => None,
    });
    assert_eq!(
        cleanup_attempt,
        Some(2),
        "the killed attempt was retried once its timeout passed"
    );
    let attempts = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(attempts, "cleanup attempt 1\ncleanup attempt 2\n");
    workload::replayer().replay(&events).unwrap();
}

#[test]
fn a_second_process_on_a_file_in_use_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    let acks = dir.path().join("acks");
    let log = dir.path().join("first.log");
    let db_arg = db.to_str().unwrap();
    let args = ["run", db_arg, acks.to_str().unwrap(), "10", "7", "0"];
    let mut first = ChildGuard::spawn(&args, &log);
    wait_for_text(&acks, "started", &mut first, Duration::from_secs(30));
    let second_log = dir.path().join("second.log");
    let mut second = ChildGuard::spawn(&["open", db_arg], &second_log);
    let status = second
        .wait_for(Duration::from_secs(30))
        .expect("the second process gives up");
    let message = second.output();
    assert_eq!(status.code(), Some(3), "{message}");
    assert!(message.contains("in use by another engine"), "{message}");
    assert!(message.contains(db_arg), "{message}");
    // The first process kept running all along; its file is sound.
    assert!(first.try_wait().is_none(), "{}", first.output());
    first.kill();
    let store = SqliteStore::open(&db).unwrap();
    store.verify().unwrap();
    let acked = read_acks(&acks);
    let snapshot = store.load().unwrap();
    for id in &acked.started {
        assert!(
            snapshot.executions.iter().any(|r| &r.workflow_id == id),
            "{id}"
        );
    }
}

/// Runs `crash-child open <db>`; returns its exit code and output.
fn open_in_child(db: &Path, log: &Path) -> (Option<i32>, String) {
    let mut command = Command::new(CHILD);
    command.args(["open", db.to_str().unwrap()]);
    run_to_end(&mut command, log).unwrap_or_else(|e| panic!("cannot start {CHILD}: {e}"))
}

fn run_to_end(command: &mut Command, log: &Path) -> std::io::Result<(Option<i32>, String)> {
    let _ = std::fs::remove_file(log);
    let mut child = ChildGuard::try_spawn_with(command, log)?;
    let status = child
        .wait_for(Duration::from_secs(30))
        .expect("opening a file finishes");
    Ok((status.code(), child.output()))
}

/// A database of a few pages, closed cleanly.
fn written_file(dir: &Path) -> PathBuf {
    let db = dir.join("written.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = dacapo::Embedded::builder()
            .sqlite(&db)
            .start()
            .await
            .unwrap();
        let client = engine.client();
        for i in 0..50 {
            let input = vec![dacapo::payload::encode(&"x".repeat(1000)).unwrap()];
            let options = dacapo::StartOptions::new(format!("w{i}"), "nobody-polls");
            client
                .start_workflow_by_name("unregistered", input, &options)
                .await
                .unwrap();
        }
        drop(client);
        engine.shutdown().await;
    });
    db
}

#[test]
fn unusable_files_are_refused_by_a_process_with_a_message_naming_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("child.log");

    // An empty file is what SQLite creates for a new database: it is initialised.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let (code, out) = open_in_child(&empty, &log);
    assert_eq!(code, Some(0), "{out}");
    SqliteStore::open(&empty).unwrap().verify().unwrap();

    let written = written_file(dir.path());
    let bytes = std::fs::read(&written).unwrap();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "not a database at all\n".repeat(100)).unwrap();
    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let header_only = dir.path().join("header-only.db");
    std::fs::write(&header_only, &bytes[..100]).unwrap();
    for (file, says) in [
        (&text, "not a SQLite database"),
        (&truncated, "damaged"),
        (&header_only, "damaged"),
    ] {
        let (code, out) = open_in_child(file, &log);
        assert_eq!(code, Some(3), "{}: {out}", file.display());
        assert!(out.contains(file.to_str().unwrap()), "{out}");
        assert!(out.contains(says), "{out}");
        assert!(out.contains("not a usable dacapo database"), "{out}");
    }

    // A read-only directory: neither a new database nor the WAL of an existing one can be
    // created there. Root ignores directory permissions, so then the child runs as nobody.
    let ro = dir.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    let existing = ro.join("existing.db");
    std::fs::copy(&written, &existing).unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let as_nobody = std::fs::write(ro.join("probe"), b"").is_ok();
    let _ = std::fs::remove_file(ro.join("probe"));
    for file in [ro.join("new.db"), existing] {
        let mut command = Command::new(CHILD);
        command.args(["open", file.to_str().unwrap()]);
        if as_nobody {
            use std::os::unix::process::CommandExt;
            command.uid(65534).gid(65534);
        }
        let (code, out) = match run_to_end(&mut command, &log) {
            Ok(outcome) => outcome,
            Err(e) if as_nobody => {
                eprintln!(
                    "read-only directory not checked: this test runs as root and user nobody cannot run {CHILD}: {e}"
                );
                break;
            }
            Err(e) => panic!("cannot start {CHILD}: {e}"),
        };
        assert_eq!(code, Some(3), "{}: {out}", file.display());
        assert!(out.contains(file.to_str().unwrap()), "{out}");
        assert!(out.contains("writable"), "{out}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}
