//! Clusters of several server processes, peers over TCP on loopback, started with
//! etcd's own flags (so the same test runs against etcd with `ETCD_TEST_BIN`); optionally
//! with a fault-injecting proxy in front of each member's peer port ([`super::proxy`]).
//!
//! The members' data and logs are removed when the cluster is dropped, unless the test
//! failed or `KEEP_TEST_LOGS` is set; the folder is printed then.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::time::timeout;

use super::proxy::Net;
use super::workload::connect;
use super::{http_get, server_bin};

/// One member process; killed (SIGKILL) on drop.
pub struct Process {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl Process {
    /// Starts (or restarts) the process on its data dir. Its log is appended to, so a
    /// restarted member's log still shows what happened before.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(server_bin())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the server starts");
        self.child = Some(child);
    }

    /// Starts (or restarts) the process with `extra` flags after its own.
    pub fn spawn_with(&mut self, extra: &[&str]) {
        let saved = self.args.clone();
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn();
        self.args = saved;
    }

    /// Waits (at most `timeout`) for the process to exit by itself: its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// What the process wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the process (paused or not).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process was spawned and not killed since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGSTOPs the process: it holds its ports and answers nothing until [`Self::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONTs a paused process.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running process");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", child.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of `n` members `m0`, `m1`, ... on fresh loopback ports and data dirs.
pub struct Cluster {
    /// The members, in order.
    pub members: Vec<Process>,
    /// Each member's (client, advertised peer) port. With proxies, the advertised peer
    /// port is the proxy's; the member listens on another.
    pub ports: Vec<(u16, u16)>,
    /// The proxies between members, if started with [`Cluster::start_with_proxies`].
    pub net: Option<Net>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts every member and waits until each reports healthy.
    pub fn start(n: usize, name: &str) -> Cluster {
        Cluster::launch(n, name, None, &[])
    }

    /// Starts every member with `extra` flags and waits until each reports healthy.
    pub fn start_with(n: usize, name: &str, extra: &[&str]) -> Cluster {
        Cluster::launch(n, name, None, extra)
    }

    /// Starts every member, with `extra_args` besides the cluster's flags, behind a
    /// fault-injecting proxy on its peer port (see [`super::proxy`]); `seed` drives the
    /// proxies' random choices. Waits until each member reports healthy and the proxies
    /// know every member's ID.
    pub fn start_with_proxies(n: usize, name: &str, seed: u64, extra_args: &[&str]) -> Cluster {
        let cluster = Cluster::launch(n, name, Some(seed), extra_args);
        cluster.net().learn_member_ids(&cluster.url(0));
        cluster
    }

    /// The proxies; panics if the cluster was started without them.
    pub fn net(&self) -> &Net {
        self.net.as_ref().expect("a cluster started with proxies")
    }

    fn launch(n: usize, name: &str, proxy_seed: Option<u64>, extra_args: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("etcd-rs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let listen: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let net = proxy_seed.map(|seed| {
            let peer_ports: Vec<u16> = listen.iter().map(|(_, peer)| *peer).collect();
            Net::start(&peer_ports, seed)
        });
        let ports: Vec<(u16, u16)> = listen
            .iter()
            .enumerate()
            .map(|(i, &(client, peer))| (client, net.as_ref().map_or(peer, |net| net.port(i))))
            .collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Process> = ports
            .iter()
            .zip(&listen)
            .enumerate()
            .map(|(i, ((client, advertised), (_, peer)))| Process {
                child: None,
                args: [
                    format!("--name=m{i}"),
                    format!("--data-dir={}", dir.join(format!("m{i}")).display()),
                    format!("--listen-client-urls=http://127.0.0.1:{client}"),
                    format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                    format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{advertised}"),
                    format!("--initial-cluster={initial}"),
                    format!("--initial-cluster-token={name}"),
                ]
                .into_iter()
                .chain(extra_args.iter().map(|a| a.to_string()))
                .collect(),
                log: dir.join(format!("m{i}.log")),
            })
            .collect();
        for member in &mut members {
            member.spawn();
        }
        let cluster = Cluster {
            members,
            ports,
            net,
            dir,
        };
        wait_until("every member healthy", || {
            cluster.ports.iter().all(|(c, _)| healthy(*c))
        });
        cluster
    }

    /// Member `i`'s client URL.
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i].0)
    }

    /// Member `i`'s `--data-dir`.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{i}"))
    }

    /// Every client URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.ports.len()).map(|i| self.url(i)).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
        if std::thread::panicking() || std::env::var_os("KEEP_TEST_LOGS").is_some() {
            eprintln!("the members' logs are kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub use super::free_port;

/// Whether the member on `port` answers `/health` with `{"health":"true"}`.
pub fn healthy(port: u16) -> bool {
    http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/health")
        .is_ok_and(|r| r.contains(r#"{"health":"true"}"#))
}

/// Polls `done` until it holds (at most a minute).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Membership changes: members that join a running cluster, and whether one stopped.
impl Cluster {
    /// Starts member `name` on `ports` (client, peer), joining the running cluster with
    /// `--initial-cluster-state existing` and `initial_cluster` (what `etcdctl member add`
    /// printed). Returns its index.
    pub fn join(&mut self, name: &str, ports: (u16, u16), initial_cluster: &str) -> usize {
        let (client, peer) = ports;
        let token = self.members[0]
            .args
            .iter()
            .find(|a| a.starts_with("--initial-cluster-token="))
            .cloned()
            .expect("a token");
        let mut member = Process {
            child: None,
            args: vec![
                format!("--name={name}"),
                format!("--data-dir={}", self.dir.join(name).display()),
                format!("--listen-client-urls=http://127.0.0.1:{client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster={initial_cluster}"),
                "--initial-cluster-state=existing".to_string(),
                token,
            ],
            log: self.dir.join(format!("{name}.log")),
        };
        member.spawn();
        self.members.push(member);
        self.ports.push(ports);
        self.members.len() - 1
    }
}

impl Process {
    /// Whether the process has exited (by itself).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }
}

/// How long a status query waits for a member.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// The index of the member that says it leads (the one with the highest term if several
/// do), asking each of `urls`.
pub async fn leader(urls: &[String]) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, url) in urls.iter().enumerate() {
        let mut client = connect(std::slice::from_ref(url)).await;
        let Ok(Ok(status)) = timeout(STATUS_TIMEOUT, client.status()).await else {
            continue;
        };
        let me = status.header().map(|h| h.member_id());
        if me == Some(status.leader()) && best.is_none_or(|(term, _)| status.raft_term() > term) {
            best = Some((status.raft_term(), i));
        }
    }
    best.map(|(_, i)| i)
}

/// Each member's current revision (`None` if it did not answer).
pub async fn revisions(urls: &[String]) -> Vec<Option<i64>> {
    let mut revisions = Vec::new();
    for url in urls {
        let mut client = connect(std::slice::from_ref(url)).await;
        let status = timeout(STATUS_TIMEOUT, client.status()).await;
        revisions.push(match status {
            Ok(Ok(status)) => status.header().map(|h| h.revision()),
            _ => None,
        });
    }
    revisions
}
