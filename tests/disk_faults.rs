//! Disk faults on a real member process. Failures are injected with libfiu (Debian's
//! `fiu-utils`, which `.ci/run` installs): the member runs under `fiu-run -x`, which
//! preloads libfiu's POSIX wrappers, and `fiu-ctrl` makes every fsync of the running
//! process fail with EIO.
//!
//! What must hold (etcd's behaviour, and the project's rule): a failed fsync is never
//! retried and never acknowledged. The write waiting for it fails, the member stops
//! (the process exits, as etcd's does), and after a restart on the same data dir every
//! write acknowledged before the fault is there.
//!
//! Not a test of etcd: libfiu wraps the C library's calls, and Go's etcd makes its system
//! calls directly, so its fdatasync never fails under `fiu-ctrl` (with
//! `ETCD_TEST_BIN=/usr/bin/etcd` the put after the fault is acknowledged).

mod support;

use std::process::Command;
use std::time::Duration;

use support::Member;

/// Acknowledged writes before the fault.
const WRITES_BEFORE_FAULT: usize = 20;
/// How long the member may take to stop after its fsync failed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "{tool} not found: install Debian's fiu-utils (apt-get install fiu-utils, as .ci/run does)"
    );
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_failed_fsync_stops_the_member_without_acknowledging_and_loses_nothing() {
    require("fiu-run");
    require("fiu-ctrl");
    let mut member = Member::start_wrapped(&["fiu-run", "-x"], &[]);
    for i in 0..WRITES_BEFORE_FAULT {
        let out = member.etcdctl(&["put", &format!("key-{i}"), &format!("value-{i}")]);
        assert!(out.status.success(), "put key-{i} failed: {}", text(&out));
    }

    // From now on every fsync and fdatasync of the member fails with EIO (5).
    let ctl = Command::new("fiu-ctrl")
        .args(["-c", "enable name=posix/io/sync/*,failinfo=5"])
        .arg(member.pid().to_string())
        .output()
        .expect("run fiu-ctrl");
    assert!(ctl.status.success(), "fiu-ctrl failed: {}", text(&ctl));

    let out = member.etcdctl(&["put", "after-the-fault", "never-acknowledged"]);
    assert!(
        !out.status.success(),
        "a put was acknowledged although its fsync failed: {}",
        text(&out)
    );
    let status = member.wait_exit(STOP_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "the member still runs {STOP_TIMEOUT:?} after its fsync failed; log:\n{}",
            member.log_tail()
        )
    });
    assert!(
        !status.success(),
        "the member exited with success after its fsync failed: {status}"
    );
    let log = member.log().to_lowercase();
    assert!(
        log.contains("input/output error"),
        "the member's log does not name the failed fsync (EIO):\n{}",
        member.log_tail()
    );

    // A sound disk again (a new process: nothing is preloaded and failing any more).
    member.restart();
    for i in 0..WRITES_BEFORE_FAULT {
        let out = member.etcdctl(&["get", &format!("key-{i}"), "--print-value-only"]);
        assert!(out.status.success(), "get key-{i}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("value-{i}"),
            "key-{i}, acknowledged before the fault, is not what was written"
        );
    }
    // The failed put was never acknowledged: it may or may not have reached the disk,
    // but if it did, it is whole.
    let out = member.etcdctl(&["get", "after-the-fault", "--print-value-only"]);
    assert!(out.status.success(), "get after-the-fault: {}", text(&out));
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        value.is_empty() || value == "never-acknowledged",
        "the unacknowledged put left {value:?}"
    );
    let out = member.etcdctl(&["put", "after-the-restart", "ok"]);
    assert!(
        out.status.success(),
        "the restarted member refuses writes: {}",
        text(&out)
    );
}
