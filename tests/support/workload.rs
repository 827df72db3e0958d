//! Recorded client operations for the linearizability checks on real clusters: each
//! operation's call and return is stamped on one clock shared by the process's clients,
//! and the history is checked with the project's checker (`etcd_rs::linearizability`).
//!
//! An operation that failed or timed out is ambiguous (it may or may not have taken
//! effect) and is recorded without an answer; a failed read had no effect and is left out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp};
use etcd_rs::linearizability::Operation;
use etcd_rs::linearizability::kv::{KvInput, KvOutput};

/// One recorded key-value operation.
pub type KvOp = Operation<KvInput, KvOutput>;

/// How long a client waits for one answer (or a connection) before the operation counts
/// as ambiguous.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Orders calls and returns across the clients of one process.
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// The next instant.
    pub fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// The options of every recorded client: bounded requests and connects.
pub fn connect_options() -> ConnectOptions {
    ConnectOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(REQUEST_TIMEOUT)
}

/// A client whose key-value operations are recorded in [`KvClient::history`].
pub struct KvClient {
    id: u64,
    client: Client,
    clock: Clock,
    /// The value this client last read of each key (`None`: absent), what its
    /// compare-and-swaps expect.
    last_read: HashMap<String, Option<String>>,
    /// Every operation, in the order this client issued them.
    pub history: Vec<KvOp>,
}

impl KvClient {
    /// A client `id` of `endpoints`. Connects lazily: an endpoint that is down only makes
    /// the first operations fail.
    pub async fn connect(id: u64, endpoints: &[String], clock: Clock) -> KvClient {
        KvClient {
            id,
            client: connect(endpoints).await,
            clock,
            last_read: HashMap::new(),
            history: Vec::new(),
        }
    }

    /// Talks to `endpoints` from now on, keeping the history.
    pub async fn reconnect(&mut self, endpoints: &[String]) {
        self.client = connect(endpoints).await;
    }

    /// The underlying client, for operations that are not recorded here.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Puts `value` (unique across the history) at `key`. Returns whether it was answered.
    pub async fn put(&mut self, key: &str, value: &str) -> bool {
        let call = self.clock.tick();
        let output = self
            .client
            .put(key, value, None)
            .await
            .ok()
            .map(|_| KvOutput::Put);
        let input = KvInput::Put {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.record(call, input, output)
    }

    /// A linearizable get of `key`. Returns whether it was answered.
    pub async fn get(&mut self, key: &str) -> bool {
        let call = self.clock.tick();
        let Ok(response) = self.client.get(key, None).await else {
            // A failed read had no effect: leave it out of the history.
            return false;
        };
        let read = response
            .kvs()
            .first()
            .map(|kv| kv.value_str().unwrap_or("").to_string());
        self.last_read.insert(key.to_string(), read.clone());
        let input = KvInput::Get {
            key: key.to_string(),
        };
        self.record(call, input, Some(KvOutput::Get(read)))
    }

    /// Compare-and-swap: puts `value` at `key` if its value is still the one this client
    /// last read (or the key is still absent). Returns whether it was answered.
    pub async fn cas(&mut self, key: &str, value: &str) -> bool {
        let expected = self.last_read.get(key).cloned().flatten();
        let compare = match &expected {
            Some(v) => Compare::value(key, CompareOp::Equal, v.as_str()),
            None => Compare::create_revision(key, CompareOp::Equal, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::put(key, value, None)]);
        let call = self.clock.tick();
        let output = self
            .client
            .txn(txn)
            .await
            .ok()
            .map(|r| KvOutput::Cas(r.succeeded()));
        let input = KvInput::Cas {
            key: key.to_string(),
            expected,
            value: value.to_string(),
        };
        self.record(call, input, output)
    }

    fn record(&mut self, call: u64, input: KvInput, output: Option<KvOutput>) -> bool {
        let answered = output.is_some();
        let return_time = answered.then(|| self.clock.tick());
        self.history.push(Operation {
            client: self.id,
            input,
            call,
            output,
            return_time,
        });
        answered
    }
}

/// A client of `endpoints` with [`connect_options`].
pub async fn connect(endpoints: &[String]) -> Client {
    Client::connect(endpoints, Some(connect_options()))
        .await
        .expect("a client (connects lazily)")
}
