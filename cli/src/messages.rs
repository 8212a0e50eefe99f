//! `dacapo workflow query` and `dacapo workflow update ...`, with the flags of
//! `temporal workflow query` and `temporal workflow update ...`.

use crate::Output;
use crate::workflow::{Conn, Target, client, print_json};
use clap::{Args, Subcommand, ValueEnum};
use dacapo::proto::common::Payload as RawPayload;
use dacapo::{QueryReject, UpdateStage, UpdateStatus};
use std::path::PathBuf;

/// A message's name and arguments.
#[derive(Args, Debug, Clone)]
pub(crate) struct Message {
    /// The handler's name.
    #[arg(long, visible_alias = "type")]
    pub(crate) name: String,
    /// An argument as JSON; repeat for several.
    #[arg(short = 'i', long, conflicts_with = "input_file")]
    pub(crate) input: Vec<String>,
    /// A file whose content (JSON) is an argument; repeat for several.
    #[arg(long)]
    pub(crate) input_file: Vec<PathBuf>,
}

impl Message {
    /// The arguments as payloads.
    pub(crate) fn payloads(&self) -> Result<Vec<RawPayload>, String> {
        if self.input_file.is_empty() {
            return json_payloads(self.input.iter().map(|t| ("--input", t.clone())));
        }
        let texts = self
            .input_file
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map(|t| ("--input-file", t))
                    .map_err(|e| format!("--input-file {}: {e}", p.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        json_payloads(texts.into_iter())
    }
}

/// Encodes JSON texts, naming the flag a bad one came from.
pub(crate) fn json_payloads(
    texts: impl Iterator<Item = (&'static str, String)>,
) -> Result<Vec<RawPayload>, String> {
    texts
        .map(|(flag, text)| {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{flag} {text:?} is not JSON: {e}"))?;
            dacapo::payload::encode(&value).map_err(|e| e.to_string())
        })
        .collect()
}

/// `--reject-condition`.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum RejectCondition {
    /// Refuse the query when the run is not open.
    NotOpen,
    /// Refuse it when the run is not open and did not complete.
    NotCompletedCleanly,
}

/// `--wait-for-stage`.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum WaitStage {
    /// Return once the workflow accepted (or rejected) the update.
    Accepted,
}

/// `dacapo workflow update ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum UpdateCommand {
    /// Send an update and wait for it to complete; print its result.
    Execute {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        message: Message,
        /// The update id (default: a random UUID); an id sent before is answered by the
        /// same update.
        #[arg(long)]
        update_id: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Send an update and wait for it to be accepted or rejected; print its id.
    Start {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        message: Message,
        /// The update id (default: a random UUID).
        #[arg(long)]
        update_id: Option<String>,
        /// The stage to wait for (required, as by `temporal workflow update start`).
        #[arg(long, value_enum)]
        wait_for_stage: WaitStage,
        #[command(flatten)]
        conn: Conn,
    },
    /// Wait for an update to complete and print its result.
    Result {
        #[command(flatten)]
        target: Target,
        /// The update id.
        #[arg(long)]
        update_id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Print an update's stage once the workflow has accepted (or rejected) it, and its outcome
    /// once completed, without waiting for completion.
    Describe {
        #[command(flatten)]
        target: Target,
        /// The update id.
        #[arg(long)]
        update_id: String,
        #[command(flatten)]
        conn: Conn,
    },
}

/// `dacapo workflow query`.
pub(crate) async fn query(
    target: Target,
    message: Message,
    reject_condition: Option<RejectCondition>,
    conn: Conn,
) -> Result<(), String> {
    let client = client(&conn).await?;
    let reject = match reject_condition {
        None => QueryReject::Never,
        Some(RejectCondition::NotOpen) => QueryReject::NotOpen,
        Some(RejectCondition::NotCompletedCleanly) => QueryReject::NotCompletedCleanly,
    };
    let answer = client
        .query_workflow_raw(
            &target.workflow_id,
            target.run(),
            &message.name,
            message.payloads()?,
            reject,
        )
        .await
        .map_err(|e| e.to_string())?;
    let values = json_values(&answer);
    match conn.output {
        Output::Text => {
            println!("Query result:");
            println!("  QueryResult  {}", values_text(&values));
        }
        Output::Json => print_json(&serde_json::json!({ "queryResult": values })),
    }
    Ok(())
}

/// `dacapo workflow update ...`.
pub(crate) async fn update(cmd: UpdateCommand) -> Result<(), String> {
    match cmd {
        UpdateCommand::Execute {
            target,
            message,
            update_id,
            conn,
        } => {
            let status = send_update(
                &target,
                &message,
                update_id.as_deref(),
                &conn,
                UpdateStage::Completed,
            )
            .await?;
            print_outcome(&message.name, &status, conn.output)
        }
        UpdateCommand::Start {
            target,
            message,
            update_id,
            wait_for_stage: WaitStage::Accepted,
            conn,
        } => {
            let status = send_update(
                &target,
                &message,
                update_id.as_deref(),
                &conn,
                UpdateStage::Accepted,
            )
            .await?;
            if let Some(Err(why)) = &status.outcome {
                return Err(format!("update {} was rejected: {why}", message.name));
            }
            match conn.output {
                Output::Text => {
                    println!("Update {} accepted", message.name);
                    println!("  UpdateId  {}", status.update_id);
                }
                Output::Json => print_json(&serde_json::json!({
                    "name": message.name, "updateId": status.update_id, "stage": "accepted",
                })),
            }
            Ok(())
        }
        UpdateCommand::Result {
            target,
            update_id,
            conn,
        } => {
            let status = poll_update(&target, &update_id, &conn, UpdateStage::Completed).await?;
            print_outcome(&update_id, &status, conn.output)
        }
        UpdateCommand::Describe {
            target,
            update_id,
            conn,
        } => {
            let status = poll_update(&target, &update_id, &conn, UpdateStage::Accepted).await?;
            let stage = match status.stage {
                UpdateStage::Accepted => "accepted",
                UpdateStage::Completed => "completed",
            };
            match conn.output {
                Output::Text => {
                    println!("Update {update_id}");
                    println!("  Stage     {stage}");
                    match &status.outcome {
                        Some(Ok(p)) => println!("  Result    {}", values_text(&json_values(p))),
                        Some(Err(why)) => println!("  Failure   {why}"),
                        None => {}
                    }
                }
                Output::Json => {
                    let mut v = serde_json::json!({ "updateId": update_id, "stage": stage });
                    match &status.outcome {
                        Some(Ok(p)) => v["result"] = serde_json::Value::Array(json_values(p)),
                        Some(Err(why)) => v["failure"] = why.clone().into(),
                        None => {}
                    }
                    print_json(&v);
                }
            }
            Ok(())
        }
    }
}

/// Sends update `message` to `target` and waits until it reaches `stage`.
async fn send_update(
    target: &Target,
    message: &Message,
    update_id: Option<&str>,
    conn: &Conn,
    stage: UpdateStage,
) -> Result<UpdateStatus, String> {
    client(conn)
        .await?
        .update_workflow_raw(
            &target.workflow_id,
            target.run(),
            &message.name,
            message.payloads()?,
            update_id,
            stage,
        )
        .await
        .map_err(|e| e.to_string())
}

/// Waits until update `update_id` of `target` reaches `stage`.
async fn poll_update(
    target: &Target,
    update_id: &str,
    conn: &Conn,
    stage: UpdateStage,
) -> Result<UpdateStatus, String> {
    client(conn)
        .await?
        .poll_update_raw(&target.workflow_id, target.run(), update_id, stage)
        .await
        .map_err(|e| e.to_string())
}

/// Prints a completed update's result, or returns its failure as the command's error.
fn print_outcome(what: &str, status: &UpdateStatus, output: Output) -> Result<(), String> {
    match &status.outcome {
        Some(Ok(payloads)) => {
            let values = json_values(payloads);
            match output {
                Output::Text => {
                    println!("Update result:");
                    println!("  UpdateId  {}", status.update_id);
                    println!("  Result    {}", values_text(&values));
                }
                Output::Json => print_json(&serde_json::json!({
                    "updateId": status.update_id, "result": values,
                })),
            }
            Ok(())
        }
        Some(Err(why)) => Err(format!("update {what} failed: {why}")),
        None => Err(format!("update {what} has no outcome yet")),
    }
}

/// The payloads as JSON values (a payload that is not JSON as its printed form).
fn json_values(payloads: &[RawPayload]) -> Vec<serde_json::Value> {
    payloads
        .iter()
        .map(|p| {
            serde_json::from_slice(&p.data).unwrap_or_else(|_| dacapo::payload::display(p).into())
        })
        .collect()
}

/// One value as itself, several as a JSON array.
fn values_text(values: &[serde_json::Value]) -> String {
    match values {
        [one] => one.to_string(),
        many => serde_json::Value::Array(many.to_vec()).to_string(),
    }
}
