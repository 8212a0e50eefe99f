//! Query handlers and update validators in a `#[workflow]` body: code that must not change the
//! run.
//!
//! A query is answered without recording anything in the history, and an update's validator
//! runs before the update is recorded; whatever either did to the run would be missing when the
//! run is replayed, and an awaited future would need a workflow task that nothing schedules.
//! Where the handler is a closure written at its registration, `.on_query(QUERY, |args| ..)` or
//! `.on_update(..).validator(|args| ..)` (also the closure ending a block, `{ let s =
//! state.clone(); move |()| .. }`), this pass rejects what would: being `async`, returning an
//! `async` block, `.await`, the methods that issue commands or change the run ([`METHODS`])
//! called on what the closure captured, and assignments to places it captured. Like the determinism lint it reads names,
//! not types. A handler passed by name is not seen here; the runtime fails a query that tries to
//! change the run. The update handler itself may await and start activities: it is the rest of
//! the body as far as this pass is concerned.
//!
//! Each misuse is replaced in the emitted body by a `compile_error!` spanning it, so that it is
//! the only error reported for it: an `.await` in a plain closure, an assignment in an `Fn`
//! closure or an `async` closure where a plain one is expected would each make rustc report
//! another error on the same code.

use super::nested::Contents;
use crate::diagnostics::compile_error_at;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use std::collections::HashSet;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Block, Expr, ExprClosure, ExprMethodCall, Ident, Item, Macro, Stmt};

/// Checks the query handlers and update validators registered in `block`, replacing each
/// misuse by the `compile_error!` that reports it. Returns the errors, for when the body is not
/// emitted and they must be reported on their own.
pub(crate) fn check(block: &mut Block) -> Vec<syn::Error> {
    let mut registrations = Registrations { errors: Vec::new() };
    registrations.visit_block_mut(block);
    registrations.errors
}

/// The handler whose rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The closure of `.on_query(QUERY, handler)`.
    Query,
    /// The closure of `.on_update(..).validator(validator)`.
    Validator,
}

