//! Prometheus metrics of one member, under etcd's names (so dashboards and alerts made
//! for etcd work), plus this project's own under `etcdrs_`.
//!
//! - this file: [`MemberMetrics`], the server, disk and MVCC metrics, and the registry;
//! - [`grpc`]: `grpc_server_*` and client gRPC bytes (counted by
//!   [`crate::api::grpc_metrics`], a tower layer on the client port);
//! - [`peer`]: peer bytes and round trip times (measured by [`crate::transport`]);
//! - [`actors`]: `etcdrs_actor_*`, mailbox depth and handling time of the actors;
//! - [`os`]: `os_fd_used` and `os_fd_limit`.
//!
//! Each member has its own registry: dev mode runs several members in one process, and
//! each client port (and each --listen-metrics-urls) shows its own member's metrics. The
//! process metrics (`process_*`, `os_fd_*`) are the same on every member of a process.

pub mod actors;
pub mod grpc;
pub mod os;
pub mod peer;

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry, exponential_buckets};

/// The metrics of one member, in their own registry (dev mode runs several members in
/// one process; each client port shows its member's).
pub struct MemberMetrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// `etcd_server_has_leader`.
    pub has_leader: IntGauge,
    /// `etcd_server_is_leader`.
    pub is_leader: IntGauge,
    /// `etcd_server_leader_changes_seen_total`.
    pub leader_changes: IntCounter,
    /// `etcd_server_proposals_committed_total` (a gauge in etcd too).
    pub proposals_committed: IntGauge,
    /// `etcd_server_proposals_applied_total` (a gauge in etcd too).
    pub proposals_applied: IntGauge,
    /// `etcd_server_proposals_pending`.
    pub proposals_pending: IntGauge,
    /// `etcd_server_proposals_failed_total`.
    pub proposals_failed: IntCounter,
    /// `etcd_debugging_mvcc_current_revision`.
    pub current_revision: IntGauge,
    /// `etcd_mvcc_db_total_size_in_bytes`.
    pub db_total_size: IntGauge,
    /// `etcd_disk_wal_fsync_duration_seconds`: each durable write of the raft log (one
    /// per group commit), timed around the batch write and its fsync together (etcd times
    /// the fsync alone; fjall does both in one commit).
    pub wal_fsync_seconds: Histogram,
    /// `etcd_disk_backend_commit_duration_seconds`: each commit of the Applier's batch to
    /// the key-value store.
    pub backend_commit_seconds: Histogram,
    /// `etcdrs_raft_persist_batch_entries`: entries per raft log write (group commit).
    pub proposals_batch: Histogram,
    /// `etcd_mvcc_db_total_size_in_use_in_bytes`.
    pub db_size_in_use: IntGauge,
    /// `etcd_debugging_mvcc_keys_total`.
    pub keys_total: IntGauge,
    /// `etcd_debugging_mvcc_watcher_total`.
    pub watchers: IntGauge,
    /// `etcd_debugging_mvcc_slow_watcher_total`: watchers being caught up from the store.
    pub slow_watchers: IntGauge,
    /// `etcdrs_raft_log_first_index`: the first index the raft log still holds (it moves
    /// when the log is compacted, every --snapshot-count applied entries).
    pub raft_log_first_index: IntGauge,
    /// `etcdrs_applier_lag_entries`: entries committed and not yet applied (set at each
    /// scrape from the raft status and the applied index).
    pub applier_lag: IntGauge,
    /// The gRPC server metrics of the client port.
    pub grpc: Arc<grpc::GrpcMetrics>,
    /// The actors' mailboxes and handling times.
    pub actors: actors::Actors,
}

impl MemberMetrics {
    /// Creates and registers every metric (`--metrics=basic`).
    pub fn new() -> prometheus::Result<MemberMetrics> {
        MemberMetrics::with_options(false)
    }

    /// Creates and registers every metric; `extensive` (`--metrics=extensive`) adds
    /// what etcd adds with it, `grpc_server_handling_seconds`.
    pub fn with_options(extensive: bool) -> prometheus::Result<MemberMetrics> {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        // etcd's buckets for both disk histograms: 1 ms doubling to about 8 s.
        let disk = || exponential_buckets(0.001, 2.0, 14).expect("valid buckets");
        let metrics = MemberMetrics {
            has_leader: gauge(
                "etcd_server_has_leader",
                "Whether or not a leader exists. 1 is existence, 0 is not.",
            )?,
            is_leader: gauge(
                "etcd_server_is_leader",
                "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            )?,
            leader_changes: counter(
                "etcd_server_leader_changes_seen_total",
                "The number of leader changes seen.",
            )?,
            proposals_committed: gauge(
                "etcd_server_proposals_committed_total",
                "The total number of consensus proposals committed.",
            )?,
            proposals_applied: gauge(
                "etcd_server_proposals_applied_total",
                "The total number of consensus proposals applied.",
            )?,
            proposals_pending: gauge(
                "etcd_server_proposals_pending",
                "The current number of pending proposals to commit.",
            )?,
            proposals_failed: counter(
                "etcd_server_proposals_failed_total",
                "The total number of failed proposals seen.",
            )?,
            current_revision: gauge(
                "etcd_debugging_mvcc_current_revision",
                "The current revision of store.",
            )?,
            db_total_size: gauge(
                "etcd_mvcc_db_total_size_in_bytes",
                "Total size of the underlying database physically allocated in bytes.",
            )?,
            wal_fsync_seconds: histogram(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
                disk(),
            )?,
            backend_commit_seconds: histogram(
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
                disk(),
            )?,
            proposals_batch: histogram(
                "etcdrs_raft_persist_batch_entries",
                "Raft log entries written per fsync (group commit).",
                exponential_buckets(1.0, 2.0, 12)?,
            )?,
            db_size_in_use: gauge(
                "etcd_mvcc_db_total_size_in_use_in_bytes",
                "Total size of the underlying database logically in use in bytes.",
            )?,
            keys_total: gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.")?,
            watchers: gauge(
                "etcd_debugging_mvcc_watcher_total",
                "Total number of watchers.",
            )?,
            slow_watchers: gauge(
                "etcd_debugging_mvcc_slow_watcher_total",
                "Total number of unsynced slow watchers.",
            )?,
            raft_log_first_index: gauge(
                "etcdrs_raft_log_first_index",
                "The first index the raft log still holds (it moves at each compaction).",
            )?,
            applier_lag: gauge(
                "etcdrs_applier_lag_entries",
                "Raft entries committed and not yet applied to the key-value store.",
            )?,
            grpc: Arc::new(grpc::GrpcMetrics::new(&registry, extensive)?),
            actors: actors::Actors::new(&registry)?,
            registry,
        };
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        metrics
            .registry
            .register(Box::new(os::FdCollector::new()?))?;
        Ok(metrics)
    }

    /// Exports the metrics of the member's network transport.
    pub fn register_peer(&self, peer: &peer::PeerMetrics) -> prometheus::Result<()> {
        peer.register(&self.registry)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}
