//! The determinism lint of `#[workflow]` bodies.
//!
//! A workflow is replayed from its history, so its body may only depend on what the history
//! records. This pass walks the body (the `on_cancel!` blocks and the contents of other macros
//! included) and rejects the well-known ways out: wall clocks, the machine's timers, spawned
//! tasks, randomness, I/O and the `select!` macros that pick a branch at random. Paths are
//! matched as written or as the body's own `use` items resolve them (`rules`, `imports`).
//!
//! Each misuse is replaced, in the emitted body, by a `compile_error!` at the path that carries
//! the message. The rest of the body stays as written, so it is still checked by rustc, and the
//! replaced call reports nothing else: no unresolved `rand` crate, no type error about what the
//! call returned.
//!
//! The pass also guards calls that are awaited, `name(args).await`: the callee goes through
//! `__private_<version>::DirectCall`, which is the callee unchanged unless it is an activity,
//! and then fails with a message that points to `ctx.activity(..)`.
//!
//! Before all that, the query handlers and update validators the body registers are checked
//! for what would change the run (`handlers`).

mod handlers;
mod imports;
mod nested;
mod rules;

use crate::cancel;
use crate::diagnostics::{compile_error_at, respan};
use imports::Imports;
use nested::Contents;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use rules::Position;
use std::collections::HashSet;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprAwait, FnArg, Item, Macro, Path, Signature, Stmt};

/// What the lint needs to know about the fn whose body it reads.
pub(crate) struct Site<'a> {
    /// `::dacapo::__private_<version>`, or the same under the `crate = ".."` override.
    pub(crate) private: &'a TokenStream,
    /// The `crate = ".."` override as written, so that `my_dacapo::on_cancel!` is looked into.
    pub(crate) crate_path: Option<&'a Path>,
}

/// A linted body.
pub(crate) struct Linted {
    /// The body, with each misuse replaced by the `compile_error!` that reports it and awaited
    /// calls guarded against activities.
    pub(crate) block: Block,
    /// The misuses, for when the body is not emitted (a stub stands in for a definition whose
    /// signature is wrong) and they must be reported on their own.
    pub(crate) errors: Vec<syn::Error>,
}

/// Lints the body of the workflow fn with signature `sig`.
pub(crate) fn workflow_body(sig: &Signature, body: &Block, site: &Site<'_>) -> Linted {
    let mut linter = Linter {
        imports: Imports::collect(body),
        locals: locals(sig, body),
        site,
        errors: Vec::new(),
        edits: 0,
    };
    let mut block = body.clone();
    let mut errors = handlers::check(&mut block);
    linter.visit_block_mut(&mut block);
    errors.append(&mut linter.errors);
    Linted { block, errors }
}

/// Every name a pattern binds anywhere in the fn: a callee with one of these names may be a
/// local closure, which the activity guard must not move.
fn locals(sig: &Signature, body: &Block) -> HashSet<String> {
    #[derive(Default)]
    struct Bindings(HashSet<String>);
    impl<'ast> Visit<'ast> for Bindings {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.insert(pat.ident.to_string());
            syn::visit::visit_pat_ident(self, pat);
        }
    }
    let mut bindings = Bindings::default();
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            bindings.visit_pat(&typed.pat);
        }
    }
    bindings.visit_block(body);
    bindings.0
}

struct Linter<'a> {
    imports: Imports,
    locals: HashSet<String>,
    site: &'a Site<'a>,
    errors: Vec<syn::Error>,
    /// How many changes were made, so that a macro's tokens are re-emitted only when the lint
    /// changed something inside them.
    edits: usize,
}