impl Role {
    fn who(self) -> &'static str {
        match self {
            Role::Query => "a query handler",
            Role::Validator => "an update validator",
        }
    }

    /// Why nothing the handler does reaches the history.
    fn unrecorded(self) -> &'static str {
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
            (Role::Query, Misuse::Await) => {
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
            (Role::Validator, Misuse::Await) => {
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
fn method_misuse(method: &Ident) -> Option<&'static Misuse> {
    METHODS
        .iter()
        .find(|(name, _)| method == name)
        .map(|(_, misuse)| misuse)
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

/// The variables of a closure: every name a pattern binds in it, its parameters included, and
/// apart those that stand for something it captured (`let ctx = ctx.clone();`).
#[derive(Default)]
struct Variables {
    /// Assigning to one of these changes the closure's own variable. Shadowing is not followed,
    /// which errs on the side of accepting.
    declared: HashSet<String>,
    /// Declared by a `let` whose value is a captured variable, a clone of one or a borrow of
    /// one: their methods reach what the closure captured.
    aliases: HashSet<String>,
}

impl Variables {
    fn of(closure: &ExprClosure) -> Variables {
        #[derive(Default)]
        struct Bindings {
            variables: Variables,
            in_alias: bool,
        }
        impl<'ast> Visit<'ast> for Bindings {
            fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
                let name = pat.ident.to_string();
                if self.in_alias {
                    self.variables.aliases.insert(name.clone());
                }
                self.variables.declared.insert(name);
                syn::visit::visit_pat_ident(self, pat);
            }
            fn visit_local(&mut self, local: &'ast syn::Local) {
                // The value first, whose own bindings (a closure's parameters) are not aliases.
                if let Some(init) = &local.init {
                    self.visit_local_init(init);
                }
                let alias = local
                    .init
                    .as_ref()
                    .is_some_and(|init| self.variables.stands_for_captured(&init.expr));
                let outer = std::mem::replace(&mut self.in_alias, alias);
                self.visit_pat(&local.pat);
                self.in_alias = outer;
            }
        }
        let mut bindings = Bindings::default();
        bindings.visit_expr_closure(closure);
        bindings.variables
    }

    /// Whether `name` is the closure's own, and not an alias of something it captured.
    fn is_own(&self, name: &str) -> bool {
        self.declared.contains(name) && !self.aliases.contains(name)
    }

    /// Whether the value `expr` is, or holds, a captured variable as it is: the variable, a
    /// field of it, a borrow, a `.clone()` or `Arc::clone(&..)` of it, or a tuple of such.
    fn stands_for_captured(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(path) => match path.path.get_ident() {
                Some(ident) => {
                    let name = ident.to_string();
                    name.starts_with(|c: char| c.is_lowercase() || c == '_') && !self.is_own(&name)
                }
                None => false,
            },
            Expr::Field(field) => self.stands_for_captured(&field.base),
            Expr::Paren(paren) => self.stands_for_captured(&paren.expr),
            Expr::Group(group) => self.stands_for_captured(&group.expr),
            Expr::Reference(reference) => self.stands_for_captured(&reference.expr),
            Expr::Unary(unary) => self.stands_for_captured(&unary.expr),
            Expr::MethodCall(call) if call.method == "clone" && call.args.is_empty() => {
                self.stands_for_captured(&call.receiver)
            }
            Expr::Call(call) => {
                let clone = matches!(&*call.func, Expr::Path(path)
                    if path.path.segments.last().is_some_and(|last| last.ident == "clone"));
                clone && call.args.iter().any(|arg| self.stands_for_captured(arg))
            }
            Expr::Tuple(tuple) => tuple.elems.iter().any(|e| self.stands_for_captured(e)),
            Expr::Array(array) => array.elems.iter().any(|e| self.stands_for_captured(e)),
            _ => false,
        }
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

    /// The misuse that `call` is: a method of [`METHODS`] on something the closure captured.
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

/// Statements that keep in use what `exprs` name, for when they are dropped from the body, so
/// that a variable or an import used only there is not reported as unused as well: `let _ =
/// &name;` for each variable (a lower-case single name, not a callee, not bound inside `exprs`),
/// and `use First as _;` for the first segment of each longer path.
fn names_kept<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> TokenStream {
    #[derive(Default)]
    struct Names {
        variables: Vec<Ident>,
        imports: Vec<Ident>,
        bound: HashSet<String>,
    }
    impl<'ast> Visit<'ast> for Names {
        fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
            let path = &expr.path;
            let first = path
                .segments
                .first()
                .filter(|_| expr.qself.is_none() && path.leading_colon.is_none());
            if let Some(first) = first {
                let name = first.ident.to_string();
                let keyword = ["self", "Self", "super", "crate"].contains(&name.as_str());
                let list = if path.segments.len() > 1 {
                    Some(&mut self.imports)
                } else if first.arguments.is_none()
                    && name.starts_with(|c: char| c.is_lowercase() || c == '_')
                {
                    Some(&mut self.variables)
                } else {
                    None
                };
                if let Some(list) = list.filter(|_| !keyword)
                    && !list.contains(&first.ident)
                {
                    list.push(first.ident.clone());
                }
            }
            syn::visit::visit_expr_path(self, expr);
        }
        fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
            // A function called by a single name may be generic: naming it alone would not say
            // which instance.
            match &*call.func {
                Expr::Path(path) if path.path.segments.len() == 1 => {}
                func => self.visit_expr(func),
            }
            call.args.iter().for_each(|arg| self.visit_expr(arg));
        }
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.bound.insert(pat.ident.to_string());
            syn::visit::visit_pat_ident(self, pat);
        }
    }
    let mut names = Names::default();
    exprs.into_iter().for_each(|expr| names.visit_expr(expr));
    let Names {
        variables,
        imports,
        bound,
    } = names;
    let variables = variables
        .into_iter()
        .filter(|variable| !bound.contains(&variable.to_string()));
    quote! {
        #(
            #[allow(unused_imports)]
            use #imports as _;
        )*
        #(let _ = &#variables;)*
    }
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
