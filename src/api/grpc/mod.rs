//! etcd's gRPC services (tonic), one set per member.

pub mod auth;
pub mod cluster;
pub mod election;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod recipes;
pub mod status;
pub mod watch;
