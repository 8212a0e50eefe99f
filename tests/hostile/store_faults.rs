//! The store under the server: a full disk, and the database file deleted while it runs. The
//! server must say NOT_SERVING on its health service while it cannot write, refuse changes with
//! a status that names the cause, keep serving reads, heal by itself once it can write, and
//! never quietly start an empty database where the runs were.
//!
//! The full-disk test puts the database on a small tmpfs mounted for the test, which needs
//! root; elsewhere it says so and returns (the engine's own tests cover the same with a store
//! that fails on demand).

use crate::harness::{NS, SEED_QUEUE, Target, uuid_like};
use dacapo::proto::common::WorkflowType;
use dacapo::proto::service::StartWorkflowExecutionRequest;
use dacapo::proto::taskqueue::TaskQueue;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The service name the server registers with the health service.
const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// How long to wait for the server to notice a change of its store. It notices within seconds;
/// this only bounds a test that would otherwise hang.
const NOTICE_WITHIN: Duration = Duration::from_secs(30);

/// What the health service answers for `service` (`""`: the whole server).
async fn health(target: &Target, service: &str) -> ServingStatus {
    let channel = tonic::transport::Channel::from_shared(target.url())
        .expect("a valid URL")
        .connect()
        .await
        .expect("connect the health client");
    let mut client = HealthClient::new(channel);
    let status = client
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .expect("a health check is answered")
        .into_inner()
        .status;
    ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown)
}

/// Waits until both the server and its WorkflowService report `wanted`.
async fn health_becomes(target: &Target, wanted: ServingStatus) {
    let deadline = Instant::now() + NOTICE_WITHIN;
    loop {
        let server = health(target, "").await;
        let service = health(target, WORKFLOW_SERVICE).await;
        if server == wanted && service == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the health service did not report {wanted:?} within {NOTICE_WITHIN:?}: the server \
             says {server:?}, the WorkflowService {service:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start_request(workflow_id: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: NS.into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "seeded".into(),
        }),
        task_queue: Some(TaskQueue {
            name: SEED_QUEUE.into(),
            ..Default::default()
        }),
        request_id: uuid_like(),
        ..Default::default()
    }
}

/// A start, answered with its run id or the status.
async fn start(
    target: &Target,
    req: &StartWorkflowExecutionRequest,
) -> Result<String, tonic::Status> {
    let mut client = target.client().await;
    client
        .start_workflow_execution(req.clone())
        .await
        .map(|r| r.into_inner().run_id)
}

/// A small tmpfs, mounted on a temporary directory for one test and unmounted on drop (also
/// when the test panics).
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir: Some(dir) }),
            Ok(out) => {
                eprintln!(
                    "full disk not checked: cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("full disk not checked: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// Fills the file system with one file; returns it.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        let chunk = vec![0x5a_u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // Lazily, so that a server still holding its file does not keep the mount busy.
            let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
        }
    }
}

#[tokio::test]
async fn a_full_disk_reports_not_serving_and_heals_without_a_restart() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let mut target = Target::start_on(disk.path().join("hostile.db"), &[]).await;
    let mut seeded = target.seed(3).await;
    health_becomes(&target, ServingStatus::Serving).await;

    let filler = disk.fill();
    // The log may take a commit or two more in its last free page.
    let mut refused = None;
    for i in 0..100 {
        let req = start_request(&format!("full-{i}"));
        match start(&target, &req).await {
            Ok(run_id) => seeded.push(crate::harness::Seeded {
                workflow_id: req.workflow_id,
                run_id,
            }),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("a start fails once the disk is full");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("full"), "{status:?}");
    health_becomes(&target, ServingStatus::NotServing).await;
    let refused = start(&target, &start_request("while-full"))
        .await
        .expect_err("no change is taken while the disk is full");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("nothing was changed") && refused.message().contains("full"),
        "{refused:?}"
    );
    // Reads are served all along.
    target.check_seeded(&seeded).await;

    std::fs::remove_file(&filler).expect("remove the filler");
    health_becomes(&target, ServingStatus::Serving).await;
    seeded.extend(target.seed(1).await);
    target.check_seeded(&seeded).await;
    let log = target.proc().log();
    assert_eq!(
        log.matches("cannot write to its store").count(),
        1,
        "the outage is logged once: {log}"
    );
    assert!(log.contains("writes again"), "and its end: {log}");

    target.restart().await;
    target.check_seeded(&seeded).await;
}

#[tokio::test]
async fn a_database_file_deleted_under_the_server_is_refused_and_kept() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let db = target.db.clone();
    let path = db.to_str().expect("a UTF-8 path").to_string();

    std::fs::remove_file(&db).expect("delete the database file");
    health_becomes(&target, ServingStatus::NotServing).await;
    let refused = start(&target, &start_request("after-delete"))
        .await
        .expect_err("no change is written into a file that no name reaches");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains(&path) && refused.message().contains("deleted"),
        "{refused:?}"
    );
    target.check_seeded(&seeded).await;
    let log = target.proc().log();
    assert!(
        log.contains("ERROR") && log.contains(&path) && log.contains("deleted"),
        "the log names the file and what happened: {log}"
    );

    // A restart does not start an empty database where the runs were: it names the copy the
    // server saved and says what to do; doing so brings every run back.
    target.kill();
    let said = target.refused_start();
    let copy = said
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{path}.rescued-")))
        .unwrap_or_else(|| panic!("the refusal names the saved copy: {said}"))
        .trim_end_matches([',', '.', ':', ';'])
        .to_string();
    assert!(said.contains("does not exist"), "{said}");
    let wal = format!("{path}-wal");
    if Path::new(&wal).exists() {
        assert!(said.contains(&wal), "a log left beside it is named: {said}");
        std::fs::remove_file(&wal).expect("remove the stale log");
    }
    std::fs::rename(&copy, &db).expect("move the copy into place");
    target.restart().await;
    target.check_seeded(&seeded).await;
    health_becomes(&target, ServingStatus::Serving).await;
}
