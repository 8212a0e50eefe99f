//! Workflow tasks: polling, completing, failing and timing out.
//!
//! A poll writes `WorkflowTaskStarted` and hands out the history: its first page (at most
//! `Limits::poll_history_page_events` events and `history_page_bytes` bytes) and a
//! `next_page_token` for the rest, read with `GetWorkflowExecutionHistory` up to the task's
//! `WorkflowTaskStarted`. While the task is started, events that need the workflow (signals,
//! cancel requests, activity and timer outcomes) are held back. Completing the task writes
//! `WorkflowTaskCompleted`, the events of its commands in order, then the held events, then a
//! new `WorkflowTaskScheduled` if anything new needs the workflow. A task that fails or times
//! out is rescheduled; consecutive failures back off (attempt n waits 2^(n-2) s, at most a
//! minute, from the third attempt on) and the run stays open.
//!
//! A speculative task (scheduled for an update to an idle run, see `Run::ensure_speculative_task`)
//! is started and completed like any other, but its events are in memory only until the
//! completion decides: one that only rejects updates is dropped, and the history is as before
//! it; anything else writes it. One no worker starts in time times out (`SCHEDULE_TO_START`).

use super::Limits;
use super::clock::{now_ms, ts};
use super::commands::{self, CommandContext};
use super::core::Core;
use super::effects::{Effects, QueueKey};
use super::failures::server_failure;
use super::history::page_len;
use super::protocol::{Done, Known, Protocol, accepted_in_history};
use super::rpc_error::{invalid, workflow_completed, workflow_task_not_found};
use super::run::Run;
use super::state::State;
use super::token::{HistoryCursor, QueryToken, TaskKind, TaskToken};
use super::validate;
use crate::proto::EventAttributes;
use crate::proto::common::{WorkflowExecution, WorkflowType};
use crate::proto::enums::{TaskQueueKind, TimeoutType, WorkflowTaskFailedCause};
use crate::proto::history::{
    History, WorkflowTaskCompletedEventAttributes, WorkflowTaskStartedEventAttributes,
    WorkflowTaskTimedOutEventAttributes,
};
use crate::proto::service::{
    PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
    RespondWorkflowTaskCompletedRequest, RespondWorkflowTaskCompletedResponse,
    RespondWorkflowTaskFailedRequest, RespondWorkflowTaskFailedResponse,
};
use crate::proto::taskqueue::TaskQueue;
use crate::store::EncodedEvent;
use std::collections::HashMap;
use tonic::Status;

/// `PollWorkflowTaskQueue`: waits up to the long-poll timeout for a task.
pub(crate) async fn poll(
    core: &Core,
    req: PollWorkflowTaskQueueRequest,
) -> Result<PollWorkflowTaskQueueResponse, Status> {
    let taken = core
        .poll_queue(
            &req.namespace,
            &req.task_queue,
            TaskKind::Workflow,
            |st, key| take(core, st, key, &req.identity).map(|(t, seq)| (Some(t), seq)),
        )
        .await?;
    match taken {
        Some(task) => task.with_history(core).await,
        None => Ok(PollWorkflowTaskQueueResponse::default()),
    }
}

/// A started workflow task or query task: the poll response and the first page of history it
/// is to carry, read or decoded after the state lock is released.
struct Started {
    resp: PollWorkflowTaskQueueResponse,
    history: TaskHistory,
}

/// Where the first page of a task's history comes from.
enum TaskHistory {
    /// Events of an open run, still encoded.
    Memory(Vec<EncodedEvent>),
    /// A closed run's (for a query task): read from the store, which holds events up to
    /// `next_event_id`.
    Stored { run_id: String, next_event_id: i64 },
}

