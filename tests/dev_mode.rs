//! `etcd-rs dev`: a 3-member cluster in one process. A write through one member's port
//! is read back from the other two, with the real `etcdctl` and with the `etcd-client`
//! crate; the cluster keeps serving after a member's port sees garbage; every member
//! answers the same Maintenance.Hash.
//!
//! Dev mode's client ports are fixed (2379, 22379, 32379), so this file holds one test.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PORTS: [u16; 3] = [2379, 22379, 32379];
const START_TIMEOUT: Duration = Duration::from_secs(60);

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn health(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn http_post(port: u16, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(request.as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--command-timeout=10s")
        .args(args)
        .output()
        .expect("etcdctl runs (Debian package etcd-client)")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "etcdctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Puts until one succeeds (at most a minute): a put may time out while a leader is
/// elected, as in etcd.
fn put_until_ok(endpoints: &str, key: &str, value: &str) {
    let started = Instant::now();
    while !etcdctl(endpoints, &["put", key, value]).status.success() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no successful put of {key} through {endpoints}"
        );
    }
}

#[test]
fn dev_cluster_replicates_a_write_to_every_member_for_etcdctl_and_the_rust_client() {
    for port in PORTS {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is in use: stop the dev cluster (or etcd) running on this machine"
        );
    }
    let data = std::env::temp_dir().join(format!("etcd-rs-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let dev = Dev(Command::new(env!("CARGO_BIN_EXE_etcd-rs"))
        .args(["dev", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd-rs starts"));
    let started = Instant::now();
    while !PORTS
        .iter()
        .all(|&p| health(p).is_some_and(|r| r.contains(r#"{"health":"true"}"#)))
    {
        assert!(started.elapsed() < START_TIMEOUT, "dev cluster not healthy");
        std::thread::sleep(Duration::from_millis(100));
    }

    // etcdctl: write through the first member, read from each of the others.
    assert_eq!(
        stdout(&etcdctl("127.0.0.1:2379", &["put", "greeting", "hello"])),
        "OK\n"
    );
    for port in &PORTS[1..] {
        let endpoint = format!("127.0.0.1:{port}");
        assert_eq!(
            stdout(&etcdctl(&endpoint, &["get", "greeting"])),
            "greeting\nhello\n",
            "linearizable read from {endpoint}"
        );
    }
    // A serializable read is local; after a linearizable read on the same member it has
    // applied the write.
    assert_eq!(
        stdout(&etcdctl(
            "127.0.0.1:32379",
            &["get", "greeting", "--consistency=s"]
        )),
        "greeting\nhello\n"
    );

    // Garbage on a client port: that connection fails, the member keeps serving.
    let mut garbage = TcpStream::connect("127.0.0.1:22379").expect("connect");
    let _ = garbage.write_all(&[0xff; 4096]);
    drop(garbage);

    // The etcd-client crate: write through the second member, read from the third.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let mut writer = etcd_client::Client::connect(["http://127.0.0.1:22379"], None)
            .await
            .expect("connect to dev-2");
        let put = writer
            .put(
                "from-rust",
                "value",
                Some(etcd_client::PutOptions::new().with_prev_key()),
            )
            .await
            .expect("put through dev-2");
        assert!(put.prev_key().is_none(), "a new key has no previous value");
        let written = put.header().expect("header").revision();
        let mut reader = etcd_client::Client::connect(["http://127.0.0.1:32379"], None)
            .await
            .expect("connect to dev-3");
        let got = reader.get("from-rust", None).await.expect("get from dev-3");
        let kv = &got.kvs()[0];
        assert_eq!(kv.value_str().expect("utf-8"), "value");
        assert_eq!(kv.mod_revision(), written, "same revision on every member");
        let header = got.header().expect("header");
        assert_ne!(
            header.member_id(),
            put.header().expect("header").member_id()
        );
        assert_eq!(
            header.cluster_id(),
            put.header().expect("header").cluster_id()
        );
    });

    // Maintenance.Hash (etcd's hash of the whole backend) is the same on every member
    // once each has applied the same entries (a linearizable read on each first).
    runtime.block_on(async {
        for attempt in 0.. {
            let mut hashes = Vec::new();
            for port in PORTS {
                let mut client =
                    etcd_client::Client::connect([format!("http://127.0.0.1:{port}")], None)
                        .await
                        .expect("connect");
                client.get("greeting", None).await.expect("read");
                let hash = client.hash().await.expect("hash");
                hashes.push((hash.hash(), hash.header().expect("header").revision()));
            }
            if hashes.iter().all(|h| *h == hashes[0]) {
                break;
            }
            assert!(attempt < 20, "Hash differs between members: {hashes:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let status = stdout(&etcdctl(
        "127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379",
        &["endpoint", "status", "-w", "json"],
    ));
    let leaders = status.matches("\"leader\":").count();
    assert_eq!(leaders, 3, "three members answer status: {status}");

    // A lease keeps its remaining TTL across a leader change (etcd 3.4 restarts it at its
    // full TTL; etcd-rs checkpoints the remaining TTL every 5 s).
    runtime.block_on(async {
        let all = [
            "http://127.0.0.1:2379",
            "http://127.0.0.1:22379",
            "http://127.0.0.1:32379",
        ];
        let mut client = etcd_client::Client::connect(all, None)
            .await
            .expect("connect");
        let lease = client.lease_grant(30, None).await.expect("grant").id();
        tokio::time::sleep(Duration::from_secs(8)).await;
        let before = client
            .lease_time_to_live(lease, None)
            .await
            .expect("ttl")
            .ttl();
        assert!(before <= 25, "8 s into a 30 s lease: {before}");
        let status = client.status().await.expect("status");
        let leader = status.leader();
        let members = client.member_list().await.expect("members");
        let target = members
            .members()
            .iter()
            .map(|m| m.id())
            .find(|id| *id != leader)
            .expect("a follower");
        let mut on_leader = None;
        for url in all {
            let mut c = etcd_client::Client::connect([url], None)
                .await
                .expect("connect");
            if c.status()
                .await
                .expect("status")
                .header()
                .expect("h")
                .member_id()
                == leader
            {
                on_leader = Some(c);
            }
        }
        on_leader
            .expect("the leader's endpoint")
            .move_leader(target)
            .await
            .expect("move leader");
        let after = client
            .lease_time_to_live(lease, None)
            .await
            .expect("ttl")
            .ttl();
        // The new leader restarts the lease from its last checkpoint (taken at least
        // 5 s after the grant), not from the full 30 s.
        assert!(
            (1..=26).contains(&after),
            "the new leader kept the remaining TTL ({before} s before, {after} s after)"
        );
    });

    // A member cut off while the others compact their log catches up from a snapshot
    // of the state machine once the network heals.
    assert!(http_post(32379, "/etcd-rs/dev/isolate/dev-3").contains("isolated dev-3"));
    const CATCH_UP_PUTS: usize = 6000;
    runtime.block_on(async {
        let alive = ["http://127.0.0.1:2379", "http://127.0.0.1:22379"];
        let client = etcd_client::Client::connect(alive, None)
            .await
            .expect("connect");
        let mut writers = Vec::new();
        for w in 0..10 {
            let mut client = client.clone();
            writers.push(tokio::spawn(async move {
                for i in (w..CATCH_UP_PUTS).step_by(10) {
                    // A put may fail while the isolated member's leadership moves: retry.
                    while client
                        .put(format!("behind/{i:05}"), "x", None)
                        .await
                        .is_err()
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }
    });
    assert!(http_post(2379, "/etcd-rs/dev/heal").contains("healed"));
    let started = Instant::now();
    loop {
        let out = etcdctl(
            "127.0.0.1:32379",
            &[
                "get",
                "behind/",
                "--prefix",
                "--keys-only",
                "--consistency=s",
            ],
        );
        let count = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .count();
        if count == CATCH_UP_PUTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dev-3 has {count} of {CATCH_UP_PUTS} keys after healing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Stop a member as if its process died: its port closes, the others serve; started
    // again, it comes back on its data and catches up.
    assert!(http_post(2379, "/etcd-rs/dev/stop/dev-3").contains("stopped dev-3"));
    assert!(
        health(32379).is_none(),
        "the stopped member's port is closed"
    );
    assert!(http_post(2379, "/etcd-rs/dev/stop/dev-3").contains("stopped already"));
    // If it led, a put may time out while the others elect a leader (as in etcd: a
    // proposal forwarded to a dead leader is lost): retry.
    put_until_ok("127.0.0.1:2379,127.0.0.1:22379", "while", "stopped");
    assert!(http_post(22379, "/etcd-rs/dev/start/dev-3").contains("started dev-3"));
    let started = Instant::now();
    while String::from_utf8_lossy(
        &etcdctl("127.0.0.1:32379", &["get", "while", "--print-value-only"]).stdout,
    ) != "stopped\n"
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "dev-3 did not come back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // One direction of one link cut, then healed: the cluster keeps serving.
    assert!(http_post(2379, "/etcd-rs/dev/cut/dev-1/dev-2").contains("cut dev-1 -> dev-2"));
    assert!(http_post(2379, "/etcd-rs/dev/cut/dev-1/nobody").contains("no member named nobody"));
    // Through dev-3, whose links are whole (a proposal dev-1 forwards to a leader dev-2
    // would be lost on the cut link, as in etcd); a leader change may cost one attempt.
    put_until_ok("127.0.0.1:32379", "cut", "link");
    assert!(http_post(2379, "/etcd-rs/dev/heal").contains("healed"));
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}
