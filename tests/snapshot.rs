//! Maintenance.Snapshot as etcdctl uses it: `etcdctl snapshot save` writes a file that
//! `etcdctl snapshot status` reads as a bbolt database (it runs bbolt's consistency
//! check), and `etcdctl snapshot restore` turns into a data dir on which etcd itself
//! (Debian's etcd-server, `/usr/bin/etcd`) serves the same keys, revision and leases: a
//! way from etcd-rs to etcd. The other way too: a snapshot saved from etcd and restored
//! with `etcdctl snapshot restore` is a data dir the server under test starts on, with
//! etcd's keys, revision, history, leases and users. Also passes with
//! `ETCD_TEST_BIN=/usr/bin/etcd`.

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

/// A server process of the etcd -> etcd-rs test, its output in a log file: SIGKILLed on
/// drop, its log tail printed then if the test is failing.
struct Proc {
    child: Option<Child>,
    what: String,
    log: PathBuf,
}

impl Proc {
    /// Runs `bin` with `args`, its output appended to `log`.
    fn spawn(what: &str, bin: &Path, args: &[String], log: PathBuf) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        Proc {
            child: Some(child),
            what: what.to_string(),
            log,
        }
    }

    /// Waits until the process answers `/health` on `client_port`; panics with its log
    /// tail if it exits first or is not healthy within `support::START_TIMEOUT`.
    fn wait_healthy(&mut self, client_port: u16) {
        let deadline = Instant::now() + support::START_TIMEOUT;
        while !healthy(client_port) {
            let child = self.child.as_mut().expect("running");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "{} exited with {status} before it was healthy; log tail:\n{}",
                    self.what,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {:?}; log tail:\n{}",
                self.what,
                support::START_TIMEOUT,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("--- log tail of {} ---\n{}", self.what, self.log_tail());
            }
        }
    }
}

