//! `dacapo workflow ...`: the client commands.

use crate::Output;
use crate::messages::{self, Message, RejectCondition, UpdateCommand};
use clap::{Args, Subcommand};
use dacapo::client::{PendingActivity, WorkflowDescription, WorkflowSummary};
use dacapo::proto::history::history_event::Attributes as A;
use dacapo::remote::{ConnectOptions, connect};
use dacapo::{Client, StartOptions};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Where the service is and how to talk to it.
#[derive(Args, Debug, Clone)]
pub(crate) struct Conn {
    /// The WorkflowService: a `dacapo server`, an embedded engine served on a socket, or a
    /// Temporal frontend.
    #[arg(
        long,
        global = true,
        env = "DACAPO_ADDRESS",
        default_value = "http://127.0.0.1:7233"
    )]
    address: String,
    /// The namespace.
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "DACAPO_NAMESPACE",
        default_value = "default"
    )]
    namespace: String,
    /// API key sent as `authorization: Bearer KEY`.
    #[arg(long, global = true, env = "DACAPO_API_KEY")]
    api_key: Option<String>,
    /// CA certificate (PEM) of a TLS server.
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    /// Name to verify the server's certificate against.
    #[arg(long, global = true)]
    tls_server_name: Option<String>,
    /// How to print the result.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// Identifies a run.
#[derive(Args, Debug, Clone)]
pub(crate) struct Target {
    /// The workflow id.
    #[arg(short = 'w', long)]
    pub(crate) workflow_id: String,
    /// The run id (default: the current run).
    #[arg(short = 'r', long)]
    run_id: Option<String>,
}

