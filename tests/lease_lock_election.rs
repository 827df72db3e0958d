//! Leases, locks and elections, as etcd's clients use them: `etcdctl lease ...`, `lock`
//! and `elect` print what etcd 3.4 prints, and with the `etcd-client` crate a lease that
//! expires deletes its keys and emits DELETE events.

mod support;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, PutOptions};
use support::Member;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replaces the lease id (16 hex digits or fewer) after "lease " with `<id>`.
fn hide_lease_id(output: &str, id: &str) -> String {
    output.replace(id, "<id>")
}

fn grant(member: &Member, ttl: &str) -> String {
    let out = member.etcdctl(&["lease", "grant", ttl]);
    assert!(out.status.success(), "lease grant: {out:?}");
    let stdout = text(&out.stdout);
    stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no lease id in {stdout:?}"))
        .to_string()
}

// Captured from etcd 3.4.23 on this machine (lease id replaced by <id>).
const GRANTED: &str = "lease <id> granted with TTL(60s)\n";
const TIME_TO_LIVE_KEYS: &str =
    "lease <id> granted with TTL(60s), remaining(<n>s), attached keys([a b])\n";
const KEPT_ALIVE: &str = "lease <id> keepalived with TTL(60)\n";
const REVOKED: &str = "lease <id> revoked\n";
const EXPIRED: &str = "lease <id> already expired\n";
const TOO_LARGE: &str = "Error: failed to grant lease (etcdserver: too large lease TTL)\n";
const REVOKE_UNKNOWN: &str =
    "Error: failed to revoke lease (etcdserver: requested lease not found)\n";

fn last_line(stderr: &[u8]) -> String {
    let text = text(stderr);
    format!("{}\n", text.lines().last().unwrap_or_default())
}

