//! A deterministic simulation of a whole Raft cluster on a faulty network.
//!
//! One seed decides everything ([`Params`]): the cluster size, the timeouts, and every
//! fault: messages lost, duplicated, delayed and reordered; links cut one way or both;
//! members crashed (losing everything they had not persisted) and restarted; members
//! added, promoted and removed (the leader too) by joint consensus; snapshots that
//! compact the log; leadership transfers. Clients put, compare-and-swap and read
//! (through ReadIndex) a few shared keys throughout.
//!
//! The run has two phases, in the manner of TigerBeetle's VOPR:
//! 1. **Safety**: faults on. After every step, [`checks::SafetyChecker`] checks Raft's
//!    safety properties on every running member.
//! 2. **Liveness**: faults healed, every member of the configuration running. Within a
//!    bounded number of steps there must be a leader, every client's new write must
//!    commit, and every member must apply the whole log.
//!
//! Then the clients' history is checked for linearizability with
//! [`crate::linearizability`]. A failure names its seed and the command that replays it;
//! the same seed always gives the same run.

mod app;
pub mod checks;
mod cluster;
mod network;
mod params;

use std::fmt;

pub use cluster::Simulation;
pub use network::NetworkStats;
pub use params::Params;

/// The kind of failure a seed found (each has its own exit code in `etcd-rs sim`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A Raft safety property broke.
    Safety,
    /// The client history is not linearizable.
    Linearizability,
    /// The healed cluster did not converge within the bound.
    Liveness,
    /// The core or the simulation panicked (an assertion failed).
    Panic,
}

impl FailureKind {
    /// The process exit code for this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Safety => 10,
            FailureKind::Linearizability => 11,
            FailureKind::Liveness => 12,
            FailureKind::Panic => 13,
        }
    }
}

/// A failing seed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The step at which it was found.
    pub step: u64,
    /// What broke.
    pub kind: FailureKind,
    /// Why, in words.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at step {}: {:?}: {}\n  replay: cargo run --profile ci -- sim --seed {} --trace",
            self.seed, self.step, self.kind, self.message, self.seed
        )
    }
}

/// What one passing seed did.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// Steps run (both phases).
    pub steps: u64,
    /// Faults injected: crashes, partition changes, membership changes, transfers, and
    /// messages lost or duplicated.
    pub faults: u64,
    /// Client operations in the history.
    pub operations: u64,
    /// Entries committed.
    pub committed_entries: u64,
    /// Whether some key's history was too large for the checker's budget.
    pub unchecked: bool,
}

/// The totals of a sweep.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Steps over all seeds.
    pub steps: u64,
    /// Faults over all seeds.
    pub faults: u64,
    /// Client operations over all seeds.
    pub operations: u64,
    /// Seeds whose history was too large to check completely.
    pub unchecked: u64,
    /// The failing seeds, in ascending order.
    pub failures: Vec<Failure>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation: seeds={} steps={} faults={} operations={} unchecked={} violations={}",
            self.seeds,
            self.steps,
            self.faults,
            self.operations,
            self.unchecked,
            self.failures.len()
        )
    }
}

/// Runs one seed.
pub fn run_seed(seed: u64, trace: bool) -> Result<SeedReport, Failure> {
    Simulation::new(seed, trace).run()
}

/// Runs `seeds` on `threads` threads and adds up the results.
pub fn sweep(seeds: std::ops::Range<u64>, threads: usize) -> Summary {
    let next = std::sync::atomic::AtomicU64::new(seeds.start);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let result = std::panic::catch_unwind(|| run_seed(seed, false)).unwrap_or_else(
                        |panic| {
                            let message = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "unknown panic".to_string());
                            Err(Failure {
                                seed,
                                step: 0,
                                kind: FailureKind::Panic,
                                message,
                            })
                        },
                    );
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((seed, result));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(seed, _)| *seed);
    let mut summary = Summary::default();
    for (_, result) in results {
        summary.seeds += 1;
        match result {
            Ok(report) => {
                summary.steps += report.steps;
                summary.faults += report.faults;
                summary.operations += report.operations;
                summary.unchecked += u64::from(report.unchecked);
            }
            Err(failure) => summary.failures.push(failure),
        }
    }
    summary
}
