//! What a query handler or an update validator must not do, and the messages that say why.

use syn::Ident;

/// The handler whose rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The closure of `.on_query(QUERY, handler)`.
    Query,
    /// The closure of `.on_update(..).validator(validator)`.
    Validator,
}

impl Role {
    pub(super) fn who(self) -> &'static str {
        match self {
            Role::Query => "a query handler",
            Role::Validator => "an update validator",
        }
    }

    /// Why nothing the handler does reaches the history.
    pub(super) fn unrecorded(self) -> &'static str {
        match self {
            Role::Query => "queries are answered without recording anything in the history",
            Role::Validator => "a validator runs before the update is recorded in the history",
        }
    }

    /// What the handler does with the state it reads.
    fn decides(self) -> &'static str {
        match self {
            Role::Query => "answer",
            Role::Validator => "accept or reject the update",
        }
    }
}

/// What a handler must not do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Misuse {
    /// An `async` closure, or one that returns an `async` block.
    Async,
    /// `.await` in a plain closure.
    Await,
    /// Waiting for a future by blocking on it: `block_on(..)`.
    Block,
    /// A call that issues a command: what it does, e.g. "start an activity".
    Command(&'static str),
    /// A call that changes the run: what it does, e.g. "take a signal".
    Change(&'static str),
    /// An assignment to a captured place, named by its root variable.
    Assign(String),
}

/// The methods a handler must not call on what it captured: the method names of the workflow
/// context, the signal channel and the shared state that issue commands or change the run.
pub(crate) const METHODS: &[(&str, Misuse)] = &[
    ("activity", Misuse::Command("start an activity")),
    ("sleep", Misuse::Command("start a timer")),
    ("signal_channel", Misuse::Change("open a signal channel")),
    ("recv", Misuse::Change("take a signal")),
    ("try_recv", Misuse::Change("take a signal")),
    ("on_query", Misuse::Change("register a query handler")),
    ("on_update", Misuse::Change("register an update handler")),
    ("state", Misuse::Change("create workflow state")),
    ("set", Misuse::Change("change the workflow's state")),
    ("update", Misuse::Change("change the workflow's state")),
    (
        "random",
        Misuse::Change("draw from the run's random generator"),
    ),
    (
        "uuid",
        Misuse::Change("draw from the run's random generator"),
    ),
    ("block_on", Misuse::Block),
];

impl Misuse {
    /// The message for a misuse in a handler of `role`: why, in one sentence, then a help line.
    pub(crate) fn message(&self, role: Role) -> String {
        let (who, unrecorded, decides) = (role.who(), role.unrecorded(), role.decides());
        let why = match self {
            Misuse::Async => format!(
                "{who} cannot be `async`: {unrecorded}, so it must {decides} from the \
                 workflow's state at once"
            ),
            Misuse::Await => format!(
                "{who} cannot await: {unrecorded}, so it must {decides} from the workflow's \
                 state at once"
            ),
            Misuse::Block => format!(
                "{who} cannot block on a future: {unrecorded}, so it must {decides} from the \
                 workflow's state at once"
            ),
            Misuse::Command(what) => {
                format!("{who} cannot {what}: that issues a command, and {unrecorded}")
            }
            Misuse::Change(what) => format!(
                "{who} cannot {what}: {unrecorded}, so a replay of the run would not repeat it"
            ),
            Misuse::Assign(name) => format!(
                "{who} cannot assign to `{name}`, which it captured: {unrecorded}, so a replay \
                 of the run would not repeat it"
            ),
        };
        format!("{why}\nhelp: {}", self.help(role))
    }

    fn help(&self, role: Role) -> &'static str {
        match (role, self) {
            (Role::Query, Misuse::Async) => {
                "write a plain closure that reads state shared with `ctx.state(..)` and returns \
                 the answer"
            }
            (Role::Query, Misuse::Await | Misuse::Block) => {
                "read state shared with `ctx.state(..)` and return the answer"
            }
            (Role::Query, Misuse::Command(_)) => {
                "do it in the workflow body, or in an update handler, which may await"
            }
            (Role::Query, Misuse::Change(_)) => {
                "read state shared with `ctx.state(..)` here, and change it in the workflow body \
                 or in an update handler"
            }
            (Role::Query, Misuse::Assign(_)) => {
                "declare the variable inside the handler, or keep the value in `ctx.state(..)` \
                 and change it in the workflow body or in an update handler"
            }
            (Role::Validator, Misuse::Async) => {
                "write a plain closure that checks the arguments and returns `Ok(())` or an \
                 error; the update handler itself may be `async`"
            }
            (Role::Validator, Misuse::Await | Misuse::Block) => {
                "decide from the arguments and from state shared with `ctx.state(..)`, and await \
                 in the update handler"
            }
            (Role::Validator, Misuse::Command(_) | Misuse::Change(_)) => {
                "check here, and do it in the update handler, which runs once the validator has \
                 accepted the update"
            }
            (Role::Validator, Misuse::Assign(_)) => {
                "declare the variable inside the validator, or make the change in the update \
                 handler, which runs once the validator has accepted the update"
            }
        }
    }
}

/// The misuse that calling `method` is, if it is one.
pub(super) fn method_misuse(method: &Ident) -> Option<&'static Misuse> {
    METHODS
        .iter()
        .find(|(name, _)| method == name)
        .map(|(_, misuse)| misuse)
}
