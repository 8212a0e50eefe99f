//! What one request, one run and one task may hold. Every limit has a default that follows
//! Temporal's (where Temporal has one), so that a workflow that runs on one runs on the other;
//! each can be changed through [`EngineConfig::limits`](super::EngineConfig::limits).

/// Limits the engine enforces on requests and runs. Past a limit a request gets
/// `InvalidArgument` (or, for a workflow task completion, a failed workflow task with a cause
/// that names the limit); nothing of it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload (input, result, details, failure) one field of a request may carry.
    /// Default 2 MiB (Temporal: `limit.blobSize.error`).
    pub max_payload_bytes: usize,
    /// Longest id or name: workflow id, workflow type, task queue, activity id and type, timer
    /// id, signal name, marker name, identity, request id, namespace, and the reason of a
    /// cancel or terminate request. Default 1,000 bytes (Temporal: `limit.maxIDLength`).
    pub max_id_bytes: usize,
    /// Deepest failure cause chain kept, counting the failure itself: causes past this depth
    /// are cut off, and the last failure kept says so in its message. A worker's failure report
    /// is truncated, never refused. Default 20 (Temporal truncates at the same depth); at most
    /// 32, so that every event and record holding a failure nests far less deeply than the
    /// 100 levels protobuf decoders accept.
    pub max_failure_depth: usize,
    /// Most commands one workflow task completion may carry. Default 10,000.
    pub max_commands_per_workflow_task: usize,
    /// Most activities one run may have pending at once. Default 2,000 (Temporal:
    /// `limit.numPendingActivities.error`).
    pub max_pending_activities: usize,
    /// Most timers one run may have pending at once. Default 2,000.
    pub max_pending_timers: usize,
    /// Most child workflows one run may have pending at once. Default 2,000 (Temporal:
    /// `limit.numPendingChildExecutions.error`).
    pub max_pending_children: usize,
    /// Most signals one run may receive over its life. Default 10,000 (Temporal:
    /// `history.maximumSignalsPerExecution`).
    pub max_signals_per_run: usize,
    /// Most updates one run may have in flight (admitted, not yet completed or rejected) at
    /// once; one more is refused with `ResourceExhausted` (cause `CONCURRENT_LIMIT`). Default 10 (Temporal:
    /// `history.maxInFlightUpdates`).
    pub max_in_flight_updates: usize,
    /// Most updates the engine keeps for one open run, in flight or done (a done one answers
    /// its duplicates without the history); one more is refused with `FailedPrecondition`.
    /// Default 2,000 (Temporal: `history.maxTotalUpdates`, which it counts over the run's
    /// life; dacapo counts the updates it tracks since it started).
    pub max_updates_per_run: usize,
    /// Most queries the engine has waiting for a worker's answer at once, over all runs and
    /// namespaces; one more is refused with `ResourceExhausted` (cause `CONCURRENT_LIMIT`),
    /// which clients retry. Each waits at most `EngineConfig::query_timeout`. Default 1,000
    /// (Temporal bounds queries by its frontend's rate limits instead).
    pub max_in_flight_queries: usize,
    /// History size at which the engine logs a warning for a run. Default 10 MiB (Temporal:
    /// `limit.historySize.warn`).
    pub history_size_warn_bytes: u64,
    /// History size past which a run is terminated with a cause that says so. Default 50 MiB
    /// (Temporal: `limit.historySize.error`).
    pub history_size_limit_bytes: u64,
    /// Event count at which the engine logs a warning for a run. Default 10,240 (Temporal:
    /// `limit.historyCount.warn`).
    pub history_count_warn: u64,
    /// Event count past which a run is terminated with a cause that says so. Default 51,200
    /// (Temporal: `limit.historyCount.error`).
    pub history_count_limit: u64,
    /// Largest page a list or history read answers with, whatever the request asks for.
    /// Default 1,000 (Temporal: `frontend.visibilityMaxPageSize`).
    pub max_page_size: usize,
    /// Most events the first page of a workflow task's history carries; the worker reads the
    /// rest with `GetWorkflowExecutionHistory`. Default 256 (Temporal:
    /// `matching.historyMaxPageSize`).
    pub poll_history_page_events: usize,
    /// Most bytes of events a history page carries (at least one event is always sent).
    /// Default 4 MiB.
    pub history_page_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 2 * 1024 * 1024,
            max_id_bytes: 1000,
            max_failure_depth: 20,
            max_commands_per_workflow_task: 10_000,
            max_pending_activities: 2000,
            max_pending_timers: 2000,
            max_pending_children: 2000,
            max_signals_per_run: 10_000,
            max_in_flight_updates: 10,
            max_updates_per_run: 2000,
            max_in_flight_queries: 1000,
            history_size_warn_bytes: 10 * 1024 * 1024,
            history_size_limit_bytes: 50 * 1024 * 1024,
            history_count_warn: 10 * 1024,
            history_count_limit: 50 * 1024,
            max_page_size: 1000,
            poll_history_page_events: 256,
            history_page_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A field of [`Limits`], for setting it by name.
