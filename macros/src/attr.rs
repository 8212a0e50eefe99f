//! Typed arguments of `#[workflow(..)]` and `#[activity(..)]`.
//!
//! Keys are `custom_keyword!`s. Each value is read as an expression and then interpreted for its
//! key, so a wrong value, an unknown key or a repeated key is recorded and parsing goes on: one
//! pass reports every mistake. Only tokens that do not form `key = value, ..` stop it. Rules that
//! relate several arguments live in `check`.

use crate::diagnostics::Errors;
use crate::model::Kind;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use std::time::Duration;
use syn::ext::IdentExt;
use syn::parse::{Lookahead1, ParseStream, Parser};
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token, UnOp};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(start_to_close);
    syn::custom_keyword!(schedule_to_close);
    syn::custom_keyword!(schedule_to_start);
    syn::custom_keyword!(heartbeat_timeout);
    syn::custom_keyword!(cancellation);
    syn::custom_keyword!(task_queue);
    syn::custom_keyword!(max_attempts);
    syn::custom_keyword!(initial_interval);
    syn::custom_keyword!(backoff);
    syn::custom_keyword!(max_interval);
    syn::custom_keyword!(non_retryable);
}

/// A value read from an argument, with the span of the expression it came from.
#[derive(Clone, Debug)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The arguments of either attribute. `options` stays empty for `#[workflow]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = ".."`: the name recorded in histories.
    pub(crate) name: Option<LitStr>,
    /// `crate = ".."`: where the runtime is found.
    pub(crate) krate: Option<CratePath>,
    pub(crate) options: ActivityOptionArgs,
}

/// The `#[activity]` arguments that become the activity's default options.
#[derive(Default)]
pub(crate) struct ActivityOptionArgs {
    pub(crate) start_to_close: Option<Spanned<Duration>>,
    pub(crate) schedule_to_close: Option<Spanned<Duration>>,
    pub(crate) schedule_to_start: Option<Spanned<Duration>>,
    pub(crate) heartbeat_timeout: Option<Spanned<Duration>>,
    pub(crate) cancellation: Option<Spanned<Cancellation>>,
    pub(crate) task_queue: Option<LitStr>,
    pub(crate) max_attempts: Option<Spanned<i32>>,
    pub(crate) initial_interval: Option<Spanned<Duration>>,
    pub(crate) backoff: Option<Spanned<f64>>,
    pub(crate) max_interval: Option<Spanned<Duration>>,
    pub(crate) non_retryable: Vec<LitStr>,
}

/// `cancellation = ..`: what the calling workflow does with the activity when cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cancellation {
    TryCancel,
    WaitCompleted,
    Abandon,
}

impl Cancellation {
    const ALL: [Cancellation; 3] = [
        Cancellation::TryCancel,
        Cancellation::WaitCompleted,
        Cancellation::Abandon,
    ];

    /// The variant's name in `dacapo::Cancellation`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Cancellation::TryCancel => "TryCancel",
            Cancellation::WaitCompleted => "WaitCompleted",
            Cancellation::Abandon => "Abandon",
        }
    }
}

/// `crate = ".."`: the path the generated code uses for the runtime instead of `::dacapo`.
#[derive(Clone, Debug)]
pub(crate) struct CratePath(Path);

impl CratePath {
    /// The path as written.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The path to the runtime, `::dacapo` unless overridden. A bare crate name gets a leading
    /// `::` so that a local module of the same name cannot shadow it; `crate::..`, `self::..`
    /// and `super::..` paths stay as written.
    pub(crate) fn tokens(krate: Option<&CratePath>) -> TokenStream {
        let Some(CratePath(path)) = krate else {
            return quote!(::dacapo);
        };
        let relative = path.segments.first().is_some_and(|first| {
            first.ident == "crate" || first.ident == "self" || first.ident == "super"
        });
        if path.leading_colon.is_some() || relative {
            path.to_token_stream()
        } else {
            quote!(::#path)
        }
    }
}

/// An argument key. The set a kind accepts is [`Key::accepted_by`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Name,
    StartToClose,
    ScheduleToClose,
    ScheduleToStart,
    HeartbeatTimeout,
    Cancellation,
    TaskQueue,
    MaxAttempts,
    InitialInterval,
    Backoff,
    MaxInterval,
    NonRetryable,
    Crate,
}

