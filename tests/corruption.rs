//! The CORRUPT alarm, on three processes with `--experimental-corrupt-check-time`:
//! under load the members' hashes agree (no false alarm, and Maintenance.Hash is the
//! same on every member); then one member's store is damaged on disk while it is down
//! (one record's value rewritten through the storage layer, as a bad disk would), and
//! (auth is enabled before the damage: the checks need no client credentials)
//! - restarted with `--experimental-initial-corrupt-check`, it refuses to start with
//!   etcd's message;
//! - restarted without it, the leader's periodic check finds the difference and raises
//!   CORRUPT for member 0 (etcd 3.4.23's behaviour; `etcdctl alarm list` prints
//!   `alarm:CORRUPT`), after which writes fail with
//!   `etcdserver: corrupt cluster` and reads go on.
//!
//! etcd-rs only: the damage is done through etcd-rs's storage.

mod support;

use std::time::{Duration, Instant};

use etcd_rs::mvcc::{Backend as _, KeyValue, RecordKey, WriteBatch};
use support::cluster::Cluster;
use support::etcdctl_at;

fn out(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "etcdctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Each member's (hash, revision) from Maintenance.Hash, after a linearizable read on
/// it (so that each has applied everything committed before).
fn hashes(runtime: &tokio::runtime::Runtime, urls: &[String]) -> Vec<(u32, i64)> {
    runtime.block_on(async {
        let mut answers = Vec::new();
        for url in urls {
            let mut client = etcd_client::Client::connect([url.as_str()], None)
                .await
                .expect("connect");
            client.get("k/0", None).await.expect("linearizable read");
            let hash = client.hash().await.expect("hash");
            answers.push((hash.hash(), hash.header().expect("header").revision()));
        }
        answers
    })
}

/// Rewrites the value of the newest record of `key` in the stopped member's store.
fn damage(data_dir: &std::path::Path, key: &[u8]) {
    let store = etcd_rs::storage::MemberStore::open(data_dir).expect("open the store");
    let mut backend = store.mvcc_backend();
    let records = backend
        .scan_records(&[], None, usize::MAX)
        .expect("records");
    let (record_key, mut kv) = records
        .into_iter()
        .filter(|(k, _)| !RecordKey::from_bytes(k).expect("record key").tombstone)
        .map(|(k, v)| (k, KeyValue::decode(&v).expect("a key-value")))
        .rfind(|(_, kv)| kv.key == key)
        .expect("the key's record");
    kv.value = b"flipped by a bad disk".to_vec();
    let mut batch = WriteBatch::new();
    batch.put_record(record_key, kv.encode());
    backend.commit(batch).expect("commit");
    store.sync().expect("sync");
}

#[test]
fn a_damaged_member_is_found_and_the_cluster_refuses_writes() {
    let mut cluster = Cluster::start_with(3, "corrupt", &["--experimental-corrupt-check-time=1s"]);
    let urls = cluster.urls();
    let all = urls.join(",");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Load on every member for a few seconds while the leader checks every second.
    runtime.block_on(async {
        let mut clients = Vec::new();
        for url in &urls {
            clients.push(
                etcd_client::Client::connect([url.as_str()], None)
                    .await
                    .expect("connect"),
            );
        }
        let started = Instant::now();
        let mut i = 0usize;
        while started.elapsed() < Duration::from_secs(5) {
            let client = &mut clients[i % 3];
            client
                .put(format!("k/{}", i % 50), format!("v{i}"), None)
                .await
                .expect("put");
            i += 1;
        }
    });
    assert_eq!(
        out(&etcdctl_at(&all, &["alarm", "list"], b"")),
        "",
        "no false alarm under load"
    );
    let agreed = hashes(&runtime, &urls);
    assert!(
        agreed.iter().all(|h| *h == agreed[0]),
        "Hash is the same on every member: {agreed:?}"
    );

    // From here on auth is enabled, as in production: the checks ask their peers over
    // the peer port, which needs no client credentials (a HashKV over the client port
    // would need root's).
    for args in [&["user", "add", "root:rootpw"][..], &["auth", "enable"]] {
        out(&etcdctl_at(&all, args, b""));
    }
    let as_root = |endpoints: &str, args: &[&str]| {
        let mut args = args.to_vec();
        args.push("--user=root:rootpw");
        out(&etcdctl_at(endpoints, &args, b""))
    };

    // Damage a follower's store while it is down.
    let leader = (0..3)
        .find(|&i| {
            let one = as_root(&urls[i], &["endpoint", "status", "-w", "json"]);
            let field = |name: &str| {
                one.split(&format!("\"{name}\":"))
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .map(str::to_string)
            };
            field("member_id").is_some() && field("member_id") == field("leader")
        })
        .expect("a leader");
    let victim = (leader + 1) % 3;
    cluster.members[victim].kill();
    damage(&cluster.data_dir(victim), b"k/7");

    // With the initial check, it refuses to start.
    cluster.members[victim].spawn_with(&["--experimental-initial-corrupt-check=true"]);
    let exit = cluster.members[victim].wait_exit(Duration::from_secs(60));
    let log = cluster.members[victim].log();
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the damaged member must not start: {exit:?}\n{log}"
    );
    assert!(
        log.contains("found data inconsistency with peers"),
        "etcd's message: {log}"
    );

    // Without it, it starts, and the leader's periodic check raises CORRUPT.
    cluster.members[victim].spawn();
    let started = Instant::now();
    // (Go prints no field of value 0: member 0's alarm shows as just its type.)
    while as_root(&all, &["alarm", "list"]) != "alarm:CORRUPT \n" {
        if started.elapsed() > Duration::from_secs(60) {
            let logs: Vec<String> = cluster.members.iter().map(|m| m.log()).collect();
            panic!("no CORRUPT alarm within a minute; the members' logs:\n{logs:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let survivor = &urls[leader];
    let refused = etcdctl_at(survivor, &["put", "k/1", "x", "--user=root:rootpw"], b"");
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        stderr.contains("code = DataLoss desc = etcdserver: corrupt cluster")
            && stderr.ends_with("Error: etcdserver: corrupt cluster\n"),
        "{stderr}"
    );
    let read = as_root(survivor, &["get", "k/1", "--keys-only"]);
    assert_eq!(read, "k/1\n\n", "reads go on");
    let status = as_root(survivor, &["endpoint", "status"]);
    assert!(status.contains(", alarm:CORRUPT "), "{status}");
}
