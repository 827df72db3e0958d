//! Faults on real processes: a nemesis breaks a cluster of real member processes again and
//! again while clients run a recorded workload, and what the clients saw must be what a
//! correct etcd could have shown them.
//!
//! Each round the nemesis picks one fault (every kind once, in a random order, then again),
//! holds it for a few seconds and heals it:
//! SIGKILL and restart of a follower, of the leader, of a quorum, of every member; of a
//! follower while thousands of writes go by, so that it must catch up from a snapshot
//! (members run with a small `--snapshot-count`);
//! SIGSTOP/SIGCONT of the leader; and, through the fault-injecting proxy in front of each
//! member's peer port (`support::proxy`), isolation of the leader, a one-way cut of a link
//! to or from the leader, added latency on every link, a blackholed member, connections
//! dropped at random. After each heal a write must succeed again within
//! [`RECOVERY_DEADLINE`] (the time it took is printed, not asserted).
//!
//! Meanwhile clients, each talking to one member and moving to the next when an operation
//! fails, do puts, compare-and-swap txns and linearizable gets on a few keys and grant
//! leases; a watcher follows the key prefix from revision 1 and resumes from the revision
//! after the last event it saw, on the next member, whenever its stream fails, stalls or
//! has run for a while. At the end, with every fault healed:
//! - every member reaches the same revision and the same HashKV;
//! - no acknowledged write is lost (each write's value is unique, and the full history
//!   of the prefix, read by a fresh watch from revision 1, holds every acknowledged one)
//!   and nothing was written that no client asked for;
//! - the watcher's events are in revision order, without duplicates, and exactly the full
//!   history: no gap across all its resumptions;
//! - every acknowledged lease is known to every member;
//! - the history of puts, compare-and-swaps and gets is linearizable
//!   (`etcd_rs::linearizability`).
//!
//! # Budget
//!
//! `FAULT_SECONDS` is how long each test injects faults; the default keeps this file
//! around two minutes. `FAULT_SEED` replays the same choice of faults (the processes'
//! timing still differs); the seed is printed. The long run, on demand:
//!
//! ```text
//! FAULT_SECONDS=600 cargo test --profile ci --test faults -- --nocapture
//! ```
//!
//! With `ETCD_TEST_BIN=/usr/bin/etcd` the same test runs against etcd: the proxy finds
//! the sender of etcd's HTTP peer traffic in its `X-Server-From` header (see the proxy's
//! docs for the limits of that).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions};
use etcd_rs::linearizability::Verdict;
use etcd_rs::linearizability::kv::{KvInput, KvOutput, check_kv};
use support::cluster::{Cluster, leader, revisions};
use support::rng::Rng;
use support::workload::{Clock, KvClient, KvOp, REQUEST_TIMEOUT, connect};
use tokio::runtime::Runtime;
use tokio::time::timeout;

/// The keys of the workload and the watch all start with this.
const PREFIX: &str = "k/";
/// Keys written and read; few, so that clients contend.
const KEYS: u64 = 12;
/// Recorded clients per cluster.
const CLIENTS: u64 = 5;
/// A client's pause between operations, at most; keeps the history small enough to check.
const THINK_MS_MAX: u64 = 40;
/// Long enough that no lease expires during a run.
const LEASE_TTL_SECONDS: i64 = 24 * 3600;
/// How long a fault is held, in milliseconds, at least and at most.
const HOLD_MS: (u64, u64) = (1500, 4000);
/// The quiet time after a fault has healed and a write succeeded, at least and at most.
const QUIET_MS: (u64, u64) = (300, 1200);
/// Added latency per link under the delay fault, at least and at most (milliseconds).
const DELAY_MS: (u64, u64) = (20, 300);
/// Chance per chunk that a connection is closed under the flaky fault (per thousand).
const FLAKY_PER_MILLE: (u64, u64) = (5, 50);
/// A write must succeed within this time of healing, or the test fails.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);
/// A watch stream that delivers nothing for this long is abandoned and resumed elsewhere.
const WATCH_IDLE: Duration = Duration::from_secs(1);
/// A watch stream is resumed elsewhere after this long anyway, to exercise resumption.
const WATCH_SESSION_MAX: Duration = Duration::from_secs(3);
/// How long the members may take to converge once every fault has healed.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(60);
/// The members' --snapshot-count: they compact their raft log often.
const SNAPSHOT_COUNT: &str = "--snapshot-count=1000";
/// Writes while a follower is down, under the snapshot fault: more than a leader keeps
/// for slow followers (etcd's and etcd-rs's 5000 entries) plus the snapshot count.
const CATCH_UP_WRITES: usize = 6500;
/// Writers at once during that burst.
const CATCH_UP_WRITERS: usize = 32;
/// Keys the burst overwrites (outside the checked prefix).
const CATCH_UP_KEYS: usize = 500;
/// Search steps the linearizability checker may spend per key.
const CHECK_BUDGET_STEPS: u64 = 20_000_000;

