//! `GetWorkflowExecutionHistory`: pages of events, long-polling for new ones with
//! `wait_new_event`, or only the close event with the CLOSE_EVENT filter (which is how a client
//! waits for a result). Open runs are served from memory, closed ones from the store.
//!
//! A page holds at most `maximum_page_size` events, capped at `Limits::max_page_size`, and at
//! most `Limits::history_page_bytes` bytes of events (but always at least one event), so that no
//! answer outgrows what a client can receive however large the history.

use super::core::Core;
use super::limits::Limits;
use super::rpc_error::{data_loss, internal, invalid, workflow_not_found};
use super::state::State;
use super::token::HistoryCursor;
use super::validate;
use crate::proto::enums::HistoryEventFilterType;
use crate::proto::history::{History, HistoryEvent};
use crate::proto::service::{
    GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryResponse,
};
use crate::store::{EncodedEvent, StoreError};
use std::sync::Arc;
use tonic::Status;

/// How many of `events`, from the first, one page takes: at most `max_events` events and
/// `max_bytes` bytes of them, but at least one event when there is one.
pub(crate) fn page_len(events: &[EncodedEvent], max_events: usize, max_bytes: usize) -> usize {
    let mut bytes = 0usize;
    let mut len = 0;
    for event in events.iter().take(max_events.max(1)) {
        bytes = bytes.saturating_add(event.bytes.len());
        if len > 0 && bytes > max_bytes {
            break;
        }
        len += 1;
    }
    len
}

/// What a look at the state found.
enum Found {
    /// Events of an open run, read from memory (decoded once the state lock is released).
    Events {
        events: Vec<EncodedEvent>,
        next_event_id: i64,
        seq: u64,
    },
    /// The run is closed: read its events from the store.
    Closed { next_event_id: i64, seq: u64 },
}

/// `GetWorkflowExecutionHistory`.
pub(crate) async fn get(
    core: &Core,
    req: GetWorkflowExecutionHistoryRequest,
) -> Result<GetWorkflowExecutionHistoryResponse, Status> {
    core.check_namespace_to_read(&req.namespace)?;
    let exec = validate::execution(&req.execution)?;
    let cursor = if req.next_page_token.is_empty() {
        None
    } else {
        Some(HistoryCursor::decode(&req.next_page_token)?)
    };
    let run_id = {
        let st = core.state.lock();
        match &cursor {
            Some(c) => {
                if !exec.run_id.is_empty() && exec.run_id != c.run_id {
                    return Err(invalid("run_id does not match the run of next_page_token"));
                }
                let owned = st.record(&c.run_id).is_some_and(|r| {
                    r.namespace == req.namespace && r.workflow_id == exec.workflow_id
                });
                if !owned {
                    return Err(workflow_not_found(&exec.workflow_id, &c.run_id));
                }
                c.run_id.clone()
            }
            None => st.resolve(&req.namespace, &exec)?,
        }
    };
    let limits = &core.cfg.limits;
    let page = usize::try_from(req.maximum_page_size)
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or(limits.max_page_size)
        .min(limits.max_page_size);
    let end = cursor.as_ref().map_or(0, |c| c.end_event_id);
    let wait = req.wait_new_event;
    let notifier = |st: &mut State| {
        if wait {
            st.runs.get(&run_id).map(|r| Arc::clone(&r.history_notify))
        } else {
            None
        }
    };
    let timeout = core.cfg.long_poll_timeout;
    let token = |next_event_id| {
        HistoryCursor {
            run_id: run_id.clone(),
            next_event_id,
            end_event_id: end,
        }
        .encode()
    };
    if req.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32 {
        let closed = core
            .long_poll(timeout, notifier, |st| {
                closed_run(st, &run_id, &exec.workflow_id)
            })
            .await?;
        let Some((close_event_id, seq, remembered)) = closed else {
            let next_page_token = if wait { token(0) } else { Vec::new() };
            return Ok(response(Vec::new(), next_page_token));
        };
        core.committed(seq).await?;
        let events = match remembered {
            Some(event) => decode(&[event])?,
            None => read_store(core, &run_id, close_event_id, 1, usize::MAX).await?,
        };
        return Ok(response(events, Vec::new()));
    }
    let from = cursor.map_or(1, |c| c.next_event_id).max(1);
    if end > 0 && from >= end {
        // The bounded read (the rest of a workflow task's history) is over.
        return Ok(response(Vec::new(), Vec::new()));
    }
    let found = core
        .long_poll(timeout, notifier, |st| {
            look(st, &run_id, &exec.workflow_id, from, end, page, limits)
        })
        .await?;
    let (events, next_event_id, open) = match found {
        None => {
            let next_page_token = if wait { token(from) } else { Vec::new() };
            return Ok(response(Vec::new(), next_page_token));
        }
        Some(Found::Events {
            events,
            next_event_id,
            seq,
        }) => {
            core.committed(seq).await?;
            let events = decode(&events)?;
            (events, next_event_id, true)
        }
        Some(Found::Closed { next_event_id, seq }) => {
            core.committed(seq).await?;
            let max = usize::try_from(next_event_id - from).map_or(page, |left| left.min(page));
            let events = read_store(core, &run_id, from, max, limits.history_page_bytes).await?;
            (events, next_event_id, false)
        }
    };
    let after = from + events.len() as i64;
    let more = after < next_event_id || (open && wait && (end == 0 || after < end));
    let next_page_token = if more { token(after) } else { Vec::new() };
    Ok(response(events, next_page_token))
}

