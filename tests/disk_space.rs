//! A disk filling up under a real member process (issue 7): its data dir is a small
//! tmpfs, mounted here (`mount -t tmpfs`, which needs root, as in CI).
//!
//! What must hold: the member notices the disk filling before a write fails for want of
//! space, raises NOSPACE (etcd's alarm and error) and stays up; every write it
//! acknowledged is readable; after the operator deletes, compacts, defragments and
//! disarms, writes work again; a disarm while the disk is still short raises the alarm
//! again; after kill -9 and a restart, every acknowledged write is still there.
//!
//! Without the free-space check (`storage::DiskSpace`), the disk fills before the
//! 2 GiB default quota: a write fails with ENOSPC and the member stops (etcd itself
//! panics in bbolt), so the first assertions fail.
//!
//! Not a test of etcd: etcd has no free-space check (with `ETCD_TEST_BIN=/usr/bin/etcd`
//! the member dies when the tmpfs is full).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::Member;
use support::rng::Rng;

/// The tmpfs under the data dir: the member's fixed reserve (34 MiB, see
/// `storage::DISK_RESERVE_FIXED_BYTES`) plus room for about 7 MiB of values, of which
/// fjall's journal holds two copies (raft log and kv), the raft log keyspace one, and
/// the kv keyspace one (counted in the reserve too, for a defragment).
const TMPFS_BYTES: u64 = 64 << 20;
/// Each value: 64 KiB of hex (random, so that compression does not shrink it).
const VALUE_BYTES: usize = 64 << 10;
/// More puts than the tmpfs can hold: reaching this many without NOSPACE fails the test.
const PUTS_MAX: usize = 600;
/// Fewer acknowledged puts than this means NOSPACE came before the disk was filling.
const PUTS_MIN: usize = 40;
/// etcd's error while NOSPACE is raised (`ErrGRPCNoSpace`).
const NO_SPACE_ERROR: &str = "etcdserver: mvcc: database space exceeded";
/// The keys kept by the operator's remedy. Deleting more frees more: only the kv
/// keyspace's tables shrink (the journal and the raft log keep their copies until fjall
/// rotates the journal at 64 MB and the raft log is compacted), so on this small disk
/// the remedy must delete most of the values to get back above the reserve.
const KEPT: usize = 10;
/// How long a disarm may take to be undone when the disk is still short.
const RERAISE_TIMEOUT: Duration = Duration::from_secs(10);