impl Started {
    async fn with_history(mut self, core: &Core) -> Result<PollWorkflowTaskQueueResponse, Status> {
        if self.resp.task_token.is_empty() {
            return Ok(self.resp);
        }
        let events = match self.history {
            TaskHistory::Memory(events) => super::history::decode(&events)?,
            TaskHistory::Stored {
                run_id,
                next_event_id,
            } => {
                let limits = &core.cfg.limits;
                let events = super::history::read_store(
                    core,
                    &run_id,
                    1,
                    limits.poll_history_page_events,
                    limits.history_page_bytes,
                )
                .await?;
                let read_to = events.last().map_or(0, |e| e.event_id) + 1;
                if read_to < next_event_id {
                    self.resp.next_page_token = HistoryCursor {
                        run_id,
                        next_event_id: read_to,
                        end_event_id: 0,
                    }
                    .encode();
                }
                events
            }
        };
        self.resp.history = Some(History { events });
        Ok(self.resp)
    }
}

/// Takes the first live task of a queue and starts it.
fn take(core: &Core, st: &mut State, key: &QueueKey, identity: &str) -> Option<(Started, u64)> {
    while let Some(entry) = st.pop_wft(key) {
        if let Some(query_id) = &entry.query_id {
            match start_query(st, query_id, &core.cfg.limits) {
                Some(task) => return Some(task),
                None => continue,
            }
        }
        let backlog = st.wft_backlog(key);
        // A damaged run's history cannot be delivered whole, so its tasks are never handed out.
        if st.is_damaged(&entry.run_id) {
            continue;
        }
        let Some(run) = st.runs.get_mut(&entry.run_id) else {
            continue;
        };
        let live = run.wft().is_some_and(|w| {
            w.scheduled_event_id == entry.scheduled_event_id
                && w.started_event_id == 0
                && w.not_before_ms == 0
        });
        if !live {
            continue;
        }
        let mut fx = Effects::default();
        fx.touch(&entry.run_id);
        let mut started = start(run, now_ms(), identity, backlog, &core.cfg.limits);
        started.resp.queries = st
            .queries
            .attach(&entry.run_id, started.resp.started_event_id);
        started.resp.messages = st
            .updates
            .send(&entry.run_id, started.resp.started_event_id);
        let seq = core.finish(st, fx);
        if !st.runs.contains_key(&entry.run_id) {
            // The task's start took the history over a limit, and the run was terminated.
            continue;
        }
        return Some((started, seq));
    }
    None
}

