//! Request and response messages of etcd's KV service, field for field as in
//! `etcdserverpb/rpc.proto`, so the gRPC layer converts its prost types one to one.
//!
//! Response headers are the caller's: each response carries only `revision`, the
//! `header.revision` etcd would send. Nested txn responses carry revision 0, as in etcd
//! (only the outermost header is filled).

use super::error::{Error, Result};
use super::kv::KeyValue;

/// Order of a range's results (`RangeRequest.SortOrder`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// No sorting: key order (`NONE` = 0).
    #[default]
    None = 0,
    /// Lowest target value first (`ASCEND` = 1).
    Ascend = 1,
    /// Highest target value first (`DESCEND` = 2).
    Descend = 2,
}

/// What a range's results are sorted by (`RangeRequest.SortTarget`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortTarget {
    /// `KEY` = 0.
    #[default]
    Key = 0,
    /// `VERSION` = 1.
    Version = 1,
    /// `CREATE` = 2.
    Create = 2,
    /// `MOD` = 3.
    Mod = 3,
    /// `VALUE` = 4.
    Value = 4,
}

impl TryFrom<i32> for SortOrder {
    type Error = Error;

    /// An unknown value is [`Error::InvalidSortOption`], as etcd's `checkRangeRequest`.
    fn try_from(v: i32) -> Result<Self> {
        match v {
            0 => Ok(SortOrder::None),
            1 => Ok(SortOrder::Ascend),
            2 => Ok(SortOrder::Descend),
            _ => Err(Error::InvalidSortOption),
        }
    }
}

impl TryFrom<i32> for SortTarget {
    type Error = Error;

    /// An unknown value is [`Error::InvalidSortOption`], as etcd's `checkRangeRequest`.
    fn try_from(v: i32) -> Result<Self> {
        match v {
            0 => Ok(SortTarget::Key),
            1 => Ok(SortTarget::Version),
            2 => Ok(SortTarget::Create),
            3 => Ok(SortTarget::Mod),
            4 => Ok(SortTarget::Value),
            _ => Err(Error::InvalidSortOption),
        }
    }
}

/// `RangeRequest`: read the keys `[key, range_end)` (see
/// [`KeyRange::new`](super::KeyRange::new) for how `range_end` is read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// The first key (field 1).
    pub key: Vec<u8>,
    /// The end of the range (field 2).
    pub range_end: Vec<u8>,
    /// At most this many keys; 0 or less for no limit (field 3).
    pub limit: i64,
    /// Read at this revision; 0 or less for the current one (field 4).
    pub revision: i64,
    /// Sort order (field 5).
    pub sort_order: SortOrder,
    /// Sort target (field 6).
    pub sort_target: SortTarget,
    /// Serve from the local member without a ReadIndex round (field 7); the store
    /// ignores it, the API layer routes on it.
    pub serializable: bool,
    /// Return keys without values (field 8).
    pub keys_only: bool,
    /// Return only the count (field 9).
    pub count_only: bool,
    /// Keep only keys with `mod_revision >=` this; 0 for no bound (field 10).
    pub min_mod_revision: i64,
    /// Keep only keys with `mod_revision <=` this; 0 for no bound (field 11).
    pub max_mod_revision: i64,
    /// Keep only keys with `create_revision >=` this; 0 for no bound (field 12).
    pub min_create_revision: i64,
    /// Keep only keys with `create_revision <=` this; 0 for no bound (field 13).
    pub max_create_revision: i64,
}

/// `RangeResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// `header.revision`: the store's revision when the range was served.
    pub revision: i64,
    /// The key-values (field 2).
    pub kvs: Vec<KeyValue>,
    /// Whether more keys matched than `limit` let through (field 3).
    pub more: bool,
    /// The number of keys in the range at the revision, before limit and filters
    /// (field 4).
    pub count: i64,
}

/// `PutRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutRequest {
    /// The key (field 1).
    pub key: Vec<u8>,
    /// The value (field 2).
    pub value: Vec<u8>,
    /// The lease to attach the key to; 0 for none (field 3).
    pub lease: i64,
    /// Return the previous key-value (field 4).
    pub prev_kv: bool,
    /// Keep the current value; the key must exist (field 5).
    pub ignore_value: bool,
    /// Keep the current lease; the key must exist (field 6).
    pub ignore_lease: bool,
}

/// `PutResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutResponse {
    /// `header.revision`: the revision of the put.
    pub revision: i64,
    /// The previous key-value, if asked for and the key existed (field 2).
    pub prev_kv: Option<KeyValue>,
}

/// `DeleteRangeRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRangeRequest {
    /// The first key (field 1).
    pub key: Vec<u8>,
    /// The end of the range (field 2).
    pub range_end: Vec<u8>,
    /// Return the deleted key-values (field 3).
    pub prev_kv: bool,
}

