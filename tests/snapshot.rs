//! Maintenance.Snapshot as etcdctl uses it: `etcdctl snapshot save` writes a file that
//! `etcdctl snapshot status` reads as a bbolt database (it runs bbolt's consistency
//! check), and `etcdctl snapshot restore` turns into a data dir on which etcd itself
//! (Debian's etcd-server, `/usr/bin/etcd`) serves the same keys, revision and leases: a
//! way from etcd-rs to etcd. Also passes with `ETCD_TEST_BIN=/usr/bin/etcd`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cluster::{free_port, healthy, wait_until};
use support::{Member, enable_auth_with_a_reader, etcdctl_at};

fn text(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "etcdctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A JSON number field of a one-line JSON answer.
fn json_number(json: &str, field: &str) -> i64 {
    let at = json
        .find(&format!("\"{field}\":"))
        .unwrap_or_else(|| panic!("no {field} in {json}"));
    json[at + field.len() + 3..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{field} in {json}"))
}

/// `etcdctl snapshot status` of `file`: (revision, total keys, total size).
fn status(member: &Member, file: &Path) -> (i64, i64, i64) {
    let out = text(&member.etcdctl(&[
        "snapshot",
        "status",
        file.to_str().expect("utf-8 path"),
        "-w",
        "json",
    ]));
    (
        json_number(&out, "revision"),
        json_number(&out, "totalKey"),
        json_number(&out, "totalSize"),
    )
}

fn save(member: &Member, file: &Path) {
    let out = member.etcdctl(&["snapshot", "save", file.to_str().expect("utf-8 path")]);
    assert_eq!(
        text(&out),
        format!("Snapshot saved at {}\n", file.display()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts `count` keys `key/NNNN` of `value_bytes` bytes each through the Rust client.
fn put_many(member: &Member, count: usize, value_bytes: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = etcd_client::Client::connect([member.client_url()], None)
            .await
            .expect("connect");
        for i in 0..count {
            let value = format!("{i:04}").repeat(value_bytes / 4);
            client
                .put(format!("key/{i:04}"), value, None)
                .await
                .expect("put");
        }
    });
}

/// etcd on a restored data dir; killed on drop.
struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd_bin() -> PathBuf {
    std::env::var_os("ETCD_BIN").map_or_else(|| PathBuf::from("/usr/bin/etcd"), PathBuf::from)
}

#[test]
fn a_saved_snapshot_has_etcds_format_and_etcd_serves_it_after_a_restore() {
    let member = Member::start(&[]);
    let ok = |args: &[&str]| text(&member.etcdctl(args));
    ok(&["put", "foo", "bar"]);
    ok(&["put", "foo", "baz"]);
    ok(&["del", "foo"]);
    let lease = ok(&["lease", "grant", "600"]);
    let lease_id = lease
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ok(&["put", "leased", "v", &format!("--lease={lease_id}")]);
    ok(&["compaction", "3"]);
    // Enough records for two levels of branch pages in the key bucket.
    put_many(&member, 600, 1000);
    let revision = json_number(&ok(&["get", "leased", "-w", "json"]), "revision");

    let file = member.data_dir().with_file_name("snap.db");
    save(&member, &file);
    let (status_revision, total_keys, total_size) = status(&member, &file);
    assert_eq!(status_revision, revision, "the snapshot's last revision");
    let file_bytes = std::fs::metadata(&file).expect("file").len() as i64;
    assert_eq!(total_size + 32, file_bytes, "pages, then a SHA-256");
    assert!(total_keys > 600, "{total_keys} keys");

    // Restore with etcdctl and serve with etcd itself.
    let (_etcd, client_url) = restore_into_etcd(&member, &file);
    let etcd = |args: &[&str]| text(&etcdctl_at(&client_url, args, b""));
    assert_eq!(etcd(&["get", "foo"]), "", "deleted before the snapshot");
    assert_eq!(
        etcd(&["get", "key/0599", "--print-value-only"]),
        format!("{}\n", "0599".repeat(250))
    );
    assert_eq!(
        etcd(&["get", "key/", "--prefix", "--keys-only"])
            .lines()
            .filter(|l| !l.is_empty())
            .count(),
        600
    );
    let leased = etcd(&["get", "leased", "-w", "json"]);
    assert_eq!(json_number(&leased, "revision"), revision);
    assert!(etcd(&["lease", "list"]).contains(&lease_id), "the lease");
    let ttl = etcd(&["lease", "timetolive", &lease_id, "--keys"]);
    assert!(ttl.contains("granted with TTL(600s)"), "{ttl}");
    assert!(ttl.contains("attached keys([leased])"), "{ttl}");
    // History below the snapshot's compaction is gone, after it is there.
    let old = etcdctl_at(&client_url, &["get", "foo", "--rev=2"], b"");
    assert!(!old.status.success(), "revision 2 was compacted");
    assert_eq!(
        etcd(&["get", "foo", "--rev=3", "--print-value-only"]),
        "baz\n"
    );
    assert_eq!(etcd(&["put", "after", "restore"]), "OK\n");
}

/// `etcdctl snapshot restore` of `file` into a new data dir beside `member`'s, and etcd
/// serving it (killed on drop): (etcd, its client URL).
fn restore_into_etcd(member: &Member, file: &Path) -> (Etcd, String) {
    let restored = member.data_dir().with_file_name("restored");
    let (client_port, peer_port) = (free_port(), free_port());
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let restore = etcdctl_at(
        &member.client_url(),
        &[
            "snapshot",
            "restore",
            file.to_str().expect("utf-8"),
            "--name=restored",
            &format!("--data-dir={}", restored.display()),
            &format!("--initial-cluster=restored={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
        ],
        b"",
    );
    assert!(
        restore.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let client_url = format!("http://127.0.0.1:{client_port}");
    let etcd = Etcd(
        Command::new(etcd_bin())
            .args([
                "--name=restored",
                &format!("--data-dir={}", restored.display()),
                &format!("--listen-client-urls={client_url}"),
                &format!("--advertise-client-urls={client_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=restored={peer_url}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts (Debian package etcd-server)"),
    );
    wait_until("etcd on the restored data healthy", || healthy(client_port));
    (etcd, client_url)
}

#[test]
fn users_roles_and_enabled_auth_survive_a_restore_into_etcd() {
    let member = Member::start(&[]);
    let ok = |args: &[&str]| text(&member.etcdctl(args));
    ok(&["put", "secret", "2"]);
    enable_auth_with_a_reader(&member);
    let file = member.data_dir().with_file_name("snap.db");
    let saved = member.etcdctl(&[
        "--user=root:rootpw",
        "snapshot",
        "save",
        file.to_str().expect("utf-8 path"),
    ]);
    text(&saved);

    let (_etcd, client_url) = restore_into_etcd(&member, &file);
    let etcd = |args: &[&str]| etcdctl_at(&client_url, args, b"");
    // Auth is still on: nobody reads anything.
    let anonymous = etcd(&["get", "pub/a"]);
    assert!(
        !anonymous.status.success(),
        "auth is enabled after the restore"
    );
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("user name is empty"),
        "{}",
        String::from_utf8_lossy(&anonymous.stderr)
    );
    // The passwords (bcrypt hashes made here) and the permissions are etcd's now.
    assert_eq!(
        text(&etcd(&[
            "--user=alice:alicepw",
            "get",
            "pub/a",
            "--print-value-only"
        ])),
        "1\n"
    );
    let denied = etcd(&["--user=alice:alicepw", "get", "secret"]);
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let wrong = etcd(&["--user=alice:wrong", "get", "pub/a"]);
    assert!(!wrong.status.success(), "a wrong password is refused");
    assert_eq!(
        text(&etcd(&[
            "--user=root:rootpw",
            "get",
            "secret",
            "--print-value-only"
        ])),
        "2\n"
    );
    assert_eq!(
        text(&etcd(&["--user=root:rootpw", "role", "get", "reader"])),
        "Role reader\nKV Read:\n\t[pub/, pub0) (prefix pub/)\nKV Write:\n"
    );
}

/// The snapshot shows the store at one revision while writes go on: every revision up
/// to the one it reports has its record in it, and none after.
#[test]
fn a_snapshot_taken_during_writes_is_one_revision() {
    let member = Member::start(&[]);
    put_many(&member, 50, 100);
    let idle = member.data_dir().with_file_name("idle.db");
    save(&member, &idle);
    let (revision, keys, _) = status(&member, &idle);
    // One record per revision after the first; the rest are fixed entries.
    let fixed = keys - (revision - 1);

    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let mut client = etcd_client::Client::connect([member.client_url()], None)
                    .await
                    .expect("connect");
                let mut i = 0u64;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    client
                        .put(format!("busy/{}", i % 100), vec![b'x'; 2000], None)
                        .await
                        .expect("put");
                    i += 1;
                }
            });
        });
        let started = Instant::now();
        for n in 0..3 {
            let file = member.data_dir().with_file_name(format!("busy{n}.db"));
            save(&member, &file);
            let (revision, keys, _) = status(&member, &file);
            assert_eq!(
                keys - (revision - 1),
                fixed,
                "records of exactly revisions 2..={revision}"
            );
        }
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        assert!(started.elapsed() < Duration::from_secs(120));
    });
}
