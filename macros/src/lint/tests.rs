use super::*;
use crate::test_util::{canonical, normalized, tokens, versioned};
use rules::Misuse;

const SIGNATURE: &str = "async fn w(ctx: WorkflowContext, order: u64) -> WorkflowResult<()>";

/// Lints `body` as the body of a workflow with the runtime at `::dacapo`.
fn lint(body: &str) -> Linted {
    lint_with(body, None)
}

fn lint_with(body: &str, crate_path: Option<&str>) -> Linted {
    let item: syn::ItemFn =
        syn::parse2(tokens(&format!("{SIGNATURE} {body}"))).expect("test fn parses");
    let crate_path: Option<Path> = crate_path.map(|path| syn::parse_str(path).expect("a path"));
    let private = match &crate_path {
        Some(path) => crate::private::path(&quote!(::#path)),
        None => crate::private::path(&quote!(::dacapo)),
    };
    let site = Site {
        private: &private,
        crate_path: crate_path.as_ref(),
    };
    let linted = workflow_body(&item.sig, &item.block, &site);
    // Whatever was rewritten is still a block of Rust.
    let text = linted.block.to_token_stream();
    syn::parse2::<Block>(text.clone()).unwrap_or_else(|e| panic!("{e}: {text}"));
    linted
}

/// Each error as its message and the source text it points at.
fn reported(linted: &Linted) -> Vec<(String, String)> {
    linted
        .errors
        .iter()
        .map(|error| {
            let at = error.span().source_text().unwrap_or_default();
            (error.to_string(), at)
        })
        .collect()
}

/// The source texts the errors point at.
fn pointed_at(linted: &Linted) -> Vec<String> {
    reported(linted).into_iter().map(|(_, at)| at).collect()
}

fn body_text(linted: &Linted) -> String {
    canonical(linted.block.to_token_stream())
}

#[test]
fn deterministic_code_is_left_as_written() {
    let body = "{
        let started = ctx.now();
        ctx.sleep(Duration::from_secs(1)).await?;
        let roll: u8 = ctx.random();
        let (a, b) = futures::join!(ctx.activity(a, ()).into_future(), ctx.sleep(d));
        println!(\"{started:?} {roll} {a:?} {b:?}\");
        let epoch = SystemTime::UNIX_EPOCH;
        Ok(())
    }";
    let linted = lint(body);
    assert!(linted.errors.is_empty(), "{:?}", reported(&linted));
    assert_eq!(body_text(&linted), normalized(body));
}

#[test]
fn each_misuse_is_reported_on_its_path_with_the_replacement() {
    let linted = lint(
        "{
            let now = std::time::SystemTime::now();
            tokio::time::sleep(d).await;
            let handle = tokio::spawn(work());
            let coin: bool = rand::random();
            let text = std::fs::read_to_string(path)?;
            let page = reqwest::get(url).await?;
            Ok(())
        }",
    );
    let reported = reported(&linted);
    let at: Vec<&str> = reported.iter().map(|(_, at)| at.as_str()).collect();
    assert_eq!(
        at,
        [
            "std::time::SystemTime::now",
            "tokio::time::sleep",
            "tokio::spawn",
            "rand::random",
            "std::fs::read_to_string",
            "reqwest::get",
        ]
    );
    let replacements = [
        "`ctx.now()`",
        "`ctx.sleep(duration)`",
        "run the work in an activity",
        "`ctx.random()`",
        "do I/O in an activity",
        "do I/O in an activity",
    ];
    for ((message, at), replacement) in reported.iter().zip(replacements) {
        assert!(
            message.starts_with(&format!("a workflow cannot use `{at}`: ")),
            "{message}"
        );
        assert!(message.contains(replacement), "{message}");
    }
}

#[test]
fn a_misuse_is_replaced_in_the_body_by_the_error_that_reports_it() {
    let linted = lint("{ let coin: bool = rand::random::<bool>(); Ok(()) }");
    let message = Misuse::Random.message("rand::random", None);
    assert_eq!(
        body_text(&linted),
        normalized(&format!(
            "{{ let coin: bool = ::core::compile_error!({message:?})(); Ok(()) }}"
        ))
    );
}

#[test]
fn a_misuse_through_an_imported_name_keeps_the_import_in_use() {
    let linted = lint("{ let now = SystemTime::now(); Ok(()) }");
    let message = Misuse::Clock.message("SystemTime::now", None);
    assert_eq!(
        body_text(&linted),
        normalized(&format!(
            "{{
                let now = ({{
                    #[allow(unused_imports)]
                    use SystemTime as _;
                    ::core::compile_error!({message:?})
                }})();
                Ok(())
            }}"
        ))
    );
}

