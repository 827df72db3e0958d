//! The Grafana dashboards in `dashboards/` and etcd's own dashboard (the etcd mixin, its
//! queries in `dashboards/etcd-mixin-queries.txt`) read etcd-rs: a real Prometheus
//! (Debian's `prometheus`, `/usr/bin/prometheus` or `$PROMETHEUS_BIN`), configured from
//! `config/prometheus-dev.yml`, scrapes a 3-process cluster under load every second, and
//! every panel's query, every template variable's query and every mixin query is run
//! through Prometheus's HTTP API. A query fails the test when Prometheus rejects it, when
//! it returns no series (a panel that would say "No data") or only NaN.
//!
//! Grafana's variables are replaced as Grafana would with the test's selection: see
//! [`substitute`].

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use serde_json::Value;
use support::cluster::{Cluster, free_port};
use support::http_request;
use support::workload::connect;

/// How often the test's Prometheus scrapes each member.
const SCRAPE_INTERVAL: &str = "1s";
/// What `$__rate_interval` becomes: Grafana makes it at least four scrape intervals; a
/// little more keeps a rate defined when one scrape is late on a busy machine.
const RATE_INTERVAL: &str = "10s";
/// Scrapes of every member to wait for before querying, so that every rate window holds
/// several samples taken under load.
const SCRAPES_MIN: u32 = 6;
/// How long Prometheus may take to start and to scrape `SCRAPES_MIN` times.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(40);
/// The job name and `cluster` label of `config/prometheus-dev.yml`.
const JOB: &str = "etcd";
const CLUSTER_LABEL: &str = "dev";
/// How many times the load tries to open its lease keep-alive stream.
const KEEP_ALIVE_OPEN_ATTEMPTS: u32 = 3;
/// The client ports of dev mode, which the scrape config lists and the test replaces.
const DEV_PORTS: [u16; 3] = [2379, 22379, 32379];

/// A query to check and where it comes from.
struct Query {
    /// "dashboards/x.json: Panel title", for the failure message.
    origin: String,
    /// PromQL as the dashboard holds it (Grafana variables in).
    expr: String,
}

#[test]
fn every_dashboard_query_returns_series_from_a_cluster_under_load() {
    let prometheus_bin = prometheus_bin();
    let mut queries = dashboard_queries("dashboards/etcd-rs-cluster.json");
    queries.extend(dashboard_queries("dashboards/etcd-rs-internals.json"));
    let ours = queries.len();
    queries.extend(mixin_queries("dashboards/etcd-mixin-queries.txt"));
    assert!(ours > 30, "only {ours} queries found in the dashboards");

    // --metrics=extensive: the latency panels read grpc_server_handling_seconds, which
    // etcd (and so etcd-rs) exports only then.
    let cluster = Cluster::start_with(3, "dashboards", &["--metrics=extensive"]);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let load = runtime.spawn(load(cluster.urls()));

    let client_ports: Vec<u16> = cluster.ports.iter().map(|(client, _)| *client).collect();
    let prometheus = Prometheus::start(&prometheus_bin, &client_ports);
    prometheus.wait_for_scrapes(client_ports.len());

    let mut failures = Vec::new();
    for query in &queries {
        let expr = substitute(&query.expr);
        if let Err(why) = prometheus.check(&expr) {
            failures.push(format!("{}\n    {expr}\n    {why}", query.origin));
        }
    }
    assert!(
        !load.is_finished(),
        "the load stopped early: {:?}",
        runtime.block_on(load)
    );
    assert!(
        failures.is_empty(),
        "{} of {} queries failed against Prometheus scraping etcd-rs (its log: {}):\n{}",
        failures.len(),
        queries.len(),
        prometheus.log_path().display(),
        failures.join("\n")
    );
    eprintln!(
        "{} queries checked ({ours} from dashboards/etcd-rs-*.json, {} from the etcd mixin)",
        queries.len(),
        queries.len() - ours
    );
    load.abort();
}

