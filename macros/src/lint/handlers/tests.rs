use super::*;
use crate::test_util::{canonical, normalized, tokens};

/// Checks the handlers registered in `body`: the body as emitted, and each error as the first
/// line of its message and the source text it points at.
fn checked(body: &str) -> (String, Vec<(String, String)>) {
    let mut block: Block = syn::parse2(tokens(body)).expect("test body parses");
    let errors = check(&mut block);
    let text = block.to_token_stream();
    // Whatever was rewritten is still a block of Rust.
    syn::parse2::<Block>(text.clone()).unwrap_or_else(|e| panic!("{e}: {text}"));
    let reported = errors
        .iter()
        .map(|error| {
            let message = error.to_string();
            let first = message.lines().next().unwrap_or_default().to_string();
            (first, error.span().source_text().unwrap_or_default())
        })
        .collect();
    (canonical(text), reported)
}

fn pointed_at(body: &str) -> Vec<String> {
    checked(body).1.into_iter().map(|(_, at)| at).collect()
}

fn first_line(misuse: &Misuse, role: Role) -> String {
    let message = misuse.message(role);
    message.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_query_handler_that_reads_state_is_left_as_written() {
    let body = "{
        let state = ctx.state(Status::Pending);
        let mut approvals = ctx.signal_channel(APPROVE);
        ctx.on_query(STATUS, { let s = state.clone(); move |()| Ok(s.get()) });
        ctx.on_query(SUMMARY, {
            let s = state.clone();
            move |verbose: bool| {
                let mut lines = Vec::new();
                let mut count = 0;
                count += 1;
                for item in s.with(|v| v.items.clone()) {
                    let line = match &item { Item::Book(title) => title.clone(), other => format!(\"{other:?}\") };
                    lines.push(line);
                }
                let (mut first, mut rest) = (String::new(), 0);
                (first, rest) = (lines.join(\", \"), count);
                if verbose { first += \"!\"; }
                let total = s.with(|v| { let mut n = 0; for _ in &v.items { n += 1; } n });
                let mut hasher = Sha256::new();
                hasher.update(first.as_bytes());
                let mut rng = StdRng::seed_from_u64(7);
                let roll: u8 = rng.clone().random();
                let cell = Cell::new(0);
                (&cell).set(roll);
                Ok::<_, String>(format!(\"{first} {rest} {total}\"))
            }
        });
        ctx.on_query(NAMED, status_of);
        ctx.on_query(STORED, handler.clone());
        s.set(1);
        approvals.recv().await;
        Ok(())
    }";
    let (text, reported) = checked(body);
    assert_eq!(reported, Vec::<(String, String)>::new());
    assert_eq!(text, normalized(body));
}

#[test]
fn each_call_that_issues_a_command_or_changes_the_run_is_reported_on_the_call() {
    let (_, reported) = checked(
        "{
            ctx.on_query(STATUS, move |()| {
                let _ = ctx.activity(charge, order);
                let _ = ctx.sleep(Duration::from_secs(1));
                let channel = ctx.signal_channel(APPROVE);
                let next = approvals.try_recv();
                let later = approvals.recv();
                ctx.on_query(OTHER, |()| Ok(1));
                ctx.on_update(SET, |x| async move { Ok(x) });
                let extra = ctx.state(0);
                s.set(Status::Done);
                s.update(|v| *v += 1);
                let coin: bool = ctx.random();
                let id = ctx.uuid();
                Ok(s.get())
            });
            Ok(())
        }",
    );
    let expected = [
        (
            "ctx.activity(charge, order)",
            Misuse::Command("start an activity"),
        ),
        (
            "ctx.sleep(Duration::from_secs(1))",
            Misuse::Command("start a timer"),
        ),
        (
            "ctx.signal_channel(APPROVE)",
            Misuse::Change("open a signal channel"),
        ),
        ("approvals.try_recv()", Misuse::Change("take a signal")),
        ("approvals.recv()", Misuse::Change("take a signal")),
        (
            "ctx.on_query(OTHER, |()| Ok(1))",
            Misuse::Change("register a query handler"),
        ),
        (
            "ctx.on_update(SET, |x| async move { Ok(x) })",
            Misuse::Change("register an update handler"),
        ),
        ("ctx.state(0)", Misuse::Change("create workflow state")),
        (
            "s.set(Status::Done)",
            Misuse::Change("change the workflow's state"),
        ),
        (
            "s.update(|v| *v += 1)",
            Misuse::Change("change the workflow's state"),
        ),
        (
            "ctx.random()",
            Misuse::Change("draw from the run's random generator"),
        ),
        (
            "ctx.uuid()",
            Misuse::Change("draw from the run's random generator"),
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(at, misuse)| (first_line(&misuse, Role::Query), at.to_string()))
        .collect();
    assert_eq!(reported, expected);
}

#[test]
fn a_call_through_a_variable_that_stands_for_a_captured_one_is_reported() {
    assert_eq!(
        pointed_at(
            "{ ctx.on_query(STATUS, move |()| {
                let ctx = ctx.clone();
                let (state, n) = (Arc::clone(&s), 1);
                let channel = &mut approvals;
                let mut hasher = Sha256::new_with_prefix(s.get());
                let copy = s.get();
                hasher.update(copy.name.as_bytes());
                let _ = ctx.sleep(d);
                state.set(n);
                channel.try_recv();
                Ok(())
            }); }"
        ),
        ["ctx.sleep(d)", "state.set(n)", "channel.try_recv()"]
    );
}

#[test]
fn a_call_is_replaced_by_its_error_and_its_receiver_stays_borrowed() {
    let (text, _) = checked("{ ctx.on_query(STATUS, move |()| { s.set(1); Ok(()) }); }");
    let message = Misuse::Change("change the workflow's state").message(Role::Query);
    assert_eq!(
        text,
        normalized(&format!(
            "{{ ctx.on_query(STATUS, move |()| {{
                ({{ let _ = &s; ::core::compile_error!({message:?}) }});
                Ok(())
            }}); }}"
        ))
    );
}

