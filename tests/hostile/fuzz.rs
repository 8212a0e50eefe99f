//! Fuzz-style checks of the decoding and validation path: requests built from valid ones by
//! random mutation, and requests built from random fields (deep failure chains, huge and empty
//! strings, odd numbers), are decoded the way tonic decodes them and handed to the engine.
//!
//! Whatever arrives, the engine answers with a status that blames the request (or with
//! success), never with INTERNAL, UNKNOWN, UNAVAILABLE or DATA_LOSS, never panics, keeps
//! serving, and leaves a file that opens again with every history decoding.
//!
//! `DACAPO_FUZZ_CASES` sets the number of cases (default 1,500, which CI runs);
//! `DACAPO_FUZZ_SEED` repeats a run (the seed is printed at the start).

use dacapo::engine::{Engine, EngineConfig};
use dacapo::proto::WorkflowService;
use dacapo::proto::command::{
    Command, FailWorkflowExecutionCommandAttributes, RecordMarkerCommandAttributes,
    ScheduleActivityTaskCommandAttributes, StartTimerCommandAttributes, command,
};
use dacapo::proto::common::{ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType};
use dacapo::proto::enums::CommandType;
use dacapo::proto::failure::{ApplicationFailureInfo, Failure, failure::FailureInfo};
use dacapo::proto::query::WorkflowQuery;
use dacapo::proto::service::*;
use dacapo::proto::taskqueue::TaskQueue;
use dacapo::proto::update::{Input, Meta, Request as UpdateRequest, UpdateRef, WaitPolicy};
use dacapo::store::SqliteStore;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tonic::{Code, Request};

const NS: &str = "default";
const QUEUE: &str = "fuzz";

fn cases() -> usize {
    std::env::var("DACAPO_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

fn seed() -> u64 {
    std::env::var("DACAPO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

fn config() -> EngineConfig {
    EngineConfig {
        long_poll_timeout: Duration::from_millis(20),
        query_timeout: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

fn queue() -> Option<TaskQueue> {
    Some(TaskQueue {
        name: QUEUE.into(),
        ..Default::default()
    })
}

fn payloads(bytes: Vec<u8>) -> Option<Payloads> {
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("encoding".to_string(), b"json/plain".to_vec());
    Some(Payloads {
        payloads: vec![Payload {
            metadata,
            data: bytes,
            ..Default::default()
        }],
    })
}

/// A failure with a cause chain `depth` deep.
fn deep_failure(depth: usize) -> Failure {
    let mut failure = Failure {
        message: "innermost".into(),
        ..Default::default()
    };
    for i in 0..depth {
        failure = Failure {
            message: format!("level {i}"),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: "Fuzz".into(),
                    ..Default::default()
                },
            )),
            cause: Some(Box::new(failure)),
            ..Default::default()
        };
    }
    failure
}

/// The deepest cause chain a request can carry and still decode: the most dangerous one, since
/// the event that stores it nests it deeper still.
fn max_decodable_depth() -> usize {
    static DEPTH: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DEPTH.get_or_init(|| {
        (1..200)
            .take_while(|&d| {
                let req = RespondActivityTaskFailedRequest {
                    failure: Some(deep_failure(d)),
                    ..Default::default()
                };
                RespondActivityTaskFailedRequest::decode(&req.encode_to_vec()[..]).is_ok()
            })
            .last()
            .unwrap_or(1)
    })
}

/// Tokens and ids the engine handed out, so that mutated requests reach past the first checks.
#[derive(Default, Clone)]
struct Known {
    workflow_ids: Vec<String>,
    run_ids: Vec<String>,
    workflow_tokens: Vec<Vec<u8>>,
    activity_tokens: Vec<Vec<u8>>,
    activity_ids: Vec<(String, String)>,
}

impl Known {
    /// Any of `items`, the newest (the likeliest to be live) half the time.
    fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else if rng.random() {
            items.last()
        } else {
            Some(&items[rng.random_range(0..items.len())])
        }
    }
}

/// Random text: empty, short, long, or with odd characters.
fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => String::new(),
        1 => "x".repeat(rng.random_range(900..1100)),
        2 => "y".repeat(rng.random_range(10_000..30_000)),
        3 => "\u{0}\u{fffd}é\u{10ffff}".repeat(rng.random_range(1..50)),
        _ => format!("fuzz-{}", rng.random_range(0..20)),
    }
}

fn number(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..6) {
        0 => 0,
        1 => -1,
        2 => i64::MAX,
        3 => i64::MIN,
        _ => rng.random_range(-5..100),
    }
}