impl Key {
    const WORKFLOW: &'static [Key] = &[Key::Name, Key::Crate];
    const ACTIVITY: &'static [Key] = &[
        Key::Name,
        Key::StartToClose,
        Key::ScheduleToClose,
        Key::ScheduleToStart,
        Key::HeartbeatTimeout,
        Key::Cancellation,
        Key::TaskQueue,
        Key::MaxAttempts,
        Key::InitialInterval,
        Key::Backoff,
        Key::MaxInterval,
        Key::NonRetryable,
        Key::Crate,
    ];

    fn accepted_by(kind: Kind) -> &'static [Key] {
        match kind {
            Kind::Workflow => Key::WORKFLOW,
            Kind::Activity => Key::ACTIVITY,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::StartToClose => "start_to_close",
            Key::ScheduleToClose => "schedule_to_close",
            Key::ScheduleToStart => "schedule_to_start",
            Key::HeartbeatTimeout => "heartbeat_timeout",
            Key::Cancellation => "cancellation",
            Key::TaskQueue => "task_queue",
            Key::MaxAttempts => "max_attempts",
            Key::InitialInterval => "initial_interval",
            Key::Backoff => "backoff",
            Key::MaxInterval => "max_interval",
            Key::NonRetryable => "non_retryable",
            Key::Crate => "crate",
        }
    }

    /// A well-formed use of the key, for messages.
    fn example(self) -> &'static str {
        match self {
            Key::Name => r#"name = "charge-card""#,
            Key::StartToClose => r#"start_to_close = "30s""#,
            Key::ScheduleToClose => r#"schedule_to_close = "5m""#,
            Key::ScheduleToStart => r#"schedule_to_start = "1m""#,
            Key::HeartbeatTimeout => r#"heartbeat_timeout = "10s""#,
            Key::Cancellation => r#"cancellation = "WaitCompleted""#,
            Key::TaskQueue => r#"task_queue = "payments""#,
            Key::MaxAttempts => "max_attempts = 5",
            Key::InitialInterval => r#"initial_interval = "1s""#,
            Key::Backoff => "backoff = 2.0",
            Key::MaxInterval => r#"max_interval = "1m""#,
            Key::NonRetryable => r#"non_retryable = ["InvalidCard"]"#,
            Key::Crate => r#"crate = "my_dacapo""#,
        }
    }

    fn peek(self, lookahead: &Lookahead1<'_>) -> bool {
        match self {
            Key::Name => lookahead.peek(kw::name),
            Key::StartToClose => lookahead.peek(kw::start_to_close),
            Key::ScheduleToClose => lookahead.peek(kw::schedule_to_close),
            Key::ScheduleToStart => lookahead.peek(kw::schedule_to_start),
            Key::HeartbeatTimeout => lookahead.peek(kw::heartbeat_timeout),
            Key::Cancellation => lookahead.peek(kw::cancellation),
            Key::TaskQueue => lookahead.peek(kw::task_queue),
            Key::MaxAttempts => lookahead.peek(kw::max_attempts),
            Key::InitialInterval => lookahead.peek(kw::initial_interval),
            Key::Backoff => lookahead.peek(kw::backoff),
            Key::MaxInterval => lookahead.peek(kw::max_interval),
            Key::NonRetryable => lookahead.peek(kw::non_retryable),
            Key::Crate => lookahead.peek(Token![crate]),
        }
    }

    /// Consumes the key's token, returning its span.
    fn parse(self, input: ParseStream<'_>) -> syn::Result<Span> {
        Ok(match self {
            Key::Name => input.parse::<kw::name>()?.span,
            Key::StartToClose => input.parse::<kw::start_to_close>()?.span,
            Key::ScheduleToClose => input.parse::<kw::schedule_to_close>()?.span,
            Key::ScheduleToStart => input.parse::<kw::schedule_to_start>()?.span,
            Key::HeartbeatTimeout => input.parse::<kw::heartbeat_timeout>()?.span,
            Key::Cancellation => input.parse::<kw::cancellation>()?.span,
            Key::TaskQueue => input.parse::<kw::task_queue>()?.span,
            Key::MaxAttempts => input.parse::<kw::max_attempts>()?.span,
            Key::InitialInterval => input.parse::<kw::initial_interval>()?.span,
            Key::Backoff => input.parse::<kw::backoff>()?.span,
            Key::MaxInterval => input.parse::<kw::max_interval>()?.span,
            Key::NonRetryable => input.parse::<kw::non_retryable>()?.span,
            Key::Crate => input.parse::<Token![crate]>()?.span,
        })
    }

    /// The key a user probably meant by a name that is not a key (Temporal's long names and
    /// a few near misses).
    fn meant_by(unknown: &str) -> Option<Key> {
        Some(match unknown {
            "start_to_close_timeout" | "timeout" => Key::StartToClose,
            "schedule_to_close_timeout" => Key::ScheduleToClose,
            "schedule_to_start_timeout" => Key::ScheduleToStart,
            "heartbeat" | "heartbeat_interval" => Key::HeartbeatTimeout,
            "cancellation_type" | "cancel" => Key::Cancellation,
            "queue" => Key::TaskQueue,
            "maximum_attempts" | "retries" | "max_retries" | "attempts" => Key::MaxAttempts,
            "backoff_coefficient" => Key::Backoff,
            "maximum_interval" => Key::MaxInterval,
            "non_retryable_error_types" | "non_retryable_errors" => Key::NonRetryable,
            _ => return None,
        })
    }
}

