use super::*;
use crate::check;
use crate::test_util::{messages, reported, tokens};

fn parse(kind: Kind, source: &str) -> (Args, Errors) {
    let mut errors = Errors::default();
    let args = Args::parse(kind, tokens(source), &mut errors);
    (args, errors)
}

fn activity(source: &str) -> Args {
    let (args, errors) = parse(Kind::Activity, source);
    assert!(errors.is_empty(), "{:?}", messages(errors));
    args
}

#[test]
fn empty_arguments_leave_everything_unset() {
    let args = activity("");
    assert!(args.name.is_none() && args.krate.is_none());
    let options = &args.options;
    assert!(options.start_to_close.is_none() && options.cancellation.is_none());
    assert!(options.non_retryable.is_empty());
}

#[test]
fn every_activity_argument_is_read_into_its_type() {
    let args = activity(
        r#"name = "charge-card", start_to_close = "30m", schedule_to_close = "1h 30m",
           schedule_to_start = "90s", heartbeat_timeout = "5s", cancellation = "WaitCompleted",
           task_queue = "payments", max_attempts = 5, initial_interval = "250ms", backoff = 1.5,
           max_interval = "2m", non_retryable = ["InvalidCard", "Fraud"], crate = "my_dacapo","#,
    );
    let options = &args.options;
    let seconds = |d: &Option<Spanned<Duration>>| d.as_ref().map(|d| d.value.as_secs_f64());
    assert_eq!(
        args.name.as_ref().map(LitStr::value).as_deref(),
        Some("charge-card")
    );
    assert_eq!(seconds(&options.start_to_close), Some(1800.0));
    assert_eq!(seconds(&options.schedule_to_close), Some(5400.0));
    assert_eq!(seconds(&options.schedule_to_start), Some(90.0));
    assert_eq!(seconds(&options.heartbeat_timeout), Some(5.0));
    assert_eq!(seconds(&options.initial_interval), Some(0.25));
    assert_eq!(seconds(&options.max_interval), Some(120.0));
    assert_eq!(
        options.cancellation.as_ref().map(|c| c.value),
        Some(Cancellation::WaitCompleted)
    );
    assert_eq!(
        options.task_queue.as_ref().map(LitStr::value).as_deref(),
        Some("payments")
    );
    assert_eq!(options.max_attempts.as_ref().map(|n| n.value), Some(5));
    assert_eq!(options.backoff.as_ref().map(|b| b.value), Some(1.5));
    let non_retryable: Vec<String> = options.non_retryable.iter().map(LitStr::value).collect();
    assert_eq!(non_retryable, ["InvalidCard", "Fraud"]);
    assert_eq!(
        CratePath::tokens(args.krate.as_ref()).to_string(),
        ":: my_dacapo"
    );
}

#[test]
fn cancellation_is_a_string_or_a_bare_name_and_backoff_may_be_whole() {
    let args = activity("cancellation = Abandon, backoff = 2, non_retryable = \"Only\"");
    let options = &args.options;
    assert_eq!(
        options.cancellation.as_ref().map(|c| c.value),
        Some(Cancellation::Abandon)
    );
    assert_eq!(options.backoff.as_ref().map(|b| b.value), Some(2.0));
    assert_eq!(options.non_retryable.len(), 1);
}

#[test]
fn crate_paths_are_made_absolute_unless_relative() {
    let path = |source: &str| {
        let args = activity(&format!("crate = {source:?}"));
        CratePath::tokens(args.krate.as_ref()).to_string()
    };
    assert_eq!(CratePath::tokens(None).to_string(), ":: dacapo");
    assert_eq!(path("reexport::dacapo"), ":: reexport :: dacapo");
    assert_eq!(path("::dacapo"), ":: dacapo");
    assert_eq!(path("crate::dacapo"), "crate :: dacapo");
    assert_eq!(path("super::dacapo"), "super :: dacapo");
}

