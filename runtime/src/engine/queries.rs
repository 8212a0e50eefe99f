//! The queries waiting for a worker's answer, held in the state beside the runs they ask.
//!
//! A query to an open run whose workflow task is scheduled or running is *buffered* and rides
//! the next workflow task that starts (`PollWorkflowTaskQueueResponse.queries`, answered in
//! `RespondWorkflowTaskCompleted.query_results`). A query to a run with no workflow task due, or
//! to a closed run, is *queued* as a query task of its own on the run's task queue (a poll
//! response with `query` set, answered with `RespondQueryTaskCompleted`). When the task a query
//! rode ends without answering it (failed, timed out, or completed without a result for it),
//! the query goes back to waiting: for the next workflow task if one is due, else as a query
//! task. Nothing here is written to the store: a query never changes a run.

use super::effects::{QueueKey, WftEntry};
use crate::proto::common::Payloads;
use crate::proto::failure::Failure;
use crate::proto::query::{WorkflowQuery, WorkflowQueryResult};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// A worker's answer to a query.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The query handler's result.
    Answered(Option<Payloads>),
    /// The worker could not answer: its message, and the failure it reported.
    Failed {
        message: String,
        failure: Option<Box<Failure>>,
    },
}

/// Where a run's workflow task is, as far as its queries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskNow {
    /// No workflow task is due: the run is idle, or closed.
    Absent,
    /// A workflow task is scheduled (possibly backing off) and not started.
    Scheduled,
    /// The workflow task started with this `WorkflowTaskStarted` event id is running.
    Started(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waits for the next workflow task of its run to start.
    Buffered,
    /// Rides the workflow task started with this event id.
    Attached(i64),
    /// Waits in its task queue as a query task.
    Queued,
    /// Handed to a worker as a query task.
    Dispatched,
}

#[derive(Debug)]
struct Pending {
    run_id: String,
    queue: QueueKey,
    query: WorkflowQuery,
    stage: Stage,
    reply: oneshot::Sender<Answer>,
}

/// The queries waiting for an answer, by query id, and the ids of each run's.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    pending: HashMap<String, Pending>,
    by_run: HashMap<String, Vec<String>>,
}

impl Queries {
    /// Registers query `id` to `run_id` (whose workflow task is `now`, and whose task queue is
    /// `queue`). Returns the query task to push when the query cannot ride a workflow task.
    pub(crate) fn add(
        &mut self,
        id: &str,
        run_id: &str,
        queue: QueueKey,
        query: WorkflowQuery,
        now: TaskNow,
        reply: oneshot::Sender<Answer>,
    ) -> Option<(QueueKey, WftEntry)> {
        let stage = if now == TaskNow::Absent {
            Stage::Queued
        } else {
            Stage::Buffered
        };
        let task = (stage == Stage::Queued).then(|| query_task(&queue, run_id, id));
        self.pending.insert(
            id.to_string(),
            Pending {
                run_id: run_id.to_string(),
                queue,
                query,
                stage,
                reply,
            },
        );
        self.by_run
            .entry(run_id.to_string())
            .or_default()
            .push(id.to_string());
        task
    }

    /// How many queries wait for an answer.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `run_id` has queries waiting.
    pub(crate) fn has_run(&self, run_id: &str) -> bool {
        self.by_run.contains_key(run_id)
    }

    /// Attaches the buffered queries of `run_id` to the workflow task that just started (with
    /// event id `started_event_id`); returns them by query id, for the poll response.
    pub(crate) fn attach(
        &mut self,
        run_id: &str,
        started_event_id: i64,
    ) -> HashMap<String, WorkflowQuery> {
        let mut attached = HashMap::new();
        for id in self.by_run.get(run_id).into_iter().flatten() {
            if let Some(p) = self.pending.get_mut(id)
                && p.stage == Stage::Buffered
            {
                p.stage = Stage::Attached(started_event_id);
                attached.insert(id.clone(), p.query.clone());
            }
        }
        attached
    }

    /// Answers the queries that rode the workflow task started with `started_event_id` and
    /// that the completion answered. Results for other ids (a query whose caller stopped
    /// waiting, or one the task never carried) are ignored, as Temporal ignores them.
    pub(crate) fn answer_attached(
        &mut self,
        run_id: &str,
        started_event_id: i64,
        results: &HashMap<String, WorkflowQueryResult>,
    ) {
        for (id, result) in results {
            let rode = self.pending.get(id).is_some_and(|p| {
                p.run_id == run_id && p.stage == Stage::Attached(started_event_id)
            });
            if rode {
                self.answer(id, answer_of(result));
            }
        }
    }

    /// Hands out query task `id`: the run it asks and the query, when it is still queued.
    pub(crate) fn take_task(&mut self, id: &str) -> Option<(String, WorkflowQuery)> {
        let p = self.pending.get_mut(id)?;
        if p.stage != Stage::Queued {
            return None;
        }
        p.stage = Stage::Dispatched;
        Some((p.run_id.clone(), p.query.clone()))
    }

    /// Sends the answer to query `id`'s caller; false when no query of that id waits.
    pub(crate) fn answer(&mut self, id: &str, answer: Answer) -> bool {
        let Some(p) = self.forget(id) else {
            return false;
        };
        // The caller may have stopped waiting just now; then nobody needs the answer.
        let _ = p.reply.send(answer);
        true
    }

    /// Drops query `id` (its caller stopped waiting).
    fn forget(&mut self, id: &str) -> Option<Pending> {
        let p = self.pending.remove(id)?;
        if let Some(ids) = self.by_run.get_mut(&p.run_id) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.by_run.remove(&p.run_id);
            }
        }
        Some(p)
    }

    /// Drops query `id`, once its caller stopped waiting.
    pub(crate) fn drop_query(&mut self, id: &str) {
        self.forget(id);
    }

    /// Moves the queries of `run_id` on after a change to its workflow task (now `now`):
    /// those that rode a task that is over wait again, and those with no workflow task left
    /// to ride become query tasks, which are returned to push.
    pub(crate) fn reconcile(&mut self, run_id: &str, now: TaskNow) -> Vec<(QueueKey, WftEntry)> {
        let mut tasks = Vec::new();
        for id in self.by_run.get(run_id).into_iter().flatten() {
            let Some(p) = self.pending.get_mut(id) else {
                continue;
            };
            let next = match (p.stage, now) {
                (Stage::Buffered | Stage::Attached(_), TaskNow::Absent) => Stage::Queued,
                (Stage::Attached(s), TaskNow::Started(t)) if s == t => p.stage,
                (Stage::Attached(_), _) => Stage::Buffered,
                (stage, _) => stage,
            };
            if next == Stage::Queued && p.stage != Stage::Queued {
                tasks.push(query_task(&p.queue, run_id, id));
            }
            p.stage = next;
        }
        tasks
    }
}

fn query_task(queue: &QueueKey, run_id: &str, id: &str) -> (QueueKey, WftEntry) {
    (
        queue.clone(),
        WftEntry {
            run_id: run_id.to_string(),
            scheduled_event_id: 0,
            query_id: Some(id.to_string()),
        },
    )
}

/// A worker's result for an attached query, as the caller's answer.
fn answer_of(result: &WorkflowQueryResult) -> Answer {
    use crate::proto::enums::QueryResultType;
    if result.result_type == QueryResultType::Failed as i32 {
        Answer::Failed {
            message: result.error_message.clone(),
            failure: result.failure.clone().map(Box::new),
        }
    } else {
        Answer::Answered(result.answer.clone())
    }
}