/// `DeleteRangeResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    /// `header.revision`: the revision of the deletion, or the current one if nothing
    /// was deleted.
    pub revision: i64,
    /// The number of keys deleted (field 2).
    pub deleted: i64,
    /// The deleted key-values, if asked for (field 3).
    pub prev_kvs: Vec<KeyValue>,
}

/// `RequestOp`: one operation of a txn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOp {
    /// The `request` oneof; `None` (an empty op) is refused by validation.
    pub request: Option<Request>,
}

/// The `RequestOp.request` oneof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `request_range` (field 1).
    Range(RangeRequest),
    /// `request_put` (field 2).
    Put(PutRequest),
    /// `request_delete_range` (field 3).
    DeleteRange(DeleteRangeRequest),
    /// `request_txn` (field 4).
    Txn(TxnRequest),
}

impl From<Request> for RequestOp {
    fn from(request: Request) -> Self {
        Self {
            request: Some(request),
        }
    }
}

/// `ResponseOp`: the response to one operation of a txn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseOp {
    /// The `response` oneof; `None` for an empty request op.
    pub response: Option<Response>,
}

/// The `ResponseOp.response` oneof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `response_range` (field 1).
    Range(RangeResponse),
    /// `response_put` (field 2).
    Put(PutResponse),
    /// `response_delete_range` (field 3).
    DeleteRange(DeleteRangeResponse),
    /// `response_txn` (field 4).
    Txn(TxnResponse),
}

/// `Compare.CompareResult`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CompareResult {
    /// `EQUAL` = 0.
    #[default]
    Equal = 0,
    /// `GREATER` = 1.
    Greater = 1,
    /// `LESS` = 2.
    Less = 2,
    /// `NOT_EQUAL` = 3.
    NotEqual = 3,
}

/// `Compare.CompareTarget`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CompareTarget {
    /// `VERSION` = 0.
    #[default]
    Version = 0,
    /// `CREATE` = 1.
    Create = 1,
    /// `MOD` = 2.
    Mod = 2,
    /// `VALUE` = 3.
    Value = 3,
    /// `LEASE` = 4.
    Lease = 4,
}

/// The `Compare.target_union` oneof: the operand compared against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUnion {
    /// `version` (field 4).
    Version(i64),
    /// `create_revision` (field 5).
    CreateRevision(i64),
    /// `mod_revision` (field 6).
    ModRevision(i64),
    /// `value` (field 7).
    Value(Vec<u8>),
    /// `lease` (field 8).
    Lease(i64),
}

/// `Compare`: a condition on every key of `[key, range_end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compare {
    /// How the key's field relates to the operand (field 1).
    pub result: CompareResult,
    /// Which field of the key is compared (field 2).
    pub target: CompareTarget,
    /// The first key (field 3).
    pub key: Vec<u8>,
    /// The operand. If it is not the variant matching `target`, the operand is 0 (or the
    /// empty value), as in etcd (oneof `target_union`, fields 4 to 8).
    pub target_union: Option<TargetUnion>,
    /// The end of the range (field 64).
    pub range_end: Vec<u8>,
}

/// `TxnRequest`: if every compare holds, run `success`, else `failure`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnRequest {
    /// The conditions (field 1).
    pub compare: Vec<Compare>,
    /// The ops run if all conditions hold (field 2).
    pub success: Vec<RequestOp>,
    /// The ops run otherwise (field 3).
    pub failure: Vec<RequestOp>,
}

impl TxnRequest {
    /// A txn that deletes each of `keys` (single keys, not ranges) with no compare: all
    /// in one revision. A lease revoke deletes its keys so, as etcd does.
    pub fn delete_keys(keys: impl IntoIterator<Item = Vec<u8>>) -> TxnRequest {
        TxnRequest {
            compare: Vec::new(),
            success: keys
                .into_iter()
                .map(|key| {
                    Request::DeleteRange(DeleteRangeRequest {
                        key,
                        range_end: Vec::new(),
                        prev_kv: false,
                    })
                    .into()
                })
                .collect(),
            failure: Vec::new(),
        }
    }
}

/// `TxnResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// `header.revision`: the revision of the txn's writes, or the current revision if
    /// it wrote nothing; 0 in a nested txn's response.
    pub revision: i64,
    /// Whether the compares held (field 2).
    pub succeeded: bool,
    /// One response per op of the branch run, in order (field 3).
    pub responses: Vec<ResponseOp>,
}

/// `CompactionRequest`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionRequest {
    /// Compact away the history before this revision (field 1).
    pub revision: i64,
    /// Answer only once the records are removed (field 2). This store removes them
    /// before answering either way.
    pub physical: bool,
}

/// `CompactionResponse`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionResponse {
    /// `header.revision`: the current revision.
    pub revision: i64,
}
