//! Maintenance calls as etcdctl uses them: HashKV gives etcd's own hash for the same
//! history (records are stored as etcd stores them), before and after compactions, and
//! every member of a cluster answers the same hash at the same revision.

mod support;

use std::fmt::Write as _;

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

/// One step of a scripted history for [`hashkv_after_compactions_equals_etcds`].
enum Step {
    /// etcdctl arguments and standard input: a write that must succeed.
    Write(&'static [&'static str], &'static str),
    /// SIGKILL and restart: the store and its key index are rebuilt from disk.
    Restart,
    /// `endpoint hashkv --rev N` and what etcd 3.4.23 answered.
    HashKv(i64, Hashed),
}

/// What `etcdctl endpoint hashkv --rev N -w json` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hashed {
    /// The hash and the compacted revision (-1 before any compaction).
    Is(u32, i64),
    /// It failed with this last line of standard error.
    Fails(&'static str),
}

const COMPACTED: &str = "Error: etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "Error: etcdserver: mvcc: required revision is a future revision";

/// `etcdctl endpoint hashkv --rev <rev> -w json` on `member`, parsed.
fn hashkv_at(member: &Member, rev: i64) -> Result<(u32, i64), String> {
    let out = member.etcdctl(&[
        "endpoint",
        "hashkv",
        "--rev",
        &rev.to_string(),
        "-w",
        "json",
    ]);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(stderr.trim_end().lines().last().unwrap_or("").to_owned());
    }
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    // Go's JSON leaves out zero fields: a missing compact_revision is 0.
    let field = |name: &str| -> Option<i64> {
        let at = json.find(&format!("\"{name}\":"))? + name.len() + 3;
        let digits: String = json[at..]
            .chars()
            .take_while(|c| *c == '-' || c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    let hash = field("hash").and_then(|h| u32::try_from(h).ok());
    let hash = hash.ok_or_else(|| format!("no hash in {json}"))?;
    Ok((hash, field("compact_revision").unwrap_or(0)))
}

/// After compactions etcd hashes, at or below the compacted revision, only what a
/// compaction at the *hashed* revision would keep (and never a tombstone at the
/// compacted revision): a history of overwrites, deletes, a multi-key txn, recreated
/// keys, compactions at puts and at tombstones, a compaction that leaves nothing, and
/// restarts, hashed at many revisions. The expected answers were captured from etcd
/// 3.4.23; the test passes against it (`ETCD_TEST_BIN=/usr/bin/etcd`).
#[test]
fn hashkv_after_compactions_equals_etcds() {
    use Hashed::{Fails, Is};
    use Step::{HashKv, Restart, Write};
    /// The hash of an empty key bucket: nothing but the bucket's name.
    const EMPTY: u32 = 1_084_519_789;
    let steps = [
        HashKv(0, Is(EMPTY, -1)),
        HashKv(2, Fails(FUTURE)),
        Write(&["put", "a", "1"], ""), // 2
        Write(&["put", "a", "2"], ""), // 3
        HashKv(0, Is(535_221_974, -1)),
        Write(&["compaction", "--physical", "2"], ""),
        // Only 3 is hashed: 2 is kept by the compaction but not at revision 3.
        HashKv(0, Is(1_483_641_527, 2)),
        HashKv(2, Fails(COMPACTED)),
        Write(&["put", "b", "1"], ""), // 4
        Write(&["del", "a"], ""),      // 5
        HashKv(3, Is(1_483_641_527, 2)),
        HashKv(4, Is(1_514_356_665, 2)),
        HashKv(5, Is(3_170_289_113, 2)),
        Write(&["compaction", "--physical", "5"], ""), // at a tombstone
        HashKv(0, Is(3_584_256_279, 5)),
        Write(&["put", "a", "3"], ""), // 6: recreated
        Write(&["txn"], "\nput c 1\nput d 1\ndel b\n\n\n"), // 7.0, 7.1, 7.2
        HashKv(6, Is(3_778_740_232, 5)),
        HashKv(7, Is(719_634_202, 5)),
        Write(&["compaction", "--physical", "6"], ""),
        HashKv(7, Is(719_634_202, 6)),
        Restart,
        HashKv(0, Is(719_634_202, 6)),
        HashKv(7, Is(719_634_202, 6)),
        Write(&["del", "--prefix", ""], ""), // 8: a, c and d
        Write(&["compaction", "--physical", "8"], ""), // nothing left to keep
        HashKv(0, Is(EMPTY, 8)),
        Restart,
        HashKv(0, Is(EMPTY, 8)),
        Write(&["put", "z", "1"], ""), // 9
        HashKv(9, Is(3_419_164_979, 8)),
        Write(&["del", "z"], ""),                       // 10
        Write(&["put", "z", "2"], ""),                  // 11
        Write(&["compaction", "--physical", "10"], ""), // at a tombstone, key recreated
        HashKv(11, Is(692_266_274, 10)),
        HashKv(12, Fails(FUTURE)),
    ];
    let mut member = Member::start(&[]);
    let (mut mismatches, mut actual_table) = (String::new(), String::new());
    for (i, step) in steps.iter().enumerate() {
        match step {
            Write(args, stdin) => {
                let out = member.etcdctl_with_stdin(args, stdin.as_bytes());
                assert!(
                    out.status.success(),
                    "step {i}: etcdctl {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Restart => member.restart(),
            HashKv(rev, want) => {
                let got = hashkv_at(&member, *rev);
                let got_text = match &got {
                    Ok((hash, compacted)) => format!("Is({hash}, {compacted})"),
                    Err(e) => format!("Fails({e:?})"),
                };
                let _ = writeln!(actual_table, "step {i}: HashKv({rev}, {got_text})");
                let same = match (want, &got) {
                    (Is(hash, compacted), Ok((h, c))) => hash == h && compacted == c,
                    (Fails(want), Err(e)) => want == e,
                    _ => false,
                };
                if !same {
                    let _ = writeln!(
                        mismatches,
                        "step {i}: HashKV at revision {rev}: etcd 3.4.23 answers {want:?}, \
                         this member {got:?}"
                    );
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "HashKV differs from etcd 3.4.23's:\n{mismatches}\nas it ran:\n{actual_table}"
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
