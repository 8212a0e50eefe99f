//! The updates of open runs the engine tracks in memory, beside the runs: admitted, sent to a
//! worker in a workflow task's messages, accepted, completed or rejected; and the watch each
//! caller waits on. What is durable of an update is in the history (its
//! `WorkflowExecutionUpdateAccepted` and `WorkflowExecutionUpdateCompleted` events); an update
//! not yet accepted lives only here, as in Temporal, and a restart forgets it (its caller gets
//! an error and may retry with the same update id).

use super::queries::TaskNow;
use crate::proto::enums::UpdateWorkflowExecutionLifecycleStage as LifecycleStage;
use crate::proto::failure::Failure;
use crate::proto::protocol::{Message, message::SequencingId};
use crate::proto::update::{Outcome, Request, outcome};
use prost::Message as _;
use std::collections::{HashMap, HashSet};
use tokio::sync::watch;

/// The type URL of an update request in a protocol message's body.
pub(crate) const REQUEST_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Request";
/// The type URL of a worker's acceptance of an update.
pub(crate) const ACCEPTANCE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Acceptance";
/// The type URL of a worker's rejection of an update.
pub(crate) const REJECTION_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Rejection";
/// The type URL of a worker's response (the outcome) to an accepted update.
pub(crate) const RESPONSE_TYPE: &str = "type.googleapis.com/temporal.api.update.v1.Response";

/// What a caller waiting for an update sees: its stage, its outcome once completed, or the
/// error it ended with; and the commit that must be durable before the caller is answered.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub stage: LifecycleStage,
    pub outcome: Option<Outcome>,
    pub error: Option<(tonic::Code, String)>,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waits for the next workflow task to start.
    Admitted,
    /// Sent in the messages of the workflow task started with this event id.
    Sent(i64),
    /// Accepted: its `WorkflowExecutionUpdateAccepted` has this event id.
    Accepted(i64),
    /// Completed or rejected.
    Done,
}

#[derive(Debug)]
struct Entry {
    request: Request,
    stage: Stage,
    progress: watch::Sender<Progress>,
}

/// The updates of open runs, by run id and update id.
#[derive(Debug, Default)]
pub(crate) struct Updates {
    runs: HashMap<String, Vec<(String, Entry)>>,
    /// The open runs whose history's updates are tracked here (read at their first update
    /// call in this engine).
    history_read: HashSet<String>,
}

impl Updates {
    fn entry_mut(&mut self, run_id: &str, update_id: &str) -> Option<&mut Entry> {
        self.runs
            .get_mut(run_id)?
            .iter_mut()
            .find(|(id, _)| id == update_id)
            .map(|(_, e)| e)
    }

    /// A watch on update `update_id` of `run_id`, when the engine tracks it.
    pub(crate) fn find(&self, run_id: &str, update_id: &str) -> Option<watch::Receiver<Progress>> {
        self.runs
            .get(run_id)?
            .iter()
            .find(|(id, _)| id == update_id)
            .map(|(_, e)| e.progress.subscribe())
    }

    /// Admits a new update; returns the watch its caller waits on.
    pub(crate) fn admit(&mut self, run_id: &str, request: Request) -> watch::Receiver<Progress> {
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        let (progress, rx) = watch::channel(Progress {
            stage: LifecycleStage::Admitted,
            outcome: None,
            error: None,
            seq: 0,
        });
        self.runs.entry(run_id.to_string()).or_default().push((
            update_id,
            Entry {
                request,
                stage: Stage::Admitted,
                progress,
            },
        ));
        rx
    }

