//! The seeded cluster simulation sweep (see `src/sim/`).
//!
//! `SIM_SEEDS` sets the number of seeds (default 500), `SIM_FIRST_SEED` the first
//! (default 0); `SIM_SEED` runs that one seed alone. The sweep ends with one summary line
//! on standard error; each failing seed prints the command that replays it.

use std::io::Write as _;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?} is not a number: {e}")),
    )
}

#[test]
fn simulated_clusters_keep_raft_safety_linearizability_and_liveness_under_faults() {
    let seeds = match env_u64("SIM_SEED") {
        Some(seed) => seed..seed + 1,
        None => {
            let first = env_u64("SIM_FIRST_SEED").unwrap_or(0);
            first..first + env_u64("SIM_SEEDS").unwrap_or(500)
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let summary = etcd_rs::sim::sweep(seeds.clone(), threads);
    // Written to the real stderr so it shows through the test harness's capture.
    let mut stderr = std::io::stderr();
    for failure in &summary.failures {
        let _ = writeln!(stderr, "{failure}");
    }
    let _ = writeln!(stderr, "{summary}");
    assert_eq!(summary.seeds, seeds.end - seeds.start, "every seed ran");
    assert!(
        summary.failures.is_empty(),
        "{} of {} seeds failed; the first:\n{}",
        summary.failures.len(),
        summary.seeds,
        summary.failures[0]
    );
    assert!(
        summary.operations > 0 && summary.steps > 0,
        "the sweep ran no client operations: {summary}"
    );
}
