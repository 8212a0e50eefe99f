//! The contents of macros invoked in a workflow body, read as Rust where they are Rust, so that
//! the lint also sees into `println!(..)`, `futures::join!(..)`, `select! { .. }` and
//! `on_cancel! { .. }`.
//!
//! A macro's tokens are only a guess at Rust: they are tried as a list of expressions, as
//! `select!` branches and as statements, and left alone when none fits. They are re-emitted
//! only when the lint changed something in them, so a macro with its own syntax that happens
//! to parse is passed on as written.

use crate::select::Select;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Stmt, Token};

mod kw {
    syn::custom_keyword!(biased);
}

/// A macro's tokens, read as Rust.
pub(crate) enum Contents {
    /// `a, b, c`: format macros, `join!`, `assert!` and the like.
    Exprs(Punctuated<Expr, Token![,]>),
    /// `pattern = future => handler, ..`, after `biased;` for `tokio::select!`.
    Select { biased: bool, select: Select },
    /// Statements: `on_cancel!` and other block-like macros.
    Stmts(Vec<Stmt>),
}

impl Contents {
    /// Reads `tokens` in the first form that fits; `statements` says the macro is known to
    /// hold statements.
    pub(crate) fn parse(tokens: &TokenStream, statements: bool) -> Option<Contents> {
        let stmts = || {
            Block::parse_within
                .parse2(tokens.clone())
                .map(Contents::Stmts)
        };
        if statements {
            return stmts().ok();
        }
        Punctuated::parse_terminated
            .parse2(tokens.clone())
            .map(Contents::Exprs)
            .or_else(|_| parse_select.parse2(tokens.clone()))
            .or_else(|_| stmts())
            .ok()
    }

    /// Visits the expressions and statements held, not the patterns.
    pub(crate) fn visit_with(&mut self, visitor: &mut impl VisitMut) {
        match self {
            Contents::Exprs(exprs) => exprs
                .iter_mut()
                .for_each(|expr| visitor.visit_expr_mut(expr)),
            Contents::Select { select, .. } => {
                for branch in &mut select.branches {
                    visitor.visit_expr_mut(&mut branch.future);
                    visitor.visit_expr_mut(&mut branch.handler);
                }
            }
            Contents::Stmts(stmts) => stmts
                .iter_mut()
                .for_each(|stmt| visitor.visit_stmt_mut(stmt)),
        }
    }
}

fn parse_select(input: ParseStream<'_>) -> syn::Result<Contents> {
    let biased = input.peek(kw::biased) && input.peek2(Token![;]);
    if biased {
        input.parse::<kw::biased>()?;
        input.parse::<Token![;]>()?;
    }
    let select: Select = input.parse()?;
    Ok(Contents::Select { biased, select })
}

/// Whether a `select!`'s tokens start with `biased;`, which makes `tokio::select!` poll its
/// branches in order.
pub(crate) fn starts_biased(tokens: &TokenStream) -> bool {
    let start = |input: ParseStream<'_>| {
        let biased = input.peek(kw::biased) && input.peek2(Token![;]);
        input.parse::<TokenStream>()?;
        Ok(biased)
    };
    start.parse2(tokens.clone()).unwrap_or(false)
}

impl ToTokens for Contents {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Contents::Exprs(exprs) => exprs.to_tokens(tokens),
            Contents::Select { biased, select } => {
                if *biased {
                    tokens.extend(quote!(biased;));
                }
                for branch in &select.branches {
                    let (pat, future, handler) = (&branch.pat, &branch.future, &branch.handler);
                    tokens.extend(quote!(#pat = #future => #handler,));
                }
            }
            Contents::Stmts(stmts) => stmts.iter().for_each(|stmt| stmt.to_tokens(tokens)),
        }
    }
}
