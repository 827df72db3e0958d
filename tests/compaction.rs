//! `--snapshot-count`: the raft log is compacted as entries are applied (keeping etcd's
//! 5,000 entries for slow followers), and a member restarted on a compacted log recovers
//! every key and keeps serving. `--auto-compaction-*`: the key-value history is
//! compacted on a schedule (checked against etcd too).

mod support;

use std::time::{Duration, Instant};

use support::{Member, http_get};

fn first_index(member: &Member) -> i64 {
    let metrics = http_get(member.client_addr(), "/metrics").expect("metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("etcdrs_raft_log_first_index "))
        .and_then(|v| v.trim().parse().ok())
        .expect("etcdrs_raft_log_first_index")
}

#[test]
fn the_raft_log_is_compacted_and_a_restart_on_it_recovers_every_key() {
    const PUTS: usize = 7000;
    let mut member = Member::start(&["--snapshot-count", "1000"]);
    assert_eq!(
        first_index(&member),
        2,
        "a new log starts after the bootstrap snapshot"
    );
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = etcd_client::Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let mut tasks = Vec::new();
        for worker in 0..20 {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in (worker..PUTS).step_by(20) {
                    client
                        .put(format!("k{i:05}"), i.to_string(), None)
                        .await
                        .expect("put");
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
    });
    let compacted = first_index(&member);
    assert!(
        compacted > 1000,
        "the log was compacted (first index {compacted})"
    );

    member.restart();
    let keys = member.etcdctl(&["get", "k", "--prefix", "--keys-only"]);
    let text = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert_eq!(text.lines().filter(|l| !l.is_empty()).count(), PUTS);
    let last = member.etcdctl(&["get", "k06999", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&last.stdout), "6999\n");
    assert!(
        member
            .etcdctl(&["put", "after", "restart"])
            .status
            .success()
    );
}

/// `--auto-compaction-mode=periodic --auto-compaction-retention=2s`: under a steady
/// stream of writes, the revision of the first write is compacted away within a few
/// periods, and the latest revision stays readable.
#[test]
fn periodic_auto_compaction_drops_history_older_than_the_retention() {
    let member = Member::start(&[
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=2s",
    ]);
    let run = |args: &[&str]| {
        let out = member.etcdctl(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["put", "k", "v0"]);
    assert!(ok, "{err}");
    let started = Instant::now();
    let mut i = 1;
    loop {
        let (ok, _, err) = run(&["put", "k", &format!("v{i}")]);
        assert!(ok, "{err}");
        i += 1;
        let (ok, _, err) = run(&["get", "k", "--rev=2"]);
        if !ok {
            assert!(
                err.contains("required revision has been compacted"),
                "{err}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "revision 2 still readable after 30 s of a 2 s retention"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, out, err) = run(&["get", "k", "--print-value-only"]);
    assert!(ok && out.trim() == format!("v{}", i - 1), "{out} {err}");
}
