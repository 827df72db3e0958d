//! The KV requests with etcd's semantics (etcd 3.5's `applierV3backend` in
//! `server/etcdserver/apply.go`; `server/etcdserver/txn/` in later versions).
//!
//! These run on the applier, for committed entries. The request checks etcd makes before
//! proposing (empty key, txn size, duplicate keys) are in [`super::validate`] and MUST be
//! made by the API layer first; they are not repeated here.

use std::cmp::Ordering;

use super::backend::Backend;
use super::error::{Error, Result};
use super::index::KeyRange;
use super::kv::{Event, KeyValue, LeaseChange, LeaseLookup};
use super::rpc::{
    CompactionRequest, CompactionResponse, Compare, CompareResult, CompareTarget,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    Request, RequestOp, Response, ResponseOp, SortOrder, SortTarget, TargetUnion, TxnRequest,
    TxnResponse,
};
use super::store::{MvccStore, ReadOptions, ReadResult, WriteEffects};
use super::write_txn::WriteTxn;

/// The response to a write request, with what it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied<R> {
    /// The response for the client.
    pub response: R,
    /// One event per changed key, in order, for the WatchHub.
    pub events: Vec<Event>,
    /// Lease attachments and detachments, in order, for the Lessor.
    pub lease_changes: Vec<LeaseChange>,
}

impl<R> Applied<R> {
    fn new(response: R, effects: WriteEffects) -> Self {
        Self {
            response,
            events: effects.events,
            lease_changes: effects.lease_changes,
        }
    }
}

/// What a request's checks and reads see: the store, or a write in progress.
trait View {
    /// The revision of the view (etcd's `ReadView.Rev`): a write's begin revision.
    fn rev(&self) -> i64;
    /// The compaction revision (etcd's `ReadView.FirstRev`).
    fn first_rev(&self) -> i64;
    fn read(&self, range: KeyRange<'_>, opts: ReadOptions) -> Result<ReadResult>;
}

impl<B: Backend> View for MvccStore<B> {
    fn rev(&self) -> i64 {
        self.current_revision()
    }
    fn first_rev(&self) -> i64 {
        self.compacted_revision()
    }
    fn read(&self, range: KeyRange<'_>, opts: ReadOptions) -> Result<ReadResult> {
        MvccStore::read(self, range, opts)
    }
}

impl<B: Backend> View for WriteTxn<'_, B> {
    fn rev(&self) -> i64 {
        self.begin_revision()
    }
    fn first_rev(&self) -> i64 {
        self.compacted_revision()
    }
    fn read(&self, range: KeyRange<'_>, opts: ReadOptions) -> Result<ReadResult> {
        WriteTxn::read(self, range, opts)
    }
}

impl<B: Backend> MvccStore<B> {
    /// Serves a `Range` request.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        execute_range(self, req)
    }

    /// Applies a `Put`: [`Error::LeaseNotFound`] if `lease` is not granted,
    /// [`Error::KeyNotFound`] for `ignore_value`/`ignore_lease` on a missing key.
    pub fn put(
        &mut self,
        req: &PutRequest,
        leases: &dyn LeaseLookup,
    ) -> Result<Applied<PutResponse>> {
        if req.lease != 0 && !leases.lease_exists(req.lease) {
            return Err(Error::LeaseNotFound);
        }
        let mut txn = self.write()?;
        let response = put_in(&mut txn, req)?;
        Ok(Applied::new(response, txn.finish()))
    }

    /// Applies a `DeleteRange`.
    pub fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<Applied<DeleteRangeResponse>> {
        let mut txn = self.write()?;
        let response = delete_in(&mut txn, req)?;
        Ok(Applied::new(response, txn.finish()))
    }

    /// Applies a `Txn`. All compares, including those of nested txns on the branches
    /// taken, are evaluated first, at the current revision; then the chosen ops are
    /// checked (puts: key existence for `ignore_*`, lease; ranges: revision), then run
    /// in order. All writes share one new revision; a txn that writes nothing makes none.
    pub fn txn(
        &mut self,
        req: &TxnRequest,
        leases: &dyn LeaseLookup,
    ) -> Result<Applied<TxnResponse>> {
        let path = compare_to_path(&*self, req);
        if !is_txn_read_only(req) {
            check_requests(&*self, req, &path, &|view, op| check_put(view, op, leases))?;
        }
        check_requests(&*self, req, &path, &check_range)?;

        let mut txn = self.write()?;
        match execute_txn(&mut txn, req, &path) {
            Ok(mut response) => {
                response.revision = txn.read_revision();
                Ok(Applied::new(response, txn.finish()))
            }
            Err(e) => {
                // etcd panics here: the checks above rule out every error but a
                // failing backend, and a half-applied txn must not be committed.
                if txn.has_changes() {
                    txn.poison();
                }
                Err(e)
            }
        }
    }

    /// Applies a `Compaction`: [`Error::Compacted`] if `revision` is at or below the last
    /// compaction, [`Error::FutureRevision`] if above the current revision. The records
    /// are removed (staged) before this returns, whatever `physical` says.
    pub fn compact(&mut self, req: &CompactionRequest) -> Result<CompactionResponse> {
        self.compact_at(req.revision)?;
        Ok(CompactionResponse {
            revision: self.current_revision(),
        })
    }
}

