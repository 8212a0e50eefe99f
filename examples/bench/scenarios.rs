//! The scenarios. Each returns its summary lines, `name: value unit (ratio vs temporal)`.

use crate::backend::{Backend, Setup, rand_suffix, remove_db};
use crate::workload::{
    BUMP, PING, PROGRESS, cancellable, clean_up, heartbeat_until_cancelled, heartbeating,
    many_steps, noop, queried_after_steps, step, takes_updates, three_steps, wait_an_hour,
    wait_for_ping,
};
use dacapo::worker::{WorkerBuilder, WorkerOptions};
use dacapo::{ClientError, Embedded, StartOptions};
use futures::{StreamExt, TryStreamExt, stream};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Calls in flight at once when starting or awaiting many workflows.
const IN_FLIGHT: usize = 256;

fn worker_options() -> WorkerOptions {
    WorkerOptions {
        workflow_pollers: 16,
        activity_pollers: 16,
        max_concurrent_activities: 1_000,
        ..WorkerOptions::default()
    }
}

/// The size of a scenario on `backend`: `temporal_n` on the Temporal dev server, `n` on dacapo.
fn size_on(backend: Backend, n: usize, temporal_n: usize) -> usize {
    if backend == Backend::Temporal {
        temporal_n
    } else {
        n
    }
}

/// `(12.3x temporal)`, or nothing without a Temporal figure. `higher_is_better` decides which
/// way the ratio is taken, so that a ratio above 1 always means dacapo is ahead.
fn ratio(value: f64, temporal: Option<f64>, higher_is_better: bool) -> String {
    match temporal {
        Some(t) if t > 0.0 && value > 0.0 => {
            let r = if higher_is_better {
                value / t
            } else {
                t / value
            };
            let word = if higher_is_better { "" } else { " faster" };
            format!(" ({r:.1}x{word} vs temporal)")
        }
        _ => String::new(),
    }
}

