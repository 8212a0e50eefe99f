//! Benchmarks: dacapo's embedded engine, dacapo served over loopback gRPC, and the same worker
//! on the Temporal dev server, measured side by side in one run.
//!
//! ```text
//! cargo run --release --example bench -- <scenario> [--n N] [--temporal-n N] [--no-temporal]
//! ```
//!
//! Scenarios: `throughput`, `cancel-latency`, `replay`, `idle`, `cold-start`, `messages`, `all`.
//! Each prints its details, then one summary line per figure: `name: value unit (ratio vs
//! temporal)`.
//! See `BENCHMARKS.md` for what each measures and the figures of a reference run.

mod backend;
mod scenarios;
mod workload;

use backend::Backend;
use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Runs dacapo's benchmarks.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Args {
    /// Which benchmark to run.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Size: workflows (throughput, idle), runs (cancel-latency, cold-start) or history events
    /// (replay). Each scenario has its own default.
    #[arg(long)]
    n: Option<usize>,
    /// Size on the Temporal dev server, when it differs from `--n` (Temporal is slower, so its
    /// default is smaller where the figure is a rate).
    #[arg(long)]
    temporal_n: Option<usize>,
    /// Skip the Temporal dev server (no ratios are printed).
    #[arg(long)]
    no_temporal: bool,
    /// Run only on these backends (comma separated: embedded, server, temporal); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<backend::Backend>,
    /// Where the SQLite files go (default: a fresh folder in the system temp dir, removed at the
    /// end).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Workflows of three sequential activities, started concurrently, until all results are in.
    Throughput,
    /// From a cancel call returning to the run closing Canceled, cleanup included.
    CancelLatency,
    /// Rebuilding a workflow from a long history.
    Replay,
    /// Many open workflows waiting on a one-hour timer: peak memory and time to start them.
    Idle,
    /// From process start to the first workflow task handled.
    ColdStart,
    /// Signal round trip.
    Messages,
    /// Every scenario above, one after the other.
    All,
    /// Internal: the measured process of `idle`.
    #[value(hide = true)]
    IdleChild,
    /// Internal: the measured process of `cold-start`.
    #[value(hide = true)]
    ColdChild,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // `RUST_LOG=dacapo=debug` shows what the engine and worker do; quiet by default.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (dir, temporary) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            (d.clone(), false)
        }
        None => {
            let d = std::env::temp_dir().join(format!("dacapo-bench-{}", std::process::id()));
            std::fs::create_dir_all(&d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            (d, true)
        }
    };
    let result = dispatch(&args, &dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn dispatch(args: &Args, dir: &std::path::Path) -> Result<(), String> {
    match args.scenario {
        Scenario::IdleChild => return scenarios::idle_child(args.n.unwrap_or(100_000), dir).await,
        Scenario::ColdChild => return scenarios::cold_child(dir).await,
        _ => {}
    }
    let mut chosen = if args.only.is_empty() {
        vec![Backend::Embedded, Backend::Server, Backend::Temporal]
    } else {
        args.only.clone()
    };
    if args.no_temporal {
        chosen.retain(|b| *b != Backend::Temporal);
    }
    let mut summary = Vec::new();
    let all = args.scenario == Scenario::All;
    let chosen = &chosen;
    if all || args.scenario == Scenario::Throughput {
        summary.extend(scenarios::throughput(dir, chosen, args.n, args.temporal_n).await?);
    }
    if all || args.scenario == Scenario::CancelLatency {
        summary.extend(scenarios::cancel_latency(dir, chosen, args.n, args.temporal_n).await?);
    }
    if all || args.scenario == Scenario::Replay {
        summary.extend(scenarios::replay(args.n).await?);
    }
    if all || args.scenario == Scenario::Idle {
        summary.extend(scenarios::idle(dir, args.n).await?);
    }
    if all || args.scenario == Scenario::Messages {
        summary.extend(scenarios::messages(dir, chosen, args.n, args.temporal_n).await?);
    }
    if all || args.scenario == Scenario::ColdStart {
        summary.extend(scenarios::cold_start(dir, chosen, args.n, args.temporal_n).await?);
    }
    println!();
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