#[test]
fn aliases_from_the_body_are_seen_through_and_named_in_the_message() {
    let linted = lint(
        "{
            use std::time::SystemTime as T;
            use tokio::time::{sleep as nap, Instant};
            let age = T::now();
            nap(d).await;
            let started = Instant::now();
            Ok(())
        }",
    );
    assert_eq!(
        reported(&linted),
        [
            (
                Misuse::Clock.message("T::now", Some("std::time::SystemTime::now")),
                "T::now".to_string()
            ),
            (
                Misuse::Sleep.message("nap", Some("tokio::time::sleep")),
                "nap".to_string()
            ),
            // The written path already says what it is.
            (
                Misuse::Clock.message("Instant::now", None),
                "Instant::now".to_string()
            ),
        ]
    );
}

#[test]
fn a_glob_import_resolves_single_items_only() {
    let linted = lint(
        "{
            use tokio::time::*;
            use std::fs::*;
            sleep(d).await;
            let text = read_to_string(path);
            let file = File::open(path);
            Ok(())
        }",
    );
    // `read_to_string` could be anything a glob brought in; `sleep` from `tokio::time` and
    // `File::open` are named exactly.
    assert_eq!(pointed_at(&linted), ["sleep", "File::open"]);
}

#[test]
fn misuses_inside_macros_and_on_cancel_are_found() {
    let linted = lint(
        "{
            on_cancel! {
                std::fs::remove_file(lock).ok();
            }
            println!(\"{:?}\", Instant::now());
            let (a, b) = futures::join!(work(), tokio::time::sleep(d));
            let first = dacapo::select! {
                v = ctx.activity(a, ()) => v,
                () = async { std::thread::sleep(d) } => Ok(()),
            };
            assert_eq!(rand::random::<u8>(), 4, \"{}\", uuid::Uuid::new_v4());
            Ok(())
        }",
    );
    assert_eq!(
        pointed_at(&linted),
        [
            "std::fs::remove_file",
            "Instant::now",
            "tokio::time::sleep",
            "std::thread::sleep",
            "rand::random::<u8>",
            "uuid::Uuid::new_v4",
        ]
    );
    // The macros that held a misuse now hold its report instead.
    let text = body_text(&linted);
    assert_eq!(text.matches("compile_error").count(), 6, "{text}");
    assert!(
        text.contains("on_cancel ! { : : core : : compile_error"),
        "{text}"
    );
}

#[test]
fn macros_with_their_own_syntax_are_passed_on_as_written() {
    let body = "{
        let v = vec![0u8; 16];
        let j = serde_json::json!({ \"at\": 1 });
        let m = matches!(v.first(), Some(0) | None);
        Ok(())
    }";
    let linted = lint(body);
    assert!(linted.errors.is_empty());
    assert_eq!(body_text(&linted), normalized(body));
}

#[test]
fn random_select_macros_are_rejected_unless_biased() {
    let linted = lint(
        "{
            futures::select! { a = x => a, b = y => b };
            let v = tokio::select! { a = x => a, b = y => b };
            let w = tokio::select! { biased; a = x => a, b = y => b };
            Ok(())
        }",
    );
    assert_eq!(
        reported(&linted),
        [
            (
                Misuse::RandomSelect.message("futures::select!", None),
                "futures::select!".to_string()
            ),
            (
                Misuse::RandomSelect.message("tokio::select!", None),
                "tokio::select!".to_string()
            ),
        ]
    );
    let text = body_text(&linted);
    assert!(text.contains("tokio : : select ! { biased ;"), "{text}");
}

#[test]
fn a_rejected_macro_keeps_its_place_as_statement_or_value() {
    // A statement with braces and no semicolon, and the same as the block's value.
    let middle = lint("{ futures::select! { a = x => a } let after = 1; Ok(()) }");
    let last = lint("{ let before = 1; tokio::select! { a = x => a } }");
    let select = |path| Misuse::RandomSelect.message(path, None);
    assert_eq!(
        body_text(&middle),
        normalized(&format!(
            "{{ {{ let _ = || (x,); ::core::compile_error!({:?}) }} let after = 1; Ok(()) }}",
            select("futures::select!")
        ))
    );
    assert_eq!(
        body_text(&last),
        normalized(&format!(
            "{{ let before = 1; {{ let _ = || (x,); ::core::compile_error!({:?}) }} }}",
            select("tokio::select!")
        ))
    );
}

#[test]
fn every_misuse_is_found_in_one_pass() {
    let linted = lint(
        "{
            let a = SystemTime::now();
            let b = Instant::now();
            let c = chrono::Utc::now();
            std::thread::spawn(f);
            let d = rand::thread_rng();
            let e = tokio::fs::read(p).await;
            let f = std::net::TcpStream::connect(addr);
            let g = tokio::net::TcpListener::bind(addr).await;
            Ok(())
        }",
    );
    assert_eq!(linted.errors.len(), 8, "{:?}", reported(&linted));
}

