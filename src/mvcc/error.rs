//! Errors of the MVCC store, with etcd's client-visible messages and gRPC codes.

/// The gRPC status code etcd answers with for an error.
///
/// Our own copy of the few codes the KV and Lease services use, with the numeric values
/// of the gRPC specification, so the pure modules need no gRPC dependency; the API layer
/// maps it to `tonic::Code` one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    /// `UNKNOWN` (2): what etcd's `togRPCError` answers for an error it has no mapping for.
    Unknown = 2,
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument = 3,
    /// `NOT_FOUND` (5).
    NotFound = 5,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition = 9,
    /// `OUT_OF_RANGE` (11).
    OutOfRange = 11,
    /// `UNAVAILABLE` (14).
    Unavailable = 14,
    /// `DATA_LOSS` (15).
    DataLoss = 15,
}

/// A failure of the storage behind a [`Backend`](super::Backend): I/O, a failed commit.
///
/// Its own type (as in raft-rs) so a backend can say what went wrong without knowing the
/// MVCC error enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl BackendError {
    /// A backend error with this description.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// Errors of the MVCC store and of the request-level KV operations.
///
/// `Display` gives the exact message etcd's gRPC status carries (`rpctypes.ErrGRPC*` in
/// `api/v3rpc/rpctypes/error.go`): clients match on these strings, so the API layer MUST
/// send `to_string()` unchanged with [`Error::grpc_code`]. Note that etcd's gRPC messages
/// for the two revision errors carry an `etcdserver: ` prefix in front of the internal
/// `mvcc.ErrCompacted` / `mvcc.ErrFutureRev` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The revision asked for is below the compacted revision (`mvcc.ErrCompacted`,
    /// `rpctypes.ErrGRPCCompacted`); gRPC `OutOfRange`.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The revision asked for is above the current revision (`mvcc.ErrFutureRev`,
    /// `rpctypes.ErrGRPCFutureRev`); gRPC `OutOfRange`.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    /// A request or compare with an empty key (`rpctypes.ErrGRPCEmptyKey`); gRPC
    /// `InvalidArgument`.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist, or an empty
    /// `RequestOp` in a txn (`etcdserver.ErrKeyNotFound`, `rpctypes.ErrGRPCKeyNotFound`);
    /// gRPC `InvalidArgument`.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// A put with `ignore_value` that also carries a value
    /// (`rpctypes.ErrGRPCValueProvided`); gRPC `InvalidArgument`.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// A put with `ignore_lease` that also carries a lease
    /// (`rpctypes.ErrGRPCLeaseProvided`); gRPC `InvalidArgument`.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// A txn with more compares or ops in one list than `max_txn_ops`
    /// (`rpctypes.ErrGRPCTooManyOps`); gRPC `InvalidArgument`.
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// A txn that writes one key twice, or puts a key it also deletes
    /// (`rpctypes.ErrGRPCDuplicateKey`); gRPC `InvalidArgument`.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A sort order or sort target outside the protobuf enum
    /// (`rpctypes.ErrGRPCInvalidSortOption`); gRPC `InvalidArgument`.
    #[error("etcdserver: invalid sort option")]
    InvalidSortOption,
    /// A put that names a lease the lessor does not know (`lease.ErrLeaseNotFound`,
    /// `rpctypes.ErrGRPCLeaseNotFound`); gRPC `NotFound`.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// The backend failed. etcd exits in this case; our member stops serving.
    /// gRPC `Unavailable` (our choice: the client should go to another member).
    #[error("etcdserver: mvcc: backend failed: {0}")]
    Backend(#[from] BackendError),
    /// A stored record could not be decoded, or the stored records contradict each other.
    /// gRPC `DataLoss`, like etcd's `ErrGRPCCorrupt`.
    #[error("etcdserver: mvcc: corrupt store: {0}")]
    Corrupt(String),
    /// An earlier write or commit failed half-way, so the in-memory state may differ from
    /// the backend's; the store refuses all further work and the member must restart.
    /// gRPC `Unavailable`.
    #[error("etcdserver: mvcc: store stopped after a backend failure")]
    Poisoned,
}

impl Error {
    /// The gRPC status code etcd (or, for our own variants, etcd-rs) answers with.
    pub fn grpc_code(&self) -> GrpcCode {
        match self {
            Error::Compacted | Error::FutureRevision => GrpcCode::OutOfRange,
            Error::EmptyKey
            | Error::KeyNotFound
            | Error::ValueProvided
            | Error::LeaseProvided
            | Error::TooManyOps
            | Error::DuplicateKey
            | Error::InvalidSortOption => GrpcCode::InvalidArgument,
            Error::LeaseNotFound => GrpcCode::NotFound,
            Error::Backend(_) | Error::Poisoned => GrpcCode::Unavailable,
            Error::Corrupt(_) => GrpcCode::DataLoss,
        }
    }
}

/// Result of the MVCC store's API.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_etcds_grpc_messages() {
        assert_eq!(
            Error::Compacted.to_string(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(
            Error::FutureRevision.to_string(),
            "etcdserver: mvcc: required revision is a future revision"
        );
        assert_eq!(
            Error::EmptyKey.to_string(),
            "etcdserver: key is not provided"
        );
        assert_eq!(
            Error::DuplicateKey.to_string(),
            "etcdserver: duplicate key given in txn request"
        );
        assert_eq!(
            Error::LeaseNotFound.to_string(),
            "etcdserver: requested lease not found"
        );
    }

    #[test]
    fn revision_errors_are_out_of_range_and_lease_not_found_is_not_found() {
        assert_eq!(Error::Compacted.grpc_code(), GrpcCode::OutOfRange);
        assert_eq!(Error::FutureRevision.grpc_code(), GrpcCode::OutOfRange);
        assert_eq!(Error::LeaseNotFound.grpc_code(), GrpcCode::NotFound);
        assert_eq!(Error::TooManyOps.grpc_code(), GrpcCode::InvalidArgument);
        assert_eq!(GrpcCode::OutOfRange as i32, 11);
    }
}
