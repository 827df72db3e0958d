//! `/metrics` speaks etcd's metric names, types, labels and buckets, so dashboards and
//! alerts made for etcd read etcd-rs unchanged.
//!
//! The shapes etcd 3.4.23 exports are in `tests/golden/metrics_etcd_3.4.23.txt`; these
//! tests compare the server's against them and pass against etcd itself
//! (`ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test metrics`), which with
//! `ETCD_TEST_WRITE_GOLDEN=1` also rewrites the golden file. The checks of this project's
//! own `etcdrs_*` metrics run against etcd-rs only.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use support::cluster::{Cluster, free_port, wait_until};
use support::{Member, etcdctl_at, etcdctl_bin, http_request, testing_etcd_rs};

const GOLDEN: &str = "tests/golden/metrics_etcd_3.4.23.txt";

/// One sample line of the text exposition.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` page.
struct Metrics {
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Metrics {
    fn get(addr: SocketAddr) -> Metrics {
        let answer = http_request(addr, "GET", "/metrics", "").expect("GET /metrics");
        assert_eq!(answer.status, 200, "GET /metrics: {}", answer.body);
        Metrics::parse(&answer.body)
    }

    fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics {
            types: BTreeMap::new(),
            helps: BTreeMap::new(),
            samples: Vec::new(),
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                metrics.types.insert(name.into(), kind.into());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                metrics.helps.insert(name.into(), help.into());
            } else if !line.starts_with('#') && !line.is_empty() {
                metrics.samples.push(parse_sample(line));
            }
        }
        metrics
    }

    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count`
    /// belong to the histogram).
    fn family_of<'a>(&self, name: &'a str) -> &'a str {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && self.types.get(base).is_some_and(|t| t == "histogram")
            {
                return base;
            }
        }
        name
    }

    /// `family <name> <type> <labels> [<buckets>]`, as in the golden file, or `None` if
    /// the family is not exported.
    fn shape(&self, family: &str) -> Option<String> {
        let kind = self.types.get(family)?;
        let mut labels = BTreeSet::new();
        let mut buckets: Vec<f64> = Vec::new();
        for sample in self
            .samples
            .iter()
            .filter(|s| self.family_of(&s.name) == family)
        {
            for (name, value) in &sample.labels {
                if name == "le" {
                    let bound: f64 = value.parse().expect("le is a number");
                    if bound.is_finite() && !buckets.contains(&bound) {
                        buckets.push(bound);
                    }
                } else {
                    labels.insert(name.clone());
                }
            }
        }
        let labels = if labels.is_empty() {
            "-".to_string()
        } else {
            labels.into_iter().collect::<Vec<_>>().join(",")
        };
        let mut line = format!("family {family} {kind} {labels}");
        if kind == "histogram" {
            let bounds: Vec<String> = buckets.iter().map(|b| b.to_string()).collect();
            line = format!("{line} {}", bounds.join(","));
        }
        Some(line)
    }

    /// The value of the sample `name` whose labels include `labels`; `None` if absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
    }

    /// Like `value`, panicking with the name if absent.
    fn must(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing from /metrics"))
    }
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or(f64::NAN),
    };
    let Some((name, labels)) = series.split_once('{') else {
        return Sample {
            name: series.into(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let mut parsed = BTreeMap::new();
    let mut rest = labels.strip_suffix('}').expect("labels end with }");
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let end = after.find('"').expect("closing quote");
        parsed.insert(key.to_string(), after[..end].to_string());
        rest = after[end + 1..].trim_start_matches(',');
    }
    Sample {
        name: name.into(),
        labels: parsed,
        value,
    }
}

/// The golden file's lines of one kind (`family`, `help` or `method`), without the kind.
fn golden(kind: &str) -> Vec<String> {
    std::fs::read_to_string(golden_path())
        .expect("the golden file")
        .lines()
        .filter_map(|l| l.strip_prefix(kind).and_then(|l| l.strip_prefix(' ')))
        .map(String::from)
        .collect()
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(GOLDEN)
}

/// The gRPC methods the server lists in `grpc_server_started_total`, as golden lines.
fn methods(metrics: &Metrics) -> BTreeSet<String> {
    metrics
        .samples
        .iter()
        .filter(|s| s.name == "grpc_server_started_total")
        .map(|s| {
            format!(
                "{}/{} {}",
                s.labels["grpc_service"], s.labels["grpc_method"], s.labels["grpc_type"]
            )
        })
        .collect()
}

/// Rewrites the golden file from what etcd exports (`ETCD_TEST_WRITE_GOLDEN=1`).
fn write_golden(metrics: &Metrics) {
    let text = std::fs::read_to_string(golden_path()).expect("the golden file");
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let families: Vec<String> = golden("family")
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let mut out: Vec<String> = header.iter().map(|l| l.to_string()).collect();
    for family in &families {
        out.push(metrics.shape(family).expect("etcd exports it"));
    }
    for family in &families {
        out.push(format!("help {family} {}", metrics.helps[family]));
    }
    out.extend(methods(metrics).into_iter().map(|m| format!("method {m}")));
    std::fs::write(golden_path(), out.join("\n") + "\n").expect("write the golden file");
}

/// `etcdctl watch <key>` on `endpoint`, running until killed.
fn watcher(endpoint: &str, key: &str) -> Child {
    Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoint, "watch", key])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl watch starts")
}

fn ok(endpoint: &str, args: &[&str]) -> String {
    let output = etcdctl_at(endpoint, args, b"");
    assert!(
        output.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn metrics_use_etcds_names_and_follow_the_store() {
    let member = Member::start(&[]);
    for key in ["a", "b", "c"] {
        assert!(member.etcdctl(&["put", key, "v"]).status.success());
    }
    let metrics = Metrics::get(member.client_addr());
    assert_eq!(metrics.must("etcd_server_has_leader", &[]), 1.0);
    assert_eq!(metrics.must("etcd_server_is_leader", &[]), 1.0);
    assert_eq!(metrics.must("etcd_debugging_mvcc_keys_total", &[]), 3.0);
    assert!(metrics.must("etcd_debugging_mvcc_current_revision", &[]) >= 4.0);
    assert!(metrics.must("etcd_disk_wal_fsync_duration_seconds_count", &[]) >= 3.0);
    assert!(metrics.must("etcd_disk_backend_commit_duration_seconds_count", &[]) >= 1.0);
    assert!(metrics.must("etcd_mvcc_db_total_size_in_bytes", &[]) > 0.0);
    assert!(metrics.must("etcd_mvcc_db_total_size_in_use_in_bytes", &[]) > 0.0);
    assert!(metrics.must("etcd_server_proposals_committed_total", &[]) >= 3.0);
    assert_eq!(metrics.must("etcd_server_proposals_pending", &[]), 0.0);
    if testing_etcd_rs() {
        this_projects_metrics_follow_the_actors(&metrics);
    }
}

/// `etcdrs_*`: every actor's mailbox depth is listed, the hot messages were timed, group
/// commit observed its batches, and the applier has caught up.
fn this_projects_metrics_follow_the_actors(metrics: &Metrics) {
    for actor in ["raft_node", "raft_log", "applier", "watch_hub"] {
        let depth = metrics.must("etcdrs_actor_mailbox_depth", &[("actor", actor)]);
        assert!(depth >= 0.0, "{actor}'s mailbox depth is {depth}");
    }
    for (actor, message) in [
        ("raft_node", "Propose"),
        ("raft_log", "Persist"),
        ("applier", "ApplyEntries"),
        ("watch_hub", "CommittedEvents"),
    ] {
        let labels = [("actor", actor), ("message", message)];
        let handled = metrics.must("etcdrs_actor_handling_seconds_count", &labels);
        assert!(handled >= 3.0, "{actor} handled {handled} {message}");
    }
    assert!(metrics.must("etcdrs_raft_persist_batch_entries_count", &[]) >= 3.0);
    // Three puts were answered, so applied: at most the publish of the member lags.
    assert!(metrics.must("etcdrs_applier_lag_entries", &[]) <= 1.0);
}

/// The metrics of issue 6 after some load (puts, a range, a watch, a lease, a failed
/// compaction) on a two-member cluster: each has etcd's type, labels and buckets, the
/// gRPC methods etcd lists are listed with its grpc_type, and the counts follow the calls.
#[test]
fn every_promised_metric_has_etcds_type_labels_and_buckets() {
    let cluster = Cluster::start(2, "metrics");
    let url = cluster.url(0);
    let addr = SocketAddr::from(([127, 0, 0, 1], cluster.ports[0].0));
    for key in ["k1", "k2", "k3"] {
        ok(&url, &["put", key, "v"]);
    }
    ok(&url, &["get", "k1"]);
    let lease = ok(&url, &["lease", "grant", "60"]);
    let lease_id = lease.split_whitespace().nth(1).expect("lease <id> granted");
    ok(&url, &["lease", "keep-alive", "--once", lease_id]);
    let compact = etcdctl_at(&url, &["compact", "1000"], b"");
    assert!(
        !compact.status.success(),
        "compacting a future revision fails"
    );

    let mut watch = watcher(&url, "w");
    wait_until("the watcher registered", || {
        Metrics::get(addr).value("etcd_debugging_mvcc_watcher_total", &[]) >= Some(1.0)
    });
    ok(&url, &["put", "w", "event"]);
    let watch_labels = [
        ("grpc_service", "etcdserverpb.Watch"),
        ("grpc_method", "Watch"),
        ("grpc_type", "bidi_stream"),
    ];
    wait_until("the event sent", || {
        Metrics::get(addr).value("grpc_server_msg_sent_total", &watch_labels) >= Some(2.0)
    });
    let _ = watch.kill();
    let _ = watch.wait();
    let canceled = [watch_labels.as_slice(), &[("grpc_code", "Canceled")]].concat();
    wait_until("the watch handled as canceled", || {
        Metrics::get(addr).value("grpc_server_handled_total", &canceled) >= Some(1.0)
    });
    // etcd probes its peers every few seconds; etcd-rs pings them every second.
    wait_until("a peer round trip measured", || {
        Metrics::get(addr)
            .value("etcd_network_peer_round_trip_time_seconds_count", &[])
            .is_some()
    });
    let metrics = Metrics::get(addr);

    if std::env::var_os("ETCD_TEST_WRITE_GOLDEN").is_some() && !testing_etcd_rs() {
        write_golden(&metrics);
    }
    let mut differences = Vec::new();
    for expected in golden("family") {
        let family = expected.split(' ').next().unwrap().to_string();
        let actual = metrics.shape(&family);
        if actual.as_deref() != Some(format!("family {expected}").as_str()) {
            differences.push(format!("expected family {expected}\n  actual {actual:?}"));
        }
    }
    for expected in golden("help") {
        let (family, help) = expected.split_once(' ').unwrap();
        if metrics.helps.get(family).map(String::as_str) != Some(help) {
            let actual = metrics.helps.get(family);
            differences.push(format!("help of {family}: {help:?}, actual {actual:?}"));
        }
    }
    let listed = methods(&metrics);
    for method in golden("method") {
        if !listed.contains(&method) {
            differences.push(format!("method {method} not listed"));
        }
    }
    assert!(
        differences.is_empty(),
        "/metrics differs from etcd 3.4.23's ({GOLDEN}):\n{}",
        differences.join("\n")
    );

    the_counts_follow_the_calls(&metrics, &url);
}

fn the_counts_follow_the_calls(metrics: &Metrics, url: &str) {
    let unary = |service, method, code| {
        let labels = [
            ("grpc_service", service),
            ("grpc_method", method),
            ("grpc_type", "unary"),
            ("grpc_code", code),
        ];
        metrics.value("grpc_server_handled_total", &labels)
    };
    assert!(unary("etcdserverpb.KV", "Range", "OK") >= Some(1.0));
    assert_eq!(unary("etcdserverpb.KV", "Put", "OK"), Some(4.0));
    assert_eq!(unary("etcdserverpb.KV", "Compact", "OutOfRange"), Some(1.0));
    assert_eq!(unary("etcdserverpb.KV", "Compact", "OK"), Some(0.0));
    let put = [("grpc_service", "etcdserverpb.KV"), ("grpc_method", "Put")];
    for name in [
        "grpc_server_started_total",
        "grpc_server_msg_received_total",
        "grpc_server_msg_sent_total",
    ] {
        assert_eq!(metrics.value(name, &put), Some(4.0), "{name} of Put");
    }
    let compact = [
        ("grpc_service", "etcdserverpb.KV"),
        ("grpc_method", "Compact"),
    ];
    // A failed unary call received its request and sent no response message.
    assert_eq!(
        metrics.value("grpc_server_msg_received_total", &compact),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("grpc_server_msg_sent_total", &compact),
        Some(0.0)
    );
    for name in [
        "etcd_network_client_grpc_received_bytes_total",
        "etcd_network_client_grpc_sent_bytes_total",
    ] {
        assert!(metrics.must(name, &[]) > 0.0, "{name}");
    }

    // The peer metrics are labelled with the other member's id, in hex.
    let members = ok(url, &["member", "list"]);
    let peer = members
        .lines()
        .find(|l| l.contains(", m1,"))
        .and_then(|l| l.split(',').next())
        .expect("m1 is listed");
    assert!(metrics.must("etcd_network_peer_sent_bytes_total", &[("To", peer)]) > 0.0);
    assert!(metrics.must("etcd_network_peer_received_bytes_total", &[("From", peer)]) > 0.0);
    let round_trip = "etcd_network_peer_round_trip_time_seconds_count";
    assert!(metrics.must(round_trip, &[("To", peer)]) >= 1.0);

    assert_eq!(metrics.must("etcd_debugging_mvcc_keys_total", &[]), 4.0);
    assert_eq!(
        metrics.must("etcd_debugging_mvcc_slow_watcher_total", &[]),
        0.0
    );
    assert_eq!(metrics.must("etcd_server_has_leader", &[]), 1.0);
    let committed = metrics.must("etcd_server_proposals_committed_total", &[]);
    let applied = metrics.must("etcd_server_proposals_applied_total", &[]);
    assert!(
        committed >= applied && applied >= 4.0,
        "{committed} {applied}"
    );
    assert!(metrics.must("process_resident_memory_bytes", &[]) > 0.0);
    let (used, limit) = (
        metrics.must("os_fd_used", &[]),
        metrics.must("os_fd_limit", &[]),
    );
    assert!(used > 0.0 && used <= limit, "{used} of {limit} descriptors");
}

/// `--listen-metrics-urls` serves `/metrics` and `/health` (and nothing else) as etcd
/// does; `--metrics=extensive` adds `grpc_server_handling_seconds` with etcd's buckets.
#[test]
fn metrics_urls_serve_metrics_and_health_and_extensive_adds_handling_time() {
    let port = free_port();
    let flag = format!("--listen-metrics-urls=http://127.0.0.1:{port}");
    let member = Member::start(&[&flag, "--metrics=extensive"]);
    assert!(member.etcdctl(&["get", "k"]).status.success());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let metrics = Metrics::get(addr);
    assert_eq!(metrics.must("etcd_server_has_leader", &[]), 1.0);
    assert_eq!(
        metrics.shape("grpc_server_handling_seconds").as_deref(),
        Some(
            "family grpc_server_handling_seconds histogram grpc_method,grpc_service,grpc_type \
             0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"
        )
    );
    let range = [
        ("grpc_service", "etcdserverpb.KV"),
        ("grpc_method", "Range"),
    ];
    assert!(metrics.value("grpc_server_handling_seconds_count", &range) >= Some(1.0));

    let health = http_request(addr, "GET", "/health", "").expect("GET /health");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"health":"true"}"#)
    );
    let version = http_request(addr, "GET", "/version", "").expect("GET /version");
    assert_eq!(
        (version.status, version.body.as_str()),
        (404, "404 page not found\n")
    );
}
