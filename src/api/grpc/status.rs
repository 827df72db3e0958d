//! Request failures as gRPC statuses, with etcd's codes and messages.

use tonic::{Code, Status};

use crate::auth::AuthError;
use crate::mvcc::{self, GrpcCode};
use crate::server::handle::ApiError;
use crate::server::membership::MembershipError;

/// The status etcd answers for `error`.
pub fn status(error: ApiError) -> Status {
    match error {
        ApiError::Mvcc(e) => mvcc_status(&e),
        ApiError::Lease(e) => lease_status(&e),
        ApiError::TooLarge => Status::new(Code::InvalidArgument, error.to_string()),
        ApiError::NotLeader | ApiError::BadLeaderTransferee => {
            Status::new(Code::FailedPrecondition, error.to_string())
        }
        ApiError::LeaderTransferTimeout => Status::new(Code::Unavailable, error.to_string()),
        ApiError::NoSpace => Status::new(Code::ResourceExhausted, error.to_string()),
        ApiError::Corrupt => Status::new(Code::DataLoss, error.to_string()),
        ApiError::Timeout | ApiError::Stopped => Status::new(Code::Unavailable, error.to_string()),
        ApiError::Membership(e) => membership_status(&e),
        ApiError::Auth(e) => auth_status(&e),
    }
}

/// The status etcd answers for an auth error.
pub fn auth_status(error: &AuthError) -> Status {
    let code = match error {
        AuthError::RootUserNotExist
        | AuthError::RootRoleNotExist
        | AuthError::UserAlreadyExist
        | AuthError::UserNotFound
        | AuthError::RoleAlreadyExist
        | AuthError::RoleNotFound
        | AuthError::RoleNotGranted
        | AuthError::PermissionNotGranted
        | AuthError::AuthNotEnabled => Code::FailedPrecondition,
        AuthError::UserEmpty
        | AuthError::RoleEmpty
        | AuthError::AuthFailed
        | AuthError::InvalidAuthMgmt
        | AuthError::OldRevision
        | AuthError::PermissionNotGiven => Code::InvalidArgument,
        AuthError::PermissionDenied => Code::PermissionDenied,
        AuthError::InvalidAuthToken => Code::Unauthenticated,
        AuthError::NoPasswordUser | AuthError::VerifyOnly | AuthError::Signing(_) => Code::Unknown,
    };
    Status::new(code, error.to_string())
}

/// The status etcd answers for a membership error.
fn membership_status(error: &MembershipError) -> Status {
    let code = match error {
        MembershipError::NotFound => Code::NotFound,
        MembershipError::BadUrls => Code::InvalidArgument,
        MembershipError::Unhealthy => Code::Unavailable,
        MembershipError::IdExists
        | MembershipError::PeerUrlExists
        | MembershipError::NotEnoughStarted
        | MembershipError::NotLearner
        | MembershipError::LearnerNotReady
        | MembershipError::TooManyLearners => Code::FailedPrecondition,
    };
    Status::new(code, error.to_string())
}

fn code(code: GrpcCode) -> Code {
    match code {
        GrpcCode::Unknown => Code::Unknown,
        GrpcCode::InvalidArgument => Code::InvalidArgument,
        GrpcCode::NotFound => Code::NotFound,
        GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        GrpcCode::OutOfRange => Code::OutOfRange,
        GrpcCode::Unavailable => Code::Unavailable,
        GrpcCode::DataLoss => Code::DataLoss,
    }
}

/// The status etcd answers for a store error.
pub fn mvcc_status(error: &mvcc::Error) -> Status {
    Status::new(code(error.grpc_code()), error.to_string())
}

/// The status etcd answers for a lessor error.
pub fn lease_status(error: &crate::lease::LeaseError) -> Status {
    Status::new(code(error.grpc_code()), error.to_string())
}

/// The answer to a call this member does not serve yet: a clear refusal, never a fake
/// success.
pub fn not_implemented(what: &str) -> Status {
    Status::unimplemented(format!("etcd-rs: {what} is not implemented yet"))
}