fn duration(rng: &mut StdRng) -> Option<prost_wkt_types::Duration> {
    match rng.random_range(0..5) {
        0 => None,
        1 => Some(prost_wkt_types::Duration {
            seconds: number(rng),
            nanos: rng.random(),
        }),
        _ => Some(prost_wkt_types::Duration {
            seconds: rng.random_range(0..10),
            nanos: 0,
        }),
    }
}

fn maybe_failure(rng: &mut StdRng) -> Option<Failure> {
    match rng.random_range(0..4) {
        0 => None,
        1 | 2 => Some(deep_failure(max_decodable_depth() - rng.random_range(0..4))),
        _ => Some(deep_failure(rng.random_range(0..30))),
    }
}

fn maybe_payloads(rng: &mut StdRng) -> Option<Payloads> {
    match rng.random_range(0..40) {
        0 => payloads(vec![
            b'1';
            rng.random_range(
                2 * 1024 * 1024 - 64..2 * 1024 * 1024 + 64
            )
        ]),
        1..=10 => None,
        _ => payloads(b"\"fuzz\"".to_vec()),
    }
}

fn random_command(rng: &mut StdRng) -> Command {
    let attributes = match rng.random_range(0..5) {
        0 => Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
            ScheduleActivityTaskCommandAttributes {
                activity_id: text(rng),
                activity_type: Some(ActivityType { name: text(rng) }),
                task_queue: if rng.random() { queue() } else { None },
                input: maybe_payloads(rng),
                start_to_close_timeout: duration(rng),
                schedule_to_close_timeout: duration(rng),
                heartbeat_timeout: duration(rng),
                ..Default::default()
            },
        )),
        1 => Some(command::Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: text(rng),
                start_to_fire_timeout: duration(rng),
            },
        )),
        2 => Some(command::Attributes::RecordMarkerCommandAttributes(
            RecordMarkerCommandAttributes {
                marker_name: text(rng),
                failure: maybe_failure(rng),
                ..Default::default()
            },
        )),
        3 => Some(command::Attributes::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: maybe_failure(rng),
            },
        )),
        _ => None,
    };
    let command_type = match &attributes {
        Some(command::Attributes::ScheduleActivityTaskCommandAttributes(_)) => {
            CommandType::ScheduleActivityTask
        }
        Some(command::Attributes::StartTimerCommandAttributes(_)) => CommandType::StartTimer,
        Some(command::Attributes::RecordMarkerCommandAttributes(_)) => CommandType::RecordMarker,
        Some(command::Attributes::FailWorkflowExecutionCommandAttributes(_)) => {
            CommandType::FailWorkflowExecution
        }
        _ => CommandType::try_from(rng.random_range(0..30)).unwrap_or(CommandType::Unspecified),
    };
    Command {
        command_type: command_type as i32,
        attributes,
        ..Default::default()
    }
}

