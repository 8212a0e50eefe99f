//! The transport under attack: half-sent and stalled requests, stalled handshakes, too many
//! connections and streams, oversize messages, API keys that cannot work, and the `Bearer`
//! scheme in any case.

use crate::harness::{NS, Target, uuid_like};
use bytes::Bytes;
use dacapo::proto::common::{Payload, Payloads, WorkflowType};
use dacapo::proto::service::{
    GetSystemInfoRequest, PollWorkflowTaskQueueRequest, StartWorkflowExecutionRequest,
};
use dacapo::proto::taskqueue::TaskQueue;
use dacapo_tests::procs;
use dacapo_tests::wait_until;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;

const START: &str = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
/// The HTTP/2 connection preface a client sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 connection to the server that sends only what the test asks for; the
/// connection itself is driven by a task of its own.
async fn h2_connect(port: u16) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the server");
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .expect("an HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// The headers of a gRPC call of `path`.
fn grpc_call(port: u16, path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a valid request")
}

/// The 5-byte gRPC message header (not compressed, `len` bytes follow), then `sent` bytes.
fn message_prefix(len: usize, sent: usize) -> Bytes {
    let mut body = Vec::with_capacity(5 + sent);
    body.push(0);
    body.extend((len as u32).to_be_bytes());
    body.resize(5 + sent, b'x');
    Bytes::from(body)
}

/// The gRPC status of an answer: from its headers (a trailers-only answer) or its trailers;
/// `Err` with the stream error when the stream was reset before any answer.
async fn grpc_status(response: h2::client::ResponseFuture) -> Result<(Code, String), h2::Error> {
    let response = response.await?;
    let (parts, mut body) = response.into_parts();
    let headers = if parts.headers.contains_key("grpc-status") {
        parts.headers
    } else {
        while let Some(chunk) = body.data().await {
            chunk?;
        }
        body.trailers().await?.unwrap_or_default()
    };
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from)
        .unwrap_or(Code::Unknown);
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Ok((code, message))
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads from `stream` until the server closes it; fails if it is still open after `limit`.
async fn expect_closed(stream: &mut TcpStream, limit: Duration, what: &str) {
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server did not close {what} within {limit:?}"
    );
}

/// A connection of its own to the server, or why there is none.
async fn own_connection(target: &Target) -> Result<Channel, String> {
    Channel::from_shared(target.url())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// A call on `channel` that every server answers.
async fn system_info(target: &Target, channel: Channel) -> Result<(), tonic::Status> {
    use dacapo::proto::WorkflowServiceClient;
    WorkflowServiceClient::new(channel)
        .get_system_info(target.request(GetSystemInfoRequest::default()))
        .await
        .map(|_| ())
}

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write the key");
    (cert_path, key_path)
}

/// 300 requests on one connection that each announce a 2.9 MB message, send 2.8 MB of it and
/// stall: the server must neither buffer them all nor keep them forever.
#[tokio::test]
async fn half_sent_requests_on_one_connection_keep_memory_bounded() {
    const STREAMS: usize = 300;
    const DECLARED: usize = 2_900_000;
    const SENT: usize = 2_800_000;
    const BOUND_KIB: u64 = 300 * 1024;

    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let (before, _) = target.rss_kib();

    let mut send = h2_connect(target.port).await;
    let body = message_prefix(DECLARED, SENT);
    let mut answers = tokio::task::JoinSet::new();
    for _ in 0..STREAMS {
        send = send.ready().await.expect("room for another stream");
        let (response, mut stream) = send
            .send_request(grpc_call(target.port, START), false)
            .expect("open a stream");
        stream
            .send_data(body.clone(), false)
            .expect("queue part of the body");
        answers.spawn(async move {
            let answer = grpc_status(response).await;
            drop(stream);
            answer
        });
    }

    // Let the server take in what it will, for a minute or until every request is answered.
    let mut peak = before;
    let mut answered = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) && answered.len() < STREAMS {
        if let Ok(Some(answer)) =
            tokio::time::timeout(Duration::from_millis(250), answers.join_next()).await
        {
            answered.push(answer.expect("the answer task"));
        }
        peak = peak.max(target.rss_kib().1);
    }
    eprintln!(
        "server RSS before the attack: {} MiB; peak during it: {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        peak < BOUND_KIB,
        "{STREAMS} half-sent requests took the server from {} MiB to {} MiB",
        before / 1024,
        peak / 1024
    );

    // Every stalled request gets an answer that says what it ran into.
    let rest = tokio::time::timeout(Duration::from_secs(120), answers.join_all())
        .await
        .expect("an answer to every stalled request within 120 s more");
    answered.extend(rest);
    let mut refused = 0;
    let mut timed_out = 0;
    for answer in answered {
        match answer {
            Ok((Code::ResourceExhausted, message)) => {
                assert!(
                    message.contains("max_pending_request_bytes"),
                    "the refusal does not name its limit: {message}"
                );
                refused += 1;
            }
            Ok((Code::DeadlineExceeded, message)) => {
                assert!(
                    message.contains("request_body_timeout"),
                    "the timeout does not name its limit: {message}"
                );
                timed_out += 1;
            }
            other => panic!("a stalled request got {other:?}"),
        }
    }
    eprintln!("{refused} requests refused at once, {timed_out} timed out");
    assert!(refused > 0, "no request was refused for memory");
    drop(send);

    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
}