fn has_revision_filters(r: &RangeRequest) -> bool {
    r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0
}

/// etcd's `Range`: read (one more than `limit`, to learn `more`), filter by revisions,
/// sort, cut to `limit`. With a sort order or a filter, every key is read first. Note
/// that a sort target other than `KEY` with order `NONE` sorts ascending, but after the
/// limit was applied in key order, as in etcd.
fn execute_range(view: &impl View, req: &RangeRequest) -> Result<RangeResponse> {
    let mut limit = req.limit;
    if req.sort_order != SortOrder::None || has_revision_filters(req) {
        limit = 0;
    }
    if limit > 0 {
        limit = limit.saturating_add(1);
    }
    let opts = ReadOptions {
        limit,
        revision: req.revision,
        count_only: req.count_only,
    };
    let rr = view.read(KeyRange::new(&req.key, &req.range_end), opts)?;
    let mut kvs = rr.kvs;

    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }

    let mut order = req.sort_order;
    if req.sort_target != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    }
    if order != SortOrder::None {
        // Stable, like Go's insertion sort for small inputs: ties keep key order.
        let by = |a: &KeyValue, b: &KeyValue| match req.sort_target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        };
        if order == SortOrder::Descend {
            kvs.sort_by(|a, b| by(b, a));
        } else {
            kvs.sort_by(by);
        }
    }

    let cap = usize::try_from(req.limit).unwrap_or(0);
    let more = cap > 0 && kvs.len() > cap;
    if more {
        kvs.truncate(cap);
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        revision: rr.revision,
        kvs,
        more,
        count: rr.count,
    })
}

/// etcd's `Put` inside a write: reads the previous key-value when needed, then puts.
fn put_in<B: Backend>(txn: &mut WriteTxn<'_, B>, req: &PutRequest) -> Result<PutResponse> {
    let mut prev = None;
    if req.ignore_value || req.ignore_lease || req.prev_kv {
        prev = txn
            .read(KeyRange::Key(&req.key), ReadOptions::default())?
            .kvs
            .into_iter()
            .next();
    }
    let (mut value, mut lease) = (None, req.lease);
    if req.ignore_value || req.ignore_lease {
        let Some(prev) = &prev else {
            return Err(Error::KeyNotFound);
        };
        if req.ignore_value {
            value = Some(prev.value.clone());
        }
        if req.ignore_lease {
            lease = prev.lease;
        }
    }
    let value = value.unwrap_or_else(|| req.value.clone());
    let revision = txn.put(&req.key, value, lease)?;
    Ok(PutResponse {
        revision,
        prev_kv: if req.prev_kv { prev } else { None },
    })
}

/// etcd's `DeleteRange` inside a write.
fn delete_in<B: Backend>(
    txn: &mut WriteTxn<'_, B>,
    req: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse> {
    let range = KeyRange::new(&req.key, &req.range_end);
    let prev_kvs = if req.prev_kv {
        txn.read(range, ReadOptions::default())?.kvs
    } else {
        Vec::new()
    };
    let (deleted, revision) = txn.delete_range(range)?;
    Ok(DeleteRangeResponse {
        revision,
        deleted,
        prev_kvs,
    })
}

/// Whether every op of both branches is a range (etcd's `isTxnReadonly`; a nested txn
/// counts as a write).
fn is_txn_read_only(req: &TxnRequest) -> bool {
    req.success
        .iter()
        .chain(&req.failure)
        .all(|op| matches!(op.request, Some(Request::Range(_))))
}

/// The outcome of a txn's compares, and of the compares of the nested txns on the branch
/// taken, in op order (etcd's `txnPath`, as a tree).
#[derive(Debug)]
struct TxnPath {
    succeeded: bool,
    nested: Vec<TxnPath>,
}

impl TxnPath {
    fn ops<'r>(&self, req: &'r TxnRequest) -> &'r [RequestOp] {
        if self.succeeded {
            &req.success
        } else {
            &req.failure
        }
    }
}

