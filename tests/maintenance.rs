//! Maintenance calls as etcdctl uses them: HashKV gives etcd's own hash for the same
//! history (records are stored as etcd stores them), and every member of a cluster
//! answers the same hash at the same revision.

mod support;

use support::Member;

#[test]
fn hashkv_of_a_history_equals_etcds() {
    let member = Member::start(&[]);
    for args in [
        &["put", "a", "1"][..],
        &["put", "b", "2"],
        &["put", "a", "3"],
        &["del", "b"],
    ] {
        assert!(member.etcdctl(args).status.success(), "{args:?}");
    }
    let out = member.etcdctl(&["endpoint", "hashkv"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Captured from etcd 3.4.23 on this machine after the same four requests.
    assert_eq!(text, format!("{}, 1125682900\n", member.client_url()));
    let json = member.etcdctl(&["endpoint", "hashkv", "--rev", "3", "-w", "json"]);
    let json = String::from_utf8_lossy(&json.stdout).into_owned();
    assert!(
        json.contains("\"revision\":5"),
        "the header carries the current revision: {json}"
    );
}

#[test]
fn defragment_reclaims_without_stopping_the_member() {
    let member = Member::start(&[]);
    for i in 0..200 {
        let key = format!("k{}", i % 10);
        assert!(
            member
                .etcdctl(&["put", &key, &"x".repeat(1000)])
                .status
                .success()
        );
    }
    assert!(member.etcdctl(&["compaction", "150"]).status.success());
    let out = member.etcdctl(&["defrag"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Finished defragmenting etcd member[{}]\n",
            member.client_url()
        )
    );
    let get = member.etcdctl(&["get", "k9", "--print-value-only"]);
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        format!("{}\n", "x".repeat(1000))
    );
}

/// Over --quota-backend-bytes a member raises NOSPACE through Raft; puts are refused
/// with etcd's error (reads and deletes go on) until the alarm is disarmed.
#[test]
fn over_the_quota_nospace_is_raised_and_puts_are_refused() {
    let member = Member::start(&["--quota-backend-bytes", "1"]);
    // The store is over its (tiny) quota from the start: the alarm is raised as soon as
    // a write is applied (etcd refuses even that first write, seeing it would not fit).
    let started = std::time::Instant::now();
    let list = loop {
        let list = member.etcdctl(&["alarm", "list"]);
        let text = String::from_utf8_lossy(&list.stdout).into_owned();
        if !text.is_empty() {
            break text;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no alarm"
        );
        let _ = member.etcdctl(&["put", "nudge", "x"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        list.starts_with("memberID:") && list.ends_with(" alarm:NOSPACE \n"),
        "{list}"
    );
    let refused = member.etcdctl(&["put", "b", "2"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        stderr.ends_with("Error: etcdserver: mvcc: database space exceeded\n"),
        "{stderr}"
    );
    let read = member.etcdctl(&["get", "nudge", "--keys-only"]);
    assert!(read.status.success(), "reads go on");
    assert!(
        member.etcdctl(&["del", "nudge"]).status.success(),
        "deletes go on"
    );
    let disarmed = member.etcdctl(&["alarm", "disarm"]);
    assert_eq!(String::from_utf8_lossy(&disarmed.stdout), list);
}
