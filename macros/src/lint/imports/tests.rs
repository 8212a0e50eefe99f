use super::*;
use crate::test_util::tokens;

fn imports(body: &str) -> Imports {
    let body: Block = syn::parse2(tokens(body)).expect("test body parses");
    Imports::collect(&body)
}

/// The candidates for `path`, as `::`-joined text with their certainty.
fn resolve(imports: &Imports, path: &str) -> Vec<(String, Certainty)> {
    let path: Path = syn::parse_str(path).expect("a path");
    imports
        .resolve(&path)
        .into_iter()
        .map(|candidate| (candidate.segments.join("::"), candidate.certainty))
        .collect()
}

fn named(path: &str) -> Vec<(String, Certainty)> {
    vec![(path.to_string(), Certainty::Named)]
}

#[test]
fn a_path_without_imports_stands_for_itself() {
    let imports = imports("{ let x = 1; }");
    assert_eq!(
        resolve(&imports, "SystemTime::now"),
        named("SystemTime::now")
    );
    assert_eq!(resolve(&imports, "::std::fs::read"), named("std::fs::read"));
}

#[test]
fn aliases_and_grouped_imports_resolve_the_first_segment() {
    let imports = imports(
        "{
            use std::time::SystemTime as T;
            use tokio::time::{self, Instant as Clock, sleep as nap};
            use std::{thread::{self as threads}, fs};
        }",
    );
    assert_eq!(
        resolve(&imports, "T::now"),
        named("std::time::SystemTime::now")
    );
    assert_eq!(
        resolve(&imports, "Clock::now"),
        named("tokio::time::Instant::now")
    );
    assert_eq!(resolve(&imports, "nap"), named("tokio::time::sleep"));
    assert_eq!(
        resolve(&imports, "time::timeout"),
        named("tokio::time::timeout")
    );
    assert_eq!(
        resolve(&imports, "threads::spawn"),
        named("std::thread::spawn")
    );
    assert_eq!(resolve(&imports, "fs::write"), named("std::fs::write"));
    // A leading `::` names a crate, whatever is imported.
    assert_eq!(resolve(&imports, "::T::now"), named("T::now"));
}

#[test]
fn imports_can_build_on_one_another_without_looping() {
    let imports = imports(
        "{
            use std::time;
            use time::SystemTime as Clock;
            use a as b;
            use b as a;
        }",
    );
    assert_eq!(
        resolve(&imports, "Clock::now"),
        named("std::time::SystemTime::now")
    );
    // A cycle ends after a bounded number of steps, with some path.
    assert_eq!(resolve(&imports, "a::f").len(), 1);
}

#[test]
fn imports_in_nested_blocks_count_but_not_those_in_nested_items() {
    let imports = imports(
        "{
            if ready {
                use rand::random as coin;
            }
            fn helper() {
                use std::fs::read as load;
            }
        }",
    );
    assert_eq!(resolve(&imports, "coin"), named("rand::random"));
    assert_eq!(resolve(&imports, "load"), named("load"));
}

#[test]
fn a_glob_adds_a_less_certain_candidate_for_unimported_paths() {
    let imports = imports("{ use tokio::time::*; use std::fs as files; }");
    assert_eq!(
        resolve(&imports, "sleep"),
        [
            ("sleep".to_string(), Certainty::Named),
            ("tokio::time::sleep".to_string(), Certainty::Glob)
        ]
    );
    // A path that an import names is not looked up in the glob.
    assert_eq!(resolve(&imports, "files::read"), named("std::fs::read"));
}

#[test]
fn underscore_imports_bring_in_no_name() {
    let imports = imports("{ use std::io::Write as _; }");
    assert!(imports.names.is_empty());
    assert_eq!(resolve(&imports, "Write::flush"), named("Write::flush"));
}
