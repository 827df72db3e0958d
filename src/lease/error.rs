//! Errors of the Lessor, with etcd's client-visible messages and gRPC codes.

pub use crate::mvcc::GrpcCode;

/// Errors of the Lessor.
///
/// `Display` gives the exact message of etcd's gRPC status for the client-visible
/// variants (`rpctypes.ErrGRPCLease*` in `api/v3rpc/rpctypes/error.go`, mapped from
/// `lease.ErrLease*` by `v3rpc/util.go`): clients match on these strings, so the API layer
/// MUST send `to_string()` unchanged with [`LeaseError::grpc_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The lease is not granted (`lease.ErrLeaseNotFound`, `rpctypes.ErrGRPCLeaseNotFound`);
    /// gRPC `NotFound`. Also what a grant of lease id 0 answers at apply time, as in etcd.
    /// The API does not always send it: a keep-alive answers TTL 0 and a TimeToLive TTL -1
    /// instead (`v3rpc/lease.go`).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A grant of an id that is already granted (`lease.ErrLeaseExists`,
    /// `rpctypes.ErrGRPCLeaseExist`); gRPC `FailedPrecondition`.
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A grant with a TTL above [`MAX_LEASE_TTL_SECS`](super::MAX_LEASE_TTL_SECS)
    /// (`lease.ErrLeaseTTLTooLarge`, `rpctypes.ErrGRPCLeaseTTLTooLarge`); gRPC `OutOfRange`.
    #[error("etcdserver: too large lease TTL")]
    TtlTooLarge,
    /// A leader-only query (keep-alive, TimeToLive) on a member that is not the leader
    /// (`lease.ErrNotPrimary`). etcd never sends it to a client: the server forwards the
    /// request to the leader instead, and so MUST our API. Should it leak, etcd's
    /// `togRPCError` would answer gRPC `Unknown` with this message.
    #[error("not a primary lessor")]
    NotPrimary,
    /// A keep-alive of a lease whose deadline has passed: its revoke is proposed or about
    /// to be. etcd holds such a keep-alive until the revoke applies (then answers TTL 0,
    /// as for [`LeaseNotFound`](Self::LeaseNotFound)) or the member is demoted (then the
    /// client retries on the new leader). The API MAY wait the same way; answering TTL 0
    /// at once is the simple alternative. The message is the one etcd ends up sending.
    #[error("etcdserver: requested lease not found")]
    Expired,
    /// A stored lease record could not be decoded. gRPC `DataLoss`, like etcd's
    /// `ErrGRPCCorrupt`; a member that meets it at start-up MUST NOT serve.
    #[error("etcdserver: lease: corrupt lease record: {0}")]
    Corrupt(String),
}

impl LeaseError {
    /// The gRPC status code etcd answers with.
    pub fn grpc_code(&self) -> GrpcCode {
        match self {
            LeaseError::LeaseNotFound | LeaseError::Expired => GrpcCode::NotFound,
            LeaseError::LeaseExists => GrpcCode::FailedPrecondition,
            LeaseError::TtlTooLarge => GrpcCode::OutOfRange,
            LeaseError::NotPrimary => GrpcCode::Unknown,
            LeaseError::Corrupt(_) => GrpcCode::DataLoss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_are_etcds_rpctypes() {
        let cases = [
            (
                LeaseError::LeaseNotFound,
                "etcdserver: requested lease not found",
                5,
            ),
            (
                LeaseError::LeaseExists,
                "etcdserver: lease already exists",
                9,
            ),
            (
                LeaseError::TtlTooLarge,
                "etcdserver: too large lease TTL",
                11,
            ),
            (LeaseError::NotPrimary, "not a primary lessor", 2),
            (
                LeaseError::Expired,
                "etcdserver: requested lease not found",
                5,
            ),
        ];
        for (error, message, code) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.grpc_code() as i32, code, "{error:?}");
        }
    }
}
