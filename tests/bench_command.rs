//! `etcd-rs bench` runs its workloads to the end against a member (etcd-rs, or etcd with
//! `ETCD_TEST_BIN=/usr/bin/etcd`) and prints a summary with the right counts. Short runs,
//! and never an assertion on timings: benchmarks are measured by scripts/benchmarks.sh.

mod support;

use std::process::{Command, Output};

use support::Member;

/// Runs `etcd-rs bench --endpoints <member> <args>` (always this crate's binary: the member
/// may be etcd).
fn bench(member: &Member, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcd-rs"))
        .arg("bench")
        .arg("--endpoints")
        .arg(member.client_url())
        .args(args)
        .output()
        .expect("etcd-rs bench runs")
}

/// Standard output of a run that must succeed.
fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} exited with {}:\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn put_sends_every_request_and_prints_etcd_s_summary() {
    let member = Member::start(&[]);
    let out = bench(
        &member,
        &[
            "--conns=2",
            "--clients=4",
            "put",
            "--total",
            "200",
            "--key-space-size",
            "50",
            "--sequential-keys",
            "--val-size",
            "16",
        ],
    );
    let stdout = succeeded(&out, "bench put");
    for needle in [
        "Summary:",
        "Count:\t200 ok, 0 errors.",
        "Requests/sec:",
        "Latency distribution:",
        "99.9% in",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
    // Sequential keys cover the key space exactly: keys 0..50, of 8 digits, 16-byte values.
    let last = member.etcdctl(&["get", "00000049", "--print-value-only"]);
    let value = String::from_utf8_lossy(&last.stdout);
    assert_eq!(value.trim().len(), 16, "value of the last key: {value:?}");
    let past = member.etcdctl(&["get", "00000050"]);
    assert!(past.stdout.is_empty(), "a key past the key space was put");
}

#[test]
fn range_and_txn_put_report_their_counts_as_json() {
    let member = Member::start(&[]);
    assert!(member.etcdctl(&["put", "foo", "bar"]).status.success());
    for consistency in ["l", "s"] {
        let out = bench(
            &member,
            &[
                "--output",
                "json",
                "--clients",
                "3",
                "range",
                "foo",
                "--consistency",
                consistency,
                "--total",
                "100",
            ],
        );
        let report = json(&succeeded(&out, "bench range"));
        assert_eq!(report["count"], 100, "{report}");
        assert_eq!(report["errors"], 0, "{report}");
    }
    let out = bench(
        &member,
        &[
            "--output=json",
            "txn-put",
            "--total=50",
            "--txn-ops=3",
            "--key-space-size=10",
        ],
    );
    let report = json(&succeeded(&out, "bench txn-put"));
    assert_eq!(
        (report["count"].as_u64(), report["errors"].as_u64()),
        (Some(50), Some(0))
    );
}

#[test]
fn watch_latency_counts_every_event_of_every_watcher() {
    let member = Member::start(&[]);
    let out = bench(
        &member,
        &[
            "--clients=2",
            "--conns=2",
            "watch-latency",
            "--put-total=20",
            "--put-rate=200",
            "--streams=2",
            "--watchers-per-stream=3",
        ],
    );
    let stdout = succeeded(&out, "bench watch-latency");
    let sections: Vec<&str> = stdout.split("summary:").collect();
    assert_eq!(sections.len(), 4, "three summaries:\n{stdout}");
    assert!(sections[1].contains("Count:\t20 ok, 0 errors."), "{stdout}");
    // 20 puts, each seen by 2 streams x 3 watchers.
    assert!(
        sections[2].contains("Count:\t120 ok, 0 errors."),
        "{stdout}"
    );
    assert!(
        sections[3].contains("Count:\t120 ok, 0 errors."),
        "{stdout}"
    );
}

#[test]
fn target_leader_finds_the_member_and_bad_flags_are_refused() {
    let member = Member::start(&[]);
    let out = bench(&member, &["--target-leader", "put", "--total", "5"]);
    assert!(succeeded(&out, "bench --target-leader put").contains("Count:\t5 ok, 0 errors."));

    let out = bench(&member, &["put", "--txn-ops", "2"]);
    assert_eq!(out.status.code(), Some(2), "a usage error exits 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown flag --txn-ops"), "{stderr}");
}
