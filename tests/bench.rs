//! The benchmark program runs end to end at a small size, Temporal dev server included, and
//! prints every summary line with a figure (and a ratio where Temporal has a counterpart).
//! The figures themselves are checked by running the benchmark, not here: see BENCHMARKS.md.

use dacapo_tests::procs::{binaries, run};
use std::time::Duration;

/// The number after `prefix` on the summary line that starts with it.
fn figure(out: &str, prefix: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no summary line starting with {prefix:?} in:\n{out}"));
    line[prefix.len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no figure on {line:?}"))
}

#[test]
fn every_scenario_prints_its_summary() {
    let bench = binaries().join("examples").join("bench");
    let out = run(
        &bench,
        &["all", "--n", "24", "--temporal-n", "2"],
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    for backend in ["dacapo embedded", "dacapo server", "temporal dev server"] {
        let rate = figure(&stdout, &format!("throughput, {backend}: "));
        assert!(rate > 0.0, "{backend}: {rate} workflows/s");
        let p99 = figure(&stdout, &format!("cancel-latency p99, {backend}: "));
        assert!(p99 > 0.0, "{backend}: p99 {p99} ms");
    }
    for prefix in [
        "throughput, dacapo embedded: ",
        "cancel-latency p50, dacapo embedded: ",
        "cold-start, dacapo embedded: ",
        "signal round trip p50, dacapo embedded: ",
        "signal round trip p99, dacapo server: ",
        "query latency p99, dacapo embedded: ",
        "update latency p50, dacapo embedded: ",
        "update latency p99, dacapo server: ",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or("");
        assert!(line.contains("vs temporal)"), "no ratio on {line:?}");
    }
    // 24 events asked for: 4 activities, 29 events, all replayed.
    assert!(figure(&stdout, "replay, 29 events: ") > 0.0);
    let idle_mib = figure(&stdout, "idle, 24 workflows: ");
    assert!(idle_mib > 0.0 && idle_mib < 1024.0, "{idle_mib} MiB");
    assert!(figure(&stdout, "cold-start, temporal dev server: ") > 0.0);
}