impl Args {
    /// Parses the arguments of `#[workflow(..)]` or `#[activity(..)]`. Mistakes go to `errors`;
    /// the arguments read correctly are returned either way, so expansion can go on.
    pub(crate) fn parse(kind: Kind, tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let mut seen = Vec::new();
        let parser = |input: ParseStream<'_>| -> syn::Result<()> {
            while !input.is_empty() {
                args.parse_one(kind, input, &mut seen, errors)?;
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
            }
            Ok(())
        };
        if let Err(error) = parser.parse2(tokens) {
            errors.push(error);
        }
        args
    }

    fn parse_one(
        &mut self,
        kind: Kind,
        input: ParseStream<'_>,
        seen: &mut Vec<Key>,
        errors: &mut Errors,
    ) -> syn::Result<()> {
        let accepted = Key::accepted_by(kind);
        let lookahead = input.lookahead1();
        let Some(&key) = accepted.iter().find(|key| key.peek(&lookahead)) else {
            if !input.peek(Ident::peek_any) {
                return Err(lookahead.error());
            }
            let unknown = input.call(Ident::parse_any)?;
            errors.at(unknown.span(), unknown_key_message(kind, &unknown));
            if input.parse::<Option<Token![=]>>()?.is_some() {
                input.parse::<Expr>()?;
            }
            return Ok(());
        };
        let key_span = key.parse(input)?;
        if input.is_empty() || input.peek(Token![,]) {
            errors.at(
                key_span,
                format!("`{}` needs a value: `{}`", key.as_str(), key.example()),
            );
            return Ok(());
        }
        if !input.peek(Token![=]) {
            return Err(input.error(format!(
                "expected `=` after `{}`: arguments are written `key = value`, as in `{}`",
                key.as_str(),
                key.example()
            )));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        if seen.contains(&key) {
            errors.at(
                key_span,
                format!("`{}` is given twice; keep one of them", key.as_str()),
            );
            return Ok(());
        }
        seen.push(key);
        if let Err(error) = self.set(key, &value) {
            errors.push(error);
        }
        Ok(())
    }

    /// Interprets `value` for `key` and stores it.
    fn set(&mut self, key: Key, value: &Expr) -> syn::Result<()> {
        let options = &mut self.options;
        match key {
            Key::Name => self.name = Some(non_empty(string(key, value)?, key)?),
            Key::Crate => {
                let path = string(key, value)?;
                let parsed = path.parse::<Path>().map_err(|_| {
                    syn::Error::new(
                        path.span(),
                        format!(
                            "`crate` takes the path to the dacapo crate as a string, such as `{}`",
                            key.example()
                        ),
                    )
                })?;
                self.krate = Some(CratePath(parsed));
            }
            Key::StartToClose => options.start_to_close = Some(duration(key, value)?),
            Key::ScheduleToClose => options.schedule_to_close = Some(duration(key, value)?),
            Key::ScheduleToStart => options.schedule_to_start = Some(duration(key, value)?),
            Key::HeartbeatTimeout => options.heartbeat_timeout = Some(duration(key, value)?),
            Key::InitialInterval => options.initial_interval = Some(duration(key, value)?),
            Key::MaxInterval => options.max_interval = Some(duration(key, value)?),
            Key::Cancellation => options.cancellation = Some(cancellation(value)?),
            Key::TaskQueue => options.task_queue = Some(non_empty(string(key, value)?, key)?),
            Key::MaxAttempts => options.max_attempts = Some(integer(key, value)?),
            Key::Backoff => options.backoff = Some(float(key, value)?),
            Key::NonRetryable => options.non_retryable = string_list(key, value)?,
        }
        Ok(())
    }
}

