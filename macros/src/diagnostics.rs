//! How mistakes reach the user, for every stage: the collector that gathers all errors into
//! one report; respanning, which puts rustc's own errors about generated code on the user's
//! syntax; and the `compile_error!` that stands in a body for a misuse, where it was written.

use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::ToTokens;
use std::fmt::Display;
use syn::Macro;

/// Collects errors and combines them into one `syn::Error`, which renders as one
/// `compile_error!` per message, each at its own span.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error covering `tokens`, from their first to their last token.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records every error of `other`.
    pub(crate) fn extend(&mut self, other: Errors) {
        if let Some(error) = other.combined {
            self.push(error);
        }
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// The combined error, if any was recorded.
    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.combined
    }
}

/// `tokens` with every span set to `span`, for generated paths whose errors belong to one piece
/// of the user's syntax. Only for paths that resolve the same from anywhere (`::dacapo::..`):
/// the new span carries the user's hygiene.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// `::core::compile_error!("message")`, spanning `tokens` as `syn::Error::new_spanned` would:
/// from the first token's span to the last's.
pub(crate) fn compile_error_at(tokens: TokenStream, message: &str) -> Macro {
    let mut spans = tokens.into_iter().map(|token| match token {
        TokenTree::Group(group) => (group.span_open(), group.span_close()),
        other => (other.span(), other.span()),
    });
    let (start, mut end) = spans
        .next()
        .unwrap_or((Span::call_site(), Span::call_site()));
    if let Some((_, last)) = spans.last() {
        end = last;
    }
    let mut literal = Literal::string(message);
    literal.set_span(end);
    let mut group = Group::new(Delimiter::Parenthesis, TokenTree::from(literal).into());
    group.set_span(end);
    Macro {
        path: syn::parse_quote_spanned!(start=> ::core::compile_error),
        bang_token: syn::Token![!](start),
        delimiter: syn::MacroDelimiter::Paren(syn::token::Paren(group.delim_span())),
        tokens: group.stream(),
    }
}