#[test]
fn nested_items_are_not_part_of_the_workflow() {
    let linted = lint(
        "{
            fn clock() -> SystemTime { SystemTime::now() }
            impl Helper { fn f() { std::thread::sleep(d) } }
            Ok(())
        }",
    );
    assert!(linted.errors.is_empty(), "{:?}", reported(&linted));
}

#[test]
fn awaited_calls_go_through_the_activity_guard() {
    let linted = lint("{ cleanup_activity(order).await?; Ok(()) }");
    assert_eq!(
        body_text(&linted),
        versioned(
            "{
                ({
                    #[allow(unused_imports)]
                    use ::dacapo::__private::PassCallee as _;
                    ::dacapo::__private::DirectCall(cleanup_activity).callee()
                })(order).await?;
                Ok(())
            }"
        )
    );
    let renamed = lint_with("{ acts::cleanup(order).await?; Ok(()) }", Some("flow"));
    let text = body_text(&renamed);
    assert!(
        text.contains(&versioned(
            "::flow::__private::DirectCall(acts::cleanup).callee()"
        )),
        "{text}"
    );
}

#[test]
fn calls_that_cannot_be_activities_are_left_alone() {
    let body = "{
        let helper = |x| async move { x };
        helper(1).await;
        ctx.activity(a, ()).await?;
        Wrapper(fut).await;
        order(2).await;
        <T as Trait>::call(x).await;
        let not_awaited = compute(3);
        Ok(())
    }";
    // `helper` is a local closure, `ctx.activity` a method, `Wrapper` a constructor, `order`
    // a parameter, `<T as Trait>::call` qualified, and `compute` not awaited.
    let linted = lint(body);
    assert_eq!(body_text(&linted), normalized(body));
}

#[test]
fn a_misused_callee_is_reported_rather_than_guarded() {
    let linted = lint("{ tokio::time::sleep(d).await; Ok(()) }");
    let text = body_text(&linted);
    assert!(!text.contains("DirectCall"), "{text}");
    assert_eq!(pointed_at(&linted), ["tokio::time::sleep"]);
}

#[test]
fn a_rejected_select_keeps_its_futures_checked_and_linted() {
    let linted = lint(
        "{
            let winner = tokio::select! {
                _ = tokio::time::sleep(d) => 1,
                v = ctx.activity(a, ()) => 2,
            };
            Ok(())
        }",
    );
    assert_eq!(
        pointed_at(&linted),
        ["tokio::select!", "tokio::time::sleep"]
    );
    let text = body_text(&linted);
    assert!(
        text.contains("let _ = | | ( : : core : : compile_error"),
        "{text}"
    );
    assert!(text.contains("ctx . activity ( a , ( ) ) , ) ;"), "{text}");
}

#[test]
fn a_local_is_not_taken_for_an_imported_name() {
    let linted = lint(
        "{
            use tokio::time::*;
            let sleep = |seconds| ctx.sleep(Duration::from_secs(seconds));
            sleep(1).await?;
            Ok(())
        }",
    );
    assert!(linted.errors.is_empty(), "{:?}", reported(&linted));
}

#[test]
fn query_handlers_are_checked_and_still_linted_for_determinism() {
    let linted = lint(
        "{
            ctx.on_query(STATUS, move |()| {
                s.set(1);
                Ok(SystemTime::now())
            });
            Ok(())
        }",
    );
    assert_eq!(pointed_at(&linted), ["s.set(1)", "SystemTime::now"]);
    let text = body_text(&linted);
    assert!(!text.contains("s . set"), "{text}");
    assert!(!text.contains("SystemTime :: now"), "{text}");
}