fn unknown_key_message(kind: Kind, unknown: &Ident) -> String {
    let unknown_name = unknown.unraw().to_string();
    let accepted = Key::accepted_by(kind);
    let list = accepted
        .iter()
        .map(|key| format!("`{}`", key.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = format!(
        "unknown argument `{unknown_name}` for `#[{}]`; the arguments are {list}",
        kind.attribute()
    );
    // The key meant: a key of the other attribute, a long name from Temporal, or a typo. A
    // typo is corrected as the key alone, the other two with an example of its value.
    let (meant, with_example) = match Key::ACTIVITY
        .iter()
        .find(|key| key.as_str() == unknown_name)
        .copied()
        .or_else(|| Key::meant_by(&unknown_name))
    {
        Some(key) => (Some(key), true),
        None => (misspelled(&unknown_name, Key::ACTIVITY), false),
    };
    match meant {
        Some(key) if accepted.contains(&key) => {
            let suggestion = if with_example {
                key.example()
            } else {
                key.as_str()
            };
            message += &format!("; did you mean `{suggestion}`?");
        }
        Some(key) => {
            message += &format!(
                "; `{}` is an activity option: set it on `#[activity]`, or at the call site \
                 with `ctx.activity(..).{}(..)`",
                key.as_str(),
                key.as_str()
            );
        }
        None => {}
    }
    message
}

/// The key `written` is a misspelling of: the closest by edit distance, if it is close (one
/// or two edits, and fewer than a third of the letters).
fn misspelled(written: &str, keys: &[Key]) -> Option<Key> {
    keys.iter()
        .map(|key| (edit_distance(written, key.as_str()), *key))
        .filter(|(distance, _)| *distance <= 2 && *distance * 3 < written.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// The number of single-character insertions, deletions and substitutions that turn `a` into
/// `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, from) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, to) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(from != *to);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The literal in `value`, looking through groups that `macro_rules!` adds around fragments.
fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

fn string(key: Key, value: &Expr) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(lit)) => Ok(lit.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{}` takes a string literal: `{}`",
                key.as_str(),
                key.example()
            ),
        )),
    }
}

fn non_empty(lit: LitStr, key: Key) -> syn::Result<LitStr> {
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{}` cannot be empty: `{}`", key.as_str(), key.example()),
        ));
    }
    Ok(lit)
}

const DURATION_FORM: &str = r#"write a duration like "30s", "5m" or "1h 30m""#;

