//! The request-response workloads, `put`, `range` and `txn-put`: `--clients` tasks take
//! request numbers from one counter until `--total` are taken (a closed loop: each client
//! has one request in flight), paced to `--rate` over all clients when one is given.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::transport::Channel;

use super::flags::{Command, Consistency, LoadFlags};
use super::keys::{KeySpace, Rng, printable};
use super::progress::Progress;
use super::report::{Recorder, Report};
use crate::pb::etcdserverpb::kv_client::KvClient;
use crate::pb::etcdserverpb::{PutRequest, RangeRequest, RequestOp, TxnRequest, request_op};

/// How long one request may take before it counts as failed. etcd's tool waits forever;
/// a bound keeps a stuck server from hanging a scripted run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What each request is.
#[derive(Debug, Clone)]
pub enum Workload {
    /// A put of a key of the key space.
    Put {
        /// The keys.
        keys: KeySpace,
        /// The value of every put (one random value, as etcd's tool).
        value: Vec<u8>,
    },
    /// A read of `key` or of `[key, end)`.
    Range {
        /// The key.
        key: Vec<u8>,
        /// The range end, empty for one key.
        end: Vec<u8>,
        /// Linearizable or serializable.
        consistency: Consistency,
    },
    /// A transaction of `ops` puts of distinct keys, without compares.
    TxnPut {
        /// The keys.
        keys: KeySpace,
        /// The value of every put.
        value: Vec<u8>,
        /// Puts per transaction; at most the key space's size.
        ops: u64,
    },
}

impl Workload {
    /// The workload and load flags of a `put`, `range` or `txn-put` command; `None` for
    /// `watch-latency`.
    pub fn of(command: &Command) -> Option<(Workload, LoadFlags)> {
        let mut rng = Rng::from_clock(0);
        Some(match command {
            Command::Put { keys, load } => (
                Workload::Put {
                    keys: KeySpace::new(keys),
                    value: printable(&mut rng, keys.val_size),
                },
                *load,
            ),
            Command::Range {
                key,
                end,
                consistency,
                load,
            } => (
                Workload::Range {
                    key: key.clone().into_bytes(),
                    end: end.clone().unwrap_or_default().into_bytes(),
                    consistency: *consistency,
                },
                *load,
            ),
            Command::TxnPut {
                keys,
                load,
                txn_ops,
            } => (
                Workload::TxnPut {
                    keys: KeySpace::new(keys),
                    value: printable(&mut rng, keys.val_size),
                    ops: *txn_ops as u64,
                },
                *load,
            ),
            Command::WatchLatency(_) => return None,
        })
    }

    /// The name in the summary.
    pub fn name(&self) -> String {
        match self {
            Workload::Put { .. } => "put".to_string(),
            Workload::Range {
                consistency: Consistency::Linearizable,
                ..
            } => "range (linearizable)".to_string(),
            Workload::Range {
                consistency: Consistency::Serializable,
                ..
            } => "range (serializable)".to_string(),
            Workload::TxnPut { ops, .. } => format!("txn-put ({ops} puts per txn)"),
        }
    }

    /// Sends request number `n` and waits for its answer.
    async fn issue(&self, kv: &mut KvClient<Channel>, n: u64, rng: &mut Rng) -> Result<(), Status> {
        match self {
            Workload::Put { keys, value } => {
                let put = PutRequest {
                    key: keys.key(keys.index(n, rng)),
                    value: value.clone(),
                    ..PutRequest::default()
                };
                kv.put(put).await.map(drop)
            }
            Workload::Range {
                key,
                end,
                consistency,
            } => {
                let range = RangeRequest {
                    key: key.clone(),
                    range_end: end.clone(),
                    serializable: *consistency == Consistency::Serializable,
                    ..RangeRequest::default()
                };
                kv.range(range).await.map(drop)
            }
            Workload::TxnPut { keys, value, ops } => {
                // etcd's tool: txn n puts keys n*ops .. n*ops+ops-1 (mod the key space),
                // distinct because ops <= the key space's size.
                let success = (0..*ops)
                    .map(|j| RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            key: keys.key((n.wrapping_mul(*ops) + j) % keys.size()),
                            value: value.clone(),
                            ..PutRequest::default()
                        })),
                    })
                    .collect();
                let txn = TxnRequest {
                    success,
                    ..TxnRequest::default()
                };
                kv.txn(txn).await.map(drop)
            }
        }
    }
}

/// Runs `load.total` requests of `workload` from `clients` clients over `channels`.
pub async fn run(
    channels: &[Channel],
    clients: usize,
    workload: Workload,
    load: LoadFlags,
) -> Report {
    let workload = Arc::new(workload);
    let next = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(load.total);
    let interval = (load.rate > 0).then(|| Duration::from_secs_f64(1.0 / load.rate as f64));
    let per_client = (load.total / clients as u64 + 1) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let mut kv = KvClient::new(channels[client % channels.len()].clone());
        let (workload, next, done) = (workload.clone(), next.clone(), progress.counter());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::from_clock(client as u64 + 1);
            let mut recorder = Recorder::with_capacity(per_client);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= load.total {
                    return recorder;
                }
                if let Some(interval) = interval {
                    tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
                }
                let sent = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, workload.issue(&mut kv, n, &mut rng))
                    .await
                {
                    Ok(Ok(())) => recorder.ok(sent.elapsed()),
                    Ok(Err(status)) => recorder.error(super::status_text(&status)),
                    Err(_) => recorder.error(format!("no answer within {REQUEST_TIMEOUT:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut all = Recorder::with_capacity(load.total as usize);
    for task in tasks {
        match task.await {
            Ok(recorder) => all.merge(recorder),
            Err(e) => all.error(format!("client task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    progress.finish();
    all.finish(workload.name(), elapsed)
}
