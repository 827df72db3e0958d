//! etcd's gRPC services (tonic), one set per member.

pub mod cluster;
pub mod kv;
pub mod maintenance;
pub mod status;
pub mod watch;
