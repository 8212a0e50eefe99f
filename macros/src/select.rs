//! `select!`: wait for the first of several futures, polling them in the order written.
//!
//! Replay must take the same branch every time, so there is no random start: on every wake-up
//! the branches are polled top to bottom and the first one ready wins. Each future is pinned on
//! the stack and polled until it completes once, so neither `Unpin` nor `FusedFuture` is needed.
//! The futures are dropped before the winning handler runs, and handlers run outside the polling
//! closure, so they may use `.await`, `?` and `return` as in the surrounding code.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, Pat, Token};

/// One `PATTERN = FUTURE => HANDLER` branch.
pub(crate) struct Branch {
    pub(crate) pat: Pat,
    pub(crate) future: Expr,
    pub(crate) handler: Expr,
}

/// The whole input of `select!`.
pub(crate) struct Select {
    pub(crate) branches: Vec<Branch>,
}

impl Parse for Select {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut branches = Vec::new();
        while !input.is_empty() {
            let pat = Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<Token![=]>()?;
            let future: Expr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let handler: Expr = input.parse()?;
            // As in `match`, a block-like handler needs no comma after it.
            let needs_comma = !is_block_like(&handler);
            branches.push(Branch {
                pat,
                future,
                handler,
            });
            if input.is_empty() {
                break;
            }
            if needs_comma || input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            }
        }
        if branches.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "`select!` needs at least one branch: `select! { value = future => handler, .. }`",
            ));
        }
        Ok(Select { branches })
    }
}

fn is_block_like(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Block(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::Loop(_)
            | Expr::While(_)
            | Expr::ForLoop(_)
            | Expr::Unsafe(_)
            | Expr::TryBlock(_)
            | Expr::Const(_)
    )
}

/// Expands `select! { .. }`.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<Select>(input) {
        Ok(select) => select.expand(),
        Err(error) => error.into_compile_error(),
    }
}

impl Select {
    fn expand(&self) -> TokenStream {
        let hidden = Span::mixed_site();
        let out = format_ident!("__DacapoSelectOut", span = hidden);
        let count = self.branches.len();
        let variants: Vec<_> = (0..count)
            .map(|i| format_ident!("B{}", i, span = hidden))
            .collect();
        let type_params: Vec<_> = (0..count)
            .map(|i| format_ident!("__DacapoT{}", i, span = hidden))
            .collect();
        let futures: Vec<_> = (0..count)
            .map(|i| format_ident!("__dacapo_future{}", i, span = hidden))
            .collect();
        let cx = format_ident!("__dacapo_cx", span = hidden);
        let value = format_ident!("__dacapo_value", span = hidden);
        let chosen = format_ident!("__dacapo_chosen", span = hidden);
        let exprs = self.branches.iter().map(|branch| &branch.future);
        let arms = self.branches.iter().map(|branch| branch.arm(&value));
        quote! {
            {
                enum #out<#(#type_params),*> {
                    #(#variants(#type_params),)*
                }
                let #chosen = {
                    #(
                        let mut #futures = ::core::pin::pin!(
                            ::core::future::IntoFuture::into_future(#exprs)
                        );
                    )*
                    ::core::future::poll_fn(|#cx| {
                        #(
                            if let ::core::task::Poll::Ready(#value) =
                                ::core::future::Future::poll(
                                    ::core::pin::Pin::as_mut(&mut #futures),
                                    #cx,
                                )
                            {
                                return ::core::task::Poll::Ready(#out::#variants(#value));
                            }
                        )*
                        ::core::task::Poll::Pending
                    })
                    .await
                };
                match #chosen {
                    #(#out::#variants(#value) => #arms)*
                }
            }
        }
    }
}

impl Branch {
    /// The match arm's body: the pattern bound with `let`, then the handler. A handler that is
    /// a plain block gets the `let` as its first statement, rather than being nested in a new
    /// block (which `unused_braces` would flag on the user's braces).
    fn arm(&self, value: &Ident) -> TokenStream {
        let pat = match &self.pat {
            // `let` takes alternatives only in parentheses.
            Pat::Or(or) => {
                let cases = &or.cases;
                quote!((#cases))
            }
            pat => pat.to_token_stream(),
        };
        match &self.handler {
            Expr::Block(block) if block.attrs.is_empty() && block.label.is_none() => {
                let stmts = &block.block.stmts;
                let mut body = Group::new(
                    Delimiter::Brace,
                    quote! {
                        let #pat = #value;
                        #(#stmts)*
                    },
                );
                body.set_span(block.block.brace_token.span.join());
                body.into_token_stream()
            }
            handler => quote!({
                let #pat = #value;
                #handler
            }),
        }
    }
}

#[cfg(test)]
mod tests;