/// One request of each kind, with fields drawn at random from `known` and the generators above.
/// Returns the RPC's index and the request's encoding.
/// An update to `exec` with random fields (an update id from a small set, so that some are
/// deduplicated).
fn update_request(
    rng: &mut StdRng,
    namespace: String,
    exec: Option<WorkflowExecution>,
) -> UpdateWorkflowExecutionRequest {
    UpdateWorkflowExecutionRequest {
        namespace,
        workflow_execution: exec,
        wait_policy: Some(WaitPolicy {
            lifecycle_stage: rng.random_range(0..5),
        }),
        request: Some(UpdateRequest {
            meta: Some(Meta {
                update_id: if rng.random() {
                    format!("up-{}", rng.random_range(0..8))
                } else {
                    text(rng)
                },
                identity: text(rng),
            }),
            input: Some(Input {
                header: None,
                name: text(rng),
                args: maybe_payloads(rng),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn random_request(rng: &mut StdRng, known: &Known) -> (usize, Vec<u8>) {
    let wid = match Known::pick(rng, &known.workflow_ids) {
        Some(w) if rng.random_range(0..4) > 0 => w.clone(),
        _ => text(rng),
    };
    let rid = match Known::pick(rng, &known.run_ids) {
        Some(r) if rng.random() => r.clone(),
        _ if rng.random() => String::new(),
        _ => text(rng),
    };
    let exec = Some(WorkflowExecution {
        workflow_id: wid.clone(),
        run_id: rid.clone(),
    });
    let namespace = if rng.random_range(0..10) == 0 {
        text(rng)
    } else {
        NS.to_string()
    };
    let wft_token = Known::pick(rng, &known.workflow_tokens)
        .cloned()
        .unwrap_or_default();
    let act_token = Known::pick(rng, &known.activity_tokens)
        .cloned()
        .unwrap_or_default();
    let (act_wid, act_id) = Known::pick(rng, &known.activity_ids)
        .cloned()
        .unwrap_or_else(|| (wid.clone(), text(rng)));
    let kind = rng.random_range(0..RPCS);
    let bytes = match kind {
        0 => StartWorkflowExecutionRequest {
            namespace,
            workflow_id: text(rng),
            workflow_type: Some(WorkflowType { name: text(rng) }),
            task_queue: if rng.random() { queue() } else { None },
            input: maybe_payloads(rng),
            request_id: text(rng),
            identity: text(rng),
            workflow_run_timeout: duration(rng),
            workflow_task_timeout: duration(rng),
            workflow_start_delay: duration(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        1 => SignalWorkflowExecutionRequest {
            namespace,
            workflow_execution: exec,
            signal_name: text(rng),
            input: maybe_payloads(rng),
            request_id: text(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        2 => RequestCancelWorkflowExecutionRequest {
            namespace,
            workflow_execution: exec,
            reason: text(rng),
            request_id: text(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        3 => TerminateWorkflowExecutionRequest {
            namespace,
            workflow_execution: exec,
            reason: text(rng),
            details: maybe_payloads(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        4 => DescribeWorkflowExecutionRequest {
            namespace,
            execution: exec,
        }
        .encode_to_vec(),
        5 => GetWorkflowExecutionHistoryRequest {
            namespace,
            execution: exec,
            maximum_page_size: number(rng) as i32,
            next_page_token: if rng.random() {
                Vec::new()
            } else {
                text(rng).into_bytes()
            },
            ..Default::default()
        }
        .encode_to_vec(),
        6 => ListWorkflowExecutionsRequest {
            namespace,
            page_size: number(rng) as i32,
            query: if rng.random() {
                String::new()
            } else {
                text(rng)
            },
            ..Default::default()
        }
        .encode_to_vec(),
        7 => PollWorkflowTaskQueueRequest {
            namespace,
            task_queue: if rng.random() { queue() } else { None },
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        8 => RespondWorkflowTaskCompletedRequest {
            namespace,
            task_token: wft_token,
            identity: text(rng),
            commands: (0..rng.random_range(0..6))
                .map(|_| random_command(rng))
                .collect(),
            ..Default::default()
        }
        .encode_to_vec(),
        9 => RespondWorkflowTaskFailedRequest {
            namespace,
            task_token: wft_token,
            failure: maybe_failure(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        10 => PollActivityTaskQueueRequest {
            namespace,
            task_queue: if rng.random() { queue() } else { None },
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        11 => RecordActivityTaskHeartbeatRequest {
            namespace,
            task_token: act_token,
            details: maybe_payloads(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        12 => RespondActivityTaskCompletedRequest {
            namespace,
            task_token: act_token,
            result: maybe_payloads(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        13 => RespondActivityTaskFailedRequest {
            namespace,
            task_token: act_token,
            failure: maybe_failure(rng),
            identity: text(rng),
            last_heartbeat_details: maybe_payloads(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        14 => RespondActivityTaskFailedByIdRequest {
            namespace,
            workflow_id: act_wid,
            run_id: rid,
            activity_id: act_id,
            failure: maybe_failure(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        15 => RespondActivityTaskCanceledByIdRequest {
            namespace,
            workflow_id: act_wid,
            run_id: rid,
            activity_id: act_id,
            details: maybe_payloads(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        16 => SignalWithStartWorkflowExecutionRequest {
            namespace,
            workflow_id: wid,
            workflow_type: Some(WorkflowType { name: text(rng) }),
            task_queue: if rng.random() { queue() } else { None },
            signal_name: text(rng),
            signal_input: maybe_payloads(rng),
            request_id: text(rng),
            identity: text(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        17 => QueryWorkflowRequest {
            namespace,
            execution: exec,
            query: Some(WorkflowQuery {
                query_type: text(rng),
                query_args: maybe_payloads(rng),
                header: None,
            }),
            query_reject_condition: rng.random_range(0..4),
        }
        .encode_to_vec(),
        18 => update_request(rng, namespace, exec).encode_to_vec(),
        19 => {
            let mut start = StartWorkflowExecutionRequest {
                namespace: if rng.random() {
                    namespace.clone()
                } else {
                    String::new()
                },
                workflow_id: wid.clone(),
                workflow_type: Some(WorkflowType { name: text(rng) }),
                task_queue: if rng.random() { queue() } else { None },
                input: maybe_payloads(rng),
                request_id: text(rng),
                workflow_id_conflict_policy: rng.random_range(0..5),
                workflow_start_delay: if rng.random_range(0..8) == 0 {
                    duration(rng)
                } else {
                    None
                },
                ..Default::default()
            };
            if rng.random_range(0..8) == 0 {
                start.workflow_id = text(rng);
            }
            let exec = Some(WorkflowExecution {
                workflow_id: wid,
                run_id: if rng.random_range(0..8) == 0 {
                    rid
                } else {
                    String::new()
                },
            });
            let mut operations = vec![
                execute_multi_operation_request::Operation {
                    operation: Some(
                        execute_multi_operation_request::operation::Operation::StartWorkflow(start),
                    ),
                },
                execute_multi_operation_request::Operation {
                    operation: Some(
                        execute_multi_operation_request::operation::Operation::UpdateWorkflow(
                            update_request(rng, String::new(), exec),
                        ),
                    ),
                },
            ];
            match rng.random_range(0..10) {
                0 => operations.reverse(),
                1 => {
                    operations.pop();
                }
                _ => {}
            }
            ExecuteMultiOperationRequest {
                namespace,
                operations,
                ..Default::default()
            }
            .encode_to_vec()
        }
        20 => PollWorkflowExecutionUpdateRequest {
            namespace,
            update_ref: Some(UpdateRef {
                workflow_execution: exec,
                update_id: text(rng),
            }),
            identity: text(rng),
            wait_policy: Some(WaitPolicy {
                lifecycle_stage: rng.random_range(0..4),
            }),
        }
        .encode_to_vec(),
        21 => RespondQueryTaskCompletedRequest {
            namespace,
            task_token: if rng.random() {
                wft_token
            } else {
                text(rng).into_bytes()
            },
            completed_type: number(rng) as i32,
            query_result: maybe_payloads(rng),
            error_message: text(rng),
            failure: maybe_failure(rng),
            ..Default::default()
        }
        .encode_to_vec(),
        _ => CountWorkflowExecutionsRequest {
            namespace,
            query: text(rng),
        }
        .encode_to_vec(),
    };
    (kind, bytes)
}

const RPCS: usize = 23;

/// Damages an encoding: flips, inserts, deletes, duplicates or truncates bytes.
fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..6) {
        let len = bytes.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                bytes.splice(i..i, extra);
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = rng.random_range(i..=len.min(i + 32));
                bytes.drain(i..j);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = rng.random_range(i..=len.min(i + 64));
                let copy = bytes[i..j].to_vec();
                let at = rng.random_range(0..=bytes.len());
                bytes.splice(at..at, copy);
            }
            4 if len > 0 => bytes.truncate(rng.random_range(0..len)),
            _ => {}
        }
    }
}

/// Decodes `bytes` as the request of RPC `kind`, as tonic would, and calls the engine. `None`
/// when the bytes do not decode (tonic answers those itself); otherwise the status code.
async fn call(engine: &Engine, kind: usize, bytes: &[u8]) -> Option<Result<(), Code>> {
    macro_rules! rpc {
        ($ty:ty, $method:ident) => {{
            let req = <$ty>::decode(bytes).ok()?;
            engine
                .$method(Request::new(req))
                .await
                .map(|_| ())
                .map_err(|s| {
                    if !allowed(s.code()) {
                        eprintln!(
                            "rpc {} answered {:?}: {}",
                            stringify!($method),
                            s.code(),
                            s.message()
                        );
                    }
                    s.code()
                })
        }};
    }
    Some(match kind {
        0 => rpc!(StartWorkflowExecutionRequest, start_workflow_execution),
        1 => rpc!(SignalWorkflowExecutionRequest, signal_workflow_execution),
        2 => rpc!(
            RequestCancelWorkflowExecutionRequest,
            request_cancel_workflow_execution
        ),
        3 => rpc!(
            TerminateWorkflowExecutionRequest,
            terminate_workflow_execution
        ),
        4 => rpc!(
            DescribeWorkflowExecutionRequest,
            describe_workflow_execution
        ),
        5 => rpc!(
            GetWorkflowExecutionHistoryRequest,
            get_workflow_execution_history
        ),
        6 => rpc!(ListWorkflowExecutionsRequest, list_workflow_executions),
        7 => rpc!(PollWorkflowTaskQueueRequest, poll_workflow_task_queue),
        8 => rpc!(
            RespondWorkflowTaskCompletedRequest,
            respond_workflow_task_completed
        ),
        9 => rpc!(
            RespondWorkflowTaskFailedRequest,
            respond_workflow_task_failed
        ),
        10 => rpc!(PollActivityTaskQueueRequest, poll_activity_task_queue),
        11 => rpc!(
            RecordActivityTaskHeartbeatRequest,
            record_activity_task_heartbeat
        ),
        12 => rpc!(
            RespondActivityTaskCompletedRequest,
            respond_activity_task_completed
        ),
        13 => rpc!(
            RespondActivityTaskFailedRequest,
            respond_activity_task_failed
        ),
        14 => rpc!(
            RespondActivityTaskFailedByIdRequest,
            respond_activity_task_failed_by_id
        ),
        15 => rpc!(
            RespondActivityTaskCanceledByIdRequest,
            respond_activity_task_canceled_by_id
        ),
        16 => rpc!(
            SignalWithStartWorkflowExecutionRequest,
            signal_with_start_workflow_execution
        ),
        17 => rpc!(QueryWorkflowRequest, query_workflow),
        18 => rpc!(UpdateWorkflowExecutionRequest, update_workflow_execution),
        19 => rpc!(ExecuteMultiOperationRequest, execute_multi_operation),
        20 => rpc!(
            PollWorkflowExecutionUpdateRequest,
            poll_workflow_execution_update
        ),
        21 => rpc!(
            RespondQueryTaskCompletedRequest,
            respond_query_task_completed
        ),
        _ => rpc!(CountWorkflowExecutionsRequest, count_workflow_executions),
    })
}

/// Codes that blame the request, not the engine.
fn allowed(code: Code) -> bool {
    !matches!(
        code,
        Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
    )
}

/// Starts a run and collects what polls hand out, so that later cases can use real tokens.
async fn harvest(engine: &Engine, known: &mut Known) {
    let workflow_id = format!("fuzz-harvest-{}", known.workflow_tokens.len());
    let run_id = start(engine, &workflow_id).await;
    known.workflow_ids.push(workflow_id);
    known.run_ids.push(run_id);
    let wft = engine
        .poll_workflow_task_queue(Request::new(PollWorkflowTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(),
            ..Default::default()
        }))
        .await;
    if let Ok(resp) = wft {
        let resp = resp.into_inner();
        // Every other task is left started, so that its token is live for the cases.
        let keep = known.workflow_tokens.len().is_multiple_of(2);
        if !resp.task_token.is_empty() {
            known.workflow_tokens.push(resp.task_token.clone());
        }
        if !resp.task_token.is_empty() && !keep {
            // Schedule an activity so that activity tokens and ids exist too.
            let activity_id = format!("act-{}", known.activity_ids.len());
            let schedule = Command {
                command_type: CommandType::ScheduleActivityTask as i32,
                attributes: Some(command::Attributes::ScheduleActivityTaskCommandAttributes(
                    ScheduleActivityTaskCommandAttributes {
                        activity_id: activity_id.clone(),
                        activity_type: Some(ActivityType {
                            name: "fuzzed".into(),
                        }),
                        task_queue: queue(),
                        start_to_close_timeout: Some(prost_wkt_types::Duration {
                            seconds: 600,
                            nanos: 0,
                        }),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            };
            let done = engine
                .respond_workflow_task_completed(Request::new(
                    RespondWorkflowTaskCompletedRequest {
                        namespace: NS.into(),
                        task_token: resp.task_token,
                        commands: vec![schedule],
                        ..Default::default()
                    },
                ))
                .await;
            if done.is_ok()
                && let Some(exec) = resp.workflow_execution
            {
                known.activity_ids.push((exec.workflow_id, activity_id));
            }
        }
    }
    let act = engine
        .poll_activity_task_queue(Request::new(PollActivityTaskQueueRequest {
            namespace: NS.into(),
            task_queue: queue(),
            ..Default::default()
        }))
        .await;
    if let Ok(resp) = act {
        let resp = resp.into_inner();
        if !resp.task_token.is_empty() {
            known.activity_tokens.push(resp.task_token);
        }
    }
}

async fn start(engine: &Engine, workflow_id: &str) -> String {
    engine
        .start_workflow_execution(Request::new(StartWorkflowExecutionRequest {
            namespace: NS.into(),
            workflow_id: workflow_id.into(),
            workflow_type: Some(WorkflowType {
                name: "fuzzed".into(),
            }),
            task_queue: queue(),
            request_id: format!("req-{workflow_id}"),
            ..Default::default()
        }))
        .await
        .expect("start a run to fuzz against")
        .into_inner()
        .run_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_requests_get_request_errors_and_leave_a_sound_file() {
    let seed = seed();
    let cases = cases();
    eprintln!("fuzz: seed {seed}, {cases} cases (DACAPO_FUZZ_SEED / DACAPO_FUZZ_CASES)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fuzz.db");
    let engine = Engine::open_sqlite(&db, config()).expect("open the engine");

    let mut known = Known::default();
    for _ in 0..4 {
        harvest(&engine, &mut known).await;
    }

    let mut answered = [0usize; 2];
    let mut bad = Vec::new();
    let mut pool: Vec<(usize, Vec<u8>)> = Vec::new();
    for case in 0..cases {
        let (kind, mut bytes) = if !pool.is_empty() && rng.random_range(0..3) == 0 {
            pool[rng.random_range(0..pool.len())].clone()
        } else {
            random_request(&mut rng, &known)
        };
        if rng.random_range(0..3) == 0 {
            mutate(&mut rng, &mut bytes);
        }
        let engine2 = engine.clone();
        let called = tokio::spawn({
            let bytes = bytes.clone();
            async move { call(&engine2, kind, &bytes).await }
        });
        match tokio::time::timeout(Duration::from_secs(60), called).await {
            Err(_) => bad.push(format!("case {case}: rpc {kind} took over 60 s")),
            Ok(Err(panic)) => bad.push(format!("case {case}: rpc {kind} panicked: {panic}")),
            Ok(Ok(None)) => {}
            Ok(Ok(Some(Ok(())))) => answered[0] += 1,
            Ok(Ok(Some(Err(code)))) if allowed(code) => answered[1] += 1,
            Ok(Ok(Some(Err(code)))) => {
                bad.push(format!("case {case}: rpc {kind} answered {code:?}"))
            }
        }
        if pool.len() < 64 && bytes.len() < 64 * 1024 {
            pool.push((kind, bytes));
        }
        if case.is_multiple_of(10) {
            harvest(&engine, &mut known).await;
        }
        if bad.len() >= 10 {
            break;
        }
    }
    eprintln!(
        "fuzz: {} accepted, {} refused with a request error, {} engine faults",
        answered[0],
        answered[1],
        bad.len()
    );
    assert!(bad.is_empty(), "seed {seed}: {}", bad.join("\n"));
    assert!(
        answered[0] > 0 && answered[1] > 0,
        "the cases reached the engine: {answered:?}"
    );

    // The engine still serves every run: those it started before and those the cases started.
    let listed = engine
        .list_workflow_executions(Request::new(ListWorkflowExecutionsRequest {
            namespace: NS.into(),
            page_size: 1000,
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: list: {e:?}"))
        .into_inner();
    let mut runs: Vec<(String, String)> = known
        .workflow_ids
        .iter()
        .cloned()
        .zip(known.run_ids.iter().cloned())
        .collect();
    runs.extend(
        listed
            .executions
            .into_iter()
            .filter_map(|e| e.execution)
            .map(|e| (e.workflow_id, e.run_id)),
    );
    for (workflow_id, run_id) in &runs {
        let exec = Some(WorkflowExecution {
            workflow_id: workflow_id.clone(),
            run_id: run_id.clone(),
        });
        engine
            .get_workflow_execution_history(Request::new(GetWorkflowExecutionHistoryRequest {
                namespace: NS.into(),
                execution: exec,
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|e| {
                panic!("seed {seed}: the history of {workflow_id} no longer reads: {e:?}")
            });
    }
    engine.shutdown();
    drop(engine);

    // The file opens again and holds nothing that breaks the store's invariants.
    let store = SqliteStore::open(&db).unwrap_or_else(|e| panic!("seed {seed}: reopen: {e}"));
    let report = store
        .verify()
        .unwrap_or_else(|e| panic!("seed {seed}: the file does not verify: {e}"));
    drop(store);
    let engine = Engine::open_sqlite(&db, config())
        .unwrap_or_else(|e| panic!("seed {seed}: the engine does not start on the file: {e}"));
    eprintln!(
        "fuzz: file verified: {} runs, {} events",
        report.runs, report.events
    );
    engine.shutdown();
}
