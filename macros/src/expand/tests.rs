use super::*;
use crate::test_util::{canonical, file, messages, normalized, reported, tokens, versioned};
use syn::{ImplItem, ItemImpl, Type, parse_quote};

/// Expands `#[kind(args)] item`, expecting no error.
fn expand_ok(kind: Kind, args: &str, item: &str) -> syn::File {
    let (generated, errors) = expand_parts(kind, tokens(args), tokens(item));
    assert!(errors.is_empty(), "{:?}", messages(errors));
    file(generated)
}

/// The `impl ..Definition for ..` inside the generated `const _` block.
fn definition_impl(file: &syn::File) -> &ItemImpl {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Const(item) => match &*item.expr {
                syn::Expr::Block(block) => block.block.stmts.iter().find_map(|stmt| match stmt {
                    syn::Stmt::Item(Item::Impl(imp)) if imp.trait_.is_some() => Some(imp),
                    _ => None,
                }),
                _ => None,
            },
            _ => None,
        })
        .expect("a definition impl")
}

/// The inherent `impl NAME { fn run }`.
fn inherent_impl(file: &syn::File) -> &ItemImpl {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Impl(imp) if imp.trait_.is_none() => Some(imp),
            _ => None,
        })
        .expect("an inherent impl")
}

fn assoc_type(imp: &ItemImpl, name: &str) -> Type {
    imp.items
        .iter()
        .find_map(|item| match item {
            ImplItem::Type(ty) if ty.ident == name => Some(ty.ty.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `type {name}`"))
}

fn method_body(imp: &ItemImpl, name: &str) -> String {
    imp.items
        .iter()
        .find_map(|item| match item {
            ImplItem::Fn(method) if method.sig.ident == name => {
                Some(canonical(method.block.to_token_stream()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `fn {name}`"))
}

/// The DESIGN.md example's activity and workflow.
const ACTIVITY_ARGS: &str = r#"start_to_close = "30m", heartbeat_timeout = "5s""#;
const ACTIVITY: &str = "
    async fn activity_to_be_canceled(ctx: ActivityContext) -> Result<String, ActivityError> {
        loop {
            ctx.heartbeat(()).await?;
            ctx.sleep(Duration::from_secs(1)).await?;
        }
    }";
const WORKFLOW: &str = "
    async fn your_workflow(ctx: WorkflowContext) -> WorkflowResult<()> {
        on_cancel! {
            ctx.activity(cleanup_activity, ()).start_to_close(Duration::from_secs(2)).await?;
        }
        ctx.activity(activity_to_be_canceled, ())
            .cancellation(Cancellation::WaitCompleted)
            .await?;
        Ok(())
    }";

#[test]
fn design_example_activity_expands_to_the_documented_shape() {
    let generated = expand_ok(Kind::Activity, ACTIVITY_ARGS, ACTIVITY);
    println!("{}", generated.to_token_stream());
    let expected = versioned(
        r#"
        #[allow(non_camel_case_types)]
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::default::Default
        )]
        struct activity_to_be_canceled;

        impl activity_to_be_canceled {
            #[doc = " Runs the body of the `activity_to_be_canceled` activity directly, without a worker."]
            async fn run(ctx: ActivityContext) -> Result<String, ActivityError> {
                loop {
                    ctx.heartbeat(()).await?;
                    ctx.sleep(Duration::from_secs(1)).await?;
                }
            }
        }

        const _: () = {
            impl ::dacapo::__private::ActivityDefinition for activity_to_be_canceled {
                type Input = ();
                type Output = <String as ::dacapo::__private::Value>::Checked;
                const NAME: &'static str = "activity_to_be_canceled";
                fn options() -> ::dacapo::ActivityOptions {
                    <::dacapo::ActivityOptions as ::core::default::Default>::default()
                        .start_to_close(::dacapo::__private::Duration::from_secs(1800))
                        .heartbeat_timeout(::dacapo::__private::Duration::from_secs(5))
                }
                fn encode_input(
                    __dacapo_input: &Self::Input,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::dacapo::__private::RawPayload>,
                    ::dacapo::__private::PayloadError
                > {
                    ::core::result::Result::Ok(::std::vec![])
                }
                fn decode_input(
                    __dacapo_payloads: &[::dacapo::__private::RawPayload],
                ) -> ::core::result::Result<Self::Input, ::dacapo::__private::PayloadError> {
                    ::core::result::Result::Ok(())
                }
                fn execute(
                    __dacapo_ctx: ::dacapo::ActivityContext,
                    __dacapo_input: Self::Input,
                ) -> ::dacapo::__private::BoxFuture<
                    ::core::result::Result<
                        <String as ::dacapo::__private::Value>::Checked,
                        ::dacapo::ActivityError
                    >
                > {
                    ::dacapo::__private::Box::pin(async move {
                        ::core::result::Result::map_err(
                            activity_to_be_canceled::run(__dacapo_ctx).await,
                            |__dacapo_error| ::core::convert::Into::<::dacapo::ActivityError>::into(__dacapo_error),
                        )
                    })
                }
            }
        };
        "#,
    );
    assert_eq!(canonical(generated.to_token_stream()), expected);
}

#[test]
fn design_example_workflow_expands_to_the_documented_shape() {
    let generated = expand_ok(Kind::Workflow, "", WORKFLOW);
    println!("{}", generated.to_token_stream());
    let expected = versioned(
        r#"
        #[allow(non_camel_case_types)]
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::default::Default
        )]
        struct your_workflow;

        impl your_workflow {
            #[doc = " Runs the body of the `your_workflow` workflow directly, without a worker."]
            async fn run(ctx: WorkflowContext) -> WorkflowResult<()> {
                let __dacapo_cleanup_ctx = ::core::clone::Clone::clone(&ctx);
                let __dacapo_kept = ::dacapo::__private::anchor::<WorkflowResult<()>, _>(async {
                    #[allow(unreachable_code)]
                    if false {
                        let __dacapo_fake: WorkflowResult<()> = loop {};
                        return __dacapo_fake;
                    }
                    ctx.activity(activity_to_be_canceled, ())
                        .cancellation(Cancellation::WaitCompleted)
                        .await?;
                    Ok(())
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
                        {
                            ctx.activity(cleanup_activity, ())
                                .start_to_close(Duration::from_secs(2))
                                .await?;
                        };
                        ::core::result::Result::Ok(())
                    })
                    .await;
                    if let ::core::result::Result::Err(__dacapo_error) = __dacapo_cleanup {
                        ::dacapo::__private::log_cleanup_error(&__dacapo_cleanup_ctx, __dacapo_error);
                    }
                }
                __dacapo_kept
            }
        }

        const _: () = {
            impl ::dacapo::__private::WorkflowDefinition for your_workflow {
                type Input = ();
                type Output = <() as ::dacapo::__private::Value>::Checked;
                const NAME: &'static str = "your_workflow";
                fn encode_input(
                    __dacapo_input: &Self::Input,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::dacapo::__private::RawPayload>,
                    ::dacapo::__private::PayloadError
                > {
                    ::core::result::Result::Ok(::std::vec![])
                }
                fn decode_input(
                    __dacapo_payloads: &[::dacapo::__private::RawPayload],
                ) -> ::core::result::Result<Self::Input, ::dacapo::__private::PayloadError> {
                    ::core::result::Result::Ok(())
                }
                fn execute(
                    __dacapo_ctx: ::dacapo::WorkflowContext,
                    __dacapo_input: Self::Input,
                ) -> ::dacapo::__private::BoxFuture<
                    ::core::result::Result<
                        <() as ::dacapo::__private::Value>::Checked,
                        ::dacapo::WorkflowError
                    >
                > {
                    ::dacapo::__private::Box::pin(async move {
                        ::core::result::Result::map_err(
                            your_workflow::run(__dacapo_ctx).await,
                            |__dacapo_error| ::core::convert::Into::<::dacapo::WorkflowError>::into(__dacapo_error),
                        )
                    })
                }
            }
        };
        "#,
    );
    assert_eq!(canonical(generated.to_token_stream()), expected);
}

#[test]
fn input_is_unit_the_type_or_a_tuple_by_arity() {
    let cases = [
        ("async fn a() -> Result<u8, E> {}", parse_quote!(())),
        ("async fn a(x: u32) -> Result<u8, E> {}", parse_quote!(u32)),
        (
            "async fn a(ctx: ActivityContext, x: u32, name: String, order: Order) -> Result<u8, E> {}",
            parse_quote!((u32, String, Order)),
        ),
    ];
    for (item, input) in cases {
        let generated = expand_ok(Kind::Activity, "", item);
        let imp = definition_impl(&generated);
        let found: Type = assoc_type(imp, "Input");
        assert_eq!(found, input, "{item}");
        assert_eq!(
            canonical(assoc_type(imp, "Output").to_token_stream()),
            versioned("<u8 as ::dacapo::__private::Value>::Checked")
        );
    }
}

#[test]
fn one_argument_is_encoded_and_decoded_as_itself() {
    let generated = expand_ok(Kind::Activity, "", "async fn a(x: u32) -> Result<u8, E> {}");
    let imp = definition_impl(&generated);
    assert_eq!(
        method_body(imp, "encode_input"),
        versioned(
            "{
                let __dacapo_arg0 = __dacapo_input;
                ::core::result::Result::Ok(::std::vec![
                    ::dacapo::__private::encode_arg::<
                        <u32 as ::dacapo::__private::Value>::Checked
                    >(__dacapo_arg0)?
                ])
            }"
        )
    );
    assert_eq!(
        method_body(imp, "decode_input"),
        versioned(
            "{
                ::dacapo::__private::decode_arg::<
                    <u32 as ::dacapo::__private::Value>::Checked
                >(__dacapo_payloads, 0)
            }"
        )
    );
    assert_eq!(
        method_body(imp, "execute"),
        versioned(
            "{
                let __dacapo_arg0 = __dacapo_input;
                ::dacapo::__private::Box::pin(async move {
                    ::core::result::Result::map_err(
                        a::run(__dacapo_arg0).await,
                        |__dacapo_error| ::core::convert::Into::<::dacapo::ActivityError>::into(__dacapo_error),
                    )
                })
            }"
        )
    );
}

#[test]
fn three_arguments_are_a_tuple_encoded_one_payload_each() {
    let generated = expand_ok(
        Kind::Workflow,
        "",
        "async fn w(c: WorkflowContext, a: u32, b: String, o: Order) -> WorkflowResult<u8> {}",
    );
    let imp = definition_impl(&generated);
    assert_eq!(
        method_body(imp, "encode_input"),
        versioned(
            "{
                let (__dacapo_arg0, __dacapo_arg1, __dacapo_arg2) = __dacapo_input;
                ::core::result::Result::Ok(::std::vec![
                    ::dacapo::__private::encode_arg::<
                        <u32 as ::dacapo::__private::Value>::Checked
                    >(__dacapo_arg0)?,
                    ::dacapo::__private::encode_arg::<
                        <String as ::dacapo::__private::Value>::Checked
                    >(__dacapo_arg1)?,
                    ::dacapo::__private::encode_arg::<
                        <Order as ::dacapo::__private::Value>::Checked
                    >(__dacapo_arg2)?
                ])
            }"
        )
    );
    assert_eq!(
        method_body(imp, "decode_input"),
        versioned(
            "{
                ::core::result::Result::Ok((
                    ::dacapo::__private::decode_arg::<
                        <u32 as ::dacapo::__private::Value>::Checked
                    >(__dacapo_payloads, 0)?,
                    ::dacapo::__private::decode_arg::<
                        <String as ::dacapo::__private::Value>::Checked
                    >(__dacapo_payloads, 1)?,
                    ::dacapo::__private::decode_arg::<
                        <Order as ::dacapo::__private::Value>::Checked
                    >(__dacapo_payloads, 2)?
                ))
            }"
        )
    );
    let execute = method_body(imp, "execute");
    assert!(
        execute.contains(&normalized(
            "w::run(__dacapo_ctx, __dacapo_arg0, __dacapo_arg1, __dacapo_arg2)"
        )),
        "{execute}"
    );
}

