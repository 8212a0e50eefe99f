//! What a workflow body must not name, and what to use instead.
//!
//! Each rule matches a path by its segments, as written or as resolved through the body's own
//! `use` items, and explains the problem in terms of replay. Matching is by name only: the
//! macro sees tokens, not types, so the rules list paths that are unambiguous in practice.

/// Why a path is rejected, and the message that goes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// Wall clocks.
    Clock,
    /// Sleeping on the machine's timer.
    Sleep,
    /// Other timers: timeouts and intervals.
    Timer,
    /// Work started outside the workflow's executor.
    Spawn,
    /// Random numbers.
    Random,
    /// Random ids.
    Uuid,
    /// Files, sockets, processes, HTTP.
    Io,
    /// `select!` macros that choose among ready branches at random.
    RandomSelect,
}

impl Misuse {
    /// Why the path cannot be used in a workflow.
    fn why(self) -> &'static str {
        match self {
            Misuse::Clock => {
                "it reads the machine's clock, which shows another time when the workflow is replayed"
            }
            Misuse::Sleep | Misuse::Timer => {
                "its timer is not recorded in the workflow's history, so replay cannot reproduce it"
            }
            Misuse::Spawn => "it runs work outside the workflow, where replay cannot follow it",
            Misuse::Random => "it draws different values when the workflow is replayed",
            Misuse::Uuid => "it draws a different id when the workflow is replayed",
            Misuse::Io => "it does I/O, whose result can differ when the workflow is replayed",
            Misuse::RandomSelect => {
                "it picks a ready branch at random, which replay cannot reproduce"
            }
        }
    }

    /// The deterministic replacement.
    fn instead(self) -> &'static str {
        match self {
            Misuse::Clock => "use `ctx.now()`, the workflow time recorded in the history",
            Misuse::Sleep => "use `ctx.sleep(duration)`, a durable timer",
            Misuse::Timer => {
                "use `ctx.sleep(duration)`, a durable timer, and race it against other futures \
                 with `dacapo::select!`"
            }
            Misuse::Spawn => {
                "run the work in an activity, or join futures inside the workflow with \
                 `futures::join!`"
            }
            Misuse::Random => "use `ctx.random()`, which replays the same values",
            Misuse::Uuid => "use `ctx.uuid()`, which replays the same id",
            Misuse::Io => "do I/O in an activity and start it with `ctx.activity(..)`",
            Misuse::RandomSelect => {
                "use `dacapo::select!` or `futures::select_biased!`, which poll branches in the \
                 order written"
            }
        }
    }

    /// The full message for `written` (the path as the user wrote it, with `!` for a macro),
    /// which resolved to `resolved` when a `use` item of the body renamed it.
    pub(crate) fn message(self, written: &str, resolved: Option<&str>) -> String {
        let resolved = resolved.map_or_else(String::new, |full| format!(" (`{full}`)"));
        format!(
            "a workflow cannot use `{written}`{resolved}: {}; {}",
            self.why(),
            self.instead()
        )
    }
}

/// How a rule's segments are matched against a path.
#[derive(Clone, Copy)]
enum Pattern {
    /// The path ends with these segments: `SystemTime::now` matches `std::time::SystemTime::now`.
    Ends(&'static [&'static str]),
    /// The path names something inside this module: `std::fs` matches `std::fs::read`.
    Inside(&'static [&'static str]),
}

use Pattern::{Ends, Inside};

