//! Query handlers and update validators in a `#[workflow]` body: code that must not change the
//! run.
//!
//! A query is answered without recording anything in the history, and an update's validator
//! runs before the update is recorded; whatever either did to the run would be missing when the
//! run is replayed, and an awaited future would need a workflow task that nothing schedules.
//! Where the handler is a closure written at its registration, `.on_query(QUERY, |args| ..)` or
//! `.on_update(..).validator(|args| ..)` (also the closure ending a block, `{ let s =
//! state.clone(); move |()| .. }`), this pass rejects what would: being `async`, returning an
//! `async` block, `.await` or `block_on(..)`, the methods that issue commands or change the run
//! ([`METHODS`](rules::METHODS)) called on what the closure captured, and assignments to places
//! it captured. Like the determinism lint it reads names, not types. A handler passed by name is
//! not seen here; the runtime fails a query that tries to change the run. The update handler
//! itself may await and start activities: it is the rest of the body as far as this pass is
//! concerned.
//!
//! Each misuse is replaced in the emitted body by a `compile_error!` spanning it, so that it is
//! the only error reported for it: an `.await` in a plain closure, an assignment in an `Fn`
//! closure or an `async` closure where a plain one is expected would each make rustc report
//! another error on the same code.

mod rules;
mod variables;

use super::nested::Contents;
use crate::diagnostics::compile_error_at;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use rules::method_misuse;
use rules::{Misuse, Role};
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Block, Expr, ExprClosure, ExprMethodCall, Ident, Item, Macro, Stmt};
use variables::{Variables, names_kept};

/// Checks the query handlers and update validators registered in `block`, replacing each
/// misuse by the `compile_error!` that reports it. Returns the errors, for when the body is not
/// emitted and they must be reported on their own.
pub(crate) fn check(block: &mut Block) -> Vec<syn::Error> {
    let mut registrations = Registrations { errors: Vec::new() };
    registrations.visit_block_mut(block);
    registrations.errors
}

/// Finds the registrations in the body, and in the macros it invokes.
struct Registrations {
    errors: Vec<syn::Error>,
}

impl VisitMut for Registrations {
    fn visit_expr_method_call_mut(&mut self, call: &mut ExprMethodCall) {
        if let Some((role, handler)) = registered_handler(call) {
            check_handler(handler, role, &mut self.errors);
        }
        visit_mut::visit_expr_method_call_mut(self, call);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        let before = self.errors.len();
        look_into_macro(self, mac, |visitor| visitor.errors.len() != before);
    }

    /// An item in the body (a nested fn, an impl) is not part of the workflow.
    fn visit_item_mut(&mut self, _item: &mut Item) {}
}

/// The handler argument of `.on_query(QUERY, handler)` or of `.validator(validator)` chained
/// on `.on_update(..)`, with the rules that apply to it.
fn registered_handler(call: &mut ExprMethodCall) -> Option<(Role, &mut Expr)> {
    let role = if call.method == "on_query" && call.args.len() == 2 {
        Role::Query
    } else if call.method == "validator" && call.args.len() == 1 && is_on_update(&call.receiver) {
        Role::Validator
    } else {
        return None;
    };
    call.args.iter_mut().last().map(|handler| (role, handler))
}

fn is_on_update(expr: &Expr) -> bool {
    match expr {
        Expr::Paren(paren) => is_on_update(&paren.expr),
        Expr::Group(group) => is_on_update(&group.expr),
        Expr::MethodCall(call) => call.method == "on_update",
        _ => false,
    }
}

/// Checks `handler` when it is a closure the macro can see: written there, possibly at the end
/// of a block that prepares what it captures.
fn check_handler(handler: &mut Expr, role: Role, errors: &mut Vec<syn::Error>) {
    match handler {
        Expr::Paren(paren) => check_handler(&mut paren.expr, role, errors),
        Expr::Group(group) => check_handler(&mut group.expr, role, errors),
        Expr::Block(block) if block.label.is_none() => {
            if let Some(Stmt::Expr(tail, None)) = block.block.stmts.last_mut() {
                check_handler(tail, role, errors);
            }
        }
        Expr::Closure(closure) => check_closure(closure, role, errors),
        _ => {}
    }
}