/// Decodes events the engine kept encoded, once the state lock is released.
pub(crate) fn decode(events: &[EncodedEvent]) -> Result<Vec<HistoryEvent>, Status> {
    EncodedEvent::decode_all(events).map_err(|(event_id, err)| {
        data_loss(format!(
            "history event {event_id} does not decode ({}); the run is damaged",
            crate::store::decode_reason(&err)
        ))
    })
}

/// `DataLoss` for a read that reaches the damaged event of a run.
fn damaged_history(workflow_id: &str, run_id: &str, event_id: i64, reason: &str) -> Status {
    data_loss(format!(
        "history event {event_id} of run {run_id} of workflow \"{workflow_id}\" cannot be read ({reason}); the run is damaged: the events before it read with a next_page_token or a smaller maximum_page_size, and terminating the run closes it"
    ))
}

fn response(
    events: Vec<HistoryEvent>,
    next_page_token: Vec<u8>,
) -> GetWorkflowExecutionHistoryResponse {
    GetWorkflowExecutionHistoryResponse {
        history: Some(History { events }),
        next_page_token,
        ..Default::default()
    }
}

/// Events from `from` (and before `end`, when not 0) of an open run, or where to read a closed
/// one. `None`: nothing new yet.
fn look(
    st: &State,
    run_id: &str,
    workflow_id: &str,
    from: i64,
    end: i64,
    page: usize,
    limits: &Limits,
) -> Result<Option<Found>, Status> {
    let bounded = |next_event_id: i64| {
        if end > 0 {
            next_event_id.min(end)
        } else {
            next_event_id
        }
    };
    if let Some(run) = st.runs.get(run_id) {
        // The events of a speculative workflow task are read only by its worker, whose
        // cursor is bounded by the task's end.
        let next_event_id = if end > 0 {
            bounded(run.rec.next_event_id)
        } else {
            run.durable_next_event_id()
        };
        if from >= next_event_id {
            return Ok(None);
        }
        let start = usize::try_from(from - 1).unwrap_or(0);
        let stop = usize::try_from(next_event_id - 1).unwrap_or(0);
        let available = run.events.get(start..stop).unwrap_or_default();
        let len = page_len(available, page, limits.history_page_bytes);
        let last = from.saturating_add(i64::try_from(len).unwrap_or(0)) - 1;
        if let Some((event_id, damage)) = st.damaged_event(run_id)
            && (from..=last).contains(&event_id)
        {
            return Err(damaged_history(
                workflow_id,
                run_id,
                event_id,
                &damage.reason,
            ));
        }
        return Ok(Some(Found::Events {
            events: available[..len].to_vec(),
            next_event_id,
            seq: st.seq_of(run_id),
        }));
    }
    match st.closed.get(run_id) {
        Some(rec) => Ok(Some(Found::Closed {
            next_event_id: bounded(rec.next_event_id),
            seq: st.seq_of(run_id),
        })),
        None => Err(workflow_not_found(workflow_id, run_id)),
    }
}

/// The close event's id, the commit to await and (when still in memory) the close event.
type Closed = (i64, u64, Option<EncodedEvent>);

/// The close of a run once it is closed; `None` while it runs.
fn closed_run(st: &State, run_id: &str, workflow_id: &str) -> Result<Option<Closed>, Status> {
    if st.runs.contains_key(run_id) {
        return Ok(None);
    }
    match st.closed.get(run_id) {
        Some(rec) => {
            let close_event_id = rec.next_event_id - 1;
            let remembered = st
                .recent_close(run_id)
                .filter(|e| e.event_id == close_event_id)
                .cloned();
            Ok(Some((close_event_id, st.seq_of(run_id), remembered)))
        }
        None => Err(workflow_not_found(workflow_id, run_id)),
    }
}

pub(crate) async fn read_store(
    core: &Core,
    run_id: &str,
    from: i64,
    max: usize,
    max_bytes: usize,
) -> Result<Vec<HistoryEvent>, Status> {
    let store = Arc::clone(&core.store);
    let run_id = run_id.to_string();
    tokio::task::spawn_blocking(move || store.read_history_page(&run_id, from, max, max_bytes))
        .await
        .map_err(|e| internal(format!("history read was interrupted: {e}")))?
        .map_err(|e| match e {
            StoreError::Corrupt { what, reason } => data_loss(format!(
                "stored {what} cannot be read ({reason}); the run is damaged: the events before it read with a next_page_token or a smaller maximum_page_size"
            )),
            e => internal(format!("could not read the history from the store: {e}")),
        })
}
