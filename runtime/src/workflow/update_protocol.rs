//! The update protocol on the worker's side. Requests arrive as protocol messages of a workflow
//! task (a body of `temporal.api.update.v1.Request`) or, on replay, from the history's
//! `WorkflowExecutionUpdateAccepted` events; each is decoded, validated (new requests only),
//! then rejected (a Rejection message, nothing in history) or accepted (an Acceptance message
//! and its `ProtocolMessage` command) and its handler started. When a handler finishes, a
//! Response message and its command carry the outcome. The executor drives this module; the
//! message ids follow Temporal's core SDK (`<request message id>/accept`, `/reject`,
//! `/complete`).

use super::state::{IssuedCommand, RunState};
use super::update_handlers::HandlerOutput;
use crate::definition::BoxFuture;
use crate::failure::application_failure;
use crate::payload;
use crate::proto::CommandAttributes;
use crate::proto::EventAttributes;
use crate::proto::command::{self as cmd, Command};
use crate::proto::enums::{CommandType, EventType};
use crate::proto::history::HistoryEvent;
use crate::proto::protocol::{Message, message::SequencingId};
use crate::proto::update::{Acceptance, Meta, Outcome, Rejection, Request, Response, outcome};
use parking_lot::Mutex;
use prost::Message as _;
use std::panic::AssertUnwindSafe;

const REQUEST_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Request";
const ACCEPTANCE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Acceptance";
const REJECTION_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Rejection";
const RESPONSE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Response";

/// The failure type of an update whose handler returned an error.
const HANDLER_FAILURE_TYPE: &str = "UpdateFailed";
/// The failure type of an update that was rejected.
const REJECTION_FAILURE_TYPE: &str = "UpdateRejected";

/// An update request delivered to an activation.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// The id of the message that carried it.
    pub(crate) message_id: String,
    /// The event after which the server sequenced it.
    pub(crate) sequencing_event_id: i64,
    pub(crate) request: Request,
}

impl Incoming {
    pub(crate) fn update_id(&self) -> &str {
        self.request
            .meta
            .as_ref()
            .map_or("", |m| m.update_id.as_str())
    }

    pub(crate) fn name(&self) -> &str {
        self.request.input.as_ref().map_or("", |i| i.name.as_str())
    }
}

/// The update requests among a task's messages, in the order given. Messages of other kinds
/// (none is sent to a worker today) and bodies that do not decode are left out and logged.
pub(crate) fn requests_in(messages: &[Message]) -> Vec<Incoming> {
    let mut out = Vec::new();
    for m in messages {
        let Some(body) = m.body.as_ref().filter(|b| b.type_url == REQUEST_TYPE) else {
            tracing::warn!(message_id = %m.id, "a workflow task carries a protocol message that is not an update request; ignored");
            continue;
        };
        match Request::decode(body.value.as_slice()) {
            Ok(request) => out.push(Incoming {
                message_id: m.id.clone(),
                sequencing_event_id: match m.sequencing_id {
                    Some(SequencingId::EventId(id)) => id,
                    _ => 0,
                },
                request,
            }),
            Err(e) => {
                tracing::warn!(message_id = %m.id, "an update request message does not decode ({e}); ignored")
            }
        }
    }
    out
}

/// On replay, the requests the task started at `history[started]` accepted: those of the
/// `WorkflowExecutionUpdateAccepted` events its completion wrote, in history order.
pub(crate) fn accepted_by_task(
    history: &[HistoryEvent],
    started: usize,
) -> Result<Vec<Incoming>, String> {
    let mut out = Vec::new();
    for e in history.iter().skip(started + 1) {
        if e.event_type == EventType::WorkflowTaskStarted as i32 {
            break;
        }
        if let Some(EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) =
            &e.attributes
        {
            let Some(request) = a.accepted_request.clone() else {
                return Err(format!(
                    "history event {} accepts update \"{}\" but does not record its request",
                    e.event_id, a.protocol_instance_id
                ));
            };
            out.push(Incoming {
                message_id: a.accepted_request_message_id.clone(),
                sequencing_event_id: a.accepted_request_sequencing_event_id,
                request,
            });
        }
    }
    Ok(out)
}

/// What became of a request.
pub(crate) enum Dispatched {
    /// Accepted (its command issued): the handler's future, to run as a coroutine of the run.
    Accepted {
        update_id: String,
        name: String,
        future: BoxFuture<HandlerOutput>,
    },
    /// Rejected: the message that says so.
    Rejected(Message),
    /// No handler of its name is registered (yet).
    NoHandler(Incoming),
}

/// Why a request could not be dispatched; either way the workflow task fails.
pub(crate) enum DispatchError {
    /// On replay, the code cannot take an update the history says was accepted.
    NonDeterminism(String),
    /// The handler panicked as it was started.
    Panic(String),
}