#[test]
fn attribute_arguments_become_options_and_name() {
    let generated = expand_ok(
        Kind::Activity,
        r#"name = "charge-card", schedule_to_close = "1.5s", cancellation = TryCancel,
           task_queue = "payments", max_attempts = 3, initial_interval = "100ms", backoff = 2,
           max_interval = "1m", non_retryable = ["Fraud", "Closed"]"#,
        "async fn charge() -> Result<(), E> {}",
    );
    let imp = definition_impl(&generated);
    assert_eq!(
        method_body(imp, "options"),
        versioned(
            r#"{
                <::dacapo::ActivityOptions as ::core::default::Default>::default()
                    .schedule_to_close(::dacapo::__private::Duration::new(1, 500000000))
                    .cancellation(::dacapo::Cancellation::TryCancel)
                    .task_queue("payments")
                    .max_attempts(3)
                    .initial_interval(::dacapo::__private::Duration::new(0, 100000000))
                    .backoff_coefficient(2f64)
                    .maximum_interval(::dacapo::__private::Duration::from_secs(60))
                    .non_retryable_error_type("Fraud")
                    .non_retryable_error_type("Closed")
            }"#
        )
    );
    let name = imp.items.iter().find_map(|item| match item {
        ImplItem::Const(c) => Some(canonical(c.expr.to_token_stream())),
        _ => None,
    });
    assert_eq!(name.as_deref(), Some(r#""charge-card""#));
}

#[test]
fn raw_fn_names_are_recorded_without_the_prefix() {
    let generated = expand_ok(Kind::Activity, "", "async fn r#match() -> Result<(), E> {}");
    let all = canonical(generated.to_token_stream());
    assert!(
        all.contains(&normalized(r#"const NAME: &'static str = "match";"#)),
        "{all}"
    );
    assert!(all.contains("struct r#match ;"), "{all}");
}

#[test]
fn visibility_docs_and_attributes_go_where_they_apply() {
    let generated = expand_ok(
        Kind::Activity,
        "",
        r#"
        /// Charges the card.
        #[cfg(feature = "payments")]
        #[allow(clippy::too_many_lines)]
        pub(crate) async fn charge(ctx: ActivityContext) -> Result<(), E> {}
        "#,
    );
    let all = canonical(generated.to_token_stream());
    let doc = normalized(r#"#[doc = " Charges the card."]"#);
    let cfg = normalized(r#"#[cfg(feature = "payments")]"#);
    let allow = normalized("#[allow(clippy::too_many_lines)]");
    // The type and `run` carry the docs; every item carries the `cfg`; the rest is `run`'s.
    assert_eq!(all.matches(&doc).count(), 2, "{all}");
    assert_eq!(all.matches(&cfg).count(), 3, "{all}");
    assert_eq!(all.matches(&allow).count(), 1, "{all}");
    assert!(
        all.contains(&normalized("pub(crate) struct charge;")),
        "{all}"
    );
    let run = inherent_impl(&generated);
    assert!(canonical(run.to_token_stream()).contains(&normalized(
        "#[allow(clippy::too_many_lines)] pub(crate) async fn run(ctx: ActivityContext)"
    )));
}

#[test]
fn crate_override_replaces_every_runtime_path() {
    let generated = expand_ok(
        Kind::Workflow,
        r#"crate = "my_dacapo""#,
        "async fn w(ctx: WorkflowContext, x: u32) -> WorkflowResult<u32> {
            my_dacapo::on_cancel! { undo().await; }
            helper(x).await;
            Ok(x)
        }",
    );
    let all = canonical(generated.to_token_stream());
    assert!(!all.contains(&normalized("::dacapo::")), "{all}");
    assert!(all.contains(&versioned("::my_dacapo::__private::WorkflowDefinition")));
    assert!(all.contains(&versioned("::my_dacapo::__private::cleanup_due")));
    assert!(all.contains(&versioned("::my_dacapo::__private::DirectCall(helper)")));
    assert!(all.contains(&versioned("::my_dacapo::__private::DirectCall(undo)")));
}

#[test]
fn body_misuse_is_reported_by_the_body_and_the_definition_kept() {
    let (generated, errors) = expand_parts(
        Kind::Workflow,
        tokens(""),
        tokens(
            "async fn w(ctx: WorkflowContext) -> WorkflowResult<u64> {
                let now = SystemTime::now();
                Ok(0)
            }",
        ),
    );
    // Nothing apart: the `compile_error!` stands where the call stood.
    assert!(errors.is_empty(), "{:?}", messages(errors));
    let generated = file(generated);
    let run = canonical(inherent_impl(&generated).to_token_stream());
    assert!(run.contains("compile_error"), "{run}");
    assert!(
        run.contains("a workflow cannot use `SystemTime::now`: it reads the machine's clock"),
        "{run}"
    );
    assert_eq!(
        assoc_type(definition_impl(&generated), "Input"),
        parse_quote!(())
    );
}

#[test]
fn body_misuse_next_to_a_signature_error_is_reported_with_it() {
    let (generated, errors) = expand_parts(
        Kind::Workflow,
        tokens(""),
        tokens(
            "fn w(ctx: WorkflowContext) -> WorkflowResult<()> {
                tokio::spawn(work());
                Ok(())
            }",
        ),
    );
    let at: Vec<String> = reported(errors).into_iter().map(|(_, at)| at).collect();
    assert_eq!(at, ["fn", "tokio::spawn"]);
    assert!(!canonical(generated).contains("spawn"));
}

#[test]
fn a_query_handler_misuse_is_reported_with_a_signature_error() {
    let (_, errors) = expand_parts(
        Kind::Workflow,
        tokens(""),
        tokens(
            "fn w(ctx: WorkflowContext) -> WorkflowResult<()> {
                ctx.on_query(STATUS, move |()| { s.set(1); Ok(()) });
                Ok(())
            }",
        ),
    );
    let at: Vec<String> = reported(errors).into_iter().map(|(_, at)| at).collect();
    assert_eq!(at, ["fn", "s.set(1)"]);
}

#[test]
fn activity_bodies_are_not_linted() {
    let body = "{
        let now = SystemTime::now();
        tokio::time::sleep(d).await;
        helper(now).await
    }";
    let generated = expand_ok(
        Kind::Activity,
        "",
        &format!("async fn a() -> Result<(), E> {body}"),
    );
    let run = canonical(inherent_impl(&generated).to_token_stream());
    assert!(run.contains(&normalized(body)), "{run}");
}