/// Starts the scheduled workflow task of `run`: writes `WorkflowTaskStarted` and builds the
/// poll response, with the first page of history to add once the state lock is released.
fn start(run: &mut Run, now: i64, identity: &str, backlog: usize, limits: &Limits) -> Started {
    let Some(mut wft) = run.wft() else {
        return Started {
            resp: PollWorkflowTaskQueueResponse::default(),
            history: TaskHistory::Memory(Vec::new()),
        };
    };
    let attrs = WorkflowTaskStartedEventAttributes {
        scheduled_event_id: wft.scheduled_event_id,
        identity: identity.to_string(),
        request_id: uuid::Uuid::new_v4().to_string(),
        history_size_bytes: run.rec.history_size_bytes,
        ..Default::default()
    };
    let started_id = run.append(
        now,
        EventAttributes::WorkflowTaskStartedEventAttributes(attrs),
    );
    wft.started_event_id = started_id;
    wft.started_time_ms = now;
    run.rec.workflow_task = Some(wft);
    let token = TaskToken {
        kind: TaskKind::Workflow as u32,
        namespace: run.rec.namespace.clone(),
        workflow_id: run.rec.workflow_id.clone(),
        run_id: run.rec.run_id.clone(),
        scheduled_event_id: wft.scheduled_event_id,
        started_event_id: started_id,
        attempt: wft.attempt,
        activity_id: String::new(),
    };
    let mut resp = PollWorkflowTaskQueueResponse {
        task_token: token.encode(),
        workflow_execution: Some(run.execution()),
        workflow_type: Some(WorkflowType {
            name: run.rec.workflow_type.clone(),
        }),
        previous_started_event_id: run.rec.previous_started_event_id,
        started_event_id: started_id,
        attempt: wft.attempt,
        backlog_count_hint: i64::try_from(backlog).unwrap_or(i64::MAX),
        workflow_execution_task_queue: Some(TaskQueue {
            name: run.rec.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        scheduled_time: Some(ts(wft.scheduled_time_ms)),
        started_time: Some(ts(now)),
        ..Default::default()
    };
    let first = page_len(
        &run.events,
        limits.poll_history_page_events,
        limits.history_page_bytes,
    );
    if first < run.events.len() {
        resp.next_page_token = HistoryCursor {
            run_id: run.rec.run_id.clone(),
            next_event_id: first as i64 + 1,
            end_event_id: started_id + 1,
        }
        .encode();
    }
    Started {
        resp,
        history: TaskHistory::Memory(run.events[..first].to_vec()),
    }
}

/// Hands out query task `query_id` when its query still waits: a poll response with `query`
/// set and the run's whole history (its first page, and a `next_page_token` for the rest), the
/// open run's from memory, a closed run's from the store. Nothing is written. Returns the
/// commit to await before answering: the last one that changed the run, so that the worker sees
/// only durable events.
fn start_query(st: &mut State, query_id: &str, limits: &Limits) -> Option<(Started, u64)> {
    let (run_id, query) = st.queries.take_task(query_id)?;
    let rec = st.record(&run_id)?;
    let mut resp = PollWorkflowTaskQueueResponse {
        task_token: QueryToken {
            namespace: rec.namespace.clone(),
            query_id: query_id.to_string(),
        }
        .encode(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: rec.workflow_id.clone(),
            run_id: rec.run_id.clone(),
        }),
        workflow_type: Some(WorkflowType {
            name: rec.workflow_type.clone(),
        }),
        previous_started_event_id: rec.previous_started_event_id,
        attempt: 1,
        workflow_execution_task_queue: Some(TaskQueue {
            name: rec.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        query: Some(query),
        ..Default::default()
    };
    let history = match st.runs.get(&run_id) {
        Some(run) => {
            // Without a speculative task's events, which only that task's worker sees.
            let durable = usize::try_from(run.durable_next_event_id() - 1).unwrap_or(0);
            let events = run.events.get(..durable).unwrap_or_default();
            let first = page_len(
                events,
                limits.poll_history_page_events,
                limits.history_page_bytes,
            );
            if first < events.len() {
                resp.next_page_token = HistoryCursor {
                    run_id: run_id.clone(),
                    next_event_id: first as i64 + 1,
                    end_event_id: events.len() as i64 + 1,
                }
                .encode();
            }
            TaskHistory::Memory(events[..first].to_vec())
        }
        None => TaskHistory::Stored {
            next_event_id: rec.next_event_id,
            run_id: run_id.clone(),
        },
    };
    Some((Started { resp, history }, st.seq_of(&run_id)))
}

/// Finds the open run and started task a workflow task token names.
fn task_run<'a>(st: &'a mut State, token: &TaskToken) -> Result<&'a mut Run, Status> {
    if !st
        .runs
        .get(&token.run_id)
        .is_some_and(|r| token.names(&r.rec))
    {
        return Err(
            if st.closed.get(&token.run_id).is_some_and(|r| token.names(r)) {
                workflow_completed()
            } else {
                workflow_task_not_found()
            },
        );
    }
    st.check_intact(&token.run_id)?;
    let Some(run) = st.runs.get_mut(&token.run_id) else {
        return Err(workflow_task_not_found());
    };
    let matches = run.wft().is_some_and(|w| {
        w.scheduled_event_id == token.scheduled_event_id
            && w.started_event_id == token.started_event_id
            && w.started_event_id > 0
    });
    if matches {
        Ok(run)
    } else {
        Err(workflow_task_not_found())
    }
}

/// `RespondWorkflowTaskCompleted`.
pub(crate) async fn respond_completed(
    core: &Core,
    req: RespondWorkflowTaskCompletedRequest,
) -> Result<RespondWorkflowTaskCompletedResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let token = TaskToken::decode(&req.task_token, TaskKind::Workflow, &req.namespace)?;
    let mut req = req;
    commands::truncate_failures(&mut req.commands, core.cfg.limits.max_failure_depth);
    let (result, seq, next_task, reset_history_event_id) = {
        let mut st = core.state.lock();
        st.queries
            .answer_attached(&token.run_id, token.started_event_id, &req.query_results);
        let known = known_updates(&st, &token, &req);
        let admitted = st.updates.has_admitted(&token.run_id);
        let run = task_run(&mut st, &token)?;
        let mut next_task = None;
        let now = now_ms();
        let mut fx = Effects::default();
        fx.touch(&token.run_id);
        let limits = &core.cfg.limits;
        let protocol = Protocol::new(req.messages.clone(), known);
        let result = complete(run, &mut fx, now, &req, limits, protocol, admitted);
        if result.is_ok() && req.return_new_workflow_task {
            let ready = run
                .wft()
                .is_some_and(|w| w.started_event_id == 0 && w.not_before_ms == 0);
            if ready {
                fx.wft_ready.retain(|(_, e)| e.run_id != token.run_id);
                next_task = Some(start(run, now, &req.identity, 0, limits));
            }
        }
        // A completion writes its WorkflowTaskCompleted, so its commit is the next one: what
        // it did to updates is durable with that commit. A dropped speculative task's writes
        // nothing of its own, and its rejections need nothing durable.
        let discarded = result.as_ref().is_ok_and(|c| c.discarded);
        let seq_next = st.last_seq + u64::from(!discarded);
        if let Ok(completion) = &result {
            for d in completion.done.iter().cloned() {
                match d {
                    Done::Accepted {
                        update_id,
                        event_id,
                    } => {
                        st.updates
                            .accepted(&token.run_id, &update_id, event_id, seq_next);
                    }
                    Done::Completed { update_id, outcome } => {
                        st.updates
                            .completed(&token.run_id, &update_id, *outcome, seq_next);
                    }
                }
            }
            st.updates
                .reject_unprocessed(&token.run_id, token.started_event_id, seq_next);
        }
        if let Some(task) = next_task.as_mut() {
            task.resp.queries = st.queries.attach(&token.run_id, task.resp.started_event_id);
            task.resp.messages = st.updates.send(&token.run_id, task.resp.started_event_id);
        }
        let seq = core.finish(&mut st, fx);
        if !st.runs.contains_key(&token.run_id) {
            // Closed by the completion, or terminated for a history over a limit.
            next_task = None;
        }
        // A worker whose speculative task was dropped rolls its history back to the task it
        // completed last (Temporal's reset_history_event_id).
        let reset_history_event_id = if discarded {
            st.record(&token.run_id)
                .map_or(0, |r| r.previous_started_event_id)
        } else {
            0
        };
        (result, seq, next_task, reset_history_event_id)
    };
    core.committed(seq).await?;
    result.map_err(invalid)?;
    let workflow_task = match next_task {
        Some(task) => Some(task.with_history(core).await?),
        None => None,
    };
    Ok(RespondWorkflowTaskCompletedResponse {
        workflow_task,
        reset_history_event_id,
        ..Default::default()
    })
}