/// Dispatches one request. `replaying`: it comes from the history, so it is accepted without
/// its validator. `last_chance`: the code has run, so a request with no handler is rejected
/// (or, on replay, is non-determinism) instead of given back.
pub(crate) fn dispatch(
    state: &Mutex<RunState>,
    incoming: Incoming,
    replaying: bool,
    last_chance: bool,
) -> Result<Dispatched, DispatchError> {
    let name = incoming.name().to_string();
    let update_id = incoming.update_id().to_string();
    let Some(handler) = state.lock().updates.take(&name) else {
        if !last_chance {
            return Ok(Dispatched::NoHandler(incoming));
        }
        let known = state.lock().updates.names().join(", ");
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known
        };
        let why = format!("unknown update `{name}`; the workflow's update handlers: {known}");
        if replaying {
            return Err(DispatchError::NonDeterminism(format!(
                "the history accepts update `{name}` (id \"{update_id}\") but the code registers no handler for it"
            )));
        }
        return Ok(Dispatched::Rejected(rejection(&incoming, &why)));
    };
    let args = incoming.request.input.as_ref().and_then(|i| i.args.clone());
    let decoded = (handler.decode)(payload::payload_list(&args));
    let checked = decoded.and_then(|args| {
        if replaying {
            return Ok(args);
        }
        let Some(validator) = &handler.validator else {
            return Ok(args);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| validator(&args))) {
            Ok(Ok(())) => Ok(args),
            Ok(Err(why)) => Err(why),
            Err(panic) => Err(format!(
                "the validator of update `{name}` panicked: {}",
                super::panic::message(&panic)
            )),
        }
    });
    let started =
        checked.map(|args| std::panic::catch_unwind(AssertUnwindSafe(|| (handler.start)(args))));
    state.lock().updates.restore(&name, handler);
    match started {
        Ok(Ok(future)) => {
            state.lock().commands.push(IssuedCommand::AcceptUpdate {
                name: name.clone(),
                update_id: update_id.clone(),
                request_message_id: incoming.message_id,
                sequencing_event_id: incoming.sequencing_event_id,
                request: Box::new(incoming.request),
            });
            Ok(Dispatched::Accepted {
                update_id,
                name,
                future,
            })
        }
        Ok(Err(panic)) => Err(DispatchError::Panic(format!(
            "the handler of update `{name}` panicked: {}",
            super::panic::message(&panic)
        ))),
        Err(why) if replaying => Err(DispatchError::NonDeterminism(format!(
            "the history accepts update `{name}` (id \"{update_id}\") but the code cannot take it now: {why}"
        ))),
        Err(why) => Ok(Dispatched::Rejected(rejection(&incoming, &why))),
    }
}

/// The rejection of `incoming`, for `why`.
pub(crate) fn rejection(incoming: &Incoming, why: &str) -> Message {
    let body = Rejection {
        rejected_request_message_id: incoming.message_id.clone(),
        rejected_request_sequencing_event_id: incoming.sequencing_event_id,
        rejected_request: Some(incoming.request.clone()),
        failure: Some(application_failure(why, REJECTION_FAILURE_TYPE, true)),
    };
    message(
        format!("{}/reject", incoming.message_id),
        incoming.update_id(),
        REJECTION_TYPE,
        body.encode_to_vec(),
    )
}

/// The message and the `ProtocolMessage` command of an update command, or `None` for any other
/// command.
pub(crate) fn protocol_command(c: &IssuedCommand) -> Option<(Command, Message)> {
    let message = match c {
        IssuedCommand::AcceptUpdate {
            update_id,
            request_message_id,
            sequencing_event_id,
            request,
            ..
        } => {
            let body = Acceptance {
                accepted_request_message_id: request_message_id.clone(),
                accepted_request_sequencing_event_id: *sequencing_event_id,
                accepted_request: Some((**request).clone()),
            };
            message(
                format!("{request_message_id}/accept"),
                update_id,
                ACCEPTANCE_TYPE,
                body.encode_to_vec(),
            )
        }
        IssuedCommand::CompleteUpdate {
            update_id,
            request_message_id,
            outcome: result,
            ..
        } => {
            let value = match result {
                Ok(payloads) => outcome::Value::Success(crate::proto::common::Payloads {
                    payloads: payloads.clone(),
                }),
                Err(why) => {
                    outcome::Value::Failure(application_failure(why, HANDLER_FAILURE_TYPE, false))
                }
            };
            let body = Response {
                meta: Some(Meta {
                    update_id: update_id.clone(),
                    identity: String::new(),
                }),
                outcome: Some(Outcome { value: Some(value) }),
            };
            message(
                format!("{request_message_id}/complete"),
                update_id,
                RESPONSE_TYPE,
                body.encode_to_vec(),
            )
        }
        _ => return None,
    };
    let command = Command {
        command_type: CommandType::ProtocolMessage as i32,
        attributes: Some(CommandAttributes::ProtocolMessageCommandAttributes(
            cmd::ProtocolMessageCommandAttributes {
                message_id: message.id.clone(),
            },
        )),
        ..Default::default()
    };
    Some((command, message))
}

/// Whether `event` records the update command `issued`.
pub(crate) fn records(issued: &IssuedCommand, event: &HistoryEvent) -> bool {
    match (issued, &event.attributes) {
        (
            IssuedCommand::AcceptUpdate { update_id, .. },
            Some(EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)),
        ) => &a.protocol_instance_id == update_id,
        (
            IssuedCommand::CompleteUpdate { update_id, .. },
            Some(EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(a)),
        ) => a.meta.as_ref().is_some_and(|m| &m.update_id == update_id),
        _ => false,
    }
}

fn message(id: String, update_id: &str, type_url: &str, value: Vec<u8>) -> Message {
    // The body's `Any` type is the protos crate's, named here by inference only.
    let mut body = Message::default().body.unwrap_or_default();
    body.type_url = type_url.to_string();
    body.value = value;
    Message {
        id,
        protocol_instance_id: update_id.to_string(),
        body: Some(body),
        sequencing_id: None,
    }
}
