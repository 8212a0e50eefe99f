//! `on_cancel!` in a `#[workflow]` body.
//!
//! An `on_cancel! { CLEANUP }` statement at the top level of the body splits it in two. The
//! statements after it become an `async` block whose value is kept; then, if a cancel was
//! requested, `CLEANUP` runs with the context name bound to a disconnected context, and the kept
//! value is returned. Because the rest of the body is inside that block, `?` and `return` there
//! leave only the block, so cleanup runs on every way out; several `on_cancel!` statements nest,
//! so the last one registered runs first. Nothing is boxed and no closure is involved, so the
//! borrow checker sees the user's code as written.

use crate::diagnostics::Errors;
use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::visit::Visit;
use syn::{Block, Expr, Ident, Macro, Path, Stmt};

/// What the rewrite needs to know about the fn it rewrites.
pub(crate) struct Site<'a> {
    /// The runtime path, `::dacapo` unless overridden.
    pub(crate) krate: &'a TokenStream,
    /// The `crate = ".."` override as written, so `my_dacapo::on_cancel!` is recognised too.
    pub(crate) crate_path: Option<&'a Path>,
    /// The name the context parameter is bound to.
    pub(crate) ctx: &'a Ident,
    /// The fn's declared return type.
    pub(crate) ret: TokenStream,
}

