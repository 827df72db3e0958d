//! gRPC server metrics under the names etcd exports through go-grpc-prometheus
//! (`grpc_server_started_total`, `grpc_server_handled_total`, `grpc_server_msg_received_total`,
//! `grpc_server_msg_sent_total`, and with `--metrics=extensive` `grpc_server_handling_seconds`),
//! plus etcd's `etcd_network_client_grpc_{sent,received}_bytes_total`.
//!
//! The counting itself is done by the tower layer in [`crate::api::grpc_metrics`]; this
//! module holds the counters and the table of methods. Only the methods of [`METHODS`] are
//! counted (grpc-go does not run interceptors for unknown services), which also bounds the
//! labels a client can create.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

/// go-grpc-prometheus's `grpc_type` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcType {
    /// One request, one response.
    Unary,
    /// A stream of requests, one response.
    ClientStream,
    /// One request, a stream of responses.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

impl GrpcType {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcType::Unary => "unary",
            GrpcType::ClientStream => "client_stream",
            GrpcType::ServerStream => "server_stream",
            GrpcType::BidiStream => "bidi_stream",
        }
    }
}

use GrpcType::{BidiStream, ServerStream, Unary};

/// Every gRPC method of the client port: service, method, kind. etcd 3.4 lists the
/// methods of its own services (not Lock and Election, registered after its metrics) with
/// zero counts before any call; etcd-rs lists all of these.
pub const METHODS: &[(&str, &str, GrpcType)] = &[
    ("etcdserverpb.KV", "Range", Unary),
    ("etcdserverpb.KV", "Put", Unary),
    ("etcdserverpb.KV", "DeleteRange", Unary),
    ("etcdserverpb.KV", "Txn", Unary),
    ("etcdserverpb.KV", "Compact", Unary),
    ("etcdserverpb.Watch", "Watch", BidiStream),
    ("etcdserverpb.Lease", "LeaseGrant", Unary),
    ("etcdserverpb.Lease", "LeaseRevoke", Unary),
    ("etcdserverpb.Lease", "LeaseKeepAlive", BidiStream),
    ("etcdserverpb.Lease", "LeaseTimeToLive", Unary),
    ("etcdserverpb.Lease", "LeaseLeases", Unary),
    ("etcdserverpb.Cluster", "MemberAdd", Unary),
    ("etcdserverpb.Cluster", "MemberRemove", Unary),
    ("etcdserverpb.Cluster", "MemberUpdate", Unary),
    ("etcdserverpb.Cluster", "MemberList", Unary),
    ("etcdserverpb.Cluster", "MemberPromote", Unary),
    ("etcdserverpb.Maintenance", "Alarm", Unary),
    ("etcdserverpb.Maintenance", "Status", Unary),
    ("etcdserverpb.Maintenance", "Defragment", Unary),
    ("etcdserverpb.Maintenance", "Hash", Unary),
    ("etcdserverpb.Maintenance", "HashKV", Unary),
    ("etcdserverpb.Maintenance", "Snapshot", ServerStream),
    ("etcdserverpb.Maintenance", "MoveLeader", Unary),
    ("etcdserverpb.Maintenance", "Downgrade", Unary),
    ("etcdserverpb.Auth", "AuthEnable", Unary),
    ("etcdserverpb.Auth", "AuthDisable", Unary),
    ("etcdserverpb.Auth", "AuthStatus", Unary),
    ("etcdserverpb.Auth", "Authenticate", Unary),
    ("etcdserverpb.Auth", "UserAdd", Unary),
    ("etcdserverpb.Auth", "UserGet", Unary),
    ("etcdserverpb.Auth", "UserList", Unary),
    ("etcdserverpb.Auth", "UserDelete", Unary),
    ("etcdserverpb.Auth", "UserChangePassword", Unary),
    ("etcdserverpb.Auth", "UserGrantRole", Unary),
    ("etcdserverpb.Auth", "UserRevokeRole", Unary),
    ("etcdserverpb.Auth", "RoleAdd", Unary),
    ("etcdserverpb.Auth", "RoleGet", Unary),
    ("etcdserverpb.Auth", "RoleList", Unary),
    ("etcdserverpb.Auth", "RoleDelete", Unary),
    ("etcdserverpb.Auth", "RoleGrantPermission", Unary),
    ("etcdserverpb.Auth", "RoleRevokePermission", Unary),
    ("grpc.health.v1.Health", "Check", Unary),
    ("grpc.health.v1.Health", "Watch", ServerStream),
    ("v3lockpb.Lock", "Lock", Unary),
    ("v3lockpb.Lock", "Unlock", Unary),
    ("v3electionpb.Election", "Campaign", Unary),
    ("v3electionpb.Election", "Proclaim", Unary),
    ("v3electionpb.Election", "Leader", Unary),
    ("v3electionpb.Election", "Observe", ServerStream),
    ("v3electionpb.Election", "Resign", Unary),
];

/// gRPC status codes by number, as Go's `codes.Code.String()` names them.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The code a call ends with when the client goes away first.
pub const CODE_CANCELED: usize = 1;
/// The code of a status outside the known ones, or of a call that ended without one.
pub const CODE_UNKNOWN: usize = 2;

