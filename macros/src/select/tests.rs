use super::*;
use crate::test_util::{canonical, normalized, tokens};

fn parse(source: &str) -> syn::Result<Select> {
    syn::parse2(tokens(source))
}

#[test]
fn branches_are_read_in_order_with_optional_commas_after_blocks() {
    let select = parse(
        "v = ctx.activity(a, ()) => v?,
         () = ctx.sleep(d) => { return Ok(None) }
         Ok(x) | Err(x) = async { Ok::<u8, u8>(1) } => x,",
    )
    .expect("parses");
    let pats: Vec<String> = select
        .branches
        .iter()
        .map(|branch| canonical(branch.pat.to_token_stream()))
        .collect();
    assert_eq!(
        pats,
        [
            normalized("v"),
            normalized("()"),
            normalized("Ok(x) | Err(x)")
        ]
    );
    assert_eq!(
        canonical(select.branches[1].future.to_token_stream()),
        normalized("ctx.sleep(d)")
    );
    assert_eq!(
        canonical(select.branches[0].handler.to_token_stream()),
        normalized("v?")
    );
}

#[test]
fn missing_comma_after_an_expression_handler_is_an_error() {
    let error = parse("a = f => a b = g => b").err().expect("an error");
    assert_eq!(error.to_string(), "expected `,`");
    assert_eq!(error.span().source_text().as_deref(), Some("b"));
}

#[test]
fn empty_select_is_an_error_that_shows_the_syntax() {
    let output = canonical(expand(tokens("")));
    assert_eq!(
        output,
        normalized(
            r#"::core::compile_error! {
                "`select!` needs at least one branch: `select! { value = future => handler, .. }`"
            }"#
        )
    );
}

#[test]
fn expansion_polls_in_written_order_and_matches_outside_the_poll() {
    let output = canonical(expand(tokens(
        "v = first() => v + 1,
         Some(x) = second => { log(x); x }",
    )));
    let expected = normalized(
        "{
            enum __DacapoSelectOut<__DacapoT0, __DacapoT1> {
                B0(__DacapoT0),
                B1(__DacapoT1),
            }
            let __dacapo_chosen = {
                let mut __dacapo_future0 = ::core::pin::pin!(
                    ::core::future::IntoFuture::into_future(first())
                );
                let mut __dacapo_future1 = ::core::pin::pin!(
                    ::core::future::IntoFuture::into_future(second)
                );
                ::core::future::poll_fn(|__dacapo_cx| {
                    if let ::core::task::Poll::Ready(__dacapo_value) =
                        ::core::future::Future::poll(
                            ::core::pin::Pin::as_mut(&mut __dacapo_future0),
                            __dacapo_cx,
                        )
                    {
                        return ::core::task::Poll::Ready(__DacapoSelectOut::B0(__dacapo_value));
                    }
                    if let ::core::task::Poll::Ready(__dacapo_value) =
                        ::core::future::Future::poll(
                            ::core::pin::Pin::as_mut(&mut __dacapo_future1),
                            __dacapo_cx,
                        )
                    {
                        return ::core::task::Poll::Ready(__DacapoSelectOut::B1(__dacapo_value));
                    }
                    ::core::task::Poll::Pending
                })
                .await
            };
            match __dacapo_chosen {
                __DacapoSelectOut::B0(__dacapo_value) => {
                    let v = __dacapo_value;
                    v + 1
                }
                __DacapoSelectOut::B1(__dacapo_value) => {
                    let Some(x) = __dacapo_value;
                    log(x);
                    x
                }
            }
        }",
    );
    assert_eq!(output, expected);
}

#[test]
fn alternatives_are_bound_in_parentheses() {
    let output = canonical(expand(tokens("| A(x) | B(x) = f => x")));
    assert!(
        output.contains(&normalized("let (A(x) | B(x)) = __dacapo_value;")),
        "{output}"
    );
}

#[test]
fn one_branch_is_enough() {
    let output = canonical(expand(tokens("v = f => v")));
    assert!(output.contains(&normalized(
        "enum __DacapoSelectOut<__DacapoT0> { B0(__DacapoT0), }"
    )));
    assert!(!output.contains("compile_error"));
}
