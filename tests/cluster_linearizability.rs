//! The clients' history on a real cluster is linearizable through a failover: three
//! etcd-rs processes, concurrent clients doing puts, compare-and-swaps and linearizable
//! gets on a few keys, the leader SIGKILLed and restarted midway; every operation's call
//! and return is recorded and the history is checked with the project's checker
//! (`etcd_rs::linearizability`). An operation that failed or timed out is ambiguous: it
//! may or may not have taken effect.

mod support;

use std::time::Duration;

use etcd_rs::linearizability::Verdict;
use etcd_rs::linearizability::kv::check_kv;
use support::cluster::Cluster;
use support::workload::{Clock, KvClient, KvOp};

const CLIENTS: u64 = 6;
const OPS_PER_CLIENT: u64 = 120;
const KEYS: u64 = 3;

/// One client's operations, in turn a put, a get and a compare-and-swap.
async fn client_ops(id: u64, endpoints: Vec<String>, clock: Clock) -> Vec<KvOp> {
    let mut client = KvClient::connect(id, &endpoints, clock).await;
    for n in 0..OPS_PER_CLIENT {
        let key = format!("k{}", (id + n) % KEYS);
        let value = format!("{}", id * 1_000_000 + n + 1);
        match n % 3 {
            0 => client.put(&key, &value).await,
            1 => client.get(&key).await,
            _ => client.cas(&key, &value).await,
        };
    }
    client.history
}

#[test]
fn a_history_through_a_leader_failover_is_linearizable() {
    let mut cluster = Cluster::start(3, "lin-test");
    let endpoints = cluster.urls();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let clock = Clock::default();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|id| runtime.spawn(client_ops(id, endpoints.clone(), clock.clone())))
        .collect();
    // Midway, SIGKILL member 0 (the leader or not: either way a fault), then restart it.
    std::thread::sleep(Duration::from_millis(800));
    cluster.members[0].kill();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.members[0].spawn();
    let mut history = Vec::new();
    for task in tasks {
        history.extend(runtime.block_on(task).expect("client"));
    }
    let answered = history.iter().filter(|op| op.output.is_some()).count();
    let verdict = check_kv(&history, 5_000_000);
    eprintln!(
        "linearizability: {} operations ({answered} answered) on {KEYS} keys: {verdict:?}",
        history.len()
    );
    assert!(
        !matches!(verdict, Verdict::NotLinearizable { .. }),
        "the history is not linearizable: {verdict:?}"
    );
    assert!(
        answered > (CLIENTS * OPS_PER_CLIENT / 2) as usize,
        "most operations answered"
    );
    drop(cluster);
}
