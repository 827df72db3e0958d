//! The checks etcd makes on a KV request before proposing it (etcd's `checkRangeRequest`,
//! `checkPutRequest`, `checkDeleteRequest`, `checkTxnRequest`, `checkIntervals` in
//! `server/etcdserver/api/v3rpc/key.go`).
//!
//! The API layer MUST run them before proposing, so an invalid request never enters the
//! raft log; the store's operations do not repeat them.

use std::collections::HashSet;

use super::error::{Error, Result};
use super::rpc::{DeleteRangeRequest, PutRequest, RangeRequest, Request, RequestOp, TxnRequest};

/// etcd's default `--max-txn-ops`: the most compares, or ops in one branch, of a txn.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

impl RangeRequest {
    /// [`Error::EmptyKey`] if `key` is empty.
    pub fn validate(&self) -> Result<()> {
        if self.key.is_empty() {
            return Err(Error::EmptyKey);
        }
        Ok(())
    }
}

impl PutRequest {
    /// [`Error::EmptyKey`] if `key` is empty, [`Error::ValueProvided`] for a value with
    /// `ignore_value`, [`Error::LeaseProvided`] for a lease with `ignore_lease`.
    pub fn validate(&self) -> Result<()> {
        if self.key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if self.ignore_value && !self.value.is_empty() {
            return Err(Error::ValueProvided);
        }
        if self.ignore_lease && self.lease != 0 {
            return Err(Error::LeaseProvided);
        }
        Ok(())
    }
}

impl DeleteRangeRequest {
    /// [`Error::EmptyKey`] if `key` is empty.
    pub fn validate(&self) -> Result<()> {
        if self.key.is_empty() {
            return Err(Error::EmptyKey);
        }
        Ok(())
    }
}

impl TxnRequest {
    /// The checks of etcd's `Txn` handler, in its order: sizes and every op (nested txns
    /// get what is left of `max_txn_ops` after this level's largest list), then
    /// duplicate keys in `success`, then in `failure`.
    pub fn validate(&self, max_txn_ops: usize) -> Result<()> {
        check_txn_request(self, i64::try_from(max_txn_ops).unwrap_or(i64::MAX))?;
        check_intervals(&self.success)?;
        check_intervals(&self.failure)?;
        Ok(())
    }
}

fn check_txn_request(r: &TxnRequest, max_txn_ops: i64) -> Result<()> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    let opc = i64::try_from(opc).unwrap_or(i64::MAX);
    if opc > max_txn_ops {
        return Err(Error::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(Error::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        check_request_op(op, max_txn_ops - opc)?;
    }
    Ok(())
}

fn check_request_op(op: &RequestOp, max_txn_ops: i64) -> Result<()> {
    match &op.request {
        Some(Request::Range(r)) => r.validate(),
        Some(Request::Put(p)) => p.validate(),
        Some(Request::DeleteRange(d)) => d.validate(),
        Some(Request::Txn(t)) => check_txn_request(t, max_txn_ops),
        None => Err(Error::KeyNotFound),
    }
}

/// A deleted interval `[begin, end)` (etcd's string-affine interval). A single key `k`
/// is `[k, k + "\0")`. As in etcd, a delete whose `range_end` is `"\0"` (from the key on)
/// becomes the empty interval `[key, "\0")` here, so it conflicts with no put.
#[derive(Debug, Clone)]
struct Interval {
    begin: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    fn contains(&self, key: &[u8]) -> bool {
        self.begin.as_slice() <= key && key < self.end.as_slice()
    }
}

fn intersects(dels: &[Interval], key: &[u8]) -> bool {
    dels.iter().any(|iv| iv.contains(key))
}

/// etcd's `checkIntervals`: within one list of ops (and the txns nested in it), no key
/// may be put twice, nor put and deleted. The two branches of a nested txn may put the
/// same key, since only one runs. Returns the keys put and the intervals deleted.
fn check_intervals(reqs: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>)> {
    let mut dels: Vec<Interval> = reqs
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::DeleteRange(d)) => Some(if d.range_end.is_empty() {
                let mut end = d.key.clone();
                end.push(0);
                Interval {
                    begin: d.key.clone(),
                    end,
                }
            } else {
                Interval {
                    begin: d.key.clone(),
                    end: d.range_end.clone(),
                }
            }),
            _ => None,
        })
        .collect();

    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in reqs {
        let Some(Request::Txn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || intersects(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            if puts.contains(k) && !puts_then.contains(k) {
                return Err(Error::DuplicateKey);
            }
            if intersects(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in reqs {
        let Some(Request::Put(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || intersects(&dels, &p.key) {
            return Err(Error::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