/// Applies a completion to `run`. On an invalid command nothing of the completion is kept: the
/// task is failed instead, and the error message is returned.
fn complete(
    run: &mut Run,
    fx: &mut Effects,
    now: i64,
    req: &RespondWorkflowTaskCompletedRequest,
    limits: &Limits,
    protocol: Protocol,
    updates_admitted: bool,
) -> Result<Completion, String> {
    let Some(wft) = run.wft() else {
        return Err("no workflow task is pending".into());
    };
    if run.is_speculative() {
        if discardable(run, req) {
            let mut rejections = protocol.clone();
            if rejections.apply_rest(run, now).is_ok() {
                let next = Next {
                    needs_task: false,
                    updates: updates_admitted,
                    inline: req.return_new_workflow_task,
                };
                return Ok(discard(run, fx, now, rejections.done, next));
            }
        }
        run.make_speculative_durable();
    }
    let checkpoint = run.checkpoint();
    let completed = WorkflowTaskCompletedEventAttributes {
        scheduled_event_id: wft.scheduled_event_id,
        started_event_id: wft.started_event_id,
        identity: req.identity.clone(),
        sdk_metadata: req.sdk_metadata.clone(),
        metering_metadata: req.metering_metadata,
        ..Default::default()
    };
    let completed_id = run.append(
        now,
        EventAttributes::WorkflowTaskCompletedEventAttributes(completed),
    );
    run.rec.previous_started_event_id = wft.started_event_id;
    run.rec.workflow_task = None;
    let mut ctx = CommandContext::new(completed_id, &req.identity, !run.held.is_empty(), limits);
    ctx.protocol = protocol;
    ctx.updates_waiting = updates_admitted;
    let handled = commands::check_completion(req, limits)
        .and_then(|()| super::ids::commands(&req.commands, limits.max_id_bytes))
        .and_then(|()| commands::handle_all(run, &mut ctx, now, &req.commands));
    if let Err(e) = handled {
        run.rollback(checkpoint);
        let failure = server_failure(&e.message);
        run.fail_workflow_task(fx, now, e.cause as i32, Some(failure), &req.identity, true);
        return Err(e.message);
    }
    run.keep(checkpoint);
    let needs_task = ctx.activity_not_started_cancelled || req.force_create_new_workflow_task;
    let done = std::mem::take(&mut ctx.protocol.done);
    fx.extend(ctx.into_effects());
    let next = Next {
        needs_task,
        updates: updates_admitted,
        inline: req.return_new_workflow_task,
    };
    schedule_next(run, fx, now, next);
    Ok(Completion {
        done,
        discarded: false,
    })
}