#[test]
fn the_names_a_dropped_call_uses_stay_in_use() {
    let (text, _) = checked(
        "{ ctx.on_query(STATUS, move |()| {
            let _ = ctx.activity(audit, (order.id, Duration::from_secs(d), Some(x), total(y)));
            s.update(|v| *v += step);
            count = Status::Done(limit);
            Ok(())
        }); }",
    );
    let activity = Misuse::Command("start an activity").message(Role::Query);
    let update = Misuse::Change("change the workflow's state").message(Role::Query);
    let assign = Misuse::Assign("count".to_string()).message(Role::Query);
    assert_eq!(
        text,
        normalized(&format!(
            "{{ ctx.on_query(STATUS, move |()| {{
                let _ = ({{
                    #[allow(unused_imports)]
                    use Duration as _;
                    let _ = &audit;
                    let _ = &order;
                    let _ = &d;
                    let _ = &x;
                    let _ = &y;
                    let _ = &ctx;
                    ::core::compile_error!({activity:?})
                }});
                ({{ let _ = &step; let _ = &s; ::core::compile_error!({update:?}) }});
                ({{
                    let _ = &count;
                    #[allow(unused_imports)]
                    use Status as _;
                    let _ = &limit;
                    ::core::compile_error!({assign:?})
                }});
                Ok(())
            }}); }}"
        ))
    );
}