/// The tests of this file run one at a time: the machine is small.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn three_members_stay_linearizable_and_converge_through_faults() {
    run(3, "faults3", 40);
}

#[test]
fn five_members_stay_linearizable_and_converge_through_faults() {
    run(5, "faults5", 25);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillFollower,
    KillLeader,
    KillQuorum,
    KillAll,
    PauseLeader,
    IsolateLeader,
    CutOneWay,
    Delay,
    Blackhole,
    FlakyConnections,
    SnapshotCatchUp,
}

const FAULTS: [Fault; 11] = [
    Fault::KillFollower,
    Fault::KillLeader,
    Fault::KillQuorum,
    Fault::KillAll,
    Fault::PauseLeader,
    Fault::IsolateLeader,
    Fault::CutOneWay,
    Fault::Delay,
    Fault::Blackhole,
    Fault::FlakyConnections,
    Fault::SnapshotCatchUp,
];

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number")),
    )
}

/// The whole test for a cluster of `members`: workload and nemesis, then the checks.
fn run(members: usize, name: &str, default_seconds: u64) {
    let _one = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let seed = env_u64("FAULT_SEED").unwrap_or_else(Rng::seed_from_clock);
    let budget = Duration::from_secs(env_u64("FAULT_SECONDS").unwrap_or(default_seconds));
    eprintln!("faults: {members} members, seed {seed}, {budget:?} of faults");
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let cluster = Cluster::start_with_proxies(members, name, rng.next_u64(), &[SNAPSHOT_COUNT]);
    let urls = cluster.urls();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let clock = Clock::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let task = client_loop(
                id,
                urls.clone(),
                clock.clone(),
                stop.clone(),
                rng.next_u64(),
            );
            runtime.spawn(task)
        })
        .collect();
    let watch_until = Arc::new(AtomicI64::new(0));
    let watcher = runtime.spawn(watch_loop(urls.clone(), watch_until.clone()));

    let mut nemesis = Nemesis {
        cluster,
        runtime: &runtime,
        rng: Rng::new(rng.next_u64()),
        paused: vec![false; members],
        deck: Vec::new(),
        catching_up: None,
    };
    let rounds = nemesis.rounds_until(started + budget);

    stop.store(true, Ordering::SeqCst);
    let mut workload = ClientOutcome::default();
    for client in clients {
        let outcome = runtime.block_on(client).expect("client task");
        workload.history.extend(outcome.history);
        workload.leases.extend(outcome.leases);
        workload.lease_grants += outcome.lease_grants;
    }
    let checked = check_after_healing(&mut nemesis, workload, watcher, &watch_until, seed);

    let mut per_fault: BTreeMap<String, usize> = BTreeMap::new();
    for (fault, _) in &rounds {
        *per_fault.entry(format!("{fault:?}")).or_default() += 1;
    }
    let recovery_max = rounds.iter().map(|(_, d)| *d).max().unwrap_or_default();
    eprintln!(
        "faults: {members} members, seed {seed}: {} rounds {per_fault:?}, slowest recovery \
         {recovery_max:?}; {checked}; violations: 0; took {:?}",
        rounds.len(),
        started.elapsed(),
    );
}