enum Field<'a> {
    Usize(&'a mut usize),
    U64(&'a mut u64),
}

impl Limits {
    /// Every field by name, with a line on what it limits.
    fn fields(&mut self) -> Vec<(&'static str, &'static str, Field<'_>)> {
        // No `..`: a field added to `Limits` does not compile until it is listed here too.
        let Limits {
            max_payload_bytes,
            max_id_bytes,
            max_failure_depth,
            max_commands_per_workflow_task,
            max_pending_activities,
            max_pending_timers,
            max_pending_children,
            max_signals_per_run,
            max_in_flight_updates,
            max_updates_per_run,
            max_in_flight_queries,
            history_size_warn_bytes,
            history_size_limit_bytes,
            history_count_warn,
            history_count_limit,
            max_page_size,
            poll_history_page_events,
            history_page_bytes,
        } = self;
        use Field::{U64, Usize};
        vec![
            (
                "max_payload_bytes",
                "largest payload one field of a request may carry, in bytes",
                Usize(max_payload_bytes),
            ),
            (
                "max_id_bytes",
                "longest id or name (workflow id, type, task queue, identity, ...), in bytes",
                Usize(max_id_bytes),
            ),
            (
                "max_failure_depth",
                "deepest failure cause chain kept",
                Usize(max_failure_depth),
            ),
            (
                "max_commands_per_workflow_task",
                "most commands one workflow task completion may carry",
                Usize(max_commands_per_workflow_task),
            ),
            (
                "max_pending_activities",
                "most activities one run may have pending at once",
                Usize(max_pending_activities),
            ),
            (
                "max_pending_timers",
                "most timers one run may have pending at once",
                Usize(max_pending_timers),
            ),
            (
                "max_pending_children",
                "most child workflows one run may have pending at once",
                Usize(max_pending_children),
            ),
            (
                "max_signals_per_run",
                "most signals one run may receive over its life",
                Usize(max_signals_per_run),
            ),
            (
                "max_in_flight_updates",
                "most updates one run may have in flight at once",
                Usize(max_in_flight_updates),
            ),
            (
                "max_updates_per_run",
                "most updates the engine keeps for one open run",
                Usize(max_updates_per_run),
            ),
            (
                "max_in_flight_queries",
                "most queries waiting for a worker's answer at once, over all runs",
                Usize(max_in_flight_queries),
            ),
            (
                "history_size_warn_bytes",
                "history size at which a run is logged, in bytes",
                U64(history_size_warn_bytes),
            ),
            (
                "history_size_limit_bytes",
                "history size past which a run is terminated, in bytes",
                U64(history_size_limit_bytes),
            ),
            (
                "history_count_warn",
                "event count at which a run is logged",
                U64(history_count_warn),
            ),
            (
                "history_count_limit",
                "event count past which a run is terminated",
                U64(history_count_limit),
            ),
            (
                "max_page_size",
                "largest page a list or history read answers with",
                Usize(max_page_size),
            ),
            (
                "poll_history_page_events",
                "most events the first history page of a workflow task carries",
                Usize(poll_history_page_events),
            ),
            (
                "history_page_bytes",
                "most bytes of events a history page carries",
                Usize(history_page_bytes),
            ),
        ]
    }

    /// Sets the limit called `name` (a field name, e.g. `max_payload_bytes`) from `value`: a
    /// whole number, `_` allowed between digits, optionally followed by `KiB`, `MiB` or
    /// `GiB`.
    ///
    /// # Errors
    /// A message for people when no limit has that name (it lists the names) or the value is
    /// not such a number.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let mut fields = self.fields();
        let names = || {
            Limits::default()
                .fields()
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((_, _, field)) = fields.iter_mut().find(|(n, _, _)| *n == name) else {
            return Err(format!(
                "there is no limit `{name}`; the limits are: {}",
                names()
            ));
        };
        let parsed = parse_amount(value).ok_or_else(|| {
            format!("`{name}` takes a whole number, optionally with KiB, MiB or GiB, not `{value}`")
        })?;
        let too_large = || format!("`{name}` cannot be as large as {value}");
        match field {
            Field::Usize(f) => **f = usize::try_from(parsed).map_err(|_| too_large())?,
            Field::U64(f) => **f = parsed,
        }
        Ok(())
    }

    /// Every limit as (name, default value, what it limits), for help texts.
    pub fn described() -> Vec<(&'static str, String, &'static str)> {
        let mut defaults = Limits::default();
        defaults
            .fields()
            .into_iter()
            .map(|(name, doc, field)| {
                let default = match field {
                    Field::Usize(v) => v.to_string(),
                    Field::U64(v) => v.to_string(),
                };
                (name, default, doc)
            })
            .collect()
    }
}

/// `1000`, `10_000`, `4MiB`, `2 GiB`: a whole number with an optional binary unit.
fn parse_amount(value: &str) -> Option<u64> {
    let value = value.trim();
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit() && c != '_') {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    digits
        .replace('_', "")
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_limit_is_set_by_its_name() {
        let mut limits = Limits::default();
        limits.set("max_payload_bytes", "4MiB").unwrap();
        limits.set("history_count_limit", "100_000").unwrap();
        limits.set("max_id_bytes", "200").unwrap();
        assert_eq!(limits.max_payload_bytes, 4 * 1024 * 1024);
        assert_eq!(limits.history_count_limit, 100_000);
        assert_eq!(limits.max_id_bytes, 200);
    }

    #[test]
    fn unknown_names_and_bad_values_are_refused_clearly() {
        let mut limits = Limits::default();
        let unknown = limits.set("max_nothing", "1").unwrap_err();
        assert!(unknown.contains("max_payload_bytes"), "{unknown}");
        for bad in [
            "",
            "lots",
            "-1",
            "1.5",
            "4 MB",
            "_1",
            "99999999999999999999",
        ] {
            let err = limits.set("max_payload_bytes", bad).unwrap_err();
            assert!(err.contains("max_payload_bytes"), "{bad}: {err}");
        }
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn every_limit_is_described_with_its_default() {
        let described = Limits::described();
        let payload = described
            .iter()
            .find(|(name, _, _)| *name == "max_payload_bytes")
            .unwrap();
        assert_eq!(payload.1, (2 * 1024 * 1024).to_string());
        // Each name sets its own field and only that one.
        for (name, _, _) in &described {
            let mut limits = Limits::default();
            limits.set(name, "7").unwrap();
            assert_ne!(limits, Limits::default(), "{name}");
        }
    }
}