/// What a completion did: to updates, and whether it was a speculative task's that was
/// dropped (its events never written).
pub(crate) struct Completion {
    done: Vec<Done>,
    discarded: bool,
}

/// What a completion leaves for the next workflow task.
#[derive(Clone, Copy)]
struct Next {
    /// The workflow has something new to see.
    needs_task: bool,
    /// Updates admitted while the task ran wait for a task.
    updates: bool,
    /// The worker asked for the next task in the completion's answer.
    inline: bool,
}

/// After a completion: writes the held events, and schedules the next workflow task when the
/// workflow has something new to see (`needs_task`, or held events). When only updates admitted
/// while the task ran wait for it, the task is speculative if the worker takes it in the
/// completion's answer, else a normal one, as Temporal does (a speculative task is handed to a
/// worker directly).
fn schedule_next(run: &mut Run, fx: &mut Effects, now: i64, next: Next) {
    if !run.is_open() {
        return;
    }
    let flushed = run.flush_held();
    if flushed || next.needs_task || (next.updates && !next.inline) {
        run.schedule_workflow_task(fx, now, 1, 0);
    } else if next.updates {
        run.ensure_speculative_task(fx, now);
    }
}

/// How many events written since the last completed workflow task still let a speculative task
/// be dropped, for a worker that can see them again (Temporal's
/// `DiscardSpeculativeWorkflowTaskMaximumEventsCount`).
const DISCARD_SPECULATIVE_MAX_EVENTS: i64 = 10;

/// Whether the completion of a speculative task leaves no trace, by Temporal's rules: no
/// commands, no new task forced, only rejections among its messages, and no events written
/// since the last completed task (a worker that declares it can take them twice may have a
/// few), since the worker would be sent those events again.
fn discardable(run: &Run, req: &RespondWorkflowTaskCompletedRequest) -> bool {
    if !req.commands.is_empty() || req.force_create_new_workflow_task {
        return false;
    }
    let since = run.durable_next_event_id() - (run.rec.previous_started_event_id + 2);
    let repeatable = req
        .capabilities
        .as_ref()
        .is_some_and(|c| c.discard_speculative_workflow_task_with_events);
    if since > 0 && (!repeatable || since > DISCARD_SPECULATIVE_MAX_EVENTS) {
        return false;
    }
    req.messages.iter().all(|m| {
        m.body
            .as_ref()
            .is_some_and(|b| b.type_url == super::updates::REJECTION_TYPE)
    })
}

/// Drops a speculative task whose worker only rejected updates: its events go, the history is
/// as before it, and what arrived meanwhile is written with a new task.
fn discard(run: &mut Run, fx: &mut Effects, now: i64, done: Vec<Done>, next: Next) -> Completion {
    run.drop_speculative();
    schedule_next(run, fx, now, next);
    Completion {
        done,
        discarded: true,
    }
}