#[test]
fn etcdctl_lease_commands_print_what_etcd_prints() {
    let member = Member::start(&[]);
    let id = grant(&member, "60");
    let out = member.etcdctl(&["lease", "grant", "60"]);
    let other = text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert_eq!(hide_lease_id(&text(&out.stdout), &other), GRANTED);

    for key in ["a", "b"] {
        assert!(
            member
                .etcdctl(&["put", key, "v", "--lease", &id])
                .status
                .success()
        );
    }
    let ttl = text(
        &member
            .etcdctl(&["lease", "timetolive", &id, "--keys"])
            .stdout,
    );
    let remaining = ttl
        .split("remaining(")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .unwrap_or_default()
        .to_string();
    let remaining_secs: i64 = remaining.parse().expect("remaining seconds");
    assert!((50..=60).contains(&remaining_secs), "{ttl}");
    assert_eq!(
        hide_lease_id(&ttl, &id).replace(&format!("remaining({remaining}s)"), "remaining(<n>s)"),
        TIME_TO_LIVE_KEYS
    );
    let kept = member.etcdctl(&["lease", "keep-alive", "--once", &id]);
    assert_eq!(hide_lease_id(&text(&kept.stdout), &id), KEPT_ALIVE);
    let list = text(&member.etcdctl(&["lease", "list"]).stdout);
    assert!(list.starts_with("found 2 leases\n"), "{list}");
    assert!(list.contains(&format!("{id}\n")) && list.contains(&format!("{other}\n")));

    let revoked = member.etcdctl(&["lease", "revoke", &id]);
    assert_eq!(hide_lease_id(&text(&revoked.stdout), &id), REVOKED);
    let gone = member.etcdctl(&["get", "a", "--prefix", "--keys-only"]);
    assert_eq!(text(&gone.stdout), "", "revoking deletes the lease's keys");
    let expired = member.etcdctl(&["lease", "timetolive", &id]);
    assert_eq!(hide_lease_id(&text(&expired.stdout), &id), EXPIRED);

    let too_large = member.etcdctl(&["lease", "grant", "9000000001"]);
    assert_eq!(too_large.status.code(), Some(1));
    assert_eq!(last_line(&too_large.stderr), TOO_LARGE);
    let unknown = member.etcdctl(&["lease", "revoke", "1234"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(last_line(&unknown.stderr), REVOKE_UNKNOWN);
}

/// Starts `etcdctl` with `args` in the background, stdout captured.
fn spawn_etcdctl(member: &Member, args: &[&str]) -> std::process::Child {
    Command::new(support::etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(member.client_url())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl runs")
}

fn read_until(child: &mut std::process::Child, needle: &str) -> String {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut byte = [0u8; 1];
    while !seen.contains(needle) {
        match stdout.read(&mut byte) {
            Ok(1) => seen.push(byte[0] as char),
            _ => break,
        }
    }
    child.stdout = Some(stdout);
    seen
}

#[test]
fn etcdctl_lock_serializes_holders_and_elect_names_the_leader() {
    let member = Member::start(&[]);
    // The first holder keeps the lock until it is killed.
    let mut first = spawn_etcdctl(&member, &["lock", "door"]);
    let held = read_until(&mut first, "\n");
    assert!(
        held.starts_with("door/"),
        "the holder prints its key: {held:?}"
    );
    let mut second = spawn_etcdctl(&member, &["lock", "door", "--", "echo", "second-holder"]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        second.try_wait().expect("status").is_none(),
        "the second contender waits while the lock is held"
    );
    let _ = first.kill();
    let _ = first.wait();
    // Killing the holder ends its session only when its lease expires or is revoked;
    // etcdctl revokes on exit when it can, else the TTL (60 s) runs out: wait for either.
    let started = Instant::now();
    let out = loop {
        if let Some(_status) = second.try_wait().expect("status") {
            let mut out = String::new();
            second
                .stdout
                .take()
                .expect("stdout")
                .read_to_string(&mut out)
                .expect("read");
            break out;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "second never got the lock"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(out, "second-holder\n");

    let mut candidate = spawn_etcdctl(&member, &["elect", "council", "alice"]);
    let won = read_until(&mut candidate, "alice\n");
    assert!(
        won.starts_with("council/") && won.ends_with("\nalice\n"),
        "{won:?}"
    );
    let mut listener = spawn_etcdctl(&member, &["elect", "-l", "council"]);
    let seen = read_until(&mut listener, "alice\n");
    assert!(
        seen.starts_with("council/") && seen.ends_with("\nalice\n"),
        "{seen:?}"
    );
    for mut child in [candidate, listener] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn an_expiring_lease_deletes_its_keys_and_watchers_see_delete_events() {
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let lease = client.lease_grant(2, None).await.expect("grant");
        assert!(lease.ttl() >= 2, "granted at least the minimum TTL");
        let mut watch = client
            .watch(
                "session/",
                Some(etcd_client::WatchOptions::new().with_prefix()),
            )
            .await
            .expect("watch");
        assert!(
            watch
                .message()
                .await
                .expect("created")
                .expect("r")
                .created()
        );
        for key in ["session/a", "session/b"] {
            client
                .put(key, "x", Some(PutOptions::new().with_lease(lease.id())))
                .await
                .expect("put");
        }
        let mut deleted = Vec::new();
        let mut delete_revisions = std::collections::BTreeSet::new();
        while deleted.len() < 2 {
            let response = watch.message().await.expect("stream").expect("response");
            for event in response.events() {
                if event.event_type() == EventType::Delete {
                    let kv = event.kv().expect("kv");
                    deleted.push(kv.key_str().expect("utf-8").to_string());
                    delete_revisions.insert(kv.mod_revision());
                }
            }
        }
        deleted.sort();
        assert_eq!(deleted, ["session/a", "session/b"]);
        assert_eq!(
            delete_revisions.len(),
            1,
            "all keys of a lease go in one revision"
        );
        let left = client.get(
            "session/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        );
        assert_eq!(left.await.expect("get").count(), 0);
        let ttl = client
            .lease_time_to_live(lease.id(), None)
            .await
            .expect("ttl");
        assert_eq!(ttl.ttl(), -1, "an expired lease answers TTL -1");
    });
}

#[test]
fn a_lease_id_can_be_chosen_once_and_the_minimum_ttl_applies() {
    let member = Member::start(&[]);
    let url = member.client_url();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        let options = etcd_client::LeaseGrantOptions::new().with_id(0x1234);
        let granted = client
            .lease_grant(1, Some(options.clone()))
            .await
            .expect("grant");
        assert_eq!(granted.id(), 0x1234);
        // etcd's minimum TTL with default flags: ceil(1.5 × 1 s election timeout) = 2 s.
        assert_eq!(granted.ttl(), 2);
        let again = client.lease_grant(60, Some(options)).await;
        let error = again
            .expect_err("a second grant of one id is refused")
            .to_string();
        assert!(
            error.contains("etcdserver: lease already exists"),
            "{error}"
        );
        let leases = client.leases().await.expect("leases");
        assert!(leases.leases().iter().any(|l| l.id() == 0x1234));
    });
}
