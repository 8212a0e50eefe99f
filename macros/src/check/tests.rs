use super::*;
use crate::test_util::{reported, tokens};

/// The errors `check` finds in the signature of `source`, as (message, text pointed at).
fn check(kind: Kind, source: &str) -> Vec<(String, String)> {
    let item = syn::parse2(tokens(source)).expect("test item parses");
    let def = Definition::new(kind, item);
    let mut errors = Errors::default();
    definition(&def, &mut errors);
    reported(errors)
}

fn one(kind: Kind, source: &str) -> (String, String) {
    let mut found = check(kind, source);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn pair(message: &str, at: &str) -> (String, String) {
    (message.to_string(), at.to_string())
}

#[test]
fn correct_signatures_pass() {
    for source in [
        "async fn w(ctx: WorkflowContext) -> WorkflowResult<()> {}",
        "async fn w(_ctx: WorkflowContext, a: u32, b: Vec<String>) -> WorkflowResult<u32> {}",
        "pub async fn w(mut c: WorkflowContext, _: u32) -> Result<(), MyError> {}",
    ] {
        assert_eq!(check(Kind::Workflow, source), [], "{source}");
    }
    for source in [
        "async fn a() -> Result<(), ActivityError> {}",
        "async fn a(ctx: ActivityContext, x: u32) -> Result<u32, std::io::Error> {}",
        "async fn a(x: &'static str) -> Result<(), ActivityError> {}",
    ] {
        assert_eq!(check(Kind::Activity, source), [], "{source}");
    }
}

#[test]
fn fn_that_is_not_async_is_reported_on_fn() {
    assert_eq!(
        one(Kind::Activity, "fn charge(x: u32) -> Result<(), E> {}"),
        pair(
            "`#[activity]` needs an `async fn`; write `async fn charge(..)`",
            "fn"
        )
    );
}

#[test]
fn self_receiver_is_reported_on_self() {
    assert_eq!(
        one(
            Kind::Activity,
            "async fn a(&self, x: u32) -> Result<(), E> {}"
        ),
        pair(
            "an activity cannot take `self`; write it as a free `async fn` outside the `impl`",
            "&self"
        )
    );
}

#[test]
fn generics_are_reported_on_the_generics() {
    assert_eq!(
        one(
            Kind::Workflow,
            "async fn w<T: Payload>(ctx: WorkflowContext, x: T) -> WorkflowResult<()> {}"
        ),
        pair(
            "a workflow cannot be generic: it is registered and recorded under one name, with \
             one input and one output type; use concrete types",
            "<T: Payload>"
        )
    );
}

#[test]
fn impl_trait_and_borrowed_arguments_are_reported_on_the_type() {
    assert_eq!(
        check(
            Kind::Activity,
            "async fn a(x: impl Into<String>, y: &str, z: Vec<&'a str>) -> Result<(), E> {}"
        ),
        [
            pair(
                "`impl Trait` is not allowed here: arguments are decoded from the history into \
                 new values, so name a concrete type",
                "impl Into<String>"
            ),
            pair(
                "arguments are decoded from the history into new values, so they cannot \
                 borrow; use an owned type such as `String` or `Vec<T>`",
                "&str"
            ),
            pair(
                "arguments are decoded from the history into new values, so they cannot \
                 borrow; use an owned type such as `String` or `Vec<T>`",
                "'a"
            ),
        ]
    );
}

#[test]
fn patterns_must_be_plain_names() {
    assert_eq!(
        check(
            Kind::Activity,
            "async fn a((x, y): (u32, u32), ref z: u32) -> Result<(), E> {}"
        ),
        [
            pair(
                "name an argument with a plain identifier, and destructure it inside the body",
                "(x, y)"
            ),
            pair("bind an argument by value, without `ref`", "ref"),
        ]
    );
}

#[test]
fn missing_workflow_context_is_reported_where_it_should_be() {
    assert_eq!(
        one(
            Kind::Workflow,
            "async fn w(x: u32) -> WorkflowResult<()> {}"
        ),
        pair(
            "the first parameter of a workflow must be its context: `ctx: WorkflowContext`",
            "x: u32"
        )
    );
    assert_eq!(
        one(Kind::Workflow, "async fn w() -> WorkflowResult<()> {}"),
        pair(
            "a workflow takes its context as the first parameter: `(ctx: WorkflowContext)`",
            "()"
        )
    );
}

#[test]
fn misplaced_or_wrong_context_is_reported_on_its_type() {
    assert_eq!(
        one(
            Kind::Activity,
            "async fn a(x: u32, ctx: ActivityContext) -> Result<(), E> {}"
        ),
        pair(
            "the context must be the first parameter of the activity; move it before the other \
             parameters",
            "ActivityContext"
        )
    );
    // A workflow's misplaced context is one mistake, reported once, where the context is.
    assert_eq!(
        one(
            Kind::Workflow,
            "async fn w(x: u32, ctx: WorkflowContext) -> WorkflowResult<()> {}"
        ),
        pair(
            "the context must be the first parameter of the workflow; move it before the other \
             parameters",
            "WorkflowContext"
        )
    );
    assert_eq!(
        one(
            Kind::Activity,
            "async fn a(ctx: WorkflowContext) -> Result<(), E> {}"
        ),
        pair(
            "an activity takes `ActivityContext` as its context, not `WorkflowContext`",
            "WorkflowContext"
        )
    );
    assert_eq!(
        one(
            Kind::Workflow,
            "async fn w(ctx: &WorkflowContext) -> WorkflowResult<()> {}"
        ),
        pair(
            "take the context by value: `ctx: WorkflowContext` (it is cheap to clone)",
            "&WorkflowContext"
        )
    );
}

#[test]
fn return_type_must_be_a_result() {
    assert_eq!(
        one(Kind::Workflow, "async fn w(ctx: WorkflowContext) -> u32 {}"),
        pair(
            "a workflow must return `WorkflowResult<T>`, so that failures reach the caller",
            "u32"
        )
    );
    assert_eq!(
        one(Kind::Activity, "async fn a(x: u32) {}"),
        pair(
            "an activity must return `Result<T, ActivityError>`; add \
             `-> Result<T, ActivityError>` after the parameters",
            ")"
        )
    );
    assert_eq!(
        one(Kind::Activity, "async fn a() -> Result<&str, E> {}"),
        pair(
            "results are decoded from the history into new values, so they cannot borrow; use \
             an owned type such as `String` or `Vec<T>`",
            "&str"
        )
    );
}

#[test]
fn every_mistake_is_reported_at_once() {
    let found = check(
        Kind::Workflow,
        "const unsafe fn w<T>(x: impl Clone) -> T {}",
    );
    let at: Vec<&str> = found.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(
        at,
        [
            "const",
            "unsafe",
            "fn",
            "<T>",
            "x: impl Clone",
            "impl Clone",
            "T"
        ]
    );
}