/// Puts, ranges and deletes in a loop, spread over the members, with a put under a lease
/// and a range that fails now and then, and a watch and the lease's keep-alive on open
/// streams the whole time. Returns only on error, saying what failed.
async fn load(urls: Vec<String>) -> String {
    let mut clients = Vec::new();
    for url in &urls {
        clients.push(connect(std::slice::from_ref(url)).await);
    }
    let mut watcher_client = clients[1].clone();
    let watch = watcher_client.watch("load/", None).await;
    let Ok(mut watch_stream) = watch else {
        return format!("watch: {watch:?}");
    };
    let mut lease_client = clients[2].clone();
    let lease = match lease_client.lease_grant(60, None).await {
        Ok(lease) => lease.id(),
        Err(e) => return format!("lease grant: {e}"),
    };
    // About one run in twenty, the first keep-alive right after the grant answers "lease
    // not found": the leader renews without first waiting until it has applied what it
    // committed (etcd's LeaseRenew calls waitAppliedIndex first). That is a server issue
    // of its own; this test is about the dashboards, so it tries again, saying so.
    let mut opened = None;
    for attempt in 1..=KEEP_ALIVE_OPEN_ATTEMPTS {
        match lease_client.lease_keep_alive(lease).await {
            Ok(stream) => {
                opened = Some(stream);
                break;
            }
            Err(e) => eprintln!("opening a lease keep-alive stream, attempt {attempt}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some((mut keeper, mut keep_alives)) = opened else {
        return "no lease keep-alive stream".to_string();
    };
    tokio::spawn(async move { while let Ok(Some(_)) = watch_stream.message().await {} });
    let mut round: u64 = 0;
    loop {
        let client = &mut clients[(round % 3) as usize];
        let key = format!("load/{}", round % 50);
        if let Err(e) = client.put(key.as_str(), round.to_string(), None).await {
            return format!("put: {e}");
        }
        let prefix = GetOptions::new().with_prefix();
        if let Err(e) = client.get("load/", Some(prefix)).await {
            return format!("range: {e}");
        }
        if round % 10 == 0 {
            if let Err(e) = client.delete(key.as_str(), None).await {
                return format!("delete: {e}");
            }
            let options = etcd_client::PutOptions::new().with_lease(lease);
            if let Err(e) = client.put("load/leased", "x", Some(options)).await {
                return format!("put with lease: {e}");
            }
            if let Err(e) = keeper.keep_alive().await {
                return format!("lease keep-alive: {e}");
            }
            if let Err(e) = keep_alives.message().await {
                return format!("lease keep-alive answer: {e}");
            }
            // An RPC that fails (OutOfRange: a future revision), so that the error
            // panels show a code other than OK.
            let future = GetOptions::new().with_revision(i64::MAX / 2);
            if client.get("load/", Some(future)).await.is_ok() {
                return "a range at a future revision succeeded".to_string();
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Replaces Grafana's variables by what Grafana would send for this test's selection:
/// the job and cluster of the scrape config, every member (`.*`, the variables' "All"),
/// every actor, and `$__rate_interval`.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$job", JOB)
        .replace("$cluster", CLUSTER_LABEL)
        .replace("$instance", ".*")
        .replace("$actor", ".*")
}

/// The panels' and template variables' queries of a Grafana dashboard JSON.
fn dashboard_queries(path: &str) -> Vec<Query> {
    let text = std::fs::read_to_string(repo_file(path)).expect("the dashboard file");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        // Collapsed rows hold their panels.
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target with an expr");
            queries.push(Query {
                origin: format!("{path}: {}", panel["title"].as_str().unwrap_or("?")),
                expr: expr.to_string(),
            });
        }
    }
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let query = &variable["query"];
        let expr = query["query"].as_str().or(query.as_str()).expect("a query");
        queries.push(Query {
            origin: format!(
                "{path}: variable ${}",
                variable["name"].as_str().unwrap_or("?")
            ),
            expr: label_values_as_promql(expr),
        });
    }
    assert!(!queries.is_empty(), "{path} has no queries");
    queries
}

/// The queries of `dashboards/etcd-mixin-queries.txt`: one a line, `#` comments, `## `
/// naming the panel of the lines that follow.
fn mixin_queries(path: &str) -> Vec<Query> {
    let text = std::fs::read_to_string(repo_file(path)).expect("the mixin queries file");
    let mut panel = String::new();
    let mut queries = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("## ") {
            panel = name.to_string();
        } else if !line.is_empty() && !line.starts_with('#') {
            queries.push(Query {
                origin: format!("etcd mixin: {panel}"),
                expr: label_values_as_promql(line),
            });
        }
    }
    assert!(queries.len() > 20, "only {} mixin queries", queries.len());
    queries
}

/// Grafana's `label_values(selector, label)` (a variable's query) as PromQL that returns
/// one series per value: `count by (label) (selector)`. Other queries are unchanged.
fn label_values_as_promql(expr: &str) -> String {
    let Some(args) = expr
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return expr.to_string();
    };
    let (selector, label) = args
        .rsplit_once(',')
        .expect("label_values(selector, label)");
    format!("count by ({}) ({})", label.trim(), selector.trim())
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn prometheus_bin() -> PathBuf {
    let bin = std::env::var_os("PROMETHEUS_BIN")
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    assert!(
        bin.exists(),
        "{} is missing: this test runs a real Prometheus. Install Debian's package \
         (`apt-get install prometheus`, as .ci/run does) or set PROMETHEUS_BIN.",
        bin.display()
    );
    bin
}

/// A Prometheus server on a free port with its own storage; killed and removed on drop
/// (its folder is kept and printed when the test failed).
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config/prometheus-dev.yml`, its dev ports replaced by
    /// `client_ports` and its scrape interval by `SCRAPE_INTERVAL`.
    fn start(bin: &Path, client_ports: &[u16]) -> Prometheus {
        let template =
            std::fs::read_to_string(repo_file("config/prometheus-dev.yml")).expect("config");
        let mut config = template.replace(
            "scrape_interval: 5s",
            &format!("scrape_interval: {SCRAPE_INTERVAL}"),
        );
        assert_ne!(
            config, template,
            "config/prometheus-dev.yml: no `scrape_interval: 5s`"
        );
        for (dev, test) in DEV_PORTS.iter().zip(client_ports) {
            let dev_target = format!("127.0.0.1:{dev}\n");
            assert!(
                config.contains(&dev_target),
                "config/prometheus-dev.yml: no target {dev_target}"
            );
            config = config.replace(&dev_target, &format!("127.0.0.1:{test}\n"));
        }
        let dir = std::env::temp_dir().join(format!("etcd-rs-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write the config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        Prometheus { child, addr, dir }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("prometheus.log")
    }

    /// Waits until Prometheus is up and has scraped each of `targets` members successfully
    /// at least `SCRAPES_MIN` times.
    fn wait_for_scrapes(&self, targets: usize) {
        let started = Instant::now();
        let query = format!("sum_over_time(up{{job=\"{JOB}\"}}[1m]) >= {SCRAPES_MIN}");
        loop {
            if let Ok(series) = self.query(&query)
                && series.len() == targets
            {
                return;
            }
            assert!(
                started.elapsed() < PROMETHEUS_WAIT,
                "Prometheus did not scrape the {targets} members {SCRAPES_MIN} times in \
                 {PROMETHEUS_WAIT:?}; targets: {}\nits log ({}):\n{}",
                self.get("/api/v1/targets").unwrap_or_else(|e| e),
                self.log_path().display(),
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Ok when `expr` runs and returns at least one series with a number: a series of
    /// NaN only (a quantile of a histogram that saw nothing, 0/0) draws nothing either.
    fn check(&self, expr: &str) -> Result<(), String> {
        let series = self.query(expr)?;
        if series.is_empty() {
            return Err("no series".to_string());
        }
        let is_nan = |one: &Value| one["value"][1].as_str().is_some_and(|v| v == "NaN");
        if series.iter().all(is_nan) {
            return Err(format!("{} series, all NaN", series.len()));
        }
        Ok(())
    }

    /// The series an instant query returns, or Prometheus's error.
    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let body = self.get(&format!("/api/v1/query?query={}", percent_encode(expr)))?;
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body:.300}"))?;
        if answer["status"] != "success" {
            return Err(format!(
                "{}: {}",
                answer["errorType"].as_str().unwrap_or("error"),
                answer["error"].as_str().unwrap_or(&body)
            ));
        }
        match &answer["data"]["result"] {
            Value::Array(series) => Ok(series.clone()),
            // A scalar or string result is one value.
            other => Ok(vec![other.clone()]),
        }
    }

    fn get(&self, path: &str) -> Result<String, String> {
        let answer = http_request(self.addr, "GET", path, "").map_err(|e| e.to_string())?;
        Ok(answer.body)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "Prometheus's config, data and log are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `text` with every byte outside RFC 3986's unreserved set percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[test]
fn label_values_become_a_count_by_label() {
    assert_eq!(
        label_values_as_promql(r#"label_values(etcd_server_has_leader{job=~"$job"}, instance)"#),
        r#"count by (instance) (etcd_server_has_leader{job=~"$job"})"#
    );
    assert_eq!(label_values_as_promql("up"), "up");
}

#[test]
fn every_variable_a_query_uses_is_substituted() {
    let mut queries = dashboard_queries("dashboards/etcd-rs-cluster.json");
    queries.extend(dashboard_queries("dashboards/etcd-rs-internals.json"));
    queries.extend(mixin_queries("dashboards/etcd-mixin-queries.txt"));
    let left: BTreeSet<String> = queries
        .iter()
        .filter(|q| substitute(&q.expr).contains('$'))
        .map(|q| format!("{}: {}", q.origin, q.expr))
        .collect();
    assert!(
        left.is_empty(),
        "variables left after substitution: {left:#?}"
    );
}