/// Paths in expressions. The first rule that matches wins.
const EXPRESSION_RULES: &[(Pattern, Misuse)] = &[
    (Ends(&["SystemTime", "now"]), Misuse::Clock),
    (Ends(&["Instant", "now"]), Misuse::Clock),
    (Ends(&["Utc", "now"]), Misuse::Clock),
    (Ends(&["Local", "now"]), Misuse::Clock),
    (Ends(&["Utc", "today"]), Misuse::Clock),
    (Ends(&["Local", "today"]), Misuse::Clock),
    (Ends(&["OffsetDateTime", "now_utc"]), Misuse::Clock),
    (Ends(&["OffsetDateTime", "now_local"]), Misuse::Clock),
    (Ends(&["thread", "sleep"]), Misuse::Sleep),
    (Ends(&["thread", "sleep_ms"]), Misuse::Sleep),
    (Ends(&["time", "sleep"]), Misuse::Sleep),
    (Ends(&["time", "sleep_until"]), Misuse::Sleep),
    (Ends(&["task", "sleep"]), Misuse::Sleep),
    (Ends(&["time", "timeout"]), Misuse::Timer),
    (Ends(&["time", "timeout_at"]), Misuse::Timer),
    (Ends(&["time", "interval"]), Misuse::Timer),
    (Ends(&["time", "interval_at"]), Misuse::Timer),
    (Ends(&["tokio", "spawn"]), Misuse::Spawn),
    (Ends(&["task", "spawn"]), Misuse::Spawn),
    (Ends(&["task", "spawn_blocking"]), Misuse::Spawn),
    (Ends(&["task", "spawn_local"]), Misuse::Spawn),
    (Ends(&["task", "block_in_place"]), Misuse::Spawn),
    (Ends(&["thread", "spawn"]), Misuse::Spawn),
    (Ends(&["thread", "scope"]), Misuse::Spawn),
    (Ends(&["rand", "random"]), Misuse::Random),
    (Ends(&["rand", "random_range"]), Misuse::Random),
    (Ends(&["rand", "random_bool"]), Misuse::Random),
    (Ends(&["rand", "random_ratio"]), Misuse::Random),
    (Ends(&["rand", "random_iter"]), Misuse::Random),
    (Ends(&["rand", "thread_rng"]), Misuse::Random),
    (Ends(&["rand", "rng"]), Misuse::Random),
    (Ends(&["rngs", "OsRng"]), Misuse::Random),
    (Ends(&["rngs", "ThreadRng"]), Misuse::Random),
    (Ends(&["from_entropy"]), Misuse::Random),
    (Ends(&["from_os_rng"]), Misuse::Random),
    (Inside(&["getrandom"]), Misuse::Random),
    (Inside(&["fastrand"]), Misuse::Random),
    (Ends(&["Uuid", "new_v4"]), Misuse::Uuid),
    (Ends(&["Uuid", "now_v1"]), Misuse::Uuid),
    (Ends(&["Uuid", "now_v6"]), Misuse::Uuid),
    (Ends(&["Uuid", "now_v7"]), Misuse::Uuid),
    (Inside(&["std", "fs"]), Misuse::Io),
    (Inside(&["tokio", "fs"]), Misuse::Io),
    // `fs::read(..)` with `std::fs` or `tokio::fs` imported outside the fn.
    (Inside(&["fs"]), Misuse::Io),
    (Inside(&["std", "net"]), Misuse::Io),
    (Inside(&["tokio", "net"]), Misuse::Io),
    (Inside(&["reqwest"]), Misuse::Io),
    (Inside(&["std", "process", "Command"]), Misuse::Io),
    (Inside(&["tokio", "process"]), Misuse::Io),
    (Ends(&["File", "open"]), Misuse::Io),
    (Ends(&["File", "create"]), Misuse::Io),
    (Ends(&["TcpStream", "connect"]), Misuse::Io),
    (Ends(&["TcpListener", "bind"]), Misuse::Io),
    (Ends(&["UdpSocket", "bind"]), Misuse::Io),
];

/// Paths of macros: `tokio::select!`, `futures::select!`.
const MACRO_RULES: &[(Pattern, Misuse)] = &[
    (Ends(&["futures", "select"]), Misuse::RandomSelect),
    (Ends(&["tokio", "select"]), Misuse::RandomSelect),
];

/// The address types of `std::net`: plain values, with no I/O behind them.
const NET_VALUES: &[&str] = &[
    "IpAddr",
    "Ipv4Addr",
    "Ipv6Addr",
    "SocketAddr",
    "SocketAddrV4",
    "SocketAddrV6",
    "AddrParseError",
    "Shutdown",
    "Ipv6MulticastScope",
];

/// Which rules a path is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    Expression,
    Macro,
}

/// How sure the resolution of a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Certainty {
    /// As written, or through a `use` item that names it.
    Named,
    /// Only through a glob import: only rules that name a single item apply, since a glob
    /// brings in a whole module and the macro cannot know which names it holds.
    Glob,
}

/// The misuse `segments` (a path with any leading `::` dropped) stands for, if any.
pub(crate) fn misuse(
    segments: &[String],
    position: Position,
    certainty: Certainty,
) -> Option<Misuse> {
    let segments = normalized(segments);
    let rules = match position {
        Position::Expression => EXPRESSION_RULES,
        Position::Macro => MACRO_RULES,
    };
    rules.iter().find_map(|(pattern, misuse)| {
        let matched = match pattern {
            Ends(tail) => segments.ends_with(tail),
            Inside(module) => {
                certainty == Certainty::Named
                    && segments.len() > module.len()
                    && segments.starts_with(module)
                    && !is_net_value(&segments, module)
            }
        };
        matched.then_some(*misuse)
    })
}

/// `segments` with the crates that re-export under another name mapped to the usual one.
fn normalized(segments: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let Some(first) = out.first_mut() {
        *first = match *first {
            "core" | "alloc" => "std",
            "futures_util" => "futures",
            other => other,
        };
    }
    out
}

fn is_net_value(segments: &[&str], module: &[&str]) -> bool {
    module == ["std", "net"]
        && segments
            .get(2)
            .is_some_and(|item| NET_VALUES.contains(item))
}

#[cfg(test)]
mod tests;