/// Where each update the completion's messages name stood: sent with this task, or accepted
/// (in memory, or in the history of a run the engine restarted with).
fn known_updates(
    st: &State,
    token: &TaskToken,
    req: &RespondWorkflowTaskCompletedRequest,
) -> HashMap<String, Known> {
    let mut known = HashMap::new();
    for update_id in Protocol::update_ids(&req.messages) {
        let sent = st
            .updates
            .sent_request(&token.run_id, &update_id, token.started_event_id)
            .map(|request| Known::Sent(Box::new(request.clone())));
        let found = sent
            .or_else(|| {
                st.updates
                    .accepted_event_id(&token.run_id, &update_id)
                    .map(Known::Accepted)
            })
            .or_else(|| {
                st.runs
                    .get(&token.run_id)
                    .and_then(|run| accepted_in_history(run, &update_id))
                    .map(Known::Accepted)
            });
        if let Some(k) = found {
            known.insert(update_id, k);
        }
    }
    known
}

/// `RespondWorkflowTaskFailed`: records the worker's failure and schedules a retry.
pub(crate) async fn respond_failed(
    core: &Core,
    req: RespondWorkflowTaskFailedRequest,
) -> Result<RespondWorkflowTaskFailedResponse, Status> {
    core.check_namespace(&req.namespace)?;
    let token = TaskToken::decode(&req.task_token, TaskKind::Workflow, &req.namespace)?;
    let mut req = req;
    validate::truncate_causes(&mut req.failure, core.cfg.limits.max_failure_depth);
    validate::failure(&req.failure, "failure", core.cfg.limits.max_payload_bytes)?;
    let seq = {
        let mut st = core.state.lock();
        let run = task_run(&mut st, &token)?;
        let mut fx = Effects::default();
        fx.touch(&token.run_id);
        let cause = if req.cause == 0 {
            WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure as i32
        } else {
            req.cause
        };
        run.fail_workflow_task(&mut fx, now_ms(), cause, req.failure, &req.identity, true);
        core.finish(&mut st, fx)
    };
    core.committed(seq).await?;
    Ok(RespondWorkflowTaskFailedResponse::default())
}

/// Times out a started task whose start-to-close timeout passed (the worker crashed or hung:
/// this is how its task comes back), and releases a task whose back-off ended.
pub(crate) fn on_due(run: &mut Run, fx: &mut Effects, now: i64) {
    let Some(mut wft) = run.wft() else { return };
    let Some(at) = run.workflow_task_due() else {
        return;
    };
    if now < at {
        return;
    }
    if wft.started_event_id == 0 && run.is_speculative() {
        // No worker started the speculative task in time: it is written, timed out, and a
        // normal task follows (which carries the update), as on Temporal.
        run.make_speculative_durable();
        let attrs = WorkflowTaskTimedOutEventAttributes {
            scheduled_event_id: wft.scheduled_event_id,
            started_event_id: 0,
            timeout_type: TimeoutType::ScheduleToStart as i32,
        };
        run.append(
            now,
            EventAttributes::WorkflowTaskTimedOutEventAttributes(attrs),
        );
        run.rec.workflow_task = None;
        run.schedule_workflow_task(fx, now, 1, 0);
        return;
    }
    if wft.started_event_id == 0 {
        wft.not_before_ms = 0;
        run.rec.workflow_task = Some(wft);
        run.offer_workflow_task(fx);
        return;
    }
    let attrs = WorkflowTaskTimedOutEventAttributes {
        scheduled_event_id: wft.scheduled_event_id,
        started_event_id: wft.started_event_id,
        timeout_type: TimeoutType::StartToClose as i32,
    };
    run.append(
        now,
        EventAttributes::WorkflowTaskTimedOutEventAttributes(attrs),
    );
    run.rec.workflow_task = None;
    let flushed = run.flush_held();
    run.retry_workflow_task(fx, now, if flushed { 1 } else { wft.attempt + 1 });
}