impl Linter<'_> {
    /// The message for `path`, if it names something a workflow must not use.
    fn misuse(&self, path: &Path, position: Position) -> Option<String> {
        let written: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        // A single name that a pattern binds is a local (`let sleep = |s| ctx.sleep(s);`),
        // whatever the imports say.
        if let [name] = written.as_slice()
            && path.leading_colon.is_none()
            && position == Position::Expression
            && self.locals.contains(name)
        {
            return None;
        }
        let bang = if position == Position::Macro { "!" } else { "" };
        let colons = if path.leading_colon.is_some() {
            "::"
        } else {
            ""
        };
        let shown = format!("{colons}{}{bang}", written.join("::"));
        self.imports
            .resolve(path)
            .into_iter()
            .find_map(|candidate| {
                let misuse = rules::misuse(&candidate.segments, position, candidate.certainty)?;
                // Say what the path resolved to when the written one does not show it: an alias,
                // or a single name brought in by a `use`.
                let resolved = (candidate.segments != written
                    && (written.len() == 1 || !candidate.segments.ends_with(&written)))
                .then(|| format!("{}{bang}", candidate.segments.join("::")));
                Some(misuse.message(&shown, resolved.as_deref()))
            })
    }

    /// Checks a macro invocation. Returns the report when it is a misuse; otherwise looks
    /// inside it.
    fn visit_macro_invocation(&mut self, mac: &mut Macro) -> Option<Replacement> {
        // `tokio::select! { biased; .. }` polls its branches in order.
        let misuse = self
            .misuse(&mac.path, Position::Macro)
            .filter(|_| !nested::starts_biased(&mac.tokens));
        if let Some(message) = misuse {
            let path = &mac.path;
            let bang = &mac.bang_token;
            let mut replacement = self.report(path, quote!(#path #bang), message);
            replacement.keep_futures(self.branch_futures(&mac.tokens));
            return Some(replacement);
        }
        let statements = cancel::is_on_cancel(&mac.path, self.site.crate_path);
        if let Some(mut contents) = Contents::parse(&mac.tokens, statements) {
            let before = self.edits;
            contents.visit_with(self);
            if self.edits != before {
                mac.tokens = contents.into_token_stream();
            }
        }
        None
    }

    /// The futures of a rejected `select!`, linted in their turn. They are kept in the body,
    /// in a closure that never runs, so that what they name stays in use and is checked.
    fn branch_futures(&mut self, tokens: &TokenStream) -> Vec<Expr> {
        let Some(Contents::Select { select, .. }) = Contents::parse(tokens, false) else {
            return Vec::new();
        };
        let mut futures: Vec<Expr> = select
            .branches
            .into_iter()
            .map(|branch| branch.future)
            .collect();
        for future in &mut futures {
            self.visit_expr_mut(future);
        }
        futures
    }

    /// Records a misuse of `path` at `tokens` and returns what replaces it in the body: a
    /// `compile_error!` spanning the same tokens.
    fn report(&mut self, path: &Path, tokens: TokenStream, message: String) -> Replacement {
        let error = syn::Error::new_spanned(&tokens, &message);
        self.errors.push(error);
        self.edits += 1;
        let report = compile_error_at(tokens, &message);
        // A path that starts with a name imported outside the body keeps that import in use,
        // so that it is not reported as unused as well. Crate roots are left out: no import
        // is involved, and the crate (`rand`, `chrono`) may not even be a dependency.
        let import = path
            .segments
            .first()
            .map(|first| &first.ident)
            .filter(|first| {
                path.leading_colon.is_none() && !CRATE_ROOTS.iter().any(|root| *first == root)
            })
            .map(|first| {
                quote! {
                    #[allow(unused_imports)]
                    use #first as _;
                }
            });
        Replacement {
            keep: import.into_iter().collect(),
            report,
        }
    }

    /// Routes the callee of `callee(args).await` through the activity guard, when it is a path
    /// that may name an activity: not a local, not a constructor, not a misuse itself.
    fn guard_awaited_call(&mut self, awaited: &mut ExprAwait) {
        let Expr::Call(call) = &mut *awaited.base else {
            return;
        };
        let Expr::Path(callee) = &*call.func else {
            return;
        };
        let path = &callee.path;
        let Some(last) = path.segments.last() else {
            return;
        };
        let name = last.ident.to_string();
        let local = path.segments.len() == 1 && path.leading_colon.is_none();
        if callee.qself.is_some()
            || !callee.attrs.is_empty()
            || name.starts_with(|c: char| c.is_ascii_uppercase())
            || (local && self.locals.contains(&name))
            || self.misuse(path, Position::Expression).is_some()
        {
            return;
        }
        // Located at the callee's name, where rustc then reports an activity.
        let span = last.ident.span();
        let private = respan(self.site.private.clone(), span);
        let guarded = quote_spanned! {span=>
            ({
                #[allow(unused_imports)]
                use #private::PassCallee as _;
                #private::DirectCall(#path).callee()
            })
        };
        *call.func = Expr::Verbatim(guarded);
        self.edits += 1;
    }
}

impl VisitMut for Linter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Path(path) if path.qself.is_none() => {
                if let Some(message) = self.misuse(&path.path, Position::Expression) {
                    let replacement = self.report(&path.path, path.path.to_token_stream(), message);
                    *expr = replacement.into_expr();
                    return;
                }
            }
            Expr::Macro(expr_macro) => {
                if let Some(replacement) = self.visit_macro_invocation(&mut expr_macro.mac) {
                    *expr = replacement.into_expr();
                }
                return;
            }
            Expr::Await(awaited) => self.guard_awaited_call(awaited),
            _ => {}
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(stmt_macro) = stmt {
            if let Some(replacement) = self.visit_macro_invocation(&mut stmt_macro.mac) {
                *stmt = match stmt_macro.semi_token {
                    Some(semi) => Stmt::Expr(replacement.into_expr(), Some(semi)),
                    // A macro with braces ends its statement, or is the block's value: a
                    // block does the same.
                    None => Stmt::Expr(replacement.into_block(), None),
                };
            }
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    /// An item in the body (a nested fn, an impl) is not part of the workflow.
    fn visit_item_mut(&mut self, _item: &mut Item) {}
}

/// The first segments of paths that never go through an import.
const CRATE_ROOTS: &[&str] = &[
    "std",
    "core",
    "alloc",
    "crate",
    "self",
    "super",
    "Self",
    "async_std",
    "chrono",
    "fastrand",
    "futures",
    "futures_util",
    "getrandom",
    "rand",
    "reqwest",
    "tokio",
    "uuid",
];

/// What stands in the body for a misuse.
struct Replacement {
    /// Statements that keep what the misuse named in use, so that removing it does not make
    /// an import look unused: `use name as _;` for the import it went through, and the
    /// futures of a rejected `select!`.
    keep: TokenStream,
    /// The `compile_error!` that reports the misuse.
    report: Macro,
}

impl Replacement {
    fn keep_futures(&mut self, futures: Vec<Expr>) {
        if !futures.is_empty() {
            self.keep.extend(quote! {
                let _ = || (#(#futures,)*);
            });
        }
    }

    /// As an expression, wherever the misuse stood.
    fn into_expr(self) -> Expr {
        let report = Expr::Macro(syn::ExprMacro {
            attrs: Vec::new(),
            mac: self.report,
        });
        if self.keep.is_empty() {
            return report;
        }
        let keep = self.keep;
        Expr::Verbatim(quote!(({ #keep #report })))
    }

    /// As a block, for a statement without a semicolon.
    fn into_block(self) -> Expr {
        let Replacement { keep, report } = self;
        Expr::Verbatim(quote!({ #keep #report }))
    }
}

#[cfg(test)]
mod tests;