#[test]
fn unnamed_context_gets_a_hidden_name_for_on_cancel() {
    let generated = expand_ok(
        Kind::Workflow,
        "",
        "async fn w(_: WorkflowContext) -> WorkflowResult<()> { on_cancel! {} Ok(()) }",
    );
    let run = canonical(inherent_impl(&generated).to_token_stream());
    assert!(
        run.contains(&normalized("async fn run(__dacapo_ctx: WorkflowContext)")),
        "{run}"
    );
    assert!(
        run.contains(&normalized(
            "let __dacapo_ctx = __dacapo_cleanup_ctx.disconnected();"
        )),
        "{run}"
    );
}

#[test]
fn signature_error_gives_a_stub_and_the_error_only() {
    let (generated, errors) = expand_parts(
        Kind::Activity,
        tokens(""),
        tokens("/// Docs.\npub fn charge(x: u32) -> Result<u8, E> { body() }"),
    );
    assert_eq!(
        reported(errors),
        [(
            "`#[activity]` needs an `async fn`; write `async fn charge(..)`".to_string(),
            "fn".to_string()
        )]
    );
    let generated = file(generated);
    let all = canonical(generated.to_token_stream());
    assert!(all.contains(&normalized("pub struct charge;")), "{all}");
    assert!(
        !all.contains("body"),
        "the body is not checked again: {all}"
    );
    assert!(!all.contains("encode_arg"), "{all}");
    let run = canonical(inherent_impl(&generated).to_token_stream());
    assert!(
        run.contains(&normalized(
            "#[allow(unused_variables)] pub async fn run(x: u32) -> Result<u8, E> { ::core::unimplemented!() }"
        )),
        "{run}"
    );
    let imp = definition_impl(&generated);
    assert_eq!(assoc_type(imp, "Input"), parse_quote!(u32));
    assert_eq!(
        method_body(imp, "execute"),
        normalized("{ ::core::unimplemented!() }")
    );
}