/// 40 connections that each open as many streams as the server lets them and send nothing
/// after the headers: the server must not keep 40,000 calls' worth of state.
#[tokio::test]
async fn stalled_streams_on_many_connections_keep_memory_bounded() {
    const CONNECTIONS: usize = 40;
    const STREAMS: usize = 1000;
    const BOUND_KIB: u64 = 300 * 1024;

    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    let (before, _) = target.rss_kib();

    let mut answers = tokio::task::JoinSet::new();
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut send = h2_connect(target.port).await;
        for _ in 0..STREAMS {
            send = send.ready().await.expect("room for another stream");
            let (response, stream) = send
                .send_request(grpc_call(target.port, START), false)
                .expect("open a stream");
            answers.spawn(async move {
                let answer = grpc_status(response).await;
                drop(stream);
                answer
            });
        }
        senders.push(send);
    }
    let mut peak = before;
    let mut answered = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) && answered.len() < CONNECTIONS * STREAMS {
        if let Ok(Some(answer)) =
            tokio::time::timeout(Duration::from_millis(250), answers.join_next()).await
        {
            answered.push(answer.expect("the answer task"));
        }
        peak = peak.max(target.rss_kib().1);
    }
    eprintln!(
        "server RSS before {} stalled streams: {} MiB; peak with them: {} MiB",
        CONNECTIONS * STREAMS,
        before / 1024,
        peak / 1024
    );
    assert!(
        peak < BOUND_KIB,
        "{} stalled streams took the server from {} MiB to {} MiB",
        CONNECTIONS * STREAMS,
        before / 1024,
        peak / 1024
    );
    let rest = tokio::time::timeout(Duration::from_secs(120), answers.join_all())
        .await
        .expect("an answer to every stalled stream within 120 s more");
    answered.extend(rest);
    let refused = answered
        .iter()
        .filter(
            |a| matches!(a, Ok((Code::ResourceExhausted, m)) if m.contains("max_calls_in_flight")),
        )
        .count();
    eprintln!("{refused} streams refused at once");
    assert!(refused > 0, "no stream was refused");
    for answer in &answered {
        assert!(
            matches!(
                answer,
                Ok((Code::ResourceExhausted | Code::DeadlineExceeded, _))
            ),
            "a stalled stream got {answer:?}"
        );
    }
    drop(senders);

    target.check_seeded(&seeded).await;
}