/// Once every fault has healed and the clients stopped: convergence, writes, watch,
/// leases, linearizability. Returns the figures, in words.
fn check_after_healing(
    nemesis: &mut Nemesis<'_>,
    workload: ClientOutcome,
    watcher: tokio::task::JoinHandle<WatchOutcome>,
    watch_until: &AtomicI64,
    seed: u64,
) -> String {
    let revision = nemesis.converge();
    let (runtime, cluster) = (nemesis.runtime, &nemesis.cluster);

    // The full history of the prefix, from a fresh watch from revision 1.
    let last_write = runtime.block_on(last_write_revision(&cluster.url(0)));
    let until = Arc::new(AtomicI64::new(last_write));
    let full = runtime
        .block_on(watch_loop(vec![cluster.url(0)], until))
        .events;
    let writes = check_writes(&workload.history, &full);

    watch_until.store(last_write, Ordering::SeqCst);
    let watched = runtime
        .block_on(async { timeout(CONVERGE_DEADLINE, watcher).await })
        .expect("the watcher catches up with the last write")
        .expect("watcher task");
    check_watch(&watched.events, &full);

    runtime.block_on(check_leases(&cluster.urls(), &workload.leases));

    let recorded = workload.history.len();
    let settled = settle_ambiguous(workload.history, &writes);
    let answered = settled.iter().filter(|op| op.output.is_some()).count();
    let verdict = check_kv(&settled, CHECK_BUDGET_STEPS);
    assert!(
        !matches!(verdict, Verdict::NotLinearizable { .. }),
        "the history is not linearizable (seed {seed}): {verdict:?}"
    );
    format!(
        "{recorded} operations ({answered} answered, ambiguous: {} applied, {} never \
         applied), {} writes applied, {} watch events over {} watch sessions, {} of {} lease \
         grants acknowledged; final revision {revision}; linearizability: {verdict:?}",
        settled.len() - answered,
        recorded - settled.len(),
        full.len(),
        watched.events.len(),
        watched.sessions,
        workload.leases.len(),
        workload.lease_grants,
    )
}

/// What one recorded client did (or all of them).
#[derive(Default)]
struct ClientOutcome {
    history: Vec<KvOp>,
    /// The IDs of the leases whose grant was acknowledged.
    leases: Vec<i64>,
    /// Lease grants attempted.
    lease_grants: u64,
}

/// A client that runs until `stop`: puts, gets and compare-and-swaps on random keys,
/// sometimes a lease grant; on a failure it moves to the next member.
async fn client_loop(
    id: u64,
    urls: Vec<String>,
    clock: Clock,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> ClientOutcome {
    let mut rng = Rng::new(seed);
    let mut member = id as usize % urls.len();
    let mut client = KvClient::connect(id, &urls[member..=member], clock).await;
    let mut leases = Vec::new();
    let mut lease_grants = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = format!("{PREFIX}{}", rng.below(KEYS));
        // Unique across the history: what makes a lost or phantom write visible.
        let value = format!("{id}.{n}");
        let answered = match rng.below(100) {
            0..30 => client.put(&key, &value).await,
            30..65 => client.get(&key).await,
            65..95 => client.cas(&key, &value).await,
            _ => {
                lease_grants += 1;
                let granted = client.client().lease_grant(LEASE_TTL_SECONDS, None).await;
                granted.map(|r| leases.push(r.id())).is_ok()
            }
        };
        if !answered {
            member = (member + 1) % urls.len();
            client.reconnect(&urls[member..=member]).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(THINK_MS_MAX))).await;
    }
    ClientOutcome {
        history: client.history,
        leases,
        lease_grants,
    }
}

/// One watch event of the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    revision: i64,
    key: String,
    value: String,
    put: bool,
}

/// What a watcher saw.
struct WatchOutcome {
    /// Every event delivered, in the order delivered.
    events: Vec<Seen>,
    /// The watch streams it opened.
    sessions: u64,
}

/// Watches the prefix from revision 1 through `urls` in turn, resuming after the last
/// event seen each time a stream ends, until it has seen revision `until` (0: not yet
/// known, keep watching).
async fn watch_loop(urls: Vec<String>, until: Arc<AtomicI64>) -> WatchOutcome {
    let mut outcome = WatchOutcome {
        events: Vec::new(),
        sessions: 0,
    };
    let mut next = 1;
    let mut member = 0;
    loop {
        let target = until.load(Ordering::SeqCst);
        if target > 0 && next > target {
            return outcome;
        }
        outcome.sessions += 1;
        watch_session(&urls[member], &mut next, &mut outcome.events).await;
        member = (member + 1) % urls.len();
    }
}

/// One watch stream from revision `next`, until it fails, stalls or has run
/// [`WATCH_SESSION_MAX`]; `next` follows the events.
async fn watch_session(url: &str, next: &mut i64, events: &mut Vec<Seen>) {
    let mut client = connect(&[url.to_string()]).await;
    let options = WatchOptions::new().with_prefix().with_start_revision(*next);
    let Ok(Ok(mut stream)) = timeout(REQUEST_TIMEOUT, client.watch(PREFIX, Some(options))).await
    else {
        tokio::time::sleep(WATCH_IDLE / 4).await;
        return;
    };
    let started = Instant::now();
    while started.elapsed() < WATCH_SESSION_MAX {
        let Ok(Ok(Some(response))) = timeout(WATCH_IDLE, stream.message()).await else {
            return;
        };
        for event in response.events() {
            let kv = event.kv().expect("an event has its key-value");
            events.push(Seen {
                revision: kv.mod_revision(),
                key: kv.key_str().unwrap_or_default().to_string(),
                value: kv.value_str().unwrap_or_default().to_string(),
                put: event.event_type() == EventType::Put,
            });
            *next = (*next).max(kv.mod_revision() + 1);
        }
        if response.canceled() {
            return;
        }
    }
}

