//! The server under attack: the `dacapo` binary as a process, its SQLite file, and the runs
//! committed before the attack.

use dacapo::proto::WorkflowServiceClient;
use dacapo::proto::common::{WorkflowExecution, WorkflowType};
use dacapo::proto::enums::{EventType, WorkflowExecutionStatus};
use dacapo::proto::service::{
    DescribeWorkflowExecutionRequest, GetWorkflowExecutionHistoryRequest,
    StartWorkflowExecutionRequest,
};
use dacapo::proto::taskqueue::TaskQueue;
use dacapo_tests::procs::{self, Proc};
use std::path::PathBuf;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// The namespace every test uses.
pub const NS: &str = "default";
/// The task queue of the seeded runs (no worker polls it, so they stay open).
pub const SEED_QUEUE: &str = "hostile-seed";

/// A run committed before the attack.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub workflow_id: String,
    pub run_id: String,
}

/// A `dacapo server` process on its own SQLite file.
pub struct Target {
    proc: Option<Proc>,
    args: Vec<String>,
    pub port: u16,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Target {
    /// Starts `dacapo server` on a fresh file with `extra` arguments.
    pub async fn start(extra: &[&str]) -> Target {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("hostile.db");
        let mut target = Target {
            proc: None,
            args: extra.iter().map(|s| s.to_string()).collect(),
            port: 0,
            db,
            dir,
        };
        target.launch();
        target
    }

    /// Starts `dacapo server` on `db`, a path the test chose (on a file system of its own, say),
    /// with `extra` arguments; the server's log still goes to a temporary directory.
    pub async fn start_on(db: PathBuf, extra: &[&str]) -> Target {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut target = Target {
            proc: None,
            args: extra.iter().map(|s| s.to_string()).collect(),
            port: 0,
            db,
            dir,
        };
        target.launch();
        target
    }

    /// Kills the server (SIGKILL) and leaves it stopped.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// Runs `dacapo server` on the same file expecting it to refuse to start; gives its output.
    pub fn refused_start(&self) -> String {
        let bin = procs::binaries().join("dacapo");
        let port = procs::free_port().to_string();
        let db = self.db.to_str().expect("a UTF-8 path");
        let mut args = vec!["server", "--ip", "127.0.0.1", "--port", &port, "--db", db];
        args.extend(self.args.iter().map(String::as_str));
        let out = procs::run(&bin, &args, Duration::from_secs(30));
        assert!(
            !out.status.success(),
            "the server started on {db} although it should have refused"
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn launch(&mut self) {
        let port = procs::free_port();
        let bin = procs::binaries().join("dacapo");
        let port_arg = port.to_string();
        let db = self.db.to_str().expect("a UTF-8 path").to_string();
        let mut args = vec![
            "server",
            "--ip",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--db",
            &db,
        ];
        args.extend(self.args.iter().map(String::as_str));
        let proc = procs::spawn(self.dir.path(), &format!("server-{port}"), &bin, &args);
        procs::wait_for_port(port, &proc);
        self.port = port;
        self.proc = Some(proc);
    }

    /// The value given for `flag` among the extra arguments.
    fn arg(&self, flag: &str) -> Option<&str> {
        let at = self.args.iter().position(|a| a == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        let scheme = if self.arg("--tls-cert").is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `message` as a request that carries the server's API key, when it has one.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(key) = self.arg("--api-key") {
            let value = format!("Bearer {key}").parse().expect("an ASCII API key");
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// The process, to read its log or pid.
    pub fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("the server runs")
    }

    /// Kills the server (SIGKILL) and starts it again on the same file; the file must open.
    pub async fn restart(&mut self) {
        self.proc = None;
        self.launch();
    }

    /// A plain tonic client of the server, with receive and send limits far above the
    /// server's own, so that what is refused is refused by the server. With `--tls-cert`, it
    /// trusts that (self-signed) certificate for `localhost`.
    pub async fn client(&self) -> WorkflowServiceClient<Channel> {
        let mut endpoint = Channel::from_shared(self.url())
            .expect("a valid URL")
            .connect_timeout(Duration::from_secs(10));
        if let Some(cert) = self.arg("--tls-cert") {
            let pem = std::fs::read(cert).expect("read the server's certificate");
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(pem))
                .domain_name("localhost");
            endpoint = endpoint
                .tls_config(tls)
                .expect("a usable TLS configuration");
        }
        let channel = endpoint.connect().await.expect("connect to the server");
        WorkflowServiceClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// The server's resident set size now, in KiB (`VmRSS`), and its peak (`VmHWM`).
    pub fn rss_kib(&mut self) -> (u64, u64) {
        let pid = self.proc().pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Starts `n` runs that no worker will pick up; returns them.
    pub async fn seed(&self, n: usize) -> Vec<Seeded> {
        let mut client = self.client().await;
        let mut seeded = Vec::new();
        for i in 0..n {
            let workflow_id = format!("seed-{i}-{}", uuid_like());
            let resp = client
                .start_workflow_execution(self.request(StartWorkflowExecutionRequest {
                    namespace: NS.into(),
                    workflow_id: workflow_id.clone(),
                    workflow_type: Some(WorkflowType {
                        name: "seeded".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: SEED_QUEUE.into(),
                        ..Default::default()
                    }),
                    request_id: uuid_like(),
                    ..Default::default()
                }))
                .await
                .expect("seed a run");
            seeded.push(Seeded {
                workflow_id,
                run_id: resp.into_inner().run_id,
            });
        }
        seeded
    }

    /// Every seeded run is still Running, and its history reads and starts with
    /// `WorkflowExecutionStarted`.
    pub async fn check_seeded(&self, seeded: &[Seeded]) {
        let mut client = self.client().await;
        for s in seeded {
            let execution = Some(WorkflowExecution {
                workflow_id: s.workflow_id.clone(),
                run_id: s.run_id.clone(),
            });
            let described = client
                .describe_workflow_execution(self.request(DescribeWorkflowExecutionRequest {
                    namespace: NS.into(),
                    execution: execution.clone(),
                }))
                .await
                .unwrap_or_else(|e| panic!("describe seeded run {}: {e:?}", s.workflow_id))
                .into_inner();
            let status = described
                .workflow_execution_info
                .map(|i| i.status)
                .unwrap_or_default();
            assert_eq!(
                status,
                WorkflowExecutionStatus::Running as i32,
                "seeded run {} is no longer running",
                s.workflow_id
            );
            let history = client
                .get_workflow_execution_history(self.request(GetWorkflowExecutionHistoryRequest {
                    namespace: NS.into(),
                    execution,
                    ..Default::default()
                }))
                .await
                .unwrap_or_else(|e| {
                    panic!("read the history of seeded run {}: {e:?}", s.workflow_id)
                })
                .into_inner();
            let first = history
                .history
                .and_then(|h| h.events.into_iter().next())
                .map(|e| e.event_type);
            assert_eq!(
                first,
                Some(EventType::WorkflowExecutionStarted as i32),
                "the history of seeded run {} does not start as it did",
                s.workflow_id
            );
        }
    }
}

/// A random id, unique enough for tests.
pub fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}-{}-{n}", std::process::id())
}