fn compare_to_path(view: &impl View, req: &TxnRequest) -> TxnPath {
    let succeeded = req.compare.iter().all(|c| apply_compare(view, c));
    let ops = if succeeded {
        &req.success
    } else {
        &req.failure
    };
    let nested = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::Txn(t)) => Some(compare_to_path(view, t)),
            _ => None,
        })
        .collect();
    TxnPath { succeeded, nested }
}

/// etcd's `applyCompare`: the compare must hold for every key of its range; for no key,
/// it is made against an all-zero key-value, except a `VALUE` compare, which fails.
fn apply_compare(view: &impl View, c: &Compare) -> bool {
    let Ok(rr) = view.read(KeyRange::new(&c.key, &c.range_end), ReadOptions::default()) else {
        return false;
    };
    if rr.kvs.is_empty() {
        return c.target != CompareTarget::Value && compare_kv(c, &KeyValue::default());
    }
    rr.kvs.iter().all(|kv| compare_kv(c, kv))
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let operand =
        |want: fn(&TargetUnion) -> Option<i64>| c.target_union.as_ref().and_then(want).unwrap_or(0);
    let ordering = match c.target {
        CompareTarget::Value => {
            let v: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(v)
        }
        CompareTarget::Create => kv.create_revision.cmp(&operand(|u| match u {
            TargetUnion::CreateRevision(r) => Some(*r),
            _ => None,
        })),
        CompareTarget::Mod => kv.mod_revision.cmp(&operand(|u| match u {
            TargetUnion::ModRevision(r) => Some(*r),
            _ => None,
        })),
        CompareTarget::Version => kv.version.cmp(&operand(|u| match u {
            TargetUnion::Version(r) => Some(*r),
            _ => None,
        })),
        CompareTarget::Lease => kv.lease.cmp(&operand(|u| match u {
            TargetUnion::Lease(r) => Some(*r),
            _ => None,
        })),
    };
    match c.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

type CheckFn<'f, V> = dyn Fn(&V, &RequestOp) -> Result<()> + 'f;

/// Runs `check` on every op of the branches taken, nested txns included (etcd's
/// `checkRequests`).
fn check_requests<V: View>(
    view: &V,
    req: &TxnRequest,
    path: &TxnPath,
    check: &CheckFn<'_, V>,
) -> Result<()> {
    let mut nested = path.nested.iter();
    for op in path.ops(req) {
        match &op.request {
            Some(Request::Txn(t)) => {
                let Some(p) = nested.next() else {
                    return Err(Error::Corrupt(
                        "txn path out of step with the request".into(),
                    ));
                };
                check_requests(view, t, p, check)?;
            }
            _ => check(view, op)?,
        }
    }
    Ok(())
}

/// etcd 3.5's `checkRequestPut`: `ignore_*` needs the key, a lease must exist.
fn check_put(view: &impl View, op: &RequestOp, leases: &dyn LeaseLookup) -> Result<()> {
    let Some(Request::Put(p)) = &op.request else {
        return Ok(());
    };
    if p.ignore_value || p.ignore_lease {
        let rr = view.read(KeyRange::Key(&p.key), ReadOptions::default())?;
        if rr.kvs.is_empty() {
            return Err(Error::KeyNotFound);
        }
    }
    if p.lease != 0 && !leases.lease_exists(p.lease) {
        return Err(Error::LeaseNotFound);
    }
    Ok(())
}

/// etcd's `checkRequestRange`: the revision read must be neither future nor compacted.
fn check_range(view: &impl View, op: &RequestOp) -> Result<()> {
    let Some(Request::Range(r)) = &op.request else {
        return Ok(());
    };
    match r.revision {
        0 => Ok(()),
        rev if rev > view.rev() => Err(Error::FutureRevision),
        rev if rev < view.first_rev() => Err(Error::Compacted),
        _ => Ok(()),
    }
}

/// etcd's `applyTxn`: runs the ops of the branch taken, in order.
fn execute_txn<B: Backend>(
    txn: &mut WriteTxn<'_, B>,
    req: &TxnRequest,
    path: &TxnPath,
) -> Result<TxnResponse> {
    let mut nested = path.nested.iter();
    let mut responses = Vec::with_capacity(path.ops(req).len());
    for op in path.ops(req) {
        let response = match &op.request {
            Some(Request::Range(r)) => Some(Response::Range(execute_range(&*txn, r)?)),
            Some(Request::Put(p)) => Some(Response::Put(put_in(txn, p)?)),
            Some(Request::DeleteRange(d)) => Some(Response::DeleteRange(delete_in(txn, d)?)),
            Some(Request::Txn(t)) => {
                let Some(p) = nested.next() else {
                    return Err(Error::Corrupt(
                        "txn path out of step with the request".into(),
                    ));
                };
                Some(Response::Txn(execute_txn(txn, t, p)?))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        revision: 0,
        succeeded: path.succeeded,
        responses,
    })
}