/// The revision of the last write to the prefix (no key is ever deleted: the largest
/// mod revision among its keys), read linearizably.
async fn last_write_revision(url: &str) -> i64 {
    let mut client = connect(&[url.to_string()]).await;
    let options = etcd_client::GetOptions::new().with_prefix();
    let response = client.get(PREFIX, Some(options)).await.expect("range");
    response
        .kvs()
        .iter()
        .map(|kv| kv.mod_revision())
        .max()
        .unwrap_or(0)
}

/// No acknowledged write is lost and no write appears that was not asked for: `full` is
/// the whole history of the prefix. Returns each applied value's key.
fn check_writes(history: &[KvOp], full: &[Seen]) -> HashMap<String, String> {
    let mut applied: HashMap<String, String> = HashMap::new();
    for seen in full {
        assert!(seen.put, "no client deletes, yet: {seen:?}");
        let before = applied.insert(seen.value.clone(), seen.key.clone());
        assert!(before.is_none(), "a value written twice: {seen:?}");
    }
    let mut attempted = HashSet::new();
    for op in history {
        let (key, value, acknowledged) = match (&op.input, &op.output) {
            (KvInput::Put { key, value }, output) => (key, value, output.is_some()),
            (KvInput::Cas { key, value, .. }, Some(KvOutput::Cas(false))) => {
                assert!(
                    !applied.contains_key(value),
                    "a compare-and-swap answered as failed was applied: {op}"
                );
                (key, value, false)
            }
            (KvInput::Cas { key, value, .. }, output) => (key, value, output.is_some()),
            _ => continue,
        };
        attempted.insert(value.clone());
        if acknowledged {
            assert_eq!(
                applied.get(value),
                Some(key),
                "an acknowledged write is lost: {op}"
            );
        }
    }
    for seen in full {
        assert!(
            attempted.contains(&seen.value),
            "a write no client asked for: {seen:?}"
        );
    }
    applied
}

/// The watcher's events are in order, without duplicates, and are the full history.
fn check_watch(watched: &[Seen], full: &[Seen]) {
    for pair in watched.windows(2) {
        assert!(
            pair[0].revision < pair[1].revision,
            "watch events out of order or duplicated: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    if let Some(i) = (0..watched.len().min(full.len())).find(|&i| watched[i] != full[i]) {
        panic!(
            "the watcher missed or changed an event: it saw {:?} where the history has {:?}",
            watched[i], full[i]
        );
    }
    assert_eq!(
        watched.len(),
        full.len(),
        "the watcher saw a different number of events than the history has"
    );
}

/// Every acknowledged lease is known to every member.
async fn check_leases(urls: &[String], leases: &[i64]) {
    for (i, url) in urls.iter().enumerate() {
        let mut client = connect(std::slice::from_ref(url)).await;
        let listed = client.leases().await.expect("lease list");
        let known: HashSet<i64> = listed.leases().iter().map(|l| l.id()).collect();
        for lease in leases {
            assert!(
                known.contains(lease),
                "member m{i} does not know acknowledged lease {lease:x}"
            );
        }
    }
}

/// Ambiguous writes whose (unique) value is not in the final history never took effect:
/// they are dropped, which spares the checker from placing them. Those that took effect
/// stay ambiguous.
fn settle_ambiguous(history: Vec<KvOp>, applied: &HashMap<String, String>) -> Vec<KvOp> {
    history
        .into_iter()
        .filter(|op| match (&op.input, &op.output) {
            (KvInput::Put { value, .. } | KvInput::Cas { value, .. }, None) => {
                applied.contains_key(value)
            }
            _ => true,
        })
        .collect()
}

/// Breaks the cluster and heals it.
struct Nemesis<'r> {
    cluster: Cluster,
    runtime: &'r Runtime,
    rng: Rng,
    paused: Vec<bool>,
    /// The faults still to come in this cycle through all of them.
    deck: Vec<Fault>,
    /// A restarted member that must catch up from a snapshot, and the revision it must
    /// reach.
    catching_up: Option<(usize, i64)>,
}

