use super::*;
use crate::test_util::{canonical, messages, normalized, reported, tokens, versioned};
use syn::{ExprAsync, Local};

/// Rewrites the workflow body `source`, with the context named `ctx` and the runtime at
/// `::dacapo` (or `crate_path`).
fn rewrite_with(source: &str, crate_path: Option<&str>) -> (Block, Errors) {
    let body: Block = syn::parse2(tokens(source)).expect("test body parses");
    let crate_path: Option<Path> = crate_path.map(|path| syn::parse_str(path).expect("a path"));
    let krate = match &crate_path {
        Some(path) => quote!(::#path),
        None => quote!(::dacapo),
    };
    let ctx = Ident::new("ctx", Span::call_site());
    let site = Site {
        krate: &krate,
        crate_path: crate_path.as_ref(),
        ctx: &ctx,
        ret: quote!(WorkflowResult<u32>),
    };
    let mut errors = Errors::default();
    let rewritten = rewrite(&body, &site, &mut errors);
    let block = syn::parse2(rewritten.clone()).unwrap_or_else(|e| panic!("{e}: {rewritten}"));
    (block, errors)
}

fn rewrite_ok(source: &str) -> Block {
    let (block, errors) = rewrite_with(source, None);
    assert!(errors.is_empty(), "{:?}", messages(errors));
    block
}

/// The statements inside the `async` block that `let __dacapo_kept = anchor(async {..}).await`
/// guards.
fn guarded(stmt: &Stmt) -> &[Stmt] {
    let Stmt::Local(Local {
        init: Some(init), ..
    }) = stmt
    else {
        panic!(
            "expected `let __dacapo_kept = ..`, found {}",
            stmt.to_token_stream()
        );
    };
    let Expr::Await(awaited) = &*init.expr else {
        panic!("expected `.await`");
    };
    let Expr::Call(call) = &*awaited.base else {
        panic!("expected `anchor(..)`");
    };
    let Some(Expr::Async(ExprAsync { block, .. })) = call.args.first() else {
        panic!("expected an async block");
    };
    &block.stmts
}

fn text(stmts: &[Stmt]) -> String {
    stmts
        .iter()
        .map(|stmt| stmt.to_token_stream().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn body_without_on_cancel_is_unchanged() {
    let source = "{ let x = ctx.activity(a, ()).await?; if x { return Ok(1); } Ok(2) }";
    assert_eq!(
        canonical(rewrite_ok(source).to_token_stream()),
        normalized(source)
    );
}

#[test]
fn one_block_guards_the_statements_after_it() {
    let block = rewrite_ok(
        "{
            let order = 1;
            on_cancel! { refund(&ctx, order).await?; }
            charge(&ctx).await?;
            Ok(order)
        }",
    );
    let expected = versioned(
        "{
            let order = 1;
            let __dacapo_cleanup_ctx = ::core::clone::Clone::clone(&ctx);
            let __dacapo_kept = ::dacapo::__private::anchor::<WorkflowResult<u32>, _>(async {
                #[allow(unreachable_code)]
                if false {
                    let __dacapo_fake: WorkflowResult<u32> = loop {};
                    return __dacapo_fake;
                }
                charge(&ctx).await?;
                Ok(order)
            })
            .await;
            if ::dacapo::__private::cleanup_due(&__dacapo_cleanup_ctx) {
                #[allow(unused_variables)]
                let ctx = __dacapo_cleanup_ctx.disconnected();
                #[allow(unreachable_code)]
                let __dacapo_cleanup = ::dacapo::__private::anchor::<
                    ::core::result::Result<(), ::dacapo::WorkflowError>,
                    _,
                >(async {
                    { refund(&ctx, order).await?; };
                    ::core::result::Result::Ok(())
                })
                .await;
                if let ::core::result::Result::Err(__dacapo_error) = __dacapo_cleanup {
                    ::dacapo::__private::log_cleanup_error(&__dacapo_cleanup_ctx, __dacapo_error);
                }
            }
            __dacapo_kept
        }",
    );
    assert_eq!(canonical(block.to_token_stream()), expected);
}

#[test]
fn two_blocks_nest_so_the_last_registered_runs_first() {
    let block = rewrite_ok(
        r#"{
            on_cancel! { note("outer"); }
            let a = 1;
            on_cancel! { note("inner"); }
            work(a).await
        }"#,
    );
    // Outer level: clone, guarded rest, cleanup, value.
    let outer = &block.stmts;
    assert_eq!(outer.len(), 4);
    assert!(text(&outer[2..3]).contains(r#"note ("outer")"#));
    assert!(!text(&outer[2..3]).contains(r#""inner""#));
    // Inside it: the fake return, `let a`, then the inner registration around `work(a)`.
    let inner = guarded(&outer[1]);
    assert_eq!(inner.len(), 6);
    assert_eq!(text(&inner[1..2]), "let a = 1 ;");
    assert!(text(&inner[4..5]).contains(r#"note ("inner")"#));
    assert_eq!(text(&guarded(&inner[3])[1..]), "work (a) . await");
    // So the inner cleanup runs, inside the outer guarded block, before the outer one.
    let all = block.to_token_stream().to_string();
    assert!(all.find(r#""inner""#) < all.find(r#""outer""#));
    assert_eq!(all.matches("cleanup_due").count(), 2);
}

#[test]
fn qualified_paths_are_recognised() {
    for invocation in [
        "dacapo::on_cancel! { undo(); }",
        "::dacapo::on_cancel!(undo());",
        "on_cancel![undo();];",
    ] {
        let block = rewrite_ok(&format!("{{ {invocation} Ok(1) }}"));
        let all = block.to_token_stream().to_string();
        assert_eq!(all.matches("cleanup_due").count(), 1, "{invocation}");
        assert!(all.contains("undo ()"), "{invocation}");
    }
}

#[test]
fn renamed_crate_paths_are_recognised_and_used() {
    let (block, errors) = rewrite_with(
        "{ my_dacapo::on_cancel! { undo(); } Ok(1) }",
        Some("my_dacapo"),
    );
    assert!(errors.is_empty());
    let all = block.to_token_stream().to_string();
    assert!(all.contains(&format!(
        ":: my_dacapo :: {} :: cleanup_due",
        crate::private::module()
    )));
    assert!(!all.contains(":: dacapo ::"));

    let (block, _) = rewrite_with("{ other::on_cancel! { undo(); } Ok(1) }", None);
    assert_eq!(
        block
            .to_token_stream()
            .to_string()
            .matches("cleanup_due")
            .count(),
        0
    );
}

#[test]
fn on_cancel_inside_a_branch_or_closure_is_reported_on_the_macro() {
    let (_, errors) = rewrite_with(
        "{
            if retry { on_cancel! { undo(); } }
            let f = || { dacapo::on_cancel!(); };
            on_cancel! { undo(); }
            for x in xs { on_cancel! {} }
            Ok(1)
        }",
        None,
    );
    let message = "`on_cancel!` must be a statement of its own at the top level of the \
                   `#[workflow]` fn body, not inside a block, branch, loop or closure";
    let reported = reported(errors);
    let at: Vec<&str> = reported.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(at, ["on_cancel!", "dacapo::on_cancel!", "on_cancel!"]);
    assert!(reported.iter().all(|(m, _)| m == message));
}

#[test]
fn on_cancel_inside_on_cancel_is_reported_on_the_inner_macro() {
    let (_, errors) = rewrite_with("{ on_cancel! { a(); on_cancel! { b(); } } Ok(1) }", None);
    assert_eq!(
        reported(errors),
        [(
            "`on_cancel!` cannot be used inside another `on_cancel!` block: cleanup runs once, \
             after the body, and cannot register more cleanup"
                .to_string(),
            "on_cancel!".to_string()
        )]
    );
}

#[test]
fn on_cancel_with_nothing_after_it_is_reported() {
    let (_, errors) = rewrite_with("{ work().await?; on_cancel! { undo(); } }", None);
    assert_eq!(
        messages(errors),
        [
            "`on_cancel!` guards the statements that follow it, and none do; move it before the \
          work it should clean up after"
        ]
    );
}

#[test]
fn cleanup_that_does_not_parse_is_reported_in_it() {
    let (_, errors) = rewrite_with("{ on_cancel! { let = ; } Ok(1) }", None);
    let reported = reported(errors);
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].1, "=");
}

#[test]
fn attributes_on_on_cancel_are_rejected() {
    let (_, errors) = rewrite_with("{ #[cfg(test)] on_cancel! { undo(); } Ok(1) }", None);
    assert_eq!(
        reported(errors),
        [(
            "`on_cancel!` does not take attributes".to_string(),
            "#[cfg(test)]".to_string()
        )]
    );
}