fn check_closure(closure: &mut ExprClosure, role: Role, errors: &mut Vec<syn::Error>) {
    let mut checker = Checker {
        role,
        variables: Variables::of(closure),
        errors,
        in_async: 0,
    };
    if let Some(asyncness) = closure.asyncness.take() {
        // `async move |args| body` becomes `move |args| { let e = error; let _ = async { body };
        // e }`: the body is still checked by rustc, where `.await` is allowed, and the closure's
        // value is the error, so that no other error is reported about what it returns. The
        // block borrows what the closure captured, as a closure that is called more than once
        // must. The error comes first, so that it is reported before any in the body.
        let capture = &closure.capture;
        let report = checker.report(quote!(#asyncness #capture), Misuse::Async);
        checker.in_async = 1;
        checker.visit_expr_mut(&mut closure.body);
        let body = &closure.body;
        let error = Ident::new("__dacapo_error", Span::mixed_site());
        *closure.body = parsed(quote!({ let #error = #report; let _ = async { #body }; #error }));
        return;
    }
    // Reported before what the block holds, so that the errors come in the order written.
    let report = returned_async(&mut closure.body).and_then(|returned| match returned {
        Expr::Async(block) => {
            let (asyncness, capture) = (&block.async_token, &block.capture);
            Some(quote!(#asyncness #capture))
        }
        _ => None,
    });
    let report = report.map(|at| checker.report(at, Misuse::Async));
    checker.visit_expr_mut(&mut closure.body);
    if let Some(report) = report
        && let Some(returned) = returned_async(&mut closure.body)
        && let Expr::Async(block) = &*returned
    {
        let body = &block.block;
        let error = Ident::new("__dacapo_error", Span::mixed_site());
        *returned = parsed(quote!(({ let #error = #report; let _ = async #body; #error })));
    }
}

/// The `async` block that `body` returns, if it returns one: `async move { .. }`, or a block
/// ending with one.
fn returned_async(body: &mut Expr) -> Option<&mut Expr> {
    match body {
        Expr::Async(_) => Some(body),
        Expr::Paren(paren) => returned_async(&mut paren.expr),
        Expr::Group(group) => returned_async(&mut group.expr),
        Expr::Block(block) if block.label.is_none() => match block.block.stmts.last_mut() {
            Some(Stmt::Expr(tail, None)) => returned_async(tail),
            _ => None,
        },
        _ => None,
    }
}

/// Checks one handler's body.
struct Checker<'a> {
    role: Role,
    variables: Variables,
    errors: &'a mut Vec<syn::Error>,
    /// How many `async` blocks enclose the expression visited, in which `.await` is the block's
    /// own business (the block itself is reported when the handler returns it).
    in_async: usize,
}

impl Checker<'_> {
    /// Records `misuse` at `at` and returns the `compile_error!` that reports it in the body.
    fn report(&mut self, at: TokenStream, misuse: Misuse) -> TokenStream {
        let message = misuse.message(self.role);
        self.errors.push(syn::Error::new_spanned(&at, &message));
        compile_error_at(at, &message).into_token_stream()
    }

    /// The misuse that `call` is: a method of [`METHODS`](rules::METHODS) on something the
    /// closure captured.
    /// A method called on the closure's own variable (`hasher.update(..)`, `rng.random()`)
    /// changes nothing else.
    fn misused_method(&self, call: &ExprMethodCall) -> Option<&'static Misuse> {
        method_misuse(&call.method).filter(|_| !self.is_own_root(&call.receiver))
    }

    /// Whether `expr` is a call that [`Checker::misused_method`] reports, or a method chained
    /// on one: `ctx.activity(a, x).start_to_close(d)`.
    fn calls_misuse(&self, expr: &Expr) -> bool {
        match expr {
            Expr::MethodCall(call) => {
                self.misused_method(call).is_some() || self.calls_misuse(&call.receiver)
            }
            Expr::Paren(paren) => self.calls_misuse(&paren.expr),
            Expr::Group(group) => self.calls_misuse(&group.expr),
            _ => false,
        }
    }

    /// Whether `expr` starts from a variable of the closure's own: `hasher`, `state.items[0]`,
    /// `rng.clone()`, but not `ctx` after `let ctx = ctx.clone();`.
    fn is_own_root(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(path) => path
                .path
                .get_ident()
                .is_some_and(|ident| self.variables.is_own(&ident.to_string())),
            Expr::Field(field) => self.is_own_root(&field.base),
            Expr::Index(index) => self.is_own_root(&index.expr),
            Expr::MethodCall(call) => self.is_own_root(&call.receiver),
            Expr::Paren(paren) => self.is_own_root(&paren.expr),
            Expr::Group(group) => self.is_own_root(&group.expr),
            Expr::Reference(reference) => self.is_own_root(&reference.expr),
            Expr::Unary(unary) => self.is_own_root(&unary.expr),
            Expr::Try(tried) => self.is_own_root(&tried.expr),
            _ => false,
        }
    }

    /// The variable at the root of the place `expr` when the closure captured it, as written.
    fn captured_root(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Path(path) if path.qself.is_none() => {
                let path = &path.path;
                let name = path
                    .segments
                    .iter()
                    .map(|segment| segment.ident.to_string())
                    .collect::<Vec<_>>()
                    .join("::");
                let local = path.leading_colon.is_none()
                    && path.segments.len() == 1
                    && self.variables.declared.contains(&name);
                (!local).then_some(name)
            }
            Expr::Field(field) => self.captured_root(&field.base),
            Expr::Index(index) => self.captured_root(&index.expr),
            Expr::Paren(paren) => self.captured_root(&paren.expr),
            Expr::Group(group) => self.captured_root(&group.expr),
            Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Deref(_)) => {
                self.captured_root(&unary.expr)
            }
            // Destructuring assignment: `(a, b) = ..`.
            Expr::Tuple(tuple) => tuple.elems.iter().find_map(|e| self.captured_root(e)),
            Expr::Array(array) => array.elems.iter().find_map(|e| self.captured_root(e)),
            _ => None,
        }
    }

    /// Replaces `assignment`, whose target is `place`, when it assigns to a captured place.
    /// The place stays borrowed, and the names the value uses stay in use ([`names_kept`]); the
    /// value itself is dropped, since it may not have a type of its own outside the assignment.
    fn check_assignment(&mut self, assignment: &mut Expr) -> bool {
        let place = match &*assignment {
            Expr::Assign(assign) => &*assign.left,
            Expr::Binary(binary) if is_compound_assignment(&binary.op) => &*binary.left,
            _ => return false,
        };
        let Some(name) = self.captured_root(place) else {
            return false;
        };
        let mut keep = TokenStream::new();
        if is_place(place) {
            keep.extend(quote!(let _ = &#place;));
        }
        if let Expr::Assign(syn::ExprAssign { right, .. })
        | Expr::Binary(syn::ExprBinary { right, .. }) = &*assignment
        {
            keep.extend(names_kept([&**right]));
        }
        let report = self.report(assignment.to_token_stream(), Misuse::Assign(name));
        *assignment = parsed(quote!(({ #keep #report })));
        true
    }
}

impl VisitMut for Checker<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if self.check_assignment(expr) {
            return;
        }
        match expr {
            Expr::Async(_) => {
                self.in_async += 1;
                visit_mut::visit_expr_mut(self, expr);
                self.in_async -= 1;
                return;
            }
            Expr::Await(awaited) => {
                // `ctx.sleep(d).await` is one mistake: the call is reported, the `.await` goes.
                let call_reported = self.calls_misuse(&awaited.base);
                self.visit_expr_mut(&mut awaited.base);
                if self.in_async > 0 {
                    return;
                }
                let base = &awaited.base;
                *expr = if call_reported {
                    (**base).clone()
                } else {
                    let (dot, keyword) = (&awaited.dot_token, &awaited.await_token);
                    let report = self.report(quote!(#dot #keyword), Misuse::Await);
                    parsed(quote!(({ let _ = #base; #report })))
                };
                return;
            }
            Expr::Call(call) => {
                if let Expr::Path(callee) = &*call.func
                    && callee.qself.is_none()
                    && callee
                        .path
                        .segments
                        .last()
                        .is_some_and(|last| last.ident == "block_on")
                {
                    // `futures::executor::block_on(fut)`: the callee is replaced, the future is
                    // still checked. The import the callee went through stays in use.
                    let path = &callee.path;
                    let keep = path
                        .segments
                        .first()
                        .filter(|_| path.leading_colon.is_none())
                        .map(|first| {
                            let first = &first.ident;
                            quote!(#[allow(unused_imports)] use #first as _;)
                        });
                    let report = self.report(path.to_token_stream(), Misuse::Block);
                    *call.func = parsed(quote!(({ #keep #report })));
                }
            }
            Expr::MethodCall(call) => {
                if let Some(misuse) = self.misused_method(call) {
                    let at = call.to_token_stream();
                    self.visit_expr_mut(&mut call.receiver);
                    // The receiver stays borrowed, so that what the closure captured for the
                    // call is still used. The arguments are dropped, since a closure among them
                    // would have no type to infer its parameters from, but the names they use
                    // are kept in use.
                    let keep = names_kept(&call.args);
                    let receiver = &call.receiver;
                    let report = self.report(at, misuse.clone());
                    *expr = parsed(quote!(({ #keep let _ = &#receiver; #report })));
                    return;
                }
            }
            _ => {}
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        let before = self.errors.len();
        look_into_macro(self, mac, |visitor| visitor.errors.len() != before);
    }

    fn visit_item_mut(&mut self, _item: &mut Item) {}
}

fn is_compound_assignment(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::AddAssign(_)
            | BinOp::SubAssign(_)
            | BinOp::MulAssign(_)
            | BinOp::DivAssign(_)
            | BinOp::RemAssign(_)
            | BinOp::BitXorAssign(_)
            | BinOp::BitAndAssign(_)
            | BinOp::BitOrAssign(_)
            | BinOp::ShlAssign(_)
            | BinOp::ShrAssign(_)
    )
}

/// Whether `expr` is a place that can be borrowed as it is, without moving anything.
fn is_place(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) => true,
        Expr::Field(field) => is_place(&field.base),
        Expr::Index(index) => is_place(&index.expr),
        Expr::Paren(paren) => is_place(&paren.expr),
        Expr::Unary(unary) => matches!(unary.op, syn::UnOp::Deref(_)) && is_place(&unary.expr),
        _ => false,
    }
}

/// Generated code as an expression the later passes can look into, when it parses (it always
/// does: it is made of parsed parts).
fn parsed(tokens: TokenStream) -> Expr {
    syn::parse2(tokens.clone()).unwrap_or(Expr::Verbatim(tokens))
}

/// Visits the contents of `mac` when they read as Rust, and re-emits them when `changed` says
/// the visit changed something.
fn look_into_macro<V: VisitMut>(visitor: &mut V, mac: &mut Macro, changed: impl Fn(&V) -> bool) {
    if let Some(mut contents) = Contents::parse(&mac.tokens, false) {
        contents.visit_with(visitor);
        if changed(visitor) {
            mac.tokens = contents.into_token_stream();
        }
    }
}

#[cfg(test)]
mod tests;