#[test]
fn unknown_key_is_reported_on_the_key_with_the_valid_keys() {
    let (_, errors) = parse(Kind::Activity, r#"start_to_close = "1s", retry = 3"#);
    assert_eq!(
        reported(errors),
        [(
            "unknown argument `retry` for `#[activity]`; the arguments are `name`, \
             `start_to_close`, `schedule_to_close`, `schedule_to_start`, `heartbeat_timeout`, \
             `cancellation`, `task_queue`, `max_attempts`, `initial_interval`, `backoff`, \
             `max_interval`, `non_retryable`, `crate`"
                .to_string(),
            "retry".to_string()
        )]
    );
}

#[test]
fn unknown_key_that_is_a_known_long_name_gets_a_suggestion() {
    let (_, errors) = parse(Kind::Activity, r#"start_to_close_timeout = "1s""#);
    let messages = messages(errors);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].ends_with(r#"; did you mean `start_to_close = "30s"`?"#),
        "{}",
        messages[0]
    );
}

#[test]
fn activity_option_on_a_workflow_says_where_it_belongs() {
    let (_, errors) = parse(Kind::Workflow, r#"name = "w", heartbeat_timeout = "5s""#);
    assert_eq!(
        reported(errors),
        [(
            "unknown argument `heartbeat_timeout` for `#[workflow]`; the arguments are `name`, \
             `crate`; `heartbeat_timeout` is an activity option: set it on `#[activity]`, or at \
             the call site with `ctx.activity(..).heartbeat_timeout(..)`"
                .to_string(),
            "heartbeat_timeout".to_string()
        )]
    );
}

#[test]
fn duplicate_key_is_reported_on_the_second_one() {
    let (args, errors) = parse(Kind::Workflow, r#"name = "first", name = "second""#);
    let reported = reported(errors);
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].0, "`name` is given twice; keep one of them");
    assert_eq!(reported[0].1, "name");
    assert_eq!(args.name.map(|name| name.value()).as_deref(), Some("first"));

    let mut errors = Errors::default();
    let source = tokens(r#"name = "first", name = "second""#);
    Args::parse(Kind::Workflow, source, &mut errors);
    let error = errors.into_error().expect("a duplicate is an error");
    assert_eq!(
        error.span().start().column,
        16,
        "points at the second `name`"
    );
}

#[test]
fn bad_duration_names_the_accepted_form_on_the_literal() {
    let (_, errors) = parse(Kind::Activity, r#"start_to_close = "30 parsecs""#);
    let reported = reported(errors);
    assert_eq!(reported.len(), 1);
    let (message, at) = &reported[0];
    assert!(
        message.starts_with(r#"invalid duration "30 parsecs" for `start_to_close`: "#),
        "{message}"
    );
    assert!(
        message.ends_with(r#"write a duration like "30s", "5m" or "1h 30m""#),
        "{message}"
    );
    assert_eq!(at, r#""30 parsecs""#);
}

#[test]
fn durations_written_as_numbers_or_expressions_are_explained() {
    let (_, errors) = parse(
        Kind::Activity,
        "heartbeat_timeout = 5, start_to_close = Duration::from_secs(3)",
    );
    let messages = messages(errors);
    assert_eq!(
        messages[0],
        r#"`heartbeat_timeout` takes the duration as a string: `heartbeat_timeout = "5s"`"#
    );
    assert!(messages[1].contains("set a computed `Duration` at the call site"));
}

#[test]
fn wrong_values_are_all_reported_in_one_pass() {
    let (args, errors) = parse(
        Kind::Activity,
        r#"cancellation = "Never", max_attempts = 3000000000, task_queue = "",
           non_retryable = ["Ok", 1], backoff = "fast", start_to_close = "10s""#,
    );
    assert_eq!(
        reported(errors),
        [
            (
                "`cancellation` is one of \"TryCancel\", \"WaitCompleted\" or \"Abandon\": \
                 `cancellation = \"WaitCompleted\"`"
                    .to_string(),
                r#""Never""#.to_string()
            ),
            (
                "`max_attempts` takes a whole number that fits in an `i32`: `max_attempts = 5`"
                    .to_string(),
                "3000000000".to_string()
            ),
            (
                "`task_queue` cannot be empty: `task_queue = \"payments\"`".to_string(),
                r#""""#.to_string()
            ),
            (
                "`non_retryable` takes error type names as strings: \
                 `non_retryable = [\"InvalidCard\"]`"
                    .to_string(),
                "1".to_string()
            ),
            (
                "`backoff` takes a number: `backoff = 2.0`".to_string(),
                r#""fast""#.to_string()
            ),
        ]
    );
    // What was right is kept.
    assert!(args.options.start_to_close.is_some());
}

#[test]
fn key_without_value_shows_an_example() {
    let (_, errors) = parse(Kind::Activity, "name, max_attempts = 2");
    assert_eq!(
        reported(errors),
        [(
            r#"`name` needs a value: `name = "charge-card"`"#.to_string(),
            "name".to_string()
        )]
    );
}

#[test]
fn malformed_arguments_stop_parsing_but_keep_what_was_read() {
    let (args, errors) = parse(Kind::Activity, r#"max_attempts = 2 start_to_close = "1s""#);
    assert_eq!(messages(errors), ["expected `,`"]);
    assert_eq!(args.options.max_attempts.map(|n| n.value), Some(2));

    let (_, errors) = parse(Kind::Workflow, r#""name""#);
    assert_eq!(messages(errors), ["expected `name` or `crate`"]);
}

#[test]
fn option_rules_bound_values_and_relate_intervals() {
    let (args, errors) = parse(
        Kind::Activity,
        r#"start_to_close = "0s", max_attempts = -1, backoff = 0.5,
           initial_interval = "10s", max_interval = "1s",
           schedule_to_close = "1m", heartbeat_timeout = "2s""#,
    );
    assert!(errors.is_empty(), "{:?}", messages(errors));
    let mut errors = Errors::default();
    check::options(&args.options, &mut errors);
    assert_eq!(
        reported(errors),
        [
            (
                "`start_to_close` must be longer than zero; leave the argument out for no timeout"
                    .to_string(),
                r#""0s""#.to_string()
            ),
            (
                "`max_attempts` cannot be negative; use 0 for unlimited attempts or 1 for no \
                 retries"
                    .to_string(),
                "-1".to_string()
            ),
            (
                "`backoff` must be a number of at least 1.0: each retry waits `backoff` times \
                 longer than the one before"
                    .to_string(),
                "0.5".to_string()
            ),
            (
                "`max_interval` (1s) is shorter than `initial_interval` (10s); raise \
                 `max_interval` or lower `initial_interval`"
                    .to_string(),
                r#""1s""#.to_string()
            ),
        ]
    );
}

#[test]
fn schedule_to_close_shorter_than_start_to_close_is_reported() {
    let (args, _) = parse(
        Kind::Activity,
        r#"start_to_close = "5m", schedule_to_close = "1m""#,
    );
    let mut errors = Errors::default();
    check::options(&args.options, &mut errors);
    let reported = reported(errors);
    assert_eq!(reported.len(), 1);
    assert!(
        reported[0]
            .0
            .starts_with("`schedule_to_close` (1m) is shorter than `start_to_close` (5m)")
    );
    assert_eq!(reported[0].1, r#""1m""#);
}

#[test]
fn misspelled_key_gets_the_key_it_resembles() {
    let (_, errors) = parse(Kind::Activity, r#"heartbeat_timout = "5s""#);
    let found = messages(errors);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].ends_with("; did you mean `heartbeat_timeout`?"),
        "{}",
        found[0]
    );
    // On a workflow, a misspelled activity option is named as the activity option it is.
    let (_, errors) = parse(Kind::Workflow, r#"start_to_clos = "5s""#);
    let found = messages(errors);
    assert!(
        found[0].ends_with(
            "; `start_to_close` is an activity option: set it on `#[activity]`, or at the call \
             site with `ctx.activity(..).start_to_close(..)`"
        ),
        "{}",
        found[0]
    );
    // A name that resembles no key gets no guess.
    let (_, errors) = parse(Kind::Activity, "speed = 3");
    let found = messages(errors);
    assert!(!found[0].contains("did you mean"), "{}", found[0]);
}

#[test]
fn edit_distance_counts_single_character_edits() {
    assert_eq!(edit_distance("heartbeat_timout", "heartbeat_timeout"), 1);
    assert_eq!(edit_distance("name", "nmae"), 2);
    assert_eq!(edit_distance("", "crate"), 5);
    assert_eq!(edit_distance("backoff", "backoff"), 0);
}

#[test]
fn key_without_equals_sign_shows_the_form() {
    let (_, errors) = parse(Kind::Activity, r#"start_to_close: "30s""#);
    assert_eq!(
        reported(errors),
        [(
            "expected `=` after `start_to_close`: arguments are written `key = value`, as in \
             `start_to_close = \"30s\"`"
                .to_string(),
            ":".to_string()
        )]
    );
}