impl Target {
    pub(crate) fn run(&self) -> Option<&str> {
        self.run_id.as_deref().filter(|r| !r.is_empty())
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum WorkflowCommand {
    /// Start a workflow by type name.
    Start {
        /// The workflow type.
        #[arg(long = "type")]
        workflow_type: String,
        /// The task queue its worker polls.
        #[arg(short = 't', long)]
        task_queue: String,
        /// The workflow id (default: a random UUID).
        #[arg(short = 'w', long)]
        workflow_id: Option<String>,
        /// An argument as JSON; repeat for several.
        #[arg(short = 'i', long)]
        input: Vec<String>,
        /// Longest time the run may take (e.g. `1h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        run_timeout: Option<Duration>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Request cancellation: the workflow sees it and runs its cleanup.
    Cancel {
        #[command(flatten)]
        target: Target,
        /// Why, recorded in the history.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Terminate at once: no workflow code and no cleanup runs.
    Terminate {
        #[command(flatten)]
        target: Target,
        /// Why, recorded in the history.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send a signal (`--name` is the signal's name).
    Signal {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        message: Message,
        #[command(flatten)]
        conn: Conn,
    },
    /// Ask a query (`--name` is the query's name) and print the answer; nothing is recorded.
    Query {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        message: Message,
        /// Refuse the query by the run's status instead of answering it.
        #[arg(long, value_enum)]
        reject_condition: Option<RejectCondition>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send an update, wait for it, or look at one.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Show status, type, task queue, times and pending activities.
    Describe {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        conn: Conn,
    },
    /// Print the history (`--output json` prints the JSON Temporal's tools print).
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        conn: Conn,
    },
    /// List workflows, newest first.
    List {
        /// A list filter, e.g. `WorkflowType = 'your_workflow' AND ExecutionStatus = 'Running'`.
        #[arg(short = 'q', long, default_value = "")]
        query: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Wait for the run to close and print its result.
    Result {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        conn: Conn,
    },
}

pub(crate) async fn client(conn: &Conn) -> Result<Client, String> {
    let url = if conn.address.contains("://") {
        conn.address.clone()
    } else {
        format!("http://{}", conn.address)
    };
    let service = connect(
        &url,
        ConnectOptions {
            api_key: conn.api_key.clone(),
            tls_ca: conn.tls_ca.clone(),
            tls_domain: conn.tls_server_name.clone(),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Client::new(service).with_namespace(&conn.namespace))
}

pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn time_text(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_millis(t).to_string())
        .unwrap_or_default()
}

pub(crate) async fn run(cmd: WorkflowCommand) -> Result<(), String> {
    match cmd {
        WorkflowCommand::Start {
            workflow_type,
            task_queue,
            workflow_id,
            input,
            run_timeout,
            conn,
        } => {
            let client = client(&conn).await?;
            let id = workflow_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let mut options = StartOptions::new(&id, &task_queue);
            options.run_timeout = run_timeout;
            let run_id = client
                .start_workflow_by_name(
                    &workflow_type,
                    messages::json_payloads(input.into_iter().map(|t| ("--input", t)))?,
                    &options,
                )
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => {
                    println!("Started workflow");
                    println!("  WorkflowId  {id}");
                    println!("  RunId       {run_id}");
                    println!("  Type        {workflow_type}");
                    println!("  TaskQueue   {task_queue}");
                }
                Output::Json => print_json(&serde_json::json!({
                    "workflowId": id, "runId": run_id, "type": workflow_type, "taskQueue": task_queue,
                })),
            }
        }
        WorkflowCommand::Cancel {
            target,
            reason,
            conn,
        } => {
            let client = client(&conn).await?;
            client
                .cancel_workflow(&target.workflow_id, target.run(), &reason)
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => {
                    println!("Cancellation requested for workflow {}", target.workflow_id)
                }
                Output::Json => print_json(
                    &serde_json::json!({"workflowId": target.workflow_id, "cancelRequested": true}),
                ),
            }
        }
        WorkflowCommand::Terminate {
            target,
            reason,
            conn,
        } => {
            let client = client(&conn).await?;
            client
                .terminate_workflow(&target.workflow_id, target.run(), &reason)
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => println!("Workflow {} terminated", target.workflow_id),
                Output::Json => print_json(
                    &serde_json::json!({"workflowId": target.workflow_id, "terminated": true}),
                ),
            }
        }
        WorkflowCommand::Signal {
            target,
            message,
            conn,
        } => {
            let client = client(&conn).await?;
            let name = &message.name;
            client
                .signal_workflow_raw(&target.workflow_id, target.run(), name, message.payloads()?)
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => println!("Signal {name} sent to workflow {}", target.workflow_id),
                Output::Json => print_json(
                    &serde_json::json!({"workflowId": target.workflow_id, "signal": name}),
                ),
            }
        }
        WorkflowCommand::Query {
            target,
            message,
            reject_condition,
            conn,
        } => return messages::query(target, message, reject_condition, conn).await,
        WorkflowCommand::Update(cmd) => return messages::update(cmd).await,
        WorkflowCommand::Describe { target, conn } => {
            let client = client(&conn).await?;
            let d = client
                .describe_workflow(&target.workflow_id, target.run())
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => print_description(&d),
                Output::Json => print_json(&description_json(&d)),
            }
        }
        WorkflowCommand::Show { target, conn } => {
            let client = client(&conn).await?;
            let events = client
                .history(&target.workflow_id, target.run())
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => {
                    for line in dacapo::proto::describe_history(&events) {
                        println!("{line}");
                    }
                }
                Output::Json => {
                    println!(
                        "{}",
                        dacapo::history_json::to_json(&events).map_err(|e| e.to_string())?
                    )
                }
            }
        }
        WorkflowCommand::List { query, conn } => {
            let client = client(&conn).await?;
            let rows = client
                .list_workflows(&query)
                .await
                .map_err(|e| e.to_string())?;
            match conn.output {
                Output::Text => print_list(&rows),
                Output::Json => print_json(&serde_json::Value::Array(
                    rows.iter().map(summary_json).collect(),
                )),
            }
        }
        WorkflowCommand::Result { target, conn } => {
            let client = client(&conn).await?;
            let close = client
                .close_event(&target.workflow_id, target.run())
                .await
                .map_err(|e| e.to_string())?;
            return print_result(&target.workflow_id, close.attributes, conn.output);
        }
    }
    Ok(())
}

