//! Compile-time checks of the macros: every misuse in `ui/fail` must fail to compile with the
//! error in the `.stderr` beside it, and everything in `ui/pass` must compile and run.
//!
//! The `.stderr` files hold rustc's exact output, which changes between compiler versions, so
//! the suite runs on the toolchain they were reviewed with. To move to another one, regenerate
//! them with `TRYBUILD=overwrite cargo test -p dacapo-tests --test ui`, read every changed
//! message as a user would, and update `REVIEWED_ON`.

use std::process::Command;

/// The compiler version the `.stderr` files were reviewed with.
const REVIEWED_ON: &str = "1.95.0";

#[test]
fn ui() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        version.starts_with(&format!("rustc {REVIEWED_ON} ")),
        "the ui tests' .stderr files were reviewed on rustc {REVIEWED_ON}, but the compiler is \
         {version:?}; run them with that toolchain (`cargo +{REVIEWED_ON} test`), or regenerate \
         and review them as tests/ui.rs explains"
    );
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