impl Nemesis<'_> {
    /// Rounds of faults until `deadline`: inject, hold, heal, wait for a write to succeed
    /// (and a member to catch up), a quiet pause. Returns each round's fault and how long
    /// the write took to succeed after healing.
    fn rounds_until(&mut self, deadline: Instant) -> Vec<(Fault, Duration)> {
        let mut rounds = Vec::new();
        while Instant::now() < deadline {
            let fault = self.next_fault();
            let what = self.inject(fault);
            let hold = Duration::from_millis(self.rng.between(HOLD_MS.0, HOLD_MS.1));
            std::thread::sleep(hold);
            self.heal();
            let recovered = self.write_succeeds(&format!("after {what}"));
            eprintln!(
                "faults: round {}: {what} for {hold:?}; a write succeeded {recovered:?} after \
                 healing",
                rounds.len() + 1
            );
            self.wait_caught_up();
            rounds.push((fault, recovered));
            let quiet = self.rng.between(QUIET_MS.0, QUIET_MS.1);
            std::thread::sleep(Duration::from_millis(quiet));
        }
        rounds
    }

    /// Every kind of fault once, in a random order, then again: even a short run sees
    /// most kinds.
    fn next_fault(&mut self) -> Fault {
        if self.deck.is_empty() {
            self.deck = FAULTS.to_vec();
            self.rng.shuffle(&mut self.deck);
        }
        self.deck.pop().expect("a fault")
    }

    fn members(&self) -> usize {
        self.cluster.members.len()
    }

    fn leader(&self) -> Option<usize> {
        self.runtime.block_on(leader(&self.cluster.urls()))
    }

    /// Injects `fault`; returns what was done, in words.
    fn inject(&mut self, fault: Fault) -> String {
        let n = self.members();
        let leader = self.leader();
        let l = leader.unwrap_or_else(|| self.rng.below(n as u64) as usize);
        let role = if leader.is_some() { "leader" } else { "member" };
        let others: Vec<usize> = (0..n).filter(|&i| i != l).collect();
        let follower = self.rng.pick(&others);
        match fault {
            Fault::KillFollower => {
                self.cluster.members[follower].kill();
                format!("SIGKILL follower m{follower}")
            }
            Fault::KillLeader => {
                self.cluster.members[l].kill();
                format!("SIGKILL {role} m{l}")
            }
            Fault::KillQuorum => {
                let mut order: Vec<usize> = (0..n).collect();
                self.rng.shuffle(&mut order);
                let victims = &order[..n / 2 + 1];
                for &i in victims {
                    self.cluster.members[i].kill();
                }
                format!("SIGKILL a quorum {victims:?}")
            }
            Fault::KillAll => {
                for member in &mut self.cluster.members {
                    member.kill();
                }
                "SIGKILL every member".to_string()
            }
            Fault::PauseLeader => {
                self.cluster.members[l].pause();
                self.paused[l] = true;
                format!("SIGSTOP {role} m{l}")
            }
            Fault::IsolateLeader => {
                self.cluster.net().isolate(l);
                format!("isolate {role} m{l}")
            }
            Fault::CutOneWay => {
                let (from, to) = if self.rng.below(2) == 0 {
                    (l, follower)
                } else {
                    (follower, l)
                };
                self.cluster.net().cut(from, to);
                format!("cut m{from} -> m{to} ({role} m{l})")
            }
            Fault::Delay => {
                let delay = Duration::from_millis(self.rng.between(DELAY_MS.0, DELAY_MS.1));
                self.cluster.net().delay_all(delay);
                format!("delay every link by {delay:?}")
            }
            Fault::Blackhole => {
                let m = self.rng.below(n as u64) as usize;
                self.cluster.net().blackhole(m);
                format!("blackhole m{m}")
            }
            Fault::SnapshotCatchUp => {
                self.cluster.members[follower].kill();
                let live: Vec<String> = (0..n)
                    .filter(|&i| i != follower)
                    .map(|i| self.cluster.url(i))
                    .collect();
                let started = Instant::now();
                let (written, revision) = self.runtime.block_on(burst(live, CATCH_UP_WRITES));
                self.catching_up = Some((follower, revision));
                format!(
                    "SIGKILL follower m{follower}, {written} writes in {:?} meanwhile",
                    started.elapsed()
                )
            }
            Fault::FlakyConnections => {
                let per_mille = self.rng.between(FLAKY_PER_MILLE.0, FLAKY_PER_MILLE.1) as u32;
                self.cluster.net().flaky(per_mille);
                format!("drop connections ({per_mille}/1000 per chunk)")
            }
        }
    }

    /// Heals every fault: the network, paused members, killed members.
    fn heal(&mut self) {
        self.cluster.net().heal();
        for (i, member) in self.cluster.members.iter_mut().enumerate() {
            if std::mem::take(&mut self.paused[i]) {
                member.resume();
            }
            if !member.is_running() {
                member.spawn();
            }
        }
    }

    /// Waits until a member restarted after a burst of writes has caught up with them
    /// (from a snapshot: the others compacted their logs past what it had).
    fn wait_caught_up(&mut self) {
        let Some((member, revision)) = self.catching_up.take() else {
            return;
        };
        let urls = self.cluster.urls();
        let started = Instant::now();
        loop {
            let revisions = self.runtime.block_on(revisions(&urls));
            if revisions[member].is_some_and(|r| r >= revision) {
                break;
            }
            assert!(
                started.elapsed() < CONVERGE_DEADLINE,
                "m{member} did not catch up with revision {revision}: {revisions:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "faults: m{member} caught up with revision {revision} {:?} after the round",
            started.elapsed()
        );
    }

    /// Retries a write through each member in turn until one succeeds; returns how long
    /// that took. Fails the test after [`RECOVERY_DEADLINE`].
    fn write_succeeds(&mut self, when: &str) -> Duration {
        let urls = self.cluster.urls();
        let started = Instant::now();
        for attempt in 0.. {
            let url = &urls[attempt % urls.len()];
            let ok = self.runtime.block_on(async {
                let mut client = connect(std::slice::from_ref(url)).await;
                let put = client.put("probe", format!("{attempt}"), None);
                matches!(timeout(Duration::from_secs(2), put).await, Ok(Ok(_)))
            });
            if ok {
                break;
            }
            assert!(
                started.elapsed() < RECOVERY_DEADLINE,
                "no write succeeded within {RECOVERY_DEADLINE:?} {when}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        started.elapsed()
    }

    /// Waits until every member has applied the same revision and hashes the same store
    /// at it; returns that revision.
    fn converge(&mut self) -> i64 {
        // In-flight delayed chunks and proposals settle, then one write commits everything
        // before it.
        std::thread::sleep(Duration::from_millis(DELAY_MS.1 * 2));
        self.write_succeeds("at the end");
        let urls = self.cluster.urls();
        let started = Instant::now();
        let revisions = loop {
            let revisions = self.runtime.block_on(revisions(&urls));
            if revisions[0].is_some() && revisions.iter().all(|r| *r == revisions[0]) {
                break revisions;
            }
            assert!(
                started.elapsed() < CONVERGE_DEADLINE,
                "members did not converge: revisions {revisions:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let revision = revisions[0].expect("a revision");
        let hashes = self.runtime.block_on(async {
            let mut hashes = Vec::new();
            for url in &urls {
                let mut client: Client = connect(std::slice::from_ref(url)).await;
                let hash = client.hash_kv(revision).await.expect("HashKV");
                hashes.push(hash.hash());
            }
            hashes
        });
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "HashKV at revision {revision} differs between members: {hashes:?}"
        );
        revision
    }
}

/// `writes` puts on keys outside the checked prefix through `urls`, [`CATCH_UP_WRITERS`]
/// at a time; returns how many succeeded and the highest revision they reached.
async fn burst(urls: Vec<String>, writes: usize) -> (usize, i64) {
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..CATCH_UP_WRITERS)
        .map(|w| {
            let (next, url) = (next.clone(), urls[w % urls.len()].clone());
            tokio::spawn(async move {
                let mut client = connect(&[url]).await;
                let (mut written, mut revision) = (0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= writes {
                        return (written, revision);
                    }
                    let key = format!("bulk/{}", i % CATCH_UP_KEYS);
                    let put = client.put(key, format!("{i:0>100}"), None);
                    if let Ok(Ok(r)) = timeout(REQUEST_TIMEOUT, put).await {
                        written += 1;
                        revision = revision.max(r.header().map_or(0, |h| h.revision()));
                    }
                }
            })
        })
        .collect();
    let mut total = (0, 0);
    for writer in writers {
        let (written, revision) = writer.await.expect("writer");
        total = (total.0 + written, total.1.max(revision));
    }
    total
}