/// Calls in flight are capped server-wide: past the cap a call is refused at once, on any
/// connection, until one of them ends.
#[tokio::test]
async fn calls_in_flight_are_capped_across_connections() {
    let target = Target::start(&["--max-calls-in-flight", "5"]).await;
    let seeded = target.seed(2).await;

    let mut stalled = Vec::new();
    let mut first = h2_connect(target.port).await;
    for _ in 0..5 {
        first = first.ready().await.expect("room for another stream");
        stalled.push(
            first
                .send_request(grpc_call(target.port, START), false)
                .expect("open a stream"),
        );
    }
    let health = async |send: &mut h2::client::SendRequest<Bytes>| {
        let (response, mut stream) = send
            .send_request(grpc_call(target.port, HEALTH_CHECK), false)
            .expect("open a stream");
        stream
            .send_data(message_prefix(0, 0), true)
            .expect("send the body");
        tokio::time::timeout(Duration::from_secs(30), grpc_status(response))
            .await
            .expect("an answer within 30 s")
            .expect("an answer, not a reset")
    };
    let mut second = h2_connect(target.port).await;
    // The five stalled calls reach the server in their own time: wait until they hold the cap.
    // A stalled call that arrived while a call of the seeding was still in flight was refused
    // by the cap itself; another takes its place, so that five stall.
    let mut replaced = Vec::new();
    let message = wait_until(
        "a call on another connection refused while five stall",
        Duration::from_secs(30),
        async || match health(&mut second).await {
            (Code::ResourceExhausted, message) => Ok(message),
            other => {
                use futures::FutureExt as _;
                let before = stalled.len();
                stalled.retain_mut(|(response, _)| match response.now_or_never() {
                    Some(answer) => {
                        replaced.push(format!("{:?}", answer.map(|r| r.status())));
                        false
                    }
                    None => true,
                });
                for _ in stalled.len()..before {
                    let mut send = first
                        .clone()
                        .ready()
                        .await
                        .expect("room for another stream");
                    stalled.push(
                        send.send_request(grpc_call(target.port, START), false)
                            .expect("open a stream"),
                    );
                }
                Err(format!(
                    "{other:?}; stalled calls answered and replaced: {replaced:?}"
                ))
            }
        },
    )
    .await;
    assert!(message.contains("max_calls_in_flight"), "{message}");

    // One stalled call going (its stream reset) makes room for another.
    drop(stalled.pop());
    wait_until(
        "room for a call once one ended",
        Duration::from_secs(30),
        async || match health(&mut second).await {
            (Code::Ok, _) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    drop(stalled);
    drop(first);

    target.check_seeded(&seeded).await;
}

/// A request whose body stops arriving is answered once its time is up, and the connection
/// stays usable.
#[tokio::test]
async fn a_stalled_request_body_times_out() {
    let target = Target::start(&["--request-body-timeout", "2s"]).await;
    let seeded = target.seed(2).await;

    let mut send = h2_connect(target.port).await;
    let (response, mut stream) = send
        .send_request(grpc_call(target.port, START), false)
        .expect("open a stream");
    stream
        .send_data(message_prefix(1000, 10), false)
        .expect("send part of the body");
    let answer = tokio::time::timeout(Duration::from_secs(30), grpc_status(response))
        .await
        .expect("an answer within 30 s")
        .expect("an answer, not a reset");
    assert_eq!(answer.0, Code::DeadlineExceeded, "{answer:?}");
    assert!(
        answer.1.contains("request_body_timeout") && answer.1.contains("2s"),
        "the message does not say what the limit is: {}",
        answer.1
    );

    // The same connection still serves whole requests.
    let (response, mut stream) = send
        .send_request(grpc_call(target.port, HEALTH_CHECK), false)
        .expect("open a stream");
    stream
        .send_data(message_prefix(0, 0), true)
        .expect("send the body");
    let answer = tokio::time::timeout(Duration::from_secs(30), grpc_status(response))
        .await
        .expect("an answer within 30 s")
        .expect("an answer, not a reset");
    assert_eq!(answer.0, Code::Ok, "{answer:?}");

    target.check_seeded(&seeded).await;
}

/// The server tells each connection how many streams it may open at once.
#[tokio::test]
async fn concurrent_streams_per_connection_are_capped() {
    let target = Target::start(&["--max-concurrent-streams", "7"]).await;
    let seeded = target.seed(2).await;

    let tcp = TcpStream::connect(("127.0.0.1", target.port))
        .await
        .expect("connect to the server");
    let (mut send, connection) = h2::client::handshake(tcp)
        .await
        .expect("an HTTP/2 handshake");
    let mut connection = std::pin::pin!(connection);
    let (response, mut stream) = send
        .send_request(grpc_call(target.port, HEALTH_CHECK), false)
        .expect("open a stream");
    stream
        .send_data(message_prefix(0, 0), true)
        .expect("send the body");
    // Drive the connection until the answer is in, by when the server's settings are too.
    let answer = tokio::select! {
        answer = grpc_status(response) => answer.expect("an answer"),
        ended = &mut connection => panic!("the connection ended: {ended:?}"),
    };
    assert_eq!(answer.0, Code::Ok, "{answer:?}");
    assert_eq!(connection.max_concurrent_send_streams(), 7);

    target.check_seeded(&seeded).await;
}

/// Past `--max-connections`, new connections are closed at once (and logged); once one of
/// them goes, a new one gets in.
#[tokio::test]
async fn connections_beyond_the_cap_are_refused() {
    const CAP: usize = 4;
    let mut target = Target::start(&["--max-connections", "4"]).await;
    let seeded = target.seed(2).await;

    let mut held = Vec::new();
    for _ in 0..CAP {
        let channel = wait_until(
            "a connection under the cap",
            Duration::from_secs(30),
            async || {
                let channel = own_connection(&target).await?;
                system_info(&target, channel.clone())
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok(channel)
            },
        )
        .await;
        held.push(channel);
    }

    let over = match own_connection(&target).await {
        Err(_) => true,
        Ok(channel) => system_info(&target, channel).await.is_err(),
    };
    assert!(over, "a connection past the cap of {CAP} was served");
    wait_until(
        "the server to log the refused connection",
        Duration::from_secs(30),
        async || {
            let log = target.proc().log();
            if log.contains("max_connections") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;

    // The ones held still work, and one going makes room for another.
    for channel in &held {
        system_info(&target, channel.clone())
            .await
            .expect("a connection under the cap still works");
    }
    held.pop();
    wait_until(
        "a connection in the room one left",
        Duration::from_secs(30),
        async || {
            let channel = own_connection(&target).await?;
            system_info(&target, channel)
                .await
                .map_err(|e| format!("{e:?}"))
        },
    )
    .await;
    drop(held);

    wait_until(
        "the server to free its connections",
        Duration::from_secs(30),
        async || {
            let channel = own_connection(&target).await?;
            system_info(&target, channel)
                .await
                .map_err(|e| format!("{e:?}"))
        },
    )
    .await;
    target.check_seeded(&seeded).await;
}

/// A TLS handshake that never completes is closed within the handshake timeout (10 s by
/// default), and so is a plain HTTP/2 preface that never completes.
#[tokio::test]
async fn stalled_handshakes_are_closed() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let tls = Target::start(&["--tls-cert", cert, "--tls-key", key]).await;
    let plain = Target::start(&[]).await;
    let seeded_tls = tls.seed(2).await;
    let seeded_plain = plain.seed(2).await;

    let mut silent = TcpStream::connect(("127.0.0.1", tls.port))
        .await
        .expect("connect");
    let mut partial_hello = TcpStream::connect(("127.0.0.1", tls.port))
        .await
        .expect("connect");
    // The start of a TLS record header of a ClientHello, and nothing more.
    partial_hello
        .write_all(&[0x16, 0x03, 0x01])
        .await
        .expect("write");
    let mut partial_preface = TcpStream::connect(("127.0.0.1", plain.port))
        .await
        .expect("connect");
    partial_preface
        .write_all(&PREFACE[..16])
        .await
        .expect("write");
    let mut silent_plain = TcpStream::connect(("127.0.0.1", plain.port))
        .await
        .expect("connect");

    let limit = Duration::from_secs(60);
    expect_closed(&mut silent, limit, "a TLS connection that sends nothing").await;
    expect_closed(&mut partial_hello, limit, "a TLS handshake that stalls").await;
    expect_closed(&mut partial_preface, limit, "a preface that stalls").await;
    expect_closed(&mut silent_plain, limit, "a connection that sends nothing").await;

    tls.check_seeded(&seeded_tls).await;
    plain.check_seeded(&seeded_plain).await;
}

/// A peer that stops answering pings is closed after the keep-alive time and timeout.
#[tokio::test]
async fn a_peer_that_does_not_answer_pings_is_closed() {
    let target = Target::start(&["--keepalive-time", "1s", "--keepalive-timeout", "1s"]).await;
    let seeded = target.seed(2).await;

    let mut tcp = TcpStream::connect(("127.0.0.1", target.port))
        .await
        .expect("connect");
    // The whole preface and an empty SETTINGS frame, then silence: no ACKs, no PONGs.
    tcp.write_all(PREFACE).await.expect("write");
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .expect("write");
    expect_closed(
        &mut tcp,
        Duration::from_secs(30),
        "a peer that ignores pings",
    )
    .await;

    target.check_seeded(&seeded).await;
}

/// A connection with nothing in flight is closed (GOAWAY) after `--max-connection-idle`; one
/// with a long poll in flight is not.
#[tokio::test]
async fn idle_connections_are_closed_but_long_polls_are_not() {
    let target = Target::start(&["--max-connection-idle", "1s"]).await;
    let seeded = target.seed(2).await;

    // An HTTP/2 client that answers pings but never calls.
    let tcp = TcpStream::connect(("127.0.0.1", target.port))
        .await
        .expect("connect");
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .expect("an HTTP/2 handshake");
    let ended = tokio::time::timeout(Duration::from_secs(30), connection).await;
    assert!(ended.is_ok(), "an idle connection stayed open for 30 s");
    drop(send);

    // A worker's long poll keeps its connection busy past the idle time.
    let queue = format!("idle-poll-{}", uuid_like());
    let mut poller = target.client().await;
    let poll = tokio::spawn({
        let request = target.request(PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: Some(TaskQueue {
                name: queue.clone(),
                ..Default::default()
            }),
            identity: "idle-test".into(),
            ..Default::default()
        });
        async move { poller.poll_workflow_task_queue(request).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let workflow_id = format!("idle-{}", uuid_like());
    target
        .client()
        .await
        .start_workflow_execution(target.request(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.clone(),
            workflow_type: Some(WorkflowType {
                name: "idle".into(),
            }),
            task_queue: Some(TaskQueue {
                name: queue,
                ..Default::default()
            }),
            request_id: uuid_like(),
            ..Default::default()
        }))
        .await
        .expect("start a run");
    let task = tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .expect("the poll answers within 30 s")
        .expect("the poll task")
        .expect("the long poll survives the idle timeout")
        .into_inner();
    assert_eq!(
        task.workflow_execution.map(|e| e.workflow_id),
        Some(workflow_id)
    );

    target.check_seeded(&seeded).await;
}

/// A message over the limit is RESOURCE_EXHAUSTED (what Temporal answers), and the message
/// names the limit.
#[tokio::test]
async fn an_oversize_request_is_resource_exhausted_naming_the_limit() {
    let target = Target::start(&[]).await;
    let seeded = target.seed(2).await;

    let status = target
        .client()
        .await
        .start_workflow_execution(target.request(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: format!("oversize-{}", uuid_like()),
            workflow_type: Some(WorkflowType {
                name: "oversize".into(),
            }),
            task_queue: Some(TaskQueue {
                name: "oversize".into(),
                ..Default::default()
            }),
            input: Some(Payloads {
                payloads: vec![Payload {
                    metadata: Default::default(),
                    data: vec![7; 5 * 1024 * 1024],
                    ..Default::default()
                }],
            }),
            request_id: uuid_like(),
            ..Default::default()
        }))
        .await
        .expect_err("a 5 MiB request is refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("4194304") && status.message().contains("max_message_bytes"),
        "the message does not name the limit: {}",
        status.message()
    );

    target.check_seeded(&seeded).await;
}

/// `bearer`, `BEARER` and `Bearer` all name the same scheme; other schemes and a wrong key are
/// still refused.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let target = Target::start(&["--api-key", "k-123"]).await;
    let seeded = target.seed(2).await;

    let mut client = target.client().await;
    for (header, accepted) in [
        ("bearer k-123", true),
        ("BEARER k-123", true),
        ("bEaReR k-123", true),
        ("Bearer k-123", true),
        ("bearer k-124", false),
        ("Basic k-123", false),
        ("bearerk-123", false),
        ("k-123", false),
    ] {
        let mut request = tonic::Request::new(GetSystemInfoRequest::default());
        request
            .metadata_mut()
            .insert("authorization", header.parse().expect("ASCII"));
        let outcome = client.get_system_info(request).await;
        match (accepted, outcome) {
            (true, Ok(_)) => {}
            (false, Err(status)) => assert_eq!(status.code(), Code::Unauthenticated, "{header}"),
            (true, Err(status)) => panic!("`{header}` was refused: {status:?}"),
            (false, Ok(_)) => panic!("`{header}` was accepted"),
        }
    }

    target.check_seeded(&seeded).await;
}

/// An empty API key, on the command line or in `DACAPO_API_KEY`, would refuse every call:
/// the server refuses to start with it, before it touches the database.
#[tokio::test]
async fn an_empty_api_key_is_refused_at_start() {
    let target = Target::start(&[]).await;
    let seeded = target.seed(2).await;

    let bin = procs::binaries().join("dacapo");
    let db = target.db.to_str().expect("a UTF-8 path").to_string();
    let port = procs::free_port().to_string();
    let common = ["server", "--ip", "127.0.0.1", "--port", &port, "--db", &db];
    let flag = std::process::Command::new(&bin)
        .args(common)
        .args(["--api-key", ""])
        .env_remove("DACAPO_API_KEY")
        .output()
        .expect("run dacapo server");
    let env = std::process::Command::new(&bin)
        .args(common)
        .env("DACAPO_API_KEY", "")
        .output()
        .expect("run dacapo server");
    for (how, output) in [("--api-key ''", flag), ("DACAPO_API_KEY=''", env)] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "the server started with {how}");
        assert!(
            stderr.contains("API key") && stderr.contains("empty"),
            "with {how} the server says: {stderr}"
        );
    }

    target.check_seeded(&seeded).await;
}

