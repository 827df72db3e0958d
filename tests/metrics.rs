//! `/metrics` on the client port speaks etcd's metric names, so dashboards and alerts
//! made for etcd read etcd-rs unchanged.

mod support;

use support::{Member, http_request};

fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[test]
fn metrics_use_etcds_names_and_follow_the_store() {
    let member = Member::start(&[]);
    for key in ["a", "b", "c"] {
        assert!(member.etcdctl(&["put", key, "v"]).status.success());
    }
    // The body, with any chunked transfer encoding undone.
    let metrics = http_request(member.client_addr(), "GET", "/metrics", "")
        .expect("metrics")
        .body;
    assert_eq!(value(&metrics, "etcd_server_has_leader"), 1.0);
    assert_eq!(value(&metrics, "etcd_server_is_leader"), 1.0);
    assert_eq!(value(&metrics, "etcd_debugging_mvcc_keys_total"), 3.0);
    assert!(value(&metrics, "etcd_debugging_mvcc_current_revision") >= 4.0);
    assert!(value(&metrics, "etcd_disk_wal_fsync_duration_seconds_count") >= 3.0);
    assert!(value(&metrics, "etcd_disk_backend_commit_duration_seconds_count") >= 1.0);
    assert!(value(&metrics, "etcd_mvcc_db_total_size_in_bytes") > 0.0);
    assert!(value(&metrics, "etcd_mvcc_db_total_size_in_use_in_bytes") > 0.0);
    assert!(value(&metrics, "etcd_server_proposals_committed_total") >= 3.0);
    assert_eq!(value(&metrics, "etcd_server_proposals_pending"), 0.0);
}
