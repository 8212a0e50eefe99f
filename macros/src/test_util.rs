//! Helpers for the unit tests: token streams from source text, errors as (message, source text)
//! pairs, and generated code as comparable text.

use crate::diagnostics::Errors;
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

/// Tokenizes Rust source, with spans that know their place in it.
pub(crate) fn tokens(source: &str) -> TokenStream {
    source.parse().expect("test source tokenizes")
}

/// Each recorded error as its message and the source text it points at.
pub(crate) fn reported(errors: Errors) -> Vec<(String, String)> {
    errors
        .into_error()
        .into_iter()
        .flat_map(syn::Error::into_iter)
        .map(|error| {
            let at = error.span().source_text().unwrap_or_default();
            (error.to_string(), at)
        })
        .collect()
}

/// The messages of the recorded errors.
pub(crate) fn messages(errors: Errors) -> Vec<String> {
    reported(errors)
        .into_iter()
        .map(|(message, _)| message)
        .collect()
}

/// Tokens as text, one space between any two, so that generated code compares with
/// hand-written expectations whatever the layout or the spacing of punctuation.
pub(crate) fn canonical(tokens: TokenStream) -> String {
    fn push(tokens: TokenStream, out: &mut Vec<String>) {
        for token in tokens {
            match token {
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    out.push(open.to_string());
                    push(group.stream(), out);
                    out.push(close.to_string());
                }
                other => out.push(other.to_string()),
            }
        }
    }
    let mut out = Vec::new();
    push(tokens, &mut out);
    out.retain(|token| !token.is_empty());
    out.join(" ")
}

/// [`canonical`] text of Rust source.
pub(crate) fn normalized(source: &str) -> String {
    canonical(tokens(source))
}

/// Generated items, parsed as a file so that tests can look at single items.
pub(crate) fn file(tokens: TokenStream) -> syn::File {
    syn::parse2(tokens.clone()).unwrap_or_else(|error| panic!("{error}: {tokens}"))
}

/// [`normalized`] text of expected generated code, in which `__private` stands for the
/// runtime's versioned support module, so that expectations stay as they are when the version
/// changes.
pub(crate) fn versioned(source: &str) -> String {
    fn rename(tokens: TokenStream) -> TokenStream {
        tokens
            .into_iter()
            .map(|token| match token {
                TokenTree::Group(group) => {
                    let mut renamed = Group::new(group.delimiter(), rename(group.stream()));
                    renamed.set_span(group.span());
                    TokenTree::Group(renamed)
                }
                TokenTree::Ident(ident) if ident == "__private" => {
                    TokenTree::Ident(crate::private::module())
                }
                other => other,
            })
            .collect()
    }
    canonical(rename(tokens(source)))
}
