use super::*;
use syn::parse_quote;

fn definition(kind: Kind, item: ItemFn) -> Definition {
    Definition::new(kind, item)
}

#[test]
fn context_is_the_first_parameter_under_any_name() {
    for item in [
        parse_quote!(
            async fn w(ctx: WorkflowContext) -> WorkflowResult<()> {}
        ),
        parse_quote!(
            async fn w(_ctx: dacapo::WorkflowContext) -> WorkflowResult<()> {}
        ),
        parse_quote!(
            async fn w(mut c: ::dacapo::WorkflowContext) -> WorkflowResult<()> {}
        ),
        parse_quote!(
            async fn w(_: WorkflowContext) -> WorkflowResult<()> {}
        ),
    ] {
        let def = definition(Kind::Workflow, item);
        let ctx = def.context.expect("the first parameter is the context");
        assert_eq!(
            ctx.found,
            FoundContext {
                kind: Kind::Workflow,
                by_reference: false
            }
        );
        assert!(def.args.is_empty());
    }
}

#[test]
fn activity_context_is_optional_and_arguments_keep_their_order() {
    let def = definition(
        Kind::Activity,
        parse_quote!(
            async fn a(x: u32, name: String) -> Result<(), ActivityError> {}
        ),
    );
    assert!(def.context.is_none());
    let types: Vec<&Type> = def.args.iter().map(|arg| &*arg.ty).collect();
    let expected: [Type; 2] = [parse_quote!(u32), parse_quote!(String)];
    assert_eq!(types, expected.iter().collect::<Vec<_>>());
}

#[test]
fn context_types_are_recognised_by_their_last_segment() {
    let found = |ty: Type| context_type(&ty);
    assert_eq!(
        found(parse_quote!(&ActivityContext)),
        Some(FoundContext {
            kind: Kind::Activity,
            by_reference: true
        })
    );
    assert_eq!(
        found(parse_quote!(dacapo::ActivityContext)).map(|f| f.kind),
        Some(Kind::Activity)
    );
    assert_eq!(found(parse_quote!(Context)), None);
    assert_eq!(found(parse_quote!(WorkflowContext<T>)), None);
}

#[test]
fn a_context_later_in_the_list_is_an_argument_for_check_to_report() {
    let def = definition(
        Kind::Activity,
        parse_quote!(
            async fn a(x: u32, ctx: ActivityContext) -> Result<(), E> {}
        ),
    );
    assert!(def.context.is_none());
    assert_eq!(def.args.len(), 2);
}

#[test]
fn output_is_the_ok_type_of_any_result() {
    let ok = |item: ItemFn| match definition(Kind::Workflow, item).output {
        Output::Result { ok, err, .. } => (*ok, err.map(|err| *err)),
        _ => panic!("expected a result"),
    };
    let unit: Type = parse_quote!(());
    let receipt: Type = parse_quote!(Vec<Receipt>);
    assert_eq!(
        ok(parse_quote!(
            async fn w() -> WorkflowResult<()> {}
        )),
        (unit, None)
    );
    assert_eq!(
        ok(parse_quote!(
            async fn w() -> ::core::result::Result<Vec<Receipt>, MyError> {}
        )),
        (receipt.clone(), Some(parse_quote!(MyError)))
    );
    assert_eq!(
        ok(parse_quote!(
            async fn w() -> std::io::Result<Vec<Receipt>> {}
        )),
        (receipt, None)
    );
}

#[test]
fn output_that_is_not_a_result_is_kept_for_the_error() {
    let def = definition(
        Kind::Workflow,
        parse_quote!(
            async fn w() -> u32 {}
        ),
    );
    assert!(matches!(def.output, Output::NotResult(_)));
    let def = definition(
        Kind::Workflow,
        parse_quote!(
            async fn w() -> Result {}
        ),
    );
    assert!(matches!(def.output, Output::NotResult(_)));
    let def = definition(
        Kind::Workflow,
        parse_quote!(
            async fn w() {}
        ),
    );
    assert!(matches!(def.output, Output::Missing));
}

#[test]
fn io_types_are_given_only_when_they_can_be_written_into_an_impl() {
    let def = definition(
        Kind::Activity,
        parse_quote!(
            async fn a(x: u32, y: String) -> Result<bool, E> {}
        ),
    );
    let (args, ok) = def.io_types().expect("plain types");
    assert_eq!(args.len(), 2);
    assert_eq!(*ok, parse_quote!(bool));

    for item in [
        parse_quote!(
            async fn a<T>(x: T) -> Result<(), E> {}
        ),
        parse_quote!(
            async fn a(x: impl Clone) -> Result<(), E> {}
        ),
        parse_quote!(
            async fn a(x: &str) -> Result<(), E> {}
        ),
        parse_quote!(
            async fn a(x: Cow<'_, str>) -> Result<(), E> {}
        ),
        parse_quote!(
            async fn a() -> Result<&'a str, E> {}
        ),
        parse_quote!(
            async fn a() -> u32 {}
        ),
    ] {
        assert!(definition(Kind::Activity, item).io_types().is_none());
    }
    let def = definition(
        Kind::Activity,
        parse_quote!(
            async fn a(x: &'static str) -> Result<(), E> {}
        ),
    );
    assert!(
        def.io_types().is_some(),
        "'static borrows are left to the Payload bound"
    );
}

#[test]
fn default_name_drops_the_raw_prefix() {
    let def = definition(
        Kind::Activity,
        parse_quote!(
            async fn r#match() -> Result<(), E> {}
        ),
    );
    assert_eq!(def.default_name(), "match");
    assert_eq!(def.ident().to_string(), "r#match");
}
