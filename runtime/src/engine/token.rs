//! Opaque tokens the engine hands out and takes back: task tokens, history page tokens and list
//! page tokens (of runs and of namespaces). Each is a short magic prefix followed by a prost
//! message; anything else is rejected as malformed. Encoding is deterministic, so the same
//! attempt always has the same task token (the cancel subscription relies on it).

use super::rpc_error::{clip, invalid};
use crate::store::ExecutionRecord;
use prost::Message;
use tonic::Status;

const TASK_MAGIC: &[u8] = b"dcT1";
const HISTORY_MAGIC: &[u8] = b"dcH1";
const LIST_MAGIC: &[u8] = b"dcL1";
const NAMESPACE_LIST_MAGIC: &[u8] = b"dcN1";
const QUERY_MAGIC: &[u8] = b"dcQ1";

/// Which kind of task a token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    Workflow = 1,
    Activity = 2,
}

/// Identifies one workflow task (by its scheduled and started event ids) or one activity attempt
/// (by scheduled event id and attempt).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TaskToken {
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(int64, tag = "5")]
    pub scheduled_event_id: i64,
    #[prost(int64, tag = "6")]
    pub started_event_id: i64,
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    #[prost(string, tag = "8")]
    pub activity_id: String,
}

impl TaskToken {
    pub(crate) fn encode(&self) -> Vec<u8> {
        with_magic(TASK_MAGIC, self)
    }

    /// Decodes a token from a request and checks that it is of `kind` and for `namespace`.
    pub(crate) fn decode(bytes: &[u8], kind: TaskKind, namespace: &str) -> Result<Self, Status> {
        if bytes.is_empty() {
            return Err(invalid("task_token is not set"));
        }
        let token: Self = without_magic(TASK_MAGIC, bytes)
            .ok_or_else(|| invalid("task_token is malformed: it was not issued by this engine"))?;
        if token.kind != kind as u32 {
            let expected = match kind {
                TaskKind::Workflow => "a workflow task",
                TaskKind::Activity => "an activity task",
            };
            return Err(invalid(format!("task_token does not belong to {expected}")));
        }
        if token.namespace != namespace {
            return Err(invalid(format!(
                "task_token belongs to namespace \"{}\", not \"{}\"",
                clip(&token.namespace),
                clip(namespace)
            )));
        }
        Ok(token)
    }

    /// Whether `rec` is the run this token was issued for. Run ids are unique, but the token's
    /// namespace is checked against the request's only: a token rewritten to name another
    /// namespace (and sent to that namespace) must not reach a run of the first one.
    pub(crate) fn names(&self, rec: &ExecutionRecord) -> bool {
        rec.run_id == self.run_id
            && rec.namespace == self.namespace
            && rec.workflow_id == self.workflow_id
    }
}

/// Where the next page of a history read starts, and (for the rest of a workflow task's history)
/// where it ends.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HistoryCursor {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(int64, tag = "2")]
    pub next_event_id: i64,
    /// The read ends before this event id (0: at the end of the history). A poll response's
    /// token ends after the task's `WorkflowTaskStarted`, so the worker reads what the task is
    /// for and nothing written after it.
    #[prost(int64, tag = "3")]
    pub end_event_id: i64,
}

/// Identifies one query task: the query it carries, in its namespace.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct QueryToken {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub query_id: String,
}

impl QueryToken {
    pub(crate) fn encode(&self) -> Vec<u8> {
        with_magic(QUERY_MAGIC, self)
    }

    /// Decodes a query task token from a request and checks that it is for `namespace`.
    pub(crate) fn decode(bytes: &[u8], namespace: &str) -> Result<Self, Status> {
        if bytes.is_empty() {
            return Err(invalid("task_token is not set"));
        }
        let token: Self = without_magic(QUERY_MAGIC, bytes).ok_or_else(|| {
            invalid("task_token is malformed: it is not a query task token issued by this engine")
        })?;
        if token.namespace != namespace {
            return Err(invalid(format!(
                "task_token belongs to namespace \"{}\", not \"{}\"",
                clip(&token.namespace),
                clip(namespace)
            )));
        }
        Ok(token)
    }
}

/// Where the next page of a list starts: after this (start time, sequence, run id), newest first.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ListCursor {
    #[prost(int64, tag = "1")]
    pub start_time_ms: i64,
    #[prost(string, tag = "2")]
    pub run_id: String,
    #[prost(int64, tag = "3")]
    pub start_sequence: i64,
}

/// Where the next page of a namespace list starts: the index of its first namespace.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct NamespaceCursor {
    #[prost(uint64, tag = "1")]
    pub next: u64,
}

impl NamespaceCursor {
    pub(crate) fn encode(&self) -> Vec<u8> {
        with_magic(NAMESPACE_LIST_MAGIC, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Status> {
        without_magic(NAMESPACE_LIST_MAGIC, bytes)
            .ok_or_else(|| invalid("next_page_token is malformed"))
    }
}

impl HistoryCursor {
    pub(crate) fn encode(&self) -> Vec<u8> {
        with_magic(HISTORY_MAGIC, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Status> {
        without_magic(HISTORY_MAGIC, bytes).ok_or_else(|| invalid("next_page_token is malformed"))
    }
}

impl ListCursor {
    pub(crate) fn encode(&self) -> Vec<u8> {
        with_magic(LIST_MAGIC, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Status> {
        without_magic(LIST_MAGIC, bytes).ok_or_else(|| invalid("next_page_token is malformed"))
    }
}

fn with_magic(magic: &[u8], message: &impl Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + message.encoded_len());
    out.extend_from_slice(magic);
    message.encode_raw(&mut out);
    out
}

fn without_magic<M: Message + Default>(magic: &[u8], bytes: &[u8]) -> Option<M> {
    let body = bytes.strip_prefix(magic)?;
    M::decode(body).ok()
}