/// A tmpfs mounted at a directory; unmounted on drop (lazily: the member may still hold
/// files there, it is killed just after).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(path).expect("create the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs at {} failed (this test needs root): {}",
            path.display(),
            text(&out)
        );
        Tmpfs(path.to_path_buf())
    }

    /// Bytes free on the tmpfs.
    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .expect("run df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("df output: {}", text(&out)))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

/// The value of put `i`: 64 KiB of hex from a generator seeded with `i`.
fn value(i: usize) -> String {
    let mut rng = Rng::new(i as u64);
    (0..VALUE_BYTES / 16)
        .map(|_| format!("{:016x}", rng.next_u64()))
        .collect()
}

/// Every key under `key-` and its value, in key order.
fn read_all(member: &Member) -> Vec<(String, String)> {
    let out = member.etcdctl(&["get", "key-", "--prefix"]);
    assert!(out.status.success(), "get --prefix: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    lines
        .chunks(2)
        .map(|kv| (kv[0].to_string(), kv.get(1).unwrap_or(&"").to_string()))
        .collect()
}

/// Asserts the keys are exactly `keys`, each with its value.
fn assert_stored(member: &Member, keys: &[usize], when: &str) {
    let stored = read_all(member);
    let stored_keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<String> = keys.iter().map(|&i| key(i)).collect();
    assert_eq!(
        stored_keys, expected,
        "{when}: the stored keys are not the acknowledged ones"
    );
    for ((k, v), &i) in stored.iter().zip(keys) {
        assert!(
            *v == value(i),
            "{when}: {k} does not hold the value written"
        );
    }
}

fn alarms(member: &Member) -> String {
    let out = member.etcdctl(&["alarm", "list"]);
    assert!(out.status.success(), "alarm list: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn revision(member: &Member) -> i64 {
    let out = member.etcdctl(&["endpoint", "status", "-w", "json"]);
    assert!(out.status.success(), "endpoint status: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let at = stdout
        .find("\"revision\":")
        .expect("a revision in the status")
        + 11;
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a numeric revision")
}

fn ok(member: &Member, args: &[&str]) {
    let out = member.etcdctl(args);
    assert!(out.status.success(), "etcdctl {args:?}: {}", text(&out));
}

#[test]
fn a_filling_disk_raises_nospace_recovers_after_compaction_and_disarm_and_loses_nothing() {
    let started = Instant::now();
    let mut tmpfs = None;
    let mut member = Member::start_prepared(&[], &[], |data_dir| {
        tmpfs = Some(Tmpfs::mount(data_dir, TMPFS_BYTES));
    });
    // Dropped before the member: unmounted lazily, then the member is killed and its
    // directory removed whole.
    let tmpfs = tmpfs.expect("mounted");

    // Fill the disk until a put fails; each failure must be NOSPACE's.
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..PUTS_MAX {
        let out = member.etcdctl(&["put", &key(i), &value(i)]);
        if out.status.success() {
            acknowledged.push(i);
            continue;
        }
        refused = Some(text(&out));
        break;
    }
    let refused = refused.unwrap_or_else(|| {
        panic!("{PUTS_MAX} puts of {VALUE_BYTES} bytes fit a {TMPFS_BYTES}-byte tmpfs")
    });
    let free = tmpfs.free_bytes();
    assert!(
        refused.contains(NO_SPACE_ERROR),
        "put {} failed with another error than NOSPACE's ({} bytes free): {refused}",
        acknowledged.len(),
        free
    );
    assert!(
        acknowledged.len() >= PUTS_MIN,
        "NOSPACE after only {} puts, with {free} bytes free",
        acknowledged.len()
    );
    assert!(
        free > 0,
        "the tmpfs is full: NOSPACE came too late to spare the disk"
    );
    assert!(
        alarms(&member).contains("alarm:NOSPACE"),
        "alarm list does not show NOSPACE:\n{}",
        alarms(&member)
    );
    assert!(
        member.wait_exit(Duration::from_millis(200)).is_none(),
        "the member stopped when its disk filled:\n{}",
        member.log_tail()
    );
    eprintln!(
        "NOSPACE after {} puts ({free} bytes still free), {:?} in",
        acknowledged.len(),
        started.elapsed()
    );
    assert_stored(&member, &acknowledged, "under NOSPACE");

    // A disarm while the disk is still short: raised again at the next check.
    ok(&member, &["alarm", "disarm"]);
    let deadline = Instant::now() + RERAISE_TIMEOUT;
    while !alarms(&member).contains("alarm:NOSPACE") {
        assert!(
            Instant::now() < deadline,
            "NOSPACE not raised again {RERAISE_TIMEOUT:?} after a disarm on a disk still short"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The operator's remedy: delete all but the last few keys, compact, defragment,
    // disarm.
    let first_kept = acknowledged.len() - KEPT;
    ok(&member, &["del", &key(0), &key(acknowledged[first_kept])]);
    let kept: Vec<usize> = acknowledged[first_kept..].to_vec();
    let rev = revision(&member);
    ok(&member, &["compaction", &rev.to_string()]);
    ok(&member, &["defrag"]);
    ok(&member, &["alarm", "disarm"]);
    let mut expected = kept.clone();
    for i in PUTS_MAX..PUTS_MAX + 3 {
        let out = member.etcdctl(&["put", &key(i), &value(i)]);
        assert!(
            out.status.success(),
            "a put after deleting, compacting, defragmenting and disarming failed \
             ({} bytes free): {}",
            tmpfs.free_bytes(),
            text(&out)
        );
        expected.push(i);
    }
    assert_eq!(
        alarms(&member),
        "",
        "an alarm is raised after the remedy ({} bytes free)",
        tmpfs.free_bytes()
    );
    assert_stored(&member, &expected, "after the remedy");

    // kill -9 and restart on the same data dir: nothing acknowledged is lost.
    member.restart();
    assert_stored(&member, &expected, "after kill -9 and a restart");
    ok(&member, &["put", "after-the-restart", "ok"]);
    eprintln!("done in {:?}", started.elapsed());
}

/// How long the member may take to stop after a write failed for want of space.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Writes acknowledged before another process fills the disk.
const PUTS_BEFORE_FULL: usize = 20;

/// The case the free-space check cannot prevent: another process takes the last byte
/// between two checks. The member must not acknowledge the write it could not persist;
/// it stops (as after a failed fsync, see tests/disk_faults.rs), and once space is
/// freed, a restart finds every acknowledged write.
#[test]
fn a_disk_filled_by_another_process_stops_the_member_and_a_restart_loses_nothing() {
    let mut tmpfs = None;
    let mut member = Member::start_prepared(&[], &[], |data_dir| {
        tmpfs = Some(Tmpfs::mount(data_dir, TMPFS_BYTES));
    });
    let tmpfs = tmpfs.expect("mounted");
    let acknowledged: Vec<usize> = (0..PUTS_BEFORE_FULL).collect();
    for &i in &acknowledged {
        ok(&member, &["put", &key(i), &value(i)]);
    }

    // Another process takes every free byte (dd stops at ENOSPC, as expected).
    let filler = member.data_dir().join("filler");
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", filler.display()))
        .arg("bs=1M")
        .output()
        .expect("run dd");
    assert!(
        tmpfs.free_bytes() < VALUE_BYTES as u64,
        "dd left {} bytes free",
        tmpfs.free_bytes()
    );
    let unacknowledged = PUTS_MAX;
    let out = member.etcdctl(&["put", &key(unacknowledged), &value(unacknowledged)]);
    assert!(
        !out.status.success(),
        "a put was acknowledged on a full disk: {}",
        text(&out)
    );
    let status = member.wait_exit(STOP_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "the member still runs {STOP_TIMEOUT:?} after a write failed on a full disk:\n{}",
            member.log_tail()
        )
    });
    assert!(
        !status.success(),
        "the member exited with success: {status}"
    );

    // Space freed: a restart finds every acknowledged write; the refused one, if it
    // reached the disk, is whole.
    std::fs::remove_file(&filler).expect("remove the filler");
    member.restart();
    let stored = read_all(&member);
    let mut expected: Vec<(String, String)> =
        acknowledged.iter().map(|&i| (key(i), value(i))).collect();
    if stored.len() == expected.len() + 1 {
        expected.push((key(unacknowledged), value(unacknowledged)));
    }
    assert!(
        stored == expected,
        "after freeing space and a restart, the keys are {:?}, not the acknowledged ones",
        stored.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    ok(&member, &["put", "after-the-restart", "ok"]);
}
