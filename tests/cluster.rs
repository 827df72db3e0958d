//! A cluster of three etcd-rs processes, peers over TCP, started with etcd's own flags:
//! writes replicate, the leader SIGKILLed is replaced and writes succeed again, and the
//! killed member restarted on its data dir catches up.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{etcdctl_at, http_get};

struct Process {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl Process {
    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).expect("log file");
        let child = Command::new(support::server_bin())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd-rs starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn healthy(port: u16) -> bool {
    http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/health")
        .is_ok_and(|r| r.contains(r#"{"health":"true"}"#))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn out(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn three_processes_replicate_fail_over_and_catch_up() {
    let dir = std::env::temp_dir().join(format!("etcd-rs-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let cluster = ports
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
                format!("--initial-cluster={cluster}"),
                "--initial-cluster-token=cluster-test".into(),
            ],
            log: dir.join(format!("m{i}.log")),
        })
        .collect();
    for member in &mut members {
        member.spawn();
    }
    wait_until("every member healthy", || {
        ports.iter().all(|(c, _)| healthy(*c))
    });
    let url = |i: usize| format!("http://127.0.0.1:{}", ports[i].0);
    let all = (0..3).map(url).collect::<Vec<_>>().join(",");

    assert_eq!(out(&etcdctl_at(&url(0), &["put", "k", "v1"], b"")), "OK\n");

    // Every member publishes its client URLs; member list shows them all.
    wait_until("every member's client URL listed", || {
        let list = out(&etcdctl_at(&url(0), &["member", "list"], b""));
        (0..3).all(|i| list.contains(&format!("{}, false", url(i))))
    });

    // Leases work through any member: followers forward what only the leader answers.
    for i in 0..3 {
        let granted = out(&etcdctl_at(&url(i), &["lease", "grant", "60"], b""));
        let id = granted
            .split_whitespace()
            .nth(1)
            .expect("lease id")
            .to_string();
        for j in 0..3 {
            let kept = out(&etcdctl_at(
                &url(j),
                &["lease", "keep-alive", "--once", &id],
                b"",
            ));
            assert_eq!(
                kept,
                format!("lease {id} keepalived with TTL(60)\n"),
                "via member {j}"
            );
            let ttl = out(&etcdctl_at(&url(j), &["lease", "timetolive", &id], b""));
            assert!(
                ttl.starts_with(&format!("lease {id} granted with TTL(60s)")),
                "{ttl}"
            );
        }
    }
    for i in 1..3 {
        assert_eq!(out(&etcdctl_at(&url(i), &["get", "k"], b"")), "k\nv1\n");
    }

    // Find and SIGKILL the leader.
    let status = out(&etcdctl_at(
        &all,
        &["endpoint", "status", "-w", "json"],
        b"",
    ));
    let leader = (0..3)
        .find(|&i| {
            let one = out(&etcdctl_at(
                &url(i),
                &["endpoint", "status", "-w", "json"],
                b"",
            ));
            let member_id = one
                .split("\"member_id\":")
                .nth(1)
                .and_then(|s| s.split(',').next());
            let leader_id = one
                .split("\"leader\":")
                .nth(1)
                .and_then(|s| s.split(',').next());
            member_id.is_some() && member_id == leader_id
        })
        .unwrap_or_else(|| panic!("no leader in {status}"));
    members[leader].kill();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let survivors_urls = survivors
        .iter()
        .map(|&i| url(i))
        .collect::<Vec<_>>()
        .join(",");
    wait_until("a write after the leader was killed", || {
        etcdctl_at(&survivors_urls, &["put", "k", "v2"], b"")
            .status
            .success()
    });
    assert_eq!(
        out(&etcdctl_at(&url(survivors[0]), &["get", "k"], b"")),
        "k\nv2\n"
    );

    // The killed member restarts on its data dir and catches up.
    members[leader].spawn();
    wait_until("the restarted member catches up", || {
        out(&etcdctl_at(
            &url(leader),
            &["get", "k", "--consistency=s"],
            b"",
        )) == "k\nv2\n"
    });

    // Every member hashes the same store at the same revision.
    let json = out(&etcdctl_at(
        &url(survivors[0]),
        &["get", "k", "-w", "json"],
        b"",
    ));
    let revision = json
        .split("\"revision\":")
        .nth(1)
        .and_then(|s| s.split([',', '}']).next())
        .expect("revision")
        .to_string();
    let hashes: Vec<String> = (0..3)
        .map(|i| {
            let hash = out(&etcdctl_at(
                &url(i),
                &["endpoint", "hashkv", "--rev", &revision],
                b"",
            ));
            hash.split(", ")
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    assert!(!hashes[0].is_empty(), "{hashes:?}");
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "HashKV differs: {hashes:?}"
    );
    drop(members);
    let _ = std::fs::remove_dir_all(dir);
}