fn print_result(workflow_id: &str, close: Option<A>, output: Output) -> Result<(), String> {
    let (status, value): (&str, serde_json::Value) = match close {
        Some(A::WorkflowExecutionCompletedEventAttributes(a)) => {
            let list = dacapo::payload::payload_list(&a.result);
            let value = match list.len() {
                0 => serde_json::Value::Null,
                _ => dacapo::payload::decode::<serde_json::Value>(list, 0).unwrap_or_else(|_| {
                    serde_json::Value::String(dacapo::payload::display(&list[0]))
                }),
            };
            ("Completed", value)
        }
        Some(A::WorkflowExecutionFailedEventAttributes(a)) => (
            "Failed",
            serde_json::Value::String(a.failure.map(|f| f.message).unwrap_or_default()),
        ),
        Some(A::WorkflowExecutionCanceledEventAttributes(_)) => {
            ("Canceled", serde_json::Value::Null)
        }
        Some(A::WorkflowExecutionTerminatedEventAttributes(a)) => {
            ("Terminated", serde_json::Value::String(a.reason))
        }
        Some(A::WorkflowExecutionTimedOutEventAttributes(_)) => {
            ("TimedOut", serde_json::Value::Null)
        }
        _ => ("Unknown", serde_json::Value::Null),
    };
    match output {
        Output::Text => {
            println!("Status  {status}");
            if !value.is_null() {
                println!("Result  {value}");
            }
        }
        Output::Json => print_json(
            &serde_json::json!({"workflowId": workflow_id, "status": status, "result": value}),
        ),
    }
    if status == "Completed" {
        Ok(())
    } else {
        Err(format!("workflow {workflow_id} closed {status}"))
    }
}

fn print_description(d: &WorkflowDescription) {
    println!("Execution Info:");
    println!("  WorkflowId     {}", d.workflow_id);
    println!("  RunId          {}", d.run_id);
    println!("  Type           {}", d.workflow_type);
    println!("  Status         {}", d.status);
    println!("  TaskQueue      {}", d.task_queue);
    println!("  StartTime      {}", time_text(d.start_time));
    if d.close_time.is_some() {
        println!("  CloseTime      {}", time_text(d.close_time));
    }
    println!("  HistoryLength  {}", d.history_length);
    println!();
    println!("Pending Activities: {}", d.pending_activities.len());
    for a in &d.pending_activities {
        print_pending(a);
    }
}

fn print_pending(a: &PendingActivity) {
    println!("  ActivityId         {}", a.activity_id);
    println!("  ActivityType       {}", a.activity_type);
    println!("  State              {}", a.state);
    println!("  Attempt            {}", a.attempt);
    println!("  HeartbeatDetails   {}", a.heartbeat_details.join(", "));
    println!("  LastHeartbeatTime  {}", time_text(a.last_heartbeat_time));
}

fn description_json(d: &WorkflowDescription) -> serde_json::Value {
    serde_json::json!({
        "workflowId": d.workflow_id,
        "runId": d.run_id,
        "type": d.workflow_type,
        "status": d.status.to_string(),
        "taskQueue": d.task_queue,
        "startTime": time_text(d.start_time),
        "closeTime": time_text(d.close_time),
        "historyLength": d.history_length,
        "pendingActivities": d.pending_activities.iter().map(|a| serde_json::json!({
            "activityId": a.activity_id,
            "activityType": a.activity_type,
            "state": a.state,
            "attempt": a.attempt,
            "heartbeatDetails": a.heartbeat_details.iter()
                .map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap_or_else(|_| serde_json::Value::String(t.clone())))
                .collect::<Vec<_>>(),
            "lastHeartbeatTime": time_text(a.last_heartbeat_time),
        })).collect::<Vec<_>>(),
    })
}

fn summary_json(s: &WorkflowSummary) -> serde_json::Value {
    serde_json::json!({
        "workflowId": s.workflow_id,
        "runId": s.run_id,
        "type": s.workflow_type,
        "status": s.status.to_string(),
        "taskQueue": s.task_queue,
        "startTime": time_text(s.start_time),
        "closeTime": time_text(s.close_time),
    })
}

fn print_list(rows: &[WorkflowSummary]) {
    let w = rows
        .iter()
        .map(|r| r.workflow_id.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let t = rows
        .iter()
        .map(|r| r.workflow_type.len())
        .max()
        .unwrap_or(0)
        .max(4);
    println!(
        "{:<10}  {:<w$}  {:<t$}  {:<24}  RunId",
        "Status", "WorkflowId", "Type", "StartTime"
    );
    for r in rows {
        println!(
            "{:<10}  {:<w$}  {:<t$}  {:<24}  {}",
            r.status.to_string(),
            r.workflow_id,
            r.workflow_type,
            time_text(r.start_time),
            r.run_id
        );
    }
}
