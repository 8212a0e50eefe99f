use super::*;

fn expression(path: &str) -> Option<Misuse> {
    let segments: Vec<String> = path.split("::").map(str::to_string).collect();
    misuse(&segments, Position::Expression, Certainty::Named)
}

#[test]
fn each_family_is_recognised_by_its_usual_paths() {
    let cases = [
        ("std::time::SystemTime::now", Misuse::Clock),
        ("Instant::now", Misuse::Clock),
        ("tokio::time::Instant::now", Misuse::Clock),
        ("chrono::Utc::now", Misuse::Clock),
        ("std::thread::sleep", Misuse::Sleep),
        ("tokio::time::sleep", Misuse::Sleep),
        ("tokio::time::timeout", Misuse::Timer),
        ("tokio::spawn", Misuse::Spawn),
        ("tokio::task::spawn_blocking", Misuse::Spawn),
        ("std::thread::spawn", Misuse::Spawn),
        ("rand::random", Misuse::Random),
        ("rand::thread_rng", Misuse::Random),
        ("StdRng::from_entropy", Misuse::Random),
        ("uuid::Uuid::new_v4", Misuse::Uuid),
        ("std::fs::read_to_string", Misuse::Io),
        ("core::net::TcpStream::connect", Misuse::Io),
        ("tokio::fs::write", Misuse::Io),
        ("tokio::net::TcpStream::connect", Misuse::Io),
        ("reqwest::get", Misuse::Io),
        ("reqwest::Client::new", Misuse::Io),
        ("fs::remove_file", Misuse::Io),
        ("File::open", Misuse::Io),
    ];
    for (path, expected) in cases {
        assert_eq!(expression(path), Some(expected), "{path}");
    }
}

#[test]
fn deterministic_neighbours_are_not_rejected() {
    for path in [
        "std::time::SystemTime::UNIX_EPOCH",
        "std::time::Duration::from_secs",
        "std::net::Ipv4Addr::new",
        "std::net::SocketAddr::from",
        "rand::SeedableRng::seed_from_u64",
        "StdRng::seed_from_u64",
        "std::fs",
        "futures::join",
        "now",
        "sleep",
        "my_fs_helpers::read",
    ] {
        assert_eq!(expression(path), None, "{path}");
    }
}

#[test]
fn module_rules_do_not_apply_through_a_glob() {
    let read = ["std", "fs", "read"].map(str::to_string);
    assert_eq!(misuse(&read, Position::Expression, Certainty::Glob), None);
    let sleep = ["tokio", "time", "sleep"].map(str::to_string);
    assert_eq!(
        misuse(&sleep, Position::Expression, Certainty::Glob),
        Some(Misuse::Sleep)
    );
}

#[test]
fn only_the_random_select_macros_are_rejected() {
    let select = |path: &str| {
        let segments: Vec<String> = path.split("::").map(str::to_string).collect();
        misuse(&segments, Position::Macro, Certainty::Named)
    };
    assert_eq!(select("tokio::select"), Some(Misuse::RandomSelect));
    assert_eq!(select("futures::select"), Some(Misuse::RandomSelect));
    assert_eq!(select("futures_util::select"), Some(Misuse::RandomSelect));
    assert_eq!(select("futures::select_biased"), None);
    assert_eq!(select("dacapo::select"), None);
    assert_eq!(select("select"), None);
    // Expression rules do not apply to macros, nor the other way round.
    assert_eq!(select("tokio::spawn"), None);
    assert_eq!(expression("tokio::select"), None);
}

#[test]
fn messages_name_the_path_and_the_replacement() {
    assert_eq!(
        Misuse::Clock.message("T::now", Some("std::time::SystemTime::now")),
        "a workflow cannot use `T::now` (`std::time::SystemTime::now`): it reads the machine's \
         clock, which shows another time when the workflow is replayed; use `ctx.now()`, the \
         workflow time recorded in the history"
    );
    assert!(Misuse::RandomSelect
        .message("tokio::select!", None)
        .ends_with("use `dacapo::select!` or `futures::select_biased!`, which poll branches in the order written"));
}
