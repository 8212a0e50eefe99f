//! The real Temporal dev server (`temporal server start-dev`), one per test process, started
//! on first use on 127.0.0.1 with every port chosen here, and killed when the process exits.

use crate::procs::{Proc, free_port, kill_at_exit, spawn, tool, wait_for_port};
use dacapo::Client;
use dacapo::proto::ServiceHandle;
use dacapo::proto::service::{DescribeNamespaceRequest, GetSystemInfoRequest};
use dacapo::remote::{ConnectOptions, connect};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running dev server.
#[derive(Debug)]
pub struct DevServer {
    proc: Proc,
    port: u16,
}

impl DevServer {
    /// `127.0.0.1:PORT`, the frontend's address as the `temporal` CLI and Python want it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, for [`connect`].
    pub fn url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// What the server has logged.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Connects to the frontend once it answers `GetSystemInfo` and knows namespace `default`
    /// (the port opens a little before the namespace is usable).
    ///
    /// # Panics
    /// When the server is not ready within 60 s; the message carries its log.
    pub async fn connect(&self) -> ServiceHandle {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.try_connect().await {
                Ok(service) => return service,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "the Temporal dev server at {} is not ready after 60 s ({last}); its log:\n{}",
            self.address(),
            self.log()
        );
    }

    async fn try_connect(&self) -> Result<ServiceHandle, String> {
        let options = ConnectOptions {
            connect_timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let service = connect(&self.url(), options)
            .await
            .map_err(|e| e.to_string())?;
        service
            .get_system_info(tonic::Request::new(GetSystemInfoRequest {}))
            .await
            .map_err(|s| format!("GetSystemInfo: {s}"))?;
        service
            .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
                namespace: "default".to_string(),
                ..Default::default()
            }))
            .await
            .map_err(|s| format!("DescribeNamespace default: {s}"))?;
        Ok(service)
    }

    /// A client of namespace `default`.
    pub async fn client(&self) -> Client {
        Client::new(self.connect().await)
    }
}

/// The dev server of this test process, started on the first call (which blocks until its
/// port is open, a few seconds). Call it from async code through `spawn_blocking`.
///
/// # Panics
/// When `temporal` is not on PATH or the server does not open its port within 30 s.
pub fn dev_server() -> &'static DevServer {
    static SERVER: OnceLock<DevServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        // Kept for the life of the process; the watchdog removes it with the server.
        let dir: PathBuf = tempfile::tempdir()
            .expect("create a folder for the dev server")
            .keep();
        let port = free_port();
        let [http, metrics, ui] = [free_port(), free_port(), free_port()];
        let args: Vec<String> = vec![
            "server".into(),
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
            "warn".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = spawn(&dir, "temporal-dev-server", &tool("temporal"), &args);
        kill_at_exit(&proc, &dir);
        wait_for_port(port, &proc);
        DevServer { proc, port }
    })
}

/// [`dev_server`] from async code.
pub async fn shared_dev_server() -> &'static DevServer {
    tokio::task::spawn_blocking(dev_server)
        .await
        .expect("starting the Temporal dev server panicked")
}