#[test]
fn stub_has_no_impl_when_the_types_cannot_be_written() {
    let (generated, errors) = expand_parts(
        Kind::Activity,
        tokens(""),
        tokens("async fn a<T>(x: T) -> Result<(), E> {}"),
    );
    assert_eq!(messages(errors).len(), 1);
    let all = canonical(generated);
    assert!(all.contains(&normalized("struct a;")));
    assert!(!all.contains("ActivityDefinition"), "{all}");
}

#[test]
fn argument_errors_alone_keep_the_full_definition() {
    let (generated, errors) = expand_parts(
        Kind::Activity,
        tokens(r#"start_to_close = "soon", max_attempts = 2"#),
        tokens("async fn a(x: u32) -> Result<(), E> { Ok(()) }"),
    );
    assert_eq!(messages(errors).len(), 1);
    let generated = file(generated);
    let options = method_body(definition_impl(&generated), "options");
    assert!(
        options.contains(&normalized(".max_attempts(2)")),
        "{options}"
    );
    assert!(!options.contains("start_to_close"), "{options}");
}

#[test]
fn errors_are_emitted_as_compile_errors_after_the_items() {
    let generated = workflow(tokens("bogus"), tokens("async fn w() -> u32 { 1 }"));
    let all = canonical(generated);
    assert!(all.contains(&normalized("struct w;")));
    assert_eq!(
        all.matches(&normalized("::core::compile_error!")).count(),
        3,
        "{all}"
    );
}

#[test]
fn item_that_is_not_a_fn_is_kept_with_an_error() {
    let (generated, errors) = expand_parts(Kind::Workflow, tokens(""), tokens("struct S;"));
    assert_eq!(canonical(generated), normalized("struct S;"));
    assert_eq!(
        reported(errors),
        [(
            "`#[workflow]` goes on an `async fn`: \
             `async fn name(ctx: WorkflowContext, ..) -> WorkflowResult<T>`"
                .to_string(),
            "struct".to_string()
        )]
    );
}

#[test]
fn method_is_kept_as_it_is_with_the_error() {
    let item = "async fn a(&self) -> Result<(), E> { Ok(()) }";
    let (generated, errors) = expand_parts(Kind::Activity, tokens(""), tokens(item));
    assert_eq!(canonical(generated), normalized(item));
    assert_eq!(messages(errors).len(), 1);
}

#[test]
fn misplaced_on_cancel_gives_a_stub_so_only_the_macro_error_shows() {
    let (generated, errors) = expand_parts(
        Kind::Workflow,
        tokens(""),
        tokens(
            "async fn w(ctx: WorkflowContext, b: bool) -> WorkflowResult<()> {
                if b { on_cancel! {} }
                Ok(())
            }",
        ),
    );
    assert_eq!(reported(errors).len(), 1);
    assert!(!canonical(generated).contains("on_cancel"));
}
