//! Prometheus metrics of one member, under etcd's names (so dashboards and alerts made
//! for etcd work), plus this project's own under `etcdrs_`.

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
    /// `etcd_disk_wal_fsync_duration_seconds`.
    pub wal_fsync_seconds: Histogram,
    /// `etcd_disk_backend_commit_duration_seconds`.
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
}

impl MemberMetrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<MemberMetrics> {
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
            registry,
        };
        #[cfg(target_os = "linux")]
        metrics.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}
