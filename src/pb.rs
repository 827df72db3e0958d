//! The protobuf messages and gRPC services of etcd's v3 API, generated from `proto/`
//! (this project's own text, etcd's packages, names and field numbers).

#![allow(
    missing_docs,
    reason = "generated code; the .proto files carry the docs"
)]
#![allow(clippy::all, clippy::pedantic, reason = "generated code")]

/// `mvccpb`: key-values and watch events.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// `authpb`: users, roles and permissions.
pub mod authpb {
    tonic::include_proto!("authpb");
}

/// `etcdserverpb`: the v3 API and the raft log's request envelope.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// `v3lockpb`: the Lock service.
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}

/// `v3electionpb`: the Election service.
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}
