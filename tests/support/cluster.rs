//! Clusters of several server processes, peers over TCP on loopback, started with
//! etcd's own flags (so the same test runs against etcd with `ETCD_TEST_BIN`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{http_get, server_bin};

/// One member process; killed (SIGKILL) on drop.
pub struct Process {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl Process {
    /// Starts (or restarts) the process on its data dir.
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).expect("log file");
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

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
    /// Each member's (client, peer) port.
    pub ports: Vec<(u16, u16)>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts every member and waits until each reports healthy.
    pub fn start(n: usize, name: &str) -> Cluster {
        Cluster::start_with(n, name, &[])
    }

    /// Starts every member with `extra` flags and waits until each reports healthy.
    pub fn start_with(n: usize, name: &str, extra: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("etcd-rs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Process> = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| Process {
                child: None,
                args: vec![
                    format!("--name=m{i}"),
                    format!("--data-dir={}", dir.join(format!("m{i}")).display()),
                    format!("--listen-client-urls=http://127.0.0.1:{client}"),
                    format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                    format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                    format!("--initial-cluster={initial}"),
                    format!("--initial-cluster-token={name}"),
                ]
                .into_iter()
                .chain(extra.iter().map(|s| s.to_string()))
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

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
