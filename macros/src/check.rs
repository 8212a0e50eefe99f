//! Validation: everything that can be wrong with a `#[workflow]` or `#[activity]` fn or its
//! arguments, found in one pass so that the user sees every mistake at once.
//!
//! Each rule reports on the smallest piece of the user's syntax that is wrong and says what to
//! write instead. Nothing here generates code: when a signature rule fails, `expand` emits a
//! stub of the definition instead of the definition.

use crate::attr::{ActivityOptionArgs, Spanned};
use crate::diagnostics::Errors;
use crate::model::{ContextParam, Definition, Kind, Output};
use syn::visit::Visit;
use syn::{FnArg, Pat, Type};

/// Checks a definition's signature.
pub(crate) fn definition(def: &Definition, errors: &mut Errors) {
    signature(def, errors);
    context(def, errors);
    params(def, errors);
    output(def, errors);
}

/// The parts of a signature that cannot be turned into a definition at all.
fn signature(def: &Definition, errors: &mut Errors) {
    let what = def.kind.with_article();
    let sig = &def.item.sig;
    if let Some(constness) = &sig.constness {
        errors.spanned(constness, format!("{what} cannot be a `const fn`"));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(
            unsafety,
            format!("{what} cannot be `unsafe`; wrap the unsafe code in an `unsafe` block"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("{what} cannot declare an ABI"));
    }
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!(
                "`#[{}]` needs an `async fn`; write `async fn {}(..)`",
                def.kind.attribute(),
                sig.ident
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!(
                "{what} cannot be generic: it is registered and recorded under one name, with \
                 one input and one output type; use concrete types"
            ),
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(
            where_clause,
            format!("{what} cannot have a `where` clause; use concrete types"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, format!("{what} cannot be variadic"));
    }
    if let Some(receiver) = sig.receiver() {
        errors.spanned(
            receiver,
            format!("{what} cannot take `self`; write it as a free `async fn` outside the `impl`"),
        );
    }
}

/// The context parameter: present where it must be, first, of the right type, taken by value.
fn context(def: &Definition, errors: &mut Errors) {
    let kind = def.kind;
    let expected = kind.context_type();
    match &def.context {
        Some(ctx) => context_param(kind, ctx, errors),
        // A context further down the list is reported where it stands (below): one mistake,
        // one error.
        None if kind == Kind::Workflow && !has_later_context(def) => {
            let inputs = &def.item.sig.inputs;
            match inputs.iter().find(|arg| !matches!(arg, FnArg::Receiver(_))) {
                Some(first) => errors.spanned(
                    first,
                    format!(
                        "the first parameter of a workflow must be its context: `ctx: {expected}`"
                    ),
                ),
                None => errors.at(
                    def.item.sig.paren_token.span.join(),
                    format!(
                        "a workflow takes its context as the first parameter: `(ctx: {expected})`"
                    ),
                ),
            }
        }
        None => {}
    }
    for arg in &def.args {
        if let Some(found) = crate::model::context_type(&arg.ty) {
            errors.spanned(
                &arg.ty,
                if found.kind == kind {
                    format!(
                        "the context must be the first parameter of the {}; move it before \
                         the other parameters",
                        kind.noun()
                    )
                } else {
                    wrong_context(kind, found.kind)
                },
            );
        }
    }
}

/// Whether a parameter after the first names the definition's own context type.
fn has_later_context(def: &Definition) -> bool {
    def.args
        .iter()
        .any(|arg| crate::model::context_type(&arg.ty).is_some_and(|found| found.kind == def.kind))
}

fn wrong_context(kind: Kind, found: Kind) -> String {
    format!(
        "{} takes `{}` as its context, not `{}`",
        kind.with_article(),
        kind.context_type(),
        found.context_type()
    )
}

fn context_param(kind: Kind, ctx: &ContextParam, errors: &mut Errors) {
    let expected = kind.context_type();
    if ctx.found.kind != kind {
        errors.spanned(&ctx.ty, wrong_context(kind, ctx.found.kind));
    } else if ctx.found.by_reference {
        errors.spanned(
            &ctx.ty,
            format!("take the context by value: `ctx: {expected}` (it is cheap to clone)"),
        );
    }
    pattern(&ctx.pat, "the context", errors);
}

/// The arguments: plain names and owned, concrete types.
fn params(def: &Definition, errors: &mut Errors) {
    for arg in &def.args {
        pattern(&arg.pat, "an argument", errors);
        owned_type(
            &arg.ty,
            "arguments are decoded from the history into new values",
            errors,
        );
    }
}

fn pattern(pat: &Pat, what: &str, errors: &mut Errors) {
    match pat {
        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {}
        Pat::Wild(_) => {}
        Pat::Ident(ident) if ident.by_ref.is_some() => {
            errors.spanned(ident.by_ref, format!("bind {what} by value, without `ref`"));
        }
        _ => errors.spanned(
            pat,
            format!("name {what} with a plain identifier, and destructure it inside the body"),
        ),
    }
}

/// Rejects types that cannot be decoded from a payload: `impl Trait` and borrowed types.
fn owned_type(ty: &Type, why: &str, errors: &mut Errors) {
    let mut finder = crate::model::UnownedParts::default();
    finder.visit_type(ty);
    for part in finder.impl_traits {
        errors.spanned(
            part,
            format!("`impl Trait` is not allowed here: {why}, so name a concrete type"),
        );
    }
    for part in finder.borrows {
        errors.spanned(
            part,
            format!("{why}, so they cannot borrow; use an owned type such as `String` or `Vec<T>`"),
        );
    }
}

/// The return type: a `Result` whose `Ok` type is an owned value.
fn output(def: &Definition, errors: &mut Errors) {
    let expected = def.kind.result_type();
    match &def.output {
        Output::Result { ok, .. } => owned_type(
            ok,
            "results are decoded from the history into new values",
            errors,
        ),
        Output::Missing => errors.at(
            def.item.sig.paren_token.span.close(),
            format!(
                "{} must return `{expected}`; add `-> {expected}` after the parameters",
                def.kind.with_article()
            ),
        ),
        Output::NotResult(ty) => errors.spanned(
            ty,
            format!(
                "{} must return `{expected}`, so that failures reach the caller",
                def.kind.with_article()
            ),
        ),
    }
}

/// Rules that bound one `#[activity]` argument or relate several.
pub(crate) fn options(args: &ActivityOptionArgs, errors: &mut Errors) {
    let durations = [
        ("start_to_close", &args.start_to_close, "for no timeout"),
        (
            "schedule_to_close",
            &args.schedule_to_close,
            "for no timeout",
        ),
        (
            "schedule_to_start",
            &args.schedule_to_start,
            "for no timeout",
        ),
        (
            "heartbeat_timeout",
            &args.heartbeat_timeout,
            "for no timeout",
        ),
        (
            "initial_interval",
            &args.initial_interval,
            "for the default",
        ),
        ("max_interval", &args.max_interval, "for the default"),
    ];
    for (key, value, instead) in durations {
        if let Some(Spanned { value, span }) = value
            && value.is_zero()
        {
            errors.at(
                *span,
                format!("`{key}` must be longer than zero; leave the argument out {instead}"),
            );
        }
    }
    if let Some(Spanned { value, span }) = &args.max_attempts
        && *value < 0
    {
        errors.at(
            *span,
            "`max_attempts` cannot be negative; use 0 for unlimited attempts or 1 for no retries",
        );
    }
    if let Some(Spanned { value, span }) = &args.backoff
        && (!value.is_finite() || *value < 1.0)
    {
        errors.at(
            *span,
            "`backoff` must be a number of at least 1.0: each retry waits `backoff` times \
             longer than the one before",
        );
    }
    if let (Some(initial), Some(max)) = (&args.initial_interval, &args.max_interval)
        && max.value < initial.value
    {
        errors.at(
            max.span,
            format!(
                "`max_interval` ({}) is shorter than `initial_interval` ({}); raise \
                 `max_interval` or lower `initial_interval`",
                humantime::format_duration(max.value),
                humantime::format_duration(initial.value)
            ),
        );
    }
    if let (Some(start), Some(schedule)) = (&args.start_to_close, &args.schedule_to_close)
        && schedule.value < start.value
    {
        errors.at(
            schedule.span,
            format!(
                "`schedule_to_close` ({}) is shorter than `start_to_close` ({}), so an attempt \
                 could never use its full time; raise `schedule_to_close`",
                humantime::format_duration(schedule.value),
                humantime::format_duration(start.value)
            ),
        );
    }
}

#[cfg(test)]
mod tests;
