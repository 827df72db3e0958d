//! Tests of the store and of the request-level operations, one behaviour per test.

use super::*;

mod compact;
mod delete;
mod hash;
mod put;
mod range;
mod rebuild;
mod txn;
mod write;

/// A fresh store in memory.
fn store() -> MvccStore<MemBackend> {
    MvccStore::open(MemBackend::new()).expect("open a fresh store")
}

/// A lessor that knows no lease.
fn no_leases(_: i64) -> bool {
    false
}

/// A lessor that knows every lease.
fn all_leases(_: i64) -> bool {
    true
}

/// Puts `key` = `value` and returns the revision of the put.
fn put(s: &mut MvccStore<MemBackend>, key: &str, value: &str) -> i64 {
    let req = PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    s.put(&req, &no_leases).expect("put").response.revision
}

/// Puts `key` = `value` attached to `lease`.
fn put_leased(
    s: &mut MvccStore<MemBackend>,
    key: &str,
    value: &str,
    lease: i64,
) -> Applied<PutResponse> {
    let req = PutRequest {
        key: key.into(),
        value: value.into(),
        lease,
        ..Default::default()
    };
    s.put(&req, &all_leases).expect("put with lease")
}

fn range_req(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

/// The keys of the key-values, as strings.
fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// The keys `[key, end)` at the current revision.
fn keys_in(s: &MvccStore<MemBackend>, key: &str, end: &str) -> Vec<String> {
    keys(&s.range(&range_req(key, end)).expect("range").kvs)
}

fn get(s: &MvccStore<MemBackend>, key: &str) -> Option<KeyValue> {
    s.range(&range_req(key, ""))
        .expect("get")
        .kvs
        .into_iter()
        .next()
}