    /// How many updates the engine tracks.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.runs.values().map(Vec::len).sum()
    }

    /// How many updates of `run_id` the engine tracks: (in flight, all).
    pub(crate) fn count(&self, run_id: &str) -> (usize, usize) {
        let all = self.runs.get(run_id).map_or(&[][..], Vec::as_slice);
        let in_flight = all.iter().filter(|(_, e)| e.stage != Stage::Done).count();
        (in_flight, all.len())
    }

    /// Whether `run_id` has updates waiting to be sent to a worker.
    pub(crate) fn has_admitted(&self, run_id: &str) -> bool {
        self.runs
            .get(run_id)
            .is_some_and(|v| v.iter().any(|(_, e)| e.stage == Stage::Admitted))
    }

    /// Whether the engine tracks updates of `run_id`, or has read its history for them (so
    /// that the run's close forgets that too).
    pub(crate) fn has_run(&self, run_id: &str) -> bool {
        self.runs.contains_key(run_id) || self.history_read.contains(run_id)
    }

    /// Sends the admitted updates of `run_id`, in the order they were admitted, with the
    /// workflow task started with `started_event_id`: one protocol message each, sequenced
    /// after the event before that `WorkflowTaskStarted` (as Temporal sequences them).
    pub(crate) fn send(&mut self, run_id: &str, started_event_id: i64) -> Vec<Message> {
        let mut messages = Vec::new();
        for (id, e) in self.runs.get_mut(run_id).into_iter().flatten() {
            if e.stage != Stage::Admitted {
                continue;
            }
            e.stage = Stage::Sent(started_event_id);
            // The body's `Any` is the one of the protos crate's prost-types, named here by
            // inference only.
            let mut body = Message::default().body.unwrap_or_default();
            body.type_url = REQUEST_TYPE.to_string();
            body.value = e.request.encode_to_vec();
            messages.push(Message {
                id: format!("{id}/request"),
                protocol_instance_id: id.clone(),
                body: Some(body),
                sequencing_id: Some(SequencingId::EventId(started_event_id - 1)),
            });
        }
        messages
    }

    /// The request of update `update_id`, when it was sent with the workflow task started
    /// with `started_event_id` and is not yet accepted or rejected.
    pub(crate) fn sent_request(
        &self,
        run_id: &str,
        update_id: &str,
        started_event_id: i64,
    ) -> Option<&Request> {
        self.runs
            .get(run_id)?
            .iter()
            .find(|(id, e)| id == update_id && e.stage == Stage::Sent(started_event_id))
            .map(|(_, e)| &e.request)
    }

    /// The `WorkflowExecutionUpdateAccepted` event id of an update accepted and not completed.
    pub(crate) fn accepted_event_id(&self, run_id: &str, update_id: &str) -> Option<i64> {
        self.runs
            .get(run_id)?
            .iter()
            .find_map(|(id, e)| match e.stage {
                Stage::Accepted(event_id) if id == update_id => Some(event_id),
                _ => None,
            })
    }

    /// Records that update `update_id` was accepted, its event written by commit `seq`.
    pub(crate) fn accepted(&mut self, run_id: &str, update_id: &str, event_id: i64, seq: u64) {
        if let Some(e) = self.entry_mut(run_id, update_id) {
            e.stage = Stage::Accepted(event_id);
            e.progress.send_modify(|p| {
                p.stage = LifecycleStage::Accepted;
                p.seq = seq;
            });
        } else {
            // Accepted after a restart forgot it, or admitted by an earlier engine: track it
            // now so that its completion is announced.
            let (progress, _) = watch::channel(Progress {
                stage: LifecycleStage::Accepted,
                outcome: None,
                error: None,
                seq,
            });
            let entry = Entry {
                request: Request::default(),
                stage: Stage::Accepted(event_id),
                progress,
            };
            self.runs
                .entry(run_id.to_string())
                .or_default()
                .push((update_id.to_string(), entry));
        }
    }

    /// How many runs' histories were read for their updates.
    #[cfg(test)]
    pub(crate) fn histories_read(&self) -> usize {
        self.history_read.len()
    }

    /// Whether the updates `run_id`'s history records are tracked already.
    pub(crate) fn history_read(&self, run_id: &str) -> bool {
        self.history_read.contains(run_id)
    }

    /// Notes that the updates `run_id`'s history records are tracked from now on.
    pub(crate) fn mark_history_read(&mut self, run_id: &str) {
        self.history_read.insert(run_id.to_string());
    }

    /// Tracks update `update_id`, which the run's history records as completed with `outcome`
    /// (durable already), unless it is tracked.
    pub(crate) fn completed_before(&mut self, run_id: &str, update_id: &str, outcome: Outcome) {
        if let Some(e) = self.entry_mut(run_id, update_id) {
            e.stage = Stage::Done;
            e.progress.send_modify(|p| {
                p.stage = LifecycleStage::Completed;
                p.outcome = Some(outcome);
            });
            return;
        }
        let (progress, _) = watch::channel(Progress {
            stage: LifecycleStage::Completed,
            outcome: Some(outcome),
            error: None,
            seq: 0,
        });
        let entry = Entry {
            request: Request::default(),
            stage: Stage::Done,
            progress,
        };
        self.runs
            .entry(run_id.to_string())
            .or_default()
            .push((update_id.to_string(), entry));
    }

    /// Records the outcome of update `update_id` (a completion or a rejection), durable once
    /// commit `seq` is.
    pub(crate) fn completed(&mut self, run_id: &str, update_id: &str, outcome: Outcome, seq: u64) {
        if let Some(e) = self.entry_mut(run_id, update_id) {
            e.stage = Stage::Done;
            e.progress.send_modify(|p| {
                p.stage = LifecycleStage::Completed;
                p.outcome = Some(outcome);
                p.seq = p.seq.max(seq);
            });
        }
    }

    /// Moves the updates of `run_id` on after a change to its workflow task (now `now`): those
    /// sent with a task that is over without an answer wait for the next one; when the run
    /// closed (`open` false), every update not completed is answered with an error and the run's
    /// updates are forgotten (completed ones are then found in the history).
    pub(crate) fn reconcile(&mut self, run_id: &str, now: TaskNow, open: bool, seq: u64) {
        if !open {
            self.history_read.remove(run_id);
            for (_, e) in self.runs.remove(run_id).into_iter().flatten() {
                abort(e, seq);
            }
            return;
        }
        for (_, e) in self.runs.get_mut(run_id).into_iter().flatten() {
            if let Stage::Sent(s) = e.stage
                && now != TaskNow::Started(s)
            {
                e.stage = Stage::Admitted;
            }
        }
    }

    /// Rejects the updates sent with the workflow task started with `started_event_id` that its
    /// completion neither accepted nor rejected, as Temporal does: the worker did not handle
    /// them. Returns their ids.
    pub(crate) fn reject_unprocessed(&mut self, run_id: &str, started_event_id: i64, seq: u64) {
        for (_, e) in self.runs.get_mut(run_id).into_iter().flatten() {
            if e.stage == Stage::Sent(started_event_id) {
                e.stage = Stage::Done;
                let failure = Failure {
                    message: "Workflow Update is rejected because it wasn't processed by worker. \
                              Probably, Workflow Update is not supported by the worker."
                        .to_string(),
                    ..Default::default()
                };
                e.progress.send_modify(|p| {
                    p.stage = LifecycleStage::Completed;
                    p.outcome = Some(Outcome {
                        value: Some(outcome::Value::Failure(failure)),
                    });
                    p.seq = p.seq.max(seq);
                });
            }
        }
    }
}

/// Answers an update still in flight when its run closed: one not yet accepted with
/// `NotFound` ("workflow update was aborted by closing workflow", as Temporal's), an accepted one with a failed
/// outcome (its handler can no longer finish), as Temporal does.
fn abort(e: Entry, seq: u64) {
    match e.stage {
        Stage::Done => {}
        Stage::Accepted(_) => e.progress.send_modify(|p| {
            p.stage = LifecycleStage::Completed;
            p.outcome = Some(Outcome {
                value: Some(outcome::Value::Failure(Failure {
                    message: "Workflow Update failed because the Workflow completed before the \
                              Update completed."
                        .to_string(),
                    ..Default::default()
                })),
            });
            p.seq = p.seq.max(seq);
        }),
        Stage::Admitted | Stage::Sent(_) => e.progress.send_modify(|p| {
            p.error = Some((
                tonic::Code::NotFound,
                "workflow update was aborted by closing workflow".to_string(),
            ));
            p.seq = p.seq.max(seq);
        }),
    }
}
