//! The clients' history on a real cluster is linearizable through a failover: three
//! etcd-rs processes, concurrent clients doing puts, compare-and-swaps and linearizable
//! gets on a few keys, the leader SIGKILLed and restarted midway; every operation's call
//! and return is recorded and the history is checked with the project's checker
//! (`etcd_rs::linearizability`). An operation that failed or timed out is ambiguous: it
//! may or may not have taken effect.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use etcd_rs::linearizability::kv::{KvInput, KvOutput, check_kv};
use etcd_rs::linearizability::{Operation, Verdict};
use support::cluster::Cluster;

const CLIENTS: u64 = 6;
const OPS_PER_CLIENT: u64 = 120;
const KEYS: u64 = 3;

/// One client's operations; `clock` orders calls and returns across clients.
async fn client_ops(
    id: u64,
    endpoints: Vec<String>,
    clock: Arc<AtomicU64>,
) -> Vec<Operation<KvInput, KvOutput>> {
    let options = etcd_client::ConnectOptions::new()
        .with_timeout(Duration::from_secs(3))
        .with_connect_timeout(Duration::from_secs(3));
    let mut client = Client::connect(endpoints, Some(options))
        .await
        .expect("connect");
    let mut history = Vec::new();
    for n in 0..OPS_PER_CLIENT {
        let key = format!("k{}", (id + n) % KEYS);
        let value = format!("{}", id * 1_000_000 + n + 1);
        let call = clock.fetch_add(1, Ordering::SeqCst);
        let (input, output) = match n % 3 {
            0 => {
                let result = client.put(key.as_str(), value.as_str(), None).await;
                let input = KvInput::Put {
                    key: key.clone(),
                    value,
                };
                (input, result.ok().map(|_| KvOutput::Put))
            }
            1 => {
                let result = client.get(key.as_str(), None).await;
                let output = result.ok().map(|r| {
                    KvOutput::Get(
                        r.kvs()
                            .first()
                            .map(|kv| kv.value_str().unwrap_or("").to_string()),
                    )
                });
                if output.is_none() {
                    // A failed read had no effect: leave it out of the history.
                    continue;
                }
                (KvInput::Get { key: key.clone() }, output)
            }
            _ => {
                // Compare-and-swap against the value this client last saw, or absence.
                let expected =
                    history
                        .iter()
                        .rev()
                        .find_map(|op: &Operation<KvInput, KvOutput>| {
                            match (&op.input, &op.output) {
                                (KvInput::Get { key: k }, Some(KvOutput::Get(v))) if *k == key => {
                                    Some(v.clone())
                                }
                                _ => None,
                            }
                        });
                let expected = expected.flatten();
                let compare = match &expected {
                    Some(v) => Compare::value(key.as_str(), CompareOp::Equal, v.as_str()),
                    None => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                };
                let txn = Txn::new().when([compare]).and_then([TxnOp::put(
                    key.as_str(),
                    value.as_str(),
                    None,
                )]);
                let result = client.txn(txn).await;
                let input = KvInput::Cas {
                    key: key.clone(),
                    expected,
                    value,
                };
                (input, result.ok().map(|r| KvOutput::Cas(r.succeeded())))
            }
        };
        let ret = clock.fetch_add(1, Ordering::SeqCst);
        history.push(Operation {
            client: id,
            input,
            call,
            return_time: output.as_ref().map(|_| ret),
            output,
        });
    }
    history
}

#[test]
fn a_history_through_a_leader_failover_is_linearizable() {
    let mut cluster = Cluster::start(3, "lin-test");
    let endpoints = cluster.urls();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let clock = Arc::new(AtomicU64::new(0));
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