fn duration(key: Key, value: &Expr) -> syn::Result<Spanned<Duration>> {
    let lit = match literal(value) {
        Some(Lit::Str(lit)) => lit,
        Some(Lit::Int(int)) => {
            let unit = if int.suffix().is_empty() {
                "s"
            } else {
                int.suffix()
            };
            return Err(syn::Error::new(
                int.span(),
                format!(
                    "`{}` takes the duration as a string: `{} = \"{}{unit}\"`",
                    key.as_str(),
                    key.as_str(),
                    int.base10_digits()
                ),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!(
                    "`{}` takes a duration string; {DURATION_FORM} (set a computed `Duration` at \
                     the call site instead)",
                    key.as_str()
                ),
            ));
        }
    };
    match humantime::parse_duration(&lit.value()) {
        Ok(parsed) => Ok(Spanned {
            value: parsed,
            span: lit.span(),
        }),
        Err(error) => Err(syn::Error::new(
            lit.span(),
            format!(
                "invalid duration {:?} for `{}`: {error}; {DURATION_FORM}",
                lit.value(),
                key.as_str()
            ),
        )),
    }
}

fn cancellation(value: &Expr) -> syn::Result<Spanned<Cancellation>> {
    let key = Key::Cancellation;
    let written = match value {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        _ => match literal(value) {
            Some(Lit::Str(lit)) => Some(lit.value()),
            _ => None,
        },
    };
    let found = written.as_deref().and_then(|written| {
        Cancellation::ALL
            .into_iter()
            .find(|variant| variant.variant() == written)
    });
    match found {
        Some(found) => Ok(Spanned {
            value: found,
            span: value.span(),
        }),
        None => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{}` is one of \"TryCancel\", \"WaitCompleted\" or \"Abandon\": `{}`",
                key.as_str(),
                key.example()
            ),
        )),
    }
}

fn integer(key: Key, value: &Expr) -> syn::Result<Spanned<i32>> {
    let (negative, lit) = match value {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => (true, literal(&unary.expr)),
        _ => (false, literal(value)),
    };
    let wrong = || {
        syn::Error::new_spanned(
            value,
            format!(
                "`{}` takes a whole number that fits in an `i32`: `{}`",
                key.as_str(),
                key.example()
            ),
        )
    };
    let Some(Lit::Int(int)) = lit else {
        return Err(wrong());
    };
    let magnitude: i64 = int.base10_parse().map_err(|_| wrong())?;
    let signed = if negative { -magnitude } else { magnitude };
    let value_i32 = i32::try_from(signed).map_err(|_| wrong())?;
    Ok(Spanned {
        value: value_i32,
        span: value.span(),
    })
}

fn float(key: Key, value: &Expr) -> syn::Result<Spanned<f64>> {
    let parsed = match literal(value) {
        Some(Lit::Float(lit)) => lit.base10_parse::<f64>().ok(),
        Some(Lit::Int(lit)) => lit.base10_parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(parsed) => Ok(Spanned {
            value: parsed,
            span: value.span(),
        }),
        None => Err(syn::Error::new_spanned(
            value,
            format!("`{}` takes a number: `{}`", key.as_str(), key.example()),
        )),
    }
}

fn string_list(key: Key, value: &Expr) -> syn::Result<Vec<LitStr>> {
    let elems: Vec<&Expr> = match value {
        Expr::Array(array) => array.elems.iter().collect(),
        _ if matches!(literal(value), Some(Lit::Str(_))) => vec![value],
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!(
                    "`{}` takes a list of error type names: `{}`",
                    key.as_str(),
                    key.example()
                ),
            ));
        }
    };
    elems
        .into_iter()
        .map(|elem| match literal(elem) {
            Some(Lit::Str(lit)) => non_empty(lit.clone(), key),
            _ => Err(syn::Error::new_spanned(
                elem,
                format!(
                    "`{}` takes error type names as strings: `{}`",
                    key.as_str(),
                    key.example()
                ),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests;