/// `--limit NAME=VALUE` sets any engine limit; an unknown name or a bad value is refused at
/// start with the list of names.
#[tokio::test]
async fn limits_are_set_on_the_command_line() {
    let target = Target::start(&["--limit", "max_payload_bytes=1000"]).await;
    let seeded = target.seed(2).await;

    let status = target
        .client()
        .await
        .start_workflow_execution(target.request(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: format!("limit-{}", uuid_like()),
            workflow_type: Some(WorkflowType {
                name: "limit".into(),
            }),
            task_queue: Some(TaskQueue {
                name: "limit".into(),
                ..Default::default()
            }),
            input: Some(Payloads {
                payloads: vec![Payload {
                    data: vec![7; 2000],
                    ..Default::default()
                }],
            }),
            request_id: uuid_like(),
            ..Default::default()
        }))
        .await
        .expect_err("a 2,000-byte input over a 1,000-byte limit is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("1000"), "{}", status.message());

    let bin = procs::binaries().join("dacapo");
    for (arg, says) in [
        ("no_such_limit=1", "max_id_bytes"),
        ("max_payload_bytes=lots", "max_payload_bytes"),
        ("max_payload_bytes", "NAME=VALUE"),
    ] {
        let output = std::process::Command::new(&bin)
            .args(["server", "--in-memory", "--port", "0", "--limit", arg])
            .output()
            .expect("run dacapo server");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "the server started with --limit {arg}"
        );
        assert!(stderr.contains(says), "--limit {arg}: {stderr}");
    }

    target.check_seeded(&seeded).await;
}