#[test]
fn an_await_is_reported_on_the_await_and_an_awaited_call_once() {
    let (text, reported) = checked(
        "{
            ctx.on_query(STATUS, move |()| {
                let value = pending.await;
                ctx.sleep(d).await;
                ctx.activity(charge, order).start_to_close(d).await;
                Ok(value)
            });
        }",
    );
    let at: Vec<&str> = reported.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(
        at,
        [".await", "ctx.sleep(d)", "ctx.activity(charge, order)"]
    );
    assert_eq!(reported[0].0, first_line(&Misuse::Await, Role::Query));
    let message = Misuse::Await.message(Role::Query);
    assert!(
        text.contains(&normalized(&format!(
            "let value = ({{ let _ = pending; ::core::compile_error!({message:?}) }});"
        ))),
        "{text}"
    );
    // No `.await` is left in the plain closure: rustc would report it too.
    assert!(!text.contains(". await"), "{text}");
}

#[test]
fn blocking_on_a_future_is_reported_on_the_callee_and_the_future_is_still_checked() {
    let (text, reported) = checked(
        "{
            ctx.on_query(STATUS, move |()| {
                let a = futures::executor::block_on(pending);
                let b = block_on(c.sleep(d));
                let e = runtime.block_on(pending);
                Ok(a + b + e)
            });
        }",
    );
    let block = first_line(&Misuse::Block, Role::Query);
    let timer = first_line(&Misuse::Command("start a timer"), Role::Query);
    assert_eq!(
        reported,
        [
            (block.clone(), "futures::executor::block_on".to_string()),
            (block.clone(), "block_on".to_string()),
            (timer, "c.sleep(d)".to_string()),
            (block, "runtime.block_on(pending)".to_string()),
        ]
    );
    let message = Misuse::Block.message(Role::Query);
    assert!(
        text.contains(&normalized(&format!(
            "let b = ({{
                #[allow(unused_imports)]
                use block_on as _;
                ::core::compile_error!({message:?})
            }})"
        ))),
        "{text}"
    );
    assert!(!text.contains("c . sleep"), "{text}");
}

#[test]
fn the_await_message_says_why_and_what_to_do() {
    assert_eq!(
        Misuse::Await.message(Role::Query),
        "a query handler cannot await: queries are answered without recording anything in the \
         history, so it must answer from the workflow's state at once\n\
         help: read state shared with `ctx.state(..)` and return the answer"
    );
}

#[test]
fn an_async_handler_is_reported_on_its_async_keyword_and_not_on_its_awaits() {
    let (text, reported) = checked(
        "{
            ctx.on_query(A, async move |()| { let v = pending.await; Ok(v) });
            ctx.on_query(B, move |()| async move { Ok(s.get()) });
            ctx.on_query(C, { let s = state.clone(); move |()| { async { Ok(s.get()) } } });
            ctx.on_query(D, |()| async { ctx.activity(charge, order).await });
        }",
    );
    let async_first = first_line(&Misuse::Async, Role::Query);
    let activity = first_line(&Misuse::Command("start an activity"), Role::Query);
    assert_eq!(
        reported,
        [
            (async_first.clone(), "async move".to_string()),
            (async_first.clone(), "async move".to_string()),
            (async_first.clone(), "async".to_string()),
            (async_first, "async".to_string()),
            (activity, "ctx.activity(charge, order)".to_string()),
        ]
    );
    // The closures are plain, and return the error; the async code is kept, borrowing.
    let message = Misuse::Async.message(Role::Query);
    assert!(
        text.contains(&normalized(&format!(
            "ctx.on_query(A, move |()| {{
                let __dacapo_error = ::core::compile_error!({message:?});
                let _ = async {{ {{ let v = pending.await; Ok(v) }} }};
                __dacapo_error
            }});"
        ))),
        "{text}"
    );
    assert!(
        text.contains(&normalized(&format!(
            "ctx.on_query(B, move |()| ({{
                let __dacapo_error = ::core::compile_error!({message:?});
                let _ = async {{ Ok(s.get()) }};
                __dacapo_error
            }}));"
        ))),
        "{text}"
    );
}