/// Rewrites the `on_cancel!` statements of `body`, returning the new body (braces included).
/// Misplaced or nested `on_cancel!` invocations are reported to `errors`.
pub(crate) fn rewrite(body: &Block, site: &Site<'_>, errors: &mut Errors) -> TokenStream {
    let stmts = rewrite_stmts(&body.stmts, site, errors);
    quote!({ #stmts })
}

fn rewrite_stmts(stmts: &[Stmt], site: &Site<'_>, errors: &mut Errors) -> TokenStream {
    let registration = stmts.iter().enumerate().find_map(|(position, stmt)| {
        as_on_cancel(stmt, site.crate_path).map(|mac| (position, mac))
    });
    let Some((position, mac)) = registration else {
        report_misplaced(stmts, site.crate_path, errors);
        return quote!(#(#stmts)*);
    };
    let (before, registration, after) =
        (&stmts[..position], &stmts[position], &stmts[position + 1..]);
    report_misplaced(before, site.crate_path, errors);
    if let Some(attr) = stmt_attrs(registration).first() {
        errors.spanned(attr, "`on_cancel!` does not take attributes");
    }
    let cleanup = match Block::parse_within.parse2(mac.tokens.clone()) {
        Ok(cleanup) => cleanup,
        Err(error) => {
            errors.push(error);
            Vec::new()
        }
    };
    for nested in find_on_cancel(&cleanup, site.crate_path) {
        errors.spanned(
            nested,
            "`on_cancel!` cannot be used inside another `on_cancel!` block: cleanup runs once, \
             after the body, and cannot register more cleanup",
        );
    }
    if after.is_empty() {
        errors.spanned(
            on_cancel_name(mac),
            "`on_cancel!` guards the statements that follow it, and none do; move it before the \
             work it should clean up after",
        );
    }
    let guarded = rewrite_stmts(after, site, errors);
    let Site {
        krate, ctx, ret, ..
    } = site;
    let private = crate::private::path(krate);
    let hidden = |name: &str| Ident::new(name, Span::mixed_site());
    let (kept, fake, cleanup_ctx, outcome, error) = (
        hidden("__dacapo_kept"),
        hidden("__dacapo_fake"),
        hidden("__dacapo_cleanup_ctx"),
        hidden("__dacapo_cleanup"),
        hidden("__dacapo_error"),
    );
    // The guarded statements. The never-taken early `return` fixes the block's output type
    // before any of them is checked, so `?` converts into the fn's error type and a mismatch is
    // reported on the user's expression, as it would be in the fn itself. The block is located
    // at its first statement, and the cleanup at `on_cancel!`, so that borrow errors about what
    // they capture point there.
    let guarded = async_block_at(
        first_span(after),
        quote! {
            #[allow(unreachable_code)]
            if false {
                let #fake: #ret = loop {};
                return #fake;
            }
            #guarded
        },
    );
    let cleanup = async_block_at(
        on_cancel_span(mac),
        quote! {
            { #(#cleanup)* };
            ::core::result::Result::Ok(())
        },
    );
    // The context is cloned at the registration point, so that the guarded statements may move
    // `ctx` and the cleanup still sees the binding that was in scope where it was registered.
    quote! {
        #(#before)*
        let #cleanup_ctx = ::core::clone::Clone::clone(&#ctx);
        let #kept = #private::anchor::<#ret, _>(#guarded).await;
        if #private::cleanup_due(&#cleanup_ctx) {
            #[allow(unused_variables)]
            let #ctx = #cleanup_ctx.disconnected();
            #[allow(unreachable_code)]
            let #outcome = #private::anchor::<
                ::core::result::Result<(), #krate::WorkflowError>,
                _,
            >(#cleanup)
            .await;
            if let ::core::result::Result::Err(#error) = #outcome {
                #private::log_cleanup_error(&#cleanup_ctx, #error);
            }
        }
        #kept
    }
}

/// `async { body }`, with the block's own tokens located at `span`. The body keeps its spans,
/// so that generated code in it is not mistaken for the user's by lints.
fn async_block_at(span: Span, body: TokenStream) -> TokenStream {
    let keyword = Ident::new("async", span);
    let mut block = Group::new(Delimiter::Brace, body);
    block.set_span(span);
    quote!(#keyword #block)
}

/// Where the first of `stmts` starts.
fn first_span(stmts: &[Stmt]) -> Span {
    stmts
        .first()
        .and_then(|stmt| stmt.to_token_stream().into_iter().next())
        .map_or_else(Span::call_site, |token| token.span())
}

/// Where the name of an `on_cancel!` invocation is.
fn on_cancel_span(mac: &Macro) -> Span {
    mac.path
        .segments
        .last()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}

/// The `on_cancel!` invocation that `stmt` consists of, if it is one.
fn as_on_cancel<'a>(stmt: &'a Stmt, crate_path: Option<&Path>) -> Option<&'a Macro> {
    let mac = match stmt {
        Stmt::Macro(stmt) => &stmt.mac,
        Stmt::Expr(Expr::Macro(expr), _) => &expr.mac,
        _ => return None,
    };
    is_on_cancel(&mac.path, crate_path).then_some(mac)
}

fn stmt_attrs(stmt: &Stmt) -> &[syn::Attribute] {
    match stmt {
        Stmt::Macro(stmt) => &stmt.attrs,
        Stmt::Expr(Expr::Macro(expr), _) => &expr.attrs,
        _ => &[],
    }
}

/// `on_cancel`, `dacapo::on_cancel`, `::dacapo::on_cancel`, or the same under the `crate = ".."`
/// override.
pub(crate) fn is_on_cancel(path: &Path, crate_path: Option<&Path>) -> bool {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let Some((last, prefix)) = segments.split_last() else {
        return false;
    };
    if last != "on_cancel" || path.segments.iter().any(|s| !s.arguments.is_none()) {
        return false;
    }
    if prefix.is_empty() {
        return path.leading_colon.is_none();
    }
    if prefix == ["dacapo"] {
        return true;
    }
    crate_path.is_some_and(|krate| {
        let krate: Vec<String> = krate
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        krate == prefix
    })
}

/// The `on_cancel!` part of an invocation, the smallest span that names the mistake.
fn on_cancel_name(mac: &Macro) -> TokenStream {
    let path = &mac.path;
    let bang = &mac.bang_token;
    quote!(#path #bang)
}

fn report_misplaced(stmts: &[Stmt], crate_path: Option<&Path>, errors: &mut Errors) {
    for misplaced in find_on_cancel(stmts, crate_path) {
        errors.spanned(
            misplaced,
            "`on_cancel!` must be a statement of its own at the top level of the `#[workflow]` \
             fn body, not inside a block, branch, loop or closure",
        );
    }
}

/// Every `on_cancel!` invocation anywhere inside `stmts`, as the tokens to report on.
fn find_on_cancel(stmts: &[Stmt], crate_path: Option<&Path>) -> Vec<TokenStream> {
    struct Finder<'p> {
        crate_path: Option<&'p Path>,
        found: Vec<TokenStream>,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_macro(&mut self, mac: &'ast Macro) {
            if is_on_cancel(&mac.path, self.crate_path) {
                self.found.push(on_cancel_name(mac));
            }
        }
    }
    let mut finder = Finder {
        crate_path,
        found: Vec::new(),
    };
    for stmt in stmts {
        finder.visit_stmt(stmt);
    }
    finder.found
}

#[cfg(test)]
mod tests;