/// A fresh directory under the temp dir, removed on drop unless the test fails.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("etcd-rs-{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the test dir {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// etcdctl's stdout and stderr, for failure messages.
fn shown(output: &std::process::Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The flags `etcdctl snapshot restore` and the restored member share: member `m` of a
/// one-member cluster with token `tok`, its data in `data_dir`, peers on `peer_port`.
fn restore_flags(data_dir: &Path, peer_port: u16) -> Vec<String> {
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    [
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
        "--name",
        "m",
        "--initial-cluster",
        &format!("m={peer_url}"),
        "--initial-cluster-token",
        "tok",
        "--initial-advertise-peer-urls",
        &peer_url,
    ]
    .map(String::from)
    .to_vec()
}

/// The restored member's flags: [`restore_flags`] plus its listen and client URLs.
fn member_flags(data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client_url = format!("http://127.0.0.1:{client_port}");
    let mut flags = restore_flags(data_dir, peer_port);
    flags.extend([
        "--listen-peer-urls".to_string(),
        format!("http://127.0.0.1:{peer_port}"),
        "--listen-client-urls".to_string(),
        client_url.clone(),
        "--advertise-client-urls".to_string(),
        client_url,
    ]);
    flags
}

/// The way an operator migrates from etcd: `etcdctl snapshot save` from a running etcd
/// 3.4, `etcdctl snapshot restore` into a new data dir, and the server under test started
/// on that data dir with the flags the restore was given. It serves the keys, the
/// revision, the compacted history, the lease and the users, roles and enabled auth.
#[test]
fn an_etcd_snapshot_restored_with_etcdctl_starts_etcd_rs_with_its_keys_leases_and_users() {
    let dir = TestDir::new("etcd-import");
    // The source: etcd 3.4 itself, whatever the server under test is.
    let (source_client, source_peer) = (free_port(), free_port());
    let source_url = format!("http://127.0.0.1:{source_client}");
    let mut source = Proc::spawn(
        "the source etcd",
        &etcd_bin(),
        &member_flags(&dir.0.join("source"), source_client, source_peer),
        dir.0.join("source.log"),
    );
    source.wait_healthy(source_client);
    let at = |url: &str, args: &[&str]| etcdctl_at(url, args, b"");
    let ok_at = |url: &str, args: &[&str]| {
        let output = at(url, args);
        assert!(
            output.status.success(),
            "etcdctl {args:?} at {url}: {}",
            shown(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let on_source = |args: &[&str]| ok_at(&source_url, args);

    for i in 0..10 {
        on_source(&["put", &format!("k{i}"), &format!("v{i}")]);
    }
    // The revision of `k9`, the last before `k1` is rewritten: the compaction's.
    let compacted = json_number(&on_source(&["get", "k9", "-w", "json"]), "mod_revision");
    on_source(&["put", "k1", "v1b"]);
    let granted = on_source(&["lease", "grant", "600"]);
    let lease_id = granted
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("a lease id in {granted:?}"))
        .to_string();
    on_source(&["put", "leased", "lv", &format!("--lease={lease_id}")]);
    assert_eq!(
        on_source(&["compaction", "--physical", &compacted.to_string()]),
        format!("compacted revision {compacted}\n")
    );
    for command in support::users_with_a_reader("k") {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        on_source(&args);
    }
    on_source(&["auth", "enable"]);
    fn as_root<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [&["--user=root:rootpw"][..], args].concat()
    }
    let revision = json_number(
        &on_source(&as_root(&["endpoint", "status", "-w", "json"])),
        "revision",
    );
    let file = dir.0.join("etcd.db");
    let file_arg = file.to_str().expect("utf-8 path");
    on_source(&as_root(&["snapshot", "save", file_arg]));
    drop(source);

    // Restore into a new data dir, for a member on new ports.
    let (client_port, peer_port) = (free_port(), free_port());
    let data_dir = dir.0.join("restored");
    let restore_args = restore_flags(&data_dir, peer_port);
    let restore: Vec<&str> = ["snapshot", "restore", file_arg]
        .into_iter()
        .chain(restore_args.iter().map(String::as_str))
        .collect();
    ok_at(&source_url, &restore);
    let bin = support::server_bin();
    let mut server = Proc::spawn(
        &format!("the server under test ({})", bin.display()),
        &bin,
        &member_flags(&data_dir, client_port, peer_port),
        dir.0.join("server.log"),
    );
    server.wait_healthy(client_port);
    let url = format!("http://127.0.0.1:{client_port}");
    let run = |args: &[&str]| at(&url, args);
    let ok = |args: &[&str]| ok_at(&url, args);
    // etcdctl `args` succeeds and prints exactly `want`.
    let says = |args: &[&str], want: &str| {
        let output = run(args);
        assert!(
            output.status.success() && output.stdout == want.as_bytes(),
            "etcdctl {args:?} should print {want:?}: {}",
            shown(&output)
        );
    };
    // etcdctl `args` fails and its stderr has `error`.
    let fails = |args: &[&str], error: &str, why: &str| {
        let output = run(args);
        assert!(
            !output.status.success() && String::from_utf8_lossy(&output.stderr).contains(error),
            "etcdctl {args:?} should fail with {error:?} ({why}): {}",
            shown(&output)
        );
    };

    // The keys, at the revision etcd had.
    let mut expected = String::new();
    for i in 0..10 {
        let value = if i == 1 { "v1b" } else { &format!("v{i}") };
        expected.push_str(&format!("k{i}\n{value}\n"));
    }
    says(&as_root(&["get", "k", "--prefix"]), &expected);
    let status = ok(&as_root(&["endpoint", "status", "-w", "json"]));
    assert_eq!(
        json_number(&status, "revision"),
        revision,
        "the revision etcd had when the snapshot was saved: {status}"
    );
    let k1 = ok(&as_root(&["get", "k1", "-w", "json"]));
    assert_eq!(json_number(&k1, "create_revision"), 3, "{k1}");
    assert_eq!(json_number(&k1, "mod_revision"), compacted + 1, "{k1}");
    assert_eq!(json_number(&k1, "version"), 2, "{k1}");

    // The history: gone below the compaction, there from it on.
    fails(
        &as_root(&["get", "k1", &format!("--rev={}", compacted - 1)]),
        "etcdserver: mvcc: required revision has been compacted",
        "below the compaction",
    );
    says(
        &as_root(&["get", "k1", &format!("--rev={compacted}")]),
        "k1\nv1\n",
    );
    says(
        &as_root(&["get", "k1", &format!("--rev={}", compacted + 1)]),
        "k1\nv1b\n",
    );

    // The lease and its key.
    says(
        &as_root(&["lease", "list"]),
        &format!("found 1 leases\n{lease_id}\n"),
    );
    let ttl = ok(&as_root(&["lease", "timetolive", &lease_id, "--keys"]));
    assert!(
        ttl.starts_with(&format!(
            "lease {lease_id} granted with TTL(600s), remaining("
        )) && ttl.ends_with("attached keys([leased])\n"),
        "{ttl}"
    );
    let leased = ok(&as_root(&["get", "leased", "-w", "json"]));
    assert_eq!(
        json_number(&leased, "lease"),
        i64::from_str_radix(&lease_id, 16).expect("a hex lease id"),
        "{leased}"
    );

    // Users, roles, permissions and enabled auth.
    says(&as_root(&["user", "list"]), "alice\nroot\n");
    says(
        &as_root(&["user", "get", "alice"]),
        "User: alice\nRoles: reader\n",
    );
    says(
        &as_root(&["role", "get", "reader"]),
        "Role reader\nKV Read:\n\t[k, l) (prefix k)\nKV Write:\n",
    );
    fails(
        &["get", "k0"],
        "etcdserver: user name is empty",
        "auth is enabled",
    );
    fails(
        &["--user=alice:wrong", "get", "k0"],
        "etcdserver: authentication failed, invalid user ID or password",
        "a wrong password",
    );
    says(&["--user=alice:alicepw", "get", "k0"], "k0\nv0\n");
    fails(
        &["--user=alice:alicepw", "put", "k0", "x"],
        "etcdserver: permission denied",
        "alice may only read",
    );

    // Writes go on from the restored revision.
    let put = ok(&as_root(&["put", "after", "restore", "-w", "json"]));
    assert_eq!(json_number(&put, "revision"), revision + 1, "{put}");
    says(
        &as_root(&["get", "after", "--print-value-only"]),
        "restore\n",
    );
    drop(server);
}