#[test]
fn an_assignment_to_a_captured_place_is_reported_and_one_to_a_local_is_not() {
    let (text, reported) = checked(
        "{
            let mut count = 0;
            ctx.on_query(STATUS, move |(limit,)| {
                count = 1;
                count += limit;
                order.total *= 2;
                totals[0] -= 1;
                (seen, _) = (true, 1);
                let mut local = 0;
                local += 1;
                let mut pair = (0, 0);
                pair.0 = local;
                let (mut a, b) = (1, 2);
                a = b;
                let sum = items.iter().fold(0, |mut acc, x| { acc += x; acc });
                _ = limit;
                Ok(local + a + sum + pair.0)
            });
        }",
    );
    let expected = [
        ("count", "count = 1"),
        ("count", "count += limit"),
        ("order", "order.total *= 2"),
        ("totals", "totals[0] -= 1"),
        ("seen", "(seen, _) = (true, 1)"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(name, at)| {
            (
                first_line(&Misuse::Assign(name.to_string()), Role::Query),
                at.to_string(),
            )
        })
        .collect();
    assert_eq!(reported, expected);
    let message = Misuse::Assign("order".to_string()).message(Role::Query);
    assert!(
        text.contains(&normalized(&format!(
            "({{ let _ = &order.total; ::core::compile_error!({message:?}) }});"
        ))),
        "{text}"
    );
}

#[test]
fn an_update_validator_has_the_query_handlers_rules_and_its_handler_does_not() {
    let (_, reported) = checked(
        "{
            ctx.on_update(SET_ADDRESS, move |addr: Address| async move {
                ctx.activity(check_address, addr.clone()).await?;
                ctx.sleep(d).await?;
                s.set(addr.clone());
                Ok(addr)
            })
            .validator(move |addr: &Address| {
                s.set(addr.clone());
                let _ = pending.await;
                checked = true;
                addr.is_valid().then_some(()).ok_or(\"bad address\")
            });
            (ctx.on_update(OTHER, handler)).validator(|_| async { Ok(()) });
            form.validator(|x| { x.set(1); Ok(()) });
        }",
    );
    let expected = [
        (
            Misuse::Change("change the workflow's state"),
            "s.set(addr.clone())",
        ),
        (Misuse::Await, ".await"),
        (Misuse::Assign("checked".to_string()), "checked = true"),
        (Misuse::Async, "async"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(misuse, at)| (first_line(&misuse, Role::Validator), at.to_string()))
        .collect();
    assert_eq!(reported, expected);
    assert!(
        expected[0]
            .0
            .starts_with("an update validator cannot change the workflow's state: a validator runs before the update is recorded")
    );
}

#[test]
fn registrations_inside_macros_and_blocks_are_checked_and_items_are_not() {
    assert_eq!(
        pointed_at(
            "{
                on_cancel! {
                    ctx.on_query(STATUS, |()| { s.set(2); Ok(()) });
                }
                if ready {
                    let _ = ctx.on_query(STATUS, (|()| Ok(ctx.uuid())));
                }
                fn helper(ctx: WorkflowContext) {
                    ctx.on_query(STATUS, |()| { s.set(3); Ok(()) });
                }
                Ok(())
            }"
        ),
        ["s.set(2)", "ctx.uuid()"]
    );
}

#[test]
fn the_messages_name_the_handler_and_say_what_to_do_instead() {
    for role in [Role::Query, Role::Validator] {
        for misuse in [
            Misuse::Async,
            Misuse::Await,
            Misuse::Block,
            Misuse::Command("start a timer"),
            Misuse::Change("take a signal"),
            Misuse::Assign("count".to_string()),
        ] {
            let message = misuse.message(role);
            let lines: Vec<&str> = message.lines().collect();
            assert_eq!(lines.len(), 2, "{message}");
            assert!(lines[0].starts_with(role.who()), "{message}");
            assert!(lines[0].contains(role.unrecorded()), "{message}");
            assert!(lines[1].starts_with("help: "), "{message}");
        }
    }
}
