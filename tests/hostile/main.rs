//! What a hostile client can send `dacapo server`, and what must hold afterwards.
//!
//! Every test starts the real `dacapo server` binary on a free port of 127.0.0.1 with its own
//! SQLite file, commits a few runs before it attacks (`Target::seed`), sends what an attacker
//! would, checks the status it gets, and then checks that everything committed before is still
//! there and readable, also after a restart on the same file (`Target::check_seeded`).

// Helpers used by some test modules only.
mod fuzz;
#[allow(dead_code)]
mod harness;
mod poison;
mod queries;
mod requests;
mod run_limits;
mod store_faults;
mod transport;

use harness::Target;

#[tokio::test]
async fn seeded_runs_survive_a_restart() {
    let mut target = Target::start(&[]).await;
    let seeded = target.seed(3).await;
    target.check_seeded(&seeded).await;
    target.restart().await;
    target.check_seeded(&seeded).await;
}