/// When the server runs out of file descriptors, accepting fails: it says so in its log and
/// serves again once descriptors are free.
#[tokio::test]
async fn running_out_of_file_descriptors_is_logged_and_survived() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(2).await;
    let pid = target.proc().pid() as libc::pid_t;

    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .count() as libc::rlim_t;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit only writes `old`, valid for the call.
    let got = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "prlimit: {}", std::io::Error::last_os_error());
    let low = libc::rlimit {
        rlim_cur: open + 2,
        rlim_max: old.rlim_max,
    };
    // SAFETY: prlimit only reads `low`, valid for the call.
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &low, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());

    let mut flood = Vec::new();
    for _ in 0..20 {
        if let Ok(tcp) = TcpStream::connect(("127.0.0.1", target.port)).await {
            flood.push(tcp);
        }
    }
    wait_until(
        "the server to log that it ran out of file descriptors",
        Duration::from_secs(30),
        async || {
            let log = target.proc().log();
            if log.contains("file descriptors") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert!(target.proc().exited().is_none(), "the server exited");

    drop(flood);
    // SAFETY: as above.
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &old, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    wait_until(
        "the server to serve again",
        Duration::from_secs(30),
        async || {
            let channel = own_connection(&target).await?;
            system_info(&target, channel)
                .await
                .map_err(|e| format!("{e:?}"))
        },
    )
    .await;
    target.check_seeded(&seeded).await;
}