/// One summary line per figure, `{label}, {backend}: {value} {unit}`, each dacapo figure with
/// its ratio to Temporal's where there is one.
fn summary(
    label: &str,
    unit: &str,
    decimals: usize,
    higher_is_better: bool,
    figures: &[(Backend, f64)],
) -> Vec<String> {
    let temporal = figures
        .iter()
        .find(|(b, _)| *b == Backend::Temporal)
        .map(|f| f.1);
    figures
        .iter()
        .map(|&(backend, value)| {
            let tail = if backend == Backend::Temporal {
                String::new()
            } else {
                ratio(value, temporal, higher_is_better)
            };
            format!(
                "{label}, {}: {value:.decimals$} {unit}{tail}",
                backend.name()
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Throughput

fn register_throughput(b: WorkerBuilder) -> WorkerBuilder {
    b.workflow(three_steps).activity(step)
}

/// Throughput of workflows of three sequential activities.
pub async fn throughput(
    dir: &Path,
    chosen: &[Backend],
    n: Option<usize>,
    temporal_n: Option<usize>,
) -> Result<Vec<String>, String> {
    let n = n.unwrap_or(10_000);
    let temporal_n = temporal_n.unwrap_or(n.min(1_000));
    println!("\n== throughput: workflows of 3 sequential activities, started concurrently");
    let mut rates = Vec::new();
    for &backend in chosen {
        let count = size_on(backend, n, temporal_n);
        let queue = format!("throughput-{}", rand_suffix());
        let setup =
            Setup::start(backend, dir, &queue, register_throughput, worker_options()).await?;
        let started = Instant::now();
        let client = setup.client.clone();
        let handles: Vec<_> = stream::iter(0..count as u64)
            .map(|i| {
                let client = client.clone();
                let options = StartOptions::new(format!("{queue}-{i}"), &queue);
                async move {
                    let handle = client.start_workflow(three_steps, i, options).await?;
                    Ok::<_, ClientError>((i, handle))
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await
            .map_err(|e| format!("{}: start: {e}", backend.name()))?;
        let all_started = started.elapsed();
        let results: Vec<(u64, u64)> = stream::iter(handles)
            .map(|(i, h)| async move { h.result().await.map(|r| (i, r)) })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await
            .map_err(|e| format!("{}: result: {e}", backend.name()))?;
        let elapsed = started.elapsed();
        if let Some((i, result)) = results.iter().find(|(i, r)| *r != i + 3) {
            return Err(format!("{queue}-{i} returned {result}, expected {}", i + 3));
        }
        let rate = count as f64 / elapsed.as_secs_f64();
        println!(
            "  {:<20} {count:>6} workflows in {:>7.2} s (all started after {:.2} s): {rate:>8.1} workflows/s",
            backend.name(),
            elapsed.as_secs_f64(),
            all_started.as_secs_f64()
        );
        rates.push((backend, rate));
        setup.stop().await;
    }
    Ok(summary("throughput", "workflows/s", 0, true, &rates))
}

// ---------------------------------------------------------------------------------------------
// Cancel latency

fn register_cancel(b: WorkerBuilder) -> WorkerBuilder {
    b.workflow(cancellable)
        .activity(heartbeat_until_cancelled)
        .activity(clean_up)
}

/// Percentile `p` (0..=100) of sorted samples, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One cancel: start, wait for the first heartbeat, cancel, time until the run closes.
async fn one_cancel(client: &dacapo::Client, queue: &str, id: String) -> Result<Duration, String> {
    let handle = client
        .start_workflow(cancellable, (), StartOptions::new(&id, queue))
        .await
        .map_err(|e| format!("start {id}: {e}"))?;
    tokio::time::timeout(Duration::from_secs(60), heartbeating(&id))
        .await
        .map_err(|_| format!("{id}: its activity did not heartbeat within 60 s"))?;
    handle
        .cancel("benchmark")
        .await
        .map_err(|e| format!("cancel {id}: {e}"))?;
    let cancelled = Instant::now();
    match handle.result().await {
        Err(ClientError::Canceled { .. }) => Ok(cancelled.elapsed()),
        Ok(()) => Err(format!("{id} completed instead of closing Canceled")),
        Err(e) => Err(format!("{id} did not close Canceled: {e}")),
    }
}

/// Cancel latency: `n` runs, `lanes` of them at a time.
pub async fn cancel_latency(
    dir: &Path,
    chosen: &[Backend],
    n: Option<usize>,
    temporal_n: Option<usize>,
) -> Result<Vec<String>, String> {
    let n = n.unwrap_or(200);
    let temporal_n = temporal_n.unwrap_or(n);
    println!(
        "\n== cancel-latency: cancel call returned -> run closed Canceled (heartbeat every 1 s, \
         heartbeat timeout 2 s, cleanup activity)"
    );
    let mut figures = Vec::new();
    for &backend in chosen {
        let (count, lanes) = match backend {
            // Measured one at a time: nothing else competes for the engine.
            Backend::Embedded => (n, 1),
            // A remote worker learns of the cancel from a heartbeat answer, at most one per
            // 0.8 x the heartbeat timeout (1.6 s): run ten at a time so that the scenario
            // stays within minutes.
            Backend::Server => (n, 10),
            Backend::Temporal => (temporal_n, 10),
        };
        let queue = format!("cancel-{}", rand_suffix());
        let setup = Setup::start(backend, dir, &queue, register_cancel, worker_options()).await?;
        // Warm up: connections, caches, the first SQLite pages.
        one_cancel(&setup.client, &queue, format!("{queue}-warmup")).await?;
        let client = setup.client.clone();
        let mut samples: Vec<Duration> = stream::iter(0..count)
            .map(|i| one_cancel(&client, &queue, format!("{queue}-{i}")))
            .buffer_unordered(lanes)
            .try_collect()
            .await
            .map_err(|e| format!("{}: {e}", backend.name()))?;
        samples.sort();
        print_latency(backend, &format!("runs ({lanes} at a time)"), &samples);
        figures.push((backend, samples));
        setup.stop().await;
    }
    Ok(latency_summary("cancel-latency", &figures))
}

// ---------------------------------------------------------------------------------------------
// Messages

fn register_messages(b: WorkerBuilder) -> WorkerBuilder {
    b.workflow(wait_for_ping)
        .workflow(takes_updates)
        .workflow(queried_after_steps)
        .activity(step)
}

/// p50 and p99 lines of one figure per backend, each backend's p50 then its p99.
fn latency_summary(label: &str, figures: &[(Backend, Vec<Duration>)]) -> Vec<String> {
    let pick = |p: f64| -> Vec<(Backend, f64)> {
        figures
            .iter()
            .map(|(b, samples)| (*b, ms(percentile(samples, p))))
            .collect()
    };
    let p50s = summary(&format!("{label} p50"), "ms", 3, false, &pick(50.0));
    let p99s = summary(&format!("{label} p99"), "ms", 3, false, &pick(99.0));
    p50s.into_iter()
        .zip(p99s)
        .flat_map(<[String; 2]>::from)
        .collect()
}

/// Prints one backend's samples (sorted) of a latency figure.
fn print_latency(backend: Backend, what: &str, samples: &[Duration]) {
    println!(
        "  {:<20} {:>4} {what}: p50 {:>9.3} ms  p99 {:>9.3} ms  max {:>9.3} ms",
        backend.name(),
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 99.0)),
        ms(percentile(samples, 100.0))
    );
}

/// Waits until the run `id` has completed its first workflow task, so that it is waiting.
async fn first_task_done(client: &dacapo::Client, id: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = client
            .history(id, None)
            .await
            .map_err(|e| format!("history of {id}: {e}"))?;
        if events
            .iter()
            .any(|e| e.event_type == dacapo::proto::enums::EventType::WorkflowTaskCompleted as i32)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{id}: no workflow task completed within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Messages: signal round trip (signal sent -> the waiting workflow reacted -> its result
/// seen), query latency on a run with a 1,000-event history, and update latency (update sent ->
/// its handler's result seen, the Completed stage), `n` of each, one at a time.
pub async fn messages(
    dir: &Path,
    chosen: &[Backend],
    n: Option<usize>,
    temporal_n: Option<usize>,
) -> Result<Vec<String>, String> {
    let n = n.unwrap_or(200);
    let temporal_n = temporal_n.unwrap_or(n);
    println!(
        "\n== messages: signal round trip (signal sent -> workflow reacted -> result seen), \
         query latency (a 1,000-event history), update latency (sent -> handler's result seen)"
    );
    let (mut round_trips, mut queries, mut updates) = (Vec::new(), Vec::new(), Vec::new());
    for &backend in chosen {
        let count = size_on(backend, n, temporal_n);
        let queue = format!("messages-{}", rand_suffix());
        let setup = Setup::start(backend, dir, &queue, register_messages, worker_options()).await?;
        let named = |e: String| format!("{}: {e}", backend.name());
        let samples = signal_round_trips(&setup.client, &queue, count)
            .await
            .map_err(named)?;
        print_latency(backend, "signal round trips", &samples);
        round_trips.push((backend, samples));
        let samples = query_latencies(&setup.client, &queue, count)
            .await
            .map_err(named)?;
        print_latency(backend, "queries", &samples);
        queries.push((backend, samples));
        let samples = update_latencies(&setup.client, &queue, count)
            .await
            .map_err(named)?;
        print_latency(backend, "updates", &samples);
        updates.push((backend, samples));
        setup.stop().await;
    }
    let mut lines = latency_summary("signal round trip", &round_trips);
    lines.extend(latency_summary("query latency", &queries));
    lines.extend(latency_summary("update latency", &updates));
    Ok(lines)
}

/// `count` signal round trips, sorted; each run waits before its signal is sent. One more run
/// than measured: the first warms connections and caches up.
async fn signal_round_trips(
    client: &dacapo::Client,
    queue: &str,
    count: usize,
) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..=count {
        let id = format!("{queue}-ping-{i}");
        let handle = client
            .start_workflow(wait_for_ping, (), StartOptions::new(&id, queue))
            .await
            .map_err(|e| format!("start {id}: {e}"))?;
        first_task_done(client, &id).await?;
        let sent = Instant::now();
        handle
            .signal(PING, i as u64)
            .await
            .map_err(|e| format!("signal {id}: {e}"))?;
        let result = handle
            .result()
            .await
            .map_err(|e| format!("result of {id}: {e}"))?;
        if result != i as u64 + 1 {
            return Err(format!("{id} returned {result}, expected {}", i + 1));
        }
        if i > 0 {
            samples.push(sent.elapsed());
        }
    }
    samples.sort();
    Ok(samples)
}

/// Steps of the query-latency run: 4 events to its first task, 6 per activity, 1,000 in all
/// (fewer when fewer queries are asked for, as in the test suite's small run).
const QUERIED_STEPS: u64 = 166;

/// `count` queries to one waiting run with a 1,000-event history, one at a time; sorted. The
/// first answers, unmeasured, wait for the run to finish its steps.
async fn query_latencies(
    client: &dacapo::Client,
    queue: &str,
    count: usize,
) -> Result<Vec<Duration>, String> {
    let id = format!("{queue}-queries");
    let steps = QUERIED_STEPS.min(count as u64);
    let handle = client
        .start_workflow(queried_after_steps, steps, StartOptions::new(&id, queue))
        .await
        .map_err(|e| format!("start {id}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = handle
            .query(PROGRESS, ())
            .await
            .map_err(|e| format!("query {id}: {e}"))?;
        if done == steps {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{id}: {done} of {steps} steps after 300 s"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = client
        .history(&id, None)
        .await
        .map_err(|e| format!("history of {id}: {e}"))?
        .len();
    println!("  (queried run: {events} events)");
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        let done = handle
            .query(PROGRESS, ())
            .await
            .map_err(|e| format!("query {id}: {e}"))?;
        samples.push(sent.elapsed());
        if done != steps {
            return Err(format!("{id} answered {done}, expected {steps}"));
        }
    }
    handle
        .signal(PING, 0)
        .await
        .map_err(|e| format!("signal {id}: {e}"))?;
    handle
        .result()
        .await
        .map_err(|e| format!("result of {id}: {e}"))?;
    samples.sort();
    Ok(samples)
}

/// `count` updates to one waiting run, one at a time, each timed until its result is in;
/// sorted. The first, unmeasured, warms up.
async fn update_latencies(
    client: &dacapo::Client,
    queue: &str,
    count: usize,
) -> Result<Vec<Duration>, String> {
    let id = format!("{queue}-updates");
    let handle = client
        .start_workflow(takes_updates, (), StartOptions::new(&id, queue))
        .await
        .map_err(|e| format!("start {id}: {e}"))?;
    first_task_done(client, &id).await?;
    let mut samples = Vec::with_capacity(count);
    for i in 0..=count as u64 {
        let sent = Instant::now();
        let answer = handle
            .update(BUMP, i)
            .await
            .map_err(|e| format!("update {i} of {id}: {e}"))?;
        if answer != i + 1 {
            return Err(format!("update {i} of {id} answered {answer}"));
        }
        if i > 0 {
            samples.push(sent.elapsed());
        }
    }
    let events = client
        .history(&id, None)
        .await
        .map_err(|e| format!("history of {id}: {e}"))?
        .len();
    println!("  (updated run: {events} events at the end)");
    handle
        .signal(PING, 0)
        .await
        .map_err(|e| format!("signal {id}: {e}"))?;
    handle
        .result()
        .await
        .map_err(|e| format!("result of {id}: {e}"))?;
    samples.sort();
    Ok(samples)
}

// ---------------------------------------------------------------------------------------------
// Replay

/// Replay of a history of about `n` events, recorded on the in-memory engine.
pub async fn replay(n: Option<usize>) -> Result<Vec<String>, String> {
    let target = n.unwrap_or(10_000).max(11);
    // Started + first workflow task (4), six per activity, the close event (1).
    let steps = (target - 5).div_ceil(6) as u64;
    println!(
        "\n== replay: rebuilding a workflow of {steps} sequential activities from its history"
    );
    let runtime = Embedded::builder()
        .in_memory()
        .task_queue("replay")
        .workflow(many_steps)
        .activity(step)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = runtime.client();
    let recorded = Instant::now();
    let handle = client
        .start_workflow(many_steps, steps, StartOptions::new("replay", "replay"))
        .await
        .map_err(|e| e.to_string())?;
    let result = handle.result().await.map_err(|e| e.to_string())?;
    if result != steps {
        return Err(format!("many_steps returned {result}, expected {steps}"));
    }
    let history = client
        .history("replay", None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "  recorded {} events in {:.2} s",
        history.len(),
        recorded.elapsed().as_secs_f64()
    );
    runtime.shutdown().await;

    let replayer = dacapo::replay::Replayer::new().workflow(many_steps);
    // Warm up, and check that the history replays to the end.
    let first = replayer.replay(&history).map_err(|e| e.to_string())?;
    if !first.finished || first.events != history.len() {
        return Err(format!(
            "the replay did not go through the history: {first:?}"
        ));
    }
    let mut times = Vec::new();
    let budget = Instant::now();
    while times.len() < 20 || (budget.elapsed() < Duration::from_secs(3) && times.len() < 1_000) {
        let t = Instant::now();
        let replayed = replayer.replay(&history).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        std::hint::black_box(replayed);
    }
    times.sort();
    let median = percentile(&times, 50.0);
    let rate = history.len() as f64 / median.as_secs_f64();
    println!(
        "  {} replays: median {:.2} ms, fastest {:.2} ms, slowest {:.2} ms per history",
        times.len(),
        ms(median),
        ms(times[0]),
        ms(percentile(&times, 100.0))
    );
    Ok(vec![format!(
        "replay, {} events: {:.0} events/s (median of {} replays; {:.2} ms per replay)",
        history.len(),
        rate,
        times.len(),
        ms(median)
    )])
}

// ---------------------------------------------------------------------------------------------
// Idle

/// Starts `n` workflows that wait on a one-hour timer in a fresh process and reads its peak RSS.
pub async fn idle(dir: &Path, n: Option<usize>) -> Result<Vec<String>, String> {
    let n = n.unwrap_or(100_000);
    println!("\n== idle: {n} open workflows, each waiting on a 1-hour timer (embedded, SQLite)");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let out = tokio::task::spawn_blocking({
        let dir = dir.to_path_buf();
        move || {
            Command::new(exe)
                .arg("idle-child")
                .arg("--n")
                .arg(n.to_string())
                .arg("--dir")
                .arg(dir)
                .stderr(Stdio::inherit())
                .output()
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot run the idle process: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        return Err(format!("the idle process failed: {}", out.status));
    }
    let field = |name: &str| -> Result<f64, String> {
        text.lines()
            .find_map(|l| l.strip_prefix("idle-result "))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            })
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("the idle process did not report {name}"))
    };
    let hwm_mib = field("hwm_kb")? / 1024.0;
    let started = field("started_s")?;
    let settled = field("settled_s")?;
    Ok(vec![
        format!("idle, {n} workflows: {hwm_mib:.0} MiB peak RSS"),
        format!(
            "idle, {n} workflows: {settled:.1} s to start them all and reach their timers ({:.0} workflows/s; all start calls answered after {started:.1} s)",
            n as f64 / settled
        ),
    ])
}

fn register_idle(b: WorkerBuilder) -> WorkerBuilder {
    b.workflow(wait_an_hour)
}

/// A figure from `/proc/self/status`, in KiB.
fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The measured process of [`idle`].
pub async fn idle_child(n: usize, dir: &Path) -> Result<(), String> {
    let db = dir.join(format!("idle-{}.db", rand_suffix()));
    let queue = "idle";
    let baseline_kb = proc_status_kb("VmRSS:").unwrap_or(0);
    let runtime = Embedded::builder()
        .sqlite(&db)
        .task_queue(queue)
        .register(register_idle)
        .worker_options(worker_options())
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = runtime.client();
    let started = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                client
                    .start_workflow(
                        wait_an_hour,
                        (),
                        StartOptions::new(format!("idle-{i}"), queue),
                    )
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
        .map_err(|e| format!("start: {e}"))?;
    let all_started = started.elapsed();
    // Settled: no workflow task left anywhere, and every run waits on its timer.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stats = runtime.engine().stats();
        if stats.pending_workflow_tasks == 0 && stats.pending_timers == n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("not settled after 10 minutes: {stats:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled = started.elapsed();
    let stats = runtime.engine().stats();
    let hwm_kb = proc_status_kb("VmHWM:").unwrap_or(0);
    let rss_kb = proc_status_kb("VmRSS:").unwrap_or(0);
    let db_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "  {n} workflows started in {:.2} s, all waiting on their timer after {:.2} s",
        all_started.as_secs_f64(),
        settled.as_secs_f64()
    );
    println!(
        "  engine: {} open runs, {} timers, {} history events",
        stats.open_runs, stats.pending_timers, stats.history_events
    );
    println!(
        "  RSS: peak {:.0} MiB, now {:.0} MiB (before the engine opened: {:.0} MiB); database {:.0} MiB",
        hwm_kb as f64 / 1024.0,
        rss_kb as f64 / 1024.0,
        baseline_kb as f64 / 1024.0,
        db_bytes as f64 / 1024.0 / 1024.0
    );
    println!(
        "idle-result started_s={:.3} settled_s={:.3} hwm_kb={hwm_kb} rss_kb={rss_kb}",
        all_started.as_secs_f64(),
        settled.as_secs_f64()
    );
    drop(client);
    runtime.shutdown().await;
    remove_db(&db);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cold start

fn register_noop(b: WorkerBuilder) -> WorkerBuilder {
    b.workflow(noop)
}

/// The measured process of [`cold_start`]: opens a fresh database, runs one workflow, says so.
pub async fn cold_child(dir: &Path) -> Result<(), String> {
    let db = dir.join(format!("cold-{}.db", rand_suffix()));
    let runtime = Embedded::builder()
        .sqlite(&db)
        .task_queue("cold")
        .register(register_noop)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let client = runtime.client();
    let handle = client
        .start_workflow(noop, (), StartOptions::new("cold", "cold"))
        .await
        .map_err(|e| e.to_string())?;
    handle.result().await.map_err(|e| e.to_string())?;
    println!("cold-ready");
    drop(client);
    runtime.shutdown().await;
    remove_db(&db);
    Ok(())
}

/// Spawns the cold-start child and times until it reports its first workflow done.
fn time_cold_child(dir: &Path) -> Result<Duration, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let spawned = Instant::now();
    let mut child = Command::new(exe)
        .arg("cold-child")
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run the cold-start process: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from the child")?;
    let mut ready = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line == "cold-ready" && ready.is_none() {
            ready = Some(spawned.elapsed());
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    match ready {
        Some(d) if status.success() => Ok(d),
        _ => Err(format!(
            "the cold-start process did not run its workflow: {status}"
        )),
    }
}

/// Cold start: process start to the first workflow task handled, `n` times.
pub async fn cold_start(
    dir: &Path,
    chosen: &[Backend],
    n: Option<usize>,
    temporal_n: Option<usize>,
) -> Result<Vec<String>, String> {
    let n = n.unwrap_or(10).max(1);
    let temporal_n = temporal_n.unwrap_or(3).max(1);
    println!("\n== cold-start: process start -> first workflow task handled (fresh SQLite file)");
    let mut medians = Vec::new();
    if chosen.contains(&Backend::Embedded) {
        let mut samples = Vec::new();
        for _ in 0..n {
            let dir = dir.to_path_buf();
            samples.push(
                tokio::task::spawn_blocking(move || time_cold_child(&dir))
                    .await
                    .map_err(|e| e.to_string())??,
            );
        }
        medians.push((Backend::Embedded, spread(Backend::Embedded, samples, "")));
    }
    if chosen.contains(&Backend::Temporal) {
        let mut samples = Vec::new();
        for _ in 0..temporal_n {
            samples.push(temporal_cold_start(dir).await?);
        }
        let note = " (dev server process start -> ready -> worker -> first workflow task)";
        medians.push((Backend::Temporal, spread(Backend::Temporal, samples, note)));
    }
    Ok(summary("cold-start", "ms", 1, false, &medians))
}

/// Prints the median, fastest and slowest of `samples`; returns the median in ms.
fn spread(backend: Backend, mut samples: Vec<Duration>, note: &str) -> f64 {
    samples.sort();
    let median = percentile(&samples, 50.0);
    println!(
        "  {:<20} {:>3} runs: median {:>8.1} ms  fastest {:>8.1} ms  slowest {:>8.1} ms{note}",
        backend.name(),
        samples.len(),
        ms(median),
        ms(percentile(&samples, 0.0)),
        ms(percentile(&samples, 100.0))
    );
    ms(median)
}

/// A fresh dev server, a worker on it and one workflow, timed from the server's spawn.
async fn temporal_cold_start(dir: &Path) -> Result<Duration, String> {
    let queue = format!("cold-{}", rand_suffix());
    let setup = Setup::start(
        Backend::Temporal,
        dir,
        &queue,
        register_noop,
        WorkerOptions::default(),
    )
    .await?;
    let handle = setup
        .client
        .start_workflow(noop, (), StartOptions::new(&queue, &queue))
        .await
        .map_err(|e| e.to_string())?;
    handle.result().await.map_err(|e| e.to_string())?;
    let spawned = setup
        .temporal
        .as_ref()
        .map(|server| server.spawned)
        .ok_or("the Temporal backend has no dev server")?;
    let elapsed = spawned.elapsed();
    setup.stop().await;
    Ok(elapsed)
}