/// The counters of one method, resolved once so that a call touches no label map.
pub struct MethodMetrics {
    /// `grpc_server_started_total`.
    pub started: IntCounter,
    /// `grpc_server_msg_received_total`.
    pub msg_received: IntCounter,
    /// `grpc_server_msg_sent_total`.
    pub msg_sent: IntCounter,
    /// `grpc_server_handled_total`, by code number (see [`CODE_NAMES`]).
    pub handled: [IntCounter; 17],
    /// `grpc_server_handling_seconds` (only with `--metrics=extensive`, as etcd).
    pub handling_seconds: Option<Histogram>,
}

impl MethodMetrics {
    /// Counts the end of a call with gRPC status `code` after `seconds`.
    pub fn handled(&self, code: usize, seconds: f64) {
        let code = if code < CODE_NAMES.len() {
            code
        } else {
            CODE_UNKNOWN
        };
        self.handled[code].inc();
        if let Some(histogram) = &self.handling_seconds {
            histogram.observe(seconds);
        }
    }
}

/// The gRPC metrics of one member's client port.
pub struct GrpcMetrics {
    /// By path (`/etcdserverpb.KV/Range`).
    methods: HashMap<String, Arc<MethodMetrics>>,
    /// `etcd_network_client_grpc_sent_bytes_total`: protobuf bytes of every message sent
    /// (what etcd's codec counts: gRPC framing and HTTP/2 not included).
    pub sent_bytes: IntCounter,
    /// `etcd_network_client_grpc_received_bytes_total`: protobuf bytes of every message
    /// received.
    pub received_bytes: IntCounter,
}

impl GrpcMetrics {
    /// Creates the metrics, every method's series at zero (as etcd lists them before any
    /// call), and registers them. `extensive` adds `grpc_server_handling_seconds`.
    pub fn new(registry: &Registry, extensive: bool) -> prometheus::Result<GrpcMetrics> {
        let labels = ["grpc_type", "grpc_service", "grpc_method"];
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok::<_, prometheus::Error>(vec)
        };
        let started = counter_vec(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            &labels,
        )?;
        let handled = counter_vec(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            &["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
        )?;
        let msg_received = counter_vec(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            &labels,
        )?;
        let msg_sent = counter_vec(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            &labels,
        )?;
        let handling = if extensive {
            // go-grpc-prometheus's default buckets (Prometheus' DefBuckets).
            let vec = HistogramVec::new(
                HistogramOpts::new(
                    "grpc_server_handling_seconds",
                    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
                ),
                &labels,
            )?;
            registry.register(Box::new(vec.clone()))?;
            Some(vec)
        } else {
            None
        };
        let mut methods = HashMap::new();
        for &(service, method, kind) in METHODS {
            let values = [kind.as_str(), service, method];
            let handled = CODE_NAMES
                .map(|code| handled.with_label_values(&[kind.as_str(), service, method, code]));
            let metrics = MethodMetrics {
                started: started.with_label_values(&values),
                msg_received: msg_received.with_label_values(&values),
                msg_sent: msg_sent.with_label_values(&values),
                handled,
                handling_seconds: handling.as_ref().map(|h| h.with_label_values(&values)),
            };
            methods.insert(format!("/{service}/{method}"), Arc::new(metrics));
        }
        let bytes = |name: &str, help: &str| {
            let counter = IntCounter::new(name, help)?;
            registry.register(Box::new(counter.clone()))?;
            Ok::<_, prometheus::Error>(counter)
        };
        Ok(GrpcMetrics {
            methods,
            sent_bytes: bytes(
                "etcd_network_client_grpc_sent_bytes_total",
                "The total number of bytes sent to grpc clients.",
            )?,
            received_bytes: bytes(
                "etcd_network_client_grpc_received_bytes_total",
                "The total number of bytes received from grpc clients.",
            )?,
        })
    }

    /// The counters of the method at `path`, if it is one of [`METHODS`].
    pub fn method(&self, path: &str) -> Option<Arc<MethodMetrics>> {
        self.methods.get(path).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_listed_at_zero_before_any_call() {
        let registry = Registry::new();
        let metrics = GrpcMetrics::new(&registry, false).unwrap();
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let line = r#"grpc_server_started_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 0"#;
        assert!(text.contains(line), "{text}");
        let handled = text
            .lines()
            .filter(|l| l.starts_with("grpc_server_handled_total{"))
            .count();
        assert_eq!(handled, METHODS.len() * CODE_NAMES.len());
        assert!(metrics.method("/etcdserverpb.KV/Nope").is_none());
        assert!(!text.contains("grpc_server_handling_seconds"));
    }

    #[test]
    fn an_unknown_code_counts_as_unknown() {
        let registry = Registry::new();
        let metrics = GrpcMetrics::new(&registry, true).unwrap();
        let range = metrics.method("/etcdserverpb.KV/Range").unwrap();
        range.handled(0, 0.001);
        range.handled(99, 0.001);
        assert_eq!(range.handled[0].get(), 1);
        assert_eq!(range.handled[CODE_UNKNOWN].get(), 1);
        assert_eq!(
            range.handling_seconds.as_ref().unwrap().get_sample_count(),
            2
        );
    }
}
