//! The protocol messages of a workflow task completion (`RespondWorkflowTaskCompleted.messages`):
//! a worker's acceptance, rejection or response to an update, turned into history events where
//! Temporal writes them. An acceptance writes `WorkflowExecutionUpdateAccepted` and a response
//! `WorkflowExecutionUpdateCompleted`, at the position of the `ProtocolMessage` command that
//! names the message (or, for a message no command names, after the commands); a rejection
//! writes nothing. A message that is malformed, names an update the engine did not send with
//! this task, or comes out of order fails the task with `BadUpdateWorkflowExecutionMessage`.

use super::run::Run;
use super::updates::{ACCEPTANCE_TYPE, REJECTION_TYPE, RESPONSE_TYPE};
use crate::proto::EventAttributes;
use crate::proto::failure::Failure;
use crate::proto::history::{
    WorkflowExecutionUpdateAcceptedEventAttributes, WorkflowExecutionUpdateCompletedEventAttributes,
};
use crate::proto::protocol::Message;
use crate::proto::update::{Acceptance, Meta, Outcome, Rejection, Request, Response, outcome};
use prost::Message as _;
use std::collections::{HashMap, HashSet};

/// Where an update a message names stands, as the completion began.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// Sent with this task: may be accepted or rejected.
    Sent(Box<Request>),
    /// Accepted (its event has this id): may be completed.
    Accepted(i64),
}

/// What the completion did to an update, for the engine's registry once it is applied.
#[derive(Debug, Clone)]
pub(crate) enum Done {
    Accepted {
        update_id: String,
        event_id: i64,
    },
    Completed {
        update_id: String,
        outcome: Box<Outcome>,
    },
}

/// The messages of one completion and what became of them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Protocol {
    messages: Vec<Message>,
    used: HashSet<String>,
    known: HashMap<String, Known>,
    /// Updates accepted and completed by the completion, in order.
    pub done: Vec<Done>,
}

/// Why a message fails the workflow task.
pub(crate) type MessageError = String;

impl Protocol {
    /// The messages of a completion, with where each update they name stood.
    pub(crate) fn new(messages: Vec<Message>, known: HashMap<String, Known>) -> Self {
        Self {
            messages,
            used: HashSet::new(),
            known,
            done: Vec::new(),
        }
    }

    /// Ids of the updates the messages name.
    pub(crate) fn update_ids(messages: &[Message]) -> Vec<String> {
        messages
            .iter()
            .map(|m| m.protocol_instance_id.clone())
            .collect()
    }

    /// Applies the message a `ProtocolMessage` command names.
    pub(crate) fn apply_named(
        &mut self,
        run: &mut Run,
        now: i64,
        message_id: &str,
    ) -> Result<(), MessageError> {
        let Some(index) = self.messages.iter().position(|m| m.id == message_id) else {
            return Err(format!(
                "ProtocolMessage command names message \"{}\", which the completion does not carry",
                super::rpc_error::clip(message_id)
            ));
        };
        if !self.used.insert(message_id.to_string()) {
            return Err(format!(
                "ProtocolMessage commands name message \"{}\" twice",
                super::rpc_error::clip(message_id)
            ));
        }
        let message = self.messages[index].clone();
        self.apply(run, now, &message)
    }

    /// Applies the messages no command named, in the order the completion carries them.
    pub(crate) fn apply_rest(&mut self, run: &mut Run, now: i64) -> Result<(), MessageError> {
        let rest: Vec<Message> = self
            .messages
            .iter()
            .filter(|m| !self.used.contains(&m.id))
            .cloned()
            .collect();
        for message in rest {
            self.used.insert(message.id.clone());
            self.apply(run, now, &message)?;
        }
        Ok(())
    }

    fn apply(&mut self, run: &mut Run, now: i64, message: &Message) -> Result<(), MessageError> {
        let update_id = message.protocol_instance_id.clone();
        let Some(body) = &message.body else {
            return Err(format!("message \"{}\" has no body", message.id));
        };
        let bad = |what: &str| format!("message \"{}\" is not a valid {what}", message.id);
        let known = self.known.get(&update_id).cloned();
        match (body.type_url.as_str(), known) {
            (ACCEPTANCE_TYPE, Some(Known::Sent(request))) => {
                let acc =
                    Acceptance::decode(body.value.as_slice()).map_err(|_| bad("Acceptance"))?;
                let attrs = WorkflowExecutionUpdateAcceptedEventAttributes {
                    protocol_instance_id: update_id.clone(),
                    accepted_request_message_id: acc.accepted_request_message_id,
                    accepted_request_sequencing_event_id: acc.accepted_request_sequencing_event_id,
                    accepted_request: Some(acc.accepted_request.unwrap_or(*request)),
                };
                let event_id = run.append(
                    now,
                    EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(attrs),
                );
                self.known
                    .insert(update_id.clone(), Known::Accepted(event_id));
                self.done.push(Done::Accepted {
                    update_id,
                    event_id,
                });
                Ok(())
            }
            (REJECTION_TYPE, Some(Known::Sent(_))) => {
                let rej = Rejection::decode(body.value.as_slice()).map_err(|_| bad("Rejection"))?;
                let failure = rej.failure.unwrap_or_else(|| Failure {
                    message: "the update was rejected".to_string(),
                    ..Default::default()
                });
                self.known.remove(&update_id);
                self.done.push(Done::Completed {
                    update_id,
                    outcome: Box::new(Outcome {
                        value: Some(outcome::Value::Failure(failure)),
                    }),
                });
                Ok(())
            }
            (RESPONSE_TYPE, Some(Known::Accepted(accepted_event_id))) => {
                let resp = Response::decode(body.value.as_slice()).map_err(|_| bad("Response"))?;
                let Some(outcome) = resp.outcome.filter(|o| o.value.is_some()) else {
                    return Err(format!(
                        "message \"{}\": the response has no outcome",
                        message.id
                    ));
                };
                let attrs = WorkflowExecutionUpdateCompletedEventAttributes {
                    meta: Some(resp.meta.unwrap_or(Meta {
                        update_id: update_id.clone(),
                        identity: String::new(),
                    })),
                    accepted_event_id,
                    outcome: Some(outcome.clone()),
                };
                run.append(
                    now,
                    EventAttributes::WorkflowExecutionUpdateCompletedEventAttributes(attrs),
                );
                self.known.remove(&update_id);
                self.done.push(Done::Completed {
                    update_id,
                    outcome: Box::new(outcome),
                });
                Ok(())
            }
            (ACCEPTANCE_TYPE | REJECTION_TYPE | RESPONSE_TYPE, _) => Err(format!(
                "message \"{}\" answers update \"{}\", which is not in a state to take it (an \
                 acceptance or rejection needs an update sent with this task, a response an \
                 accepted update)",
                message.id,
                super::rpc_error::clip(&update_id)
            )),
            (other, _) => Err(format!(
                "message \"{}\" has a body of type \"{}\", which is not an update protocol message",
                message.id,
                super::rpc_error::clip(other)
            )),
        }
    }
}

/// The `WorkflowExecutionUpdateAccepted` event id of update `update_id` in `run`'s history, for
/// an update accepted before the engine restarted (its registry entry is gone).
pub(crate) fn accepted_in_history(run: &Run, update_id: &str) -> Option<i64> {
    run.events.iter().rev().find_map(|e| {
        let event = e.decode().ok()?;
        match event.attributes? {
            EventAttributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)
                if a.protocol_instance_id == update_id =>
            {
                Some(event.event_id)
            }
            _ => None,
        }
    })
}
