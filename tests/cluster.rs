//! A cluster of three etcd-rs processes, peers over TCP, started with etcd's own flags:
//! writes replicate, the leader SIGKILLed is replaced and writes succeed again, and the
//! killed member restarted on its data dir catches up.

mod support;

use support::cluster::{Cluster, wait_until};
use support::etcdctl_at;

fn out(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn three_processes_replicate_fail_over_and_catch_up() {
    let mut cluster = Cluster::start(3, "cluster-test");
    let ports = cluster.ports.clone();
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
    cluster.members[leader].kill();
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
    cluster.members[leader].spawn();
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
    drop(cluster);
}
