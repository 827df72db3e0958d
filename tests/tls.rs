//! TLS on the client and peer URLs, driven by the real `etcdctl` and `curl`, with
//! certificates made by the `openssl` CLI for each test: a CA, a member certificate
//! (CN `member`, valid for 127.0.0.1), a client certificate (CN `alice`), a certificate
//! of another CA, a revoked client certificate and its CRL, and a peer certificate of
//! another CN (`intruder`).
//!
//! Each test also checks the case that must work (the right CA, a valid certificate), so
//! that a server without TLS, or one that refused everything, fails it.
//!
//! The same tests run against etcd: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci
//! --test tls`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::cluster::free_port;
use support::{etcdctl_bin, server_bin};

/// How long a member may take to answer `/health` once started (the machine is small
/// and shared with builds).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bounds of an etcdctl call expected to work.
const ETCDCTL_TIMEOUTS: [&str; 2] = ["--dial-timeout=5s", "--command-timeout=15s"];
/// Bounds of an etcdctl call expected to fail: it retries until its dial timeout.
const ETCDCTL_FAILING_TIMEOUTS: [&str; 2] = ["--dial-timeout=2s", "--command-timeout=4s"];
/// How long a member refused by its peers is watched for a write it must not see.
const REFUSED_MEMBER_WATCHED: Duration = Duration::from_secs(4);

/// The certificates of one test, in a temporary directory removed on drop.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("etcd-rs-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test dir");
        let pki = Pki { dir };
        pki.make_ca("ca");
        pki.make_ca("wrong-ca");
        pki.make_leaf("member", "member", "ca");
        pki.make_leaf("alice", "alice", "ca");
        pki.make_leaf("intruder", "intruder", "ca");
        pki.make_leaf("stranger", "alice", "wrong-ca");
        pki.make_leaf("mallory", "mallory", "ca");
        pki.revoke("mallory");
        pki
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `NAME.crt` and `NAME.key`: a self-signed CA.
    fn make_ca(&self, name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// `NAME.crt` and `NAME.key`: a certificate of subject CN `cn`, for server and client
    /// use, valid for 127.0.0.1 and localhost, signed by CA `ca`.
    fn make_leaf(&self, name: &str, cn: &str, ca: &str) {
        fs::write(
            self.dir.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("write leaf.ext");
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
    }

    /// Revokes `NAME.crt` and writes the CA's CRL, `crl.pem`.
    fn revoke(&self, name: &str) {
        fs::write(self.dir.join("index.txt"), "").expect("index.txt");
        fs::write(self.dir.join("crlnumber"), "01\n").expect("crlnumber");
        fs::write(
            self.dir.join("ca.cnf"),
            format!(
                "[ ca ]\ndefault_ca = test\n[ test ]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 2\n",
                self.path("index.txt"),
                self.path("crlnumber")
            ),
        )
        .expect("ca.cnf");
        let ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
        let cert = format!("{name}.crt");
        let mut revoke = vec!["ca"];
        revoke.extend(ca);
        revoke.extend(["-revoke", cert.as_str()]);
        self.openssl(&revoke);
        let mut crl = vec!["ca"];
        crl.extend(ca);
        crl.extend(["-gencrl", "-out", "crl.pem"]);
        self.openssl(&crl);
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("KEEP_TEST_LOGS").is_some() {
            eprintln!(
                "the test's certificates and logs are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// One server process (etcd-rs, or etcd with `ETCD_TEST_BIN`), killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Server {
    fn spawn(pki: &Pki, name: &str, args: &[String]) -> Server {
        let log = pki.dir.join(format!("{name}.log"));
        let child = Command::new(server_bin())
            .arg(format!("--name={name}"))
            .arg(format!("--data-dir={}", pki.path(&format!("{name}.data"))))
            .args(args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the server starts");
        Server {
            child,
            log,
            name: name.to_string(),
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself: its log, or `None` if it still runs.
    fn exit_log(&mut self, within: Duration) -> Option<String> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- log tail of {} ---\n{}",
                self.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// Runs `etcdctl --endpoints endpoint` with the TLS flags `tls` and `args`.
fn etcdctl(endpoint: &str, tls: &[String], timeouts: [&str; 2], args: &[&str]) -> Output {
    Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .env_remove("ETCDCTL_ENDPOINTS")
        .arg("--endpoints")
        .arg(endpoint)
        .args(timeouts)
        .args(tls)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("etcdctl runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `etcdctl put` that must work.
fn put(endpoint: &str, tls: &[String], key: &str, value: &str) {
    let out = etcdctl(endpoint, tls, ETCDCTL_TIMEOUTS, &["put", key, value]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"),
        "put {key} at {endpoint} failed: {}",
        text(&out)
    );
}

/// `etcdctl get --print-value-only` that must work: the value.
fn get(endpoint: &str, tls: &[String], key: &str) -> String {
    let out = etcdctl(
        endpoint,
        tls,
        ETCDCTL_TIMEOUTS,
        &["get", key, "--print-value-only"],
    );
    assert!(
        out.status.success(),
        "get {key} at {endpoint} failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Asserts that an etcdctl call with these TLS flags fails (a refused handshake).
fn refused(endpoint: &str, tls: &[String], what: &str) {
    let out = etcdctl(
        endpoint,
        tls,
        ETCDCTL_FAILING_TIMEOUTS,
        &["put", "refused", "x"],
    );
    assert!(
        !out.status.success(),
        "{what}: etcdctl succeeded: {}",
        text(&out)
    );
}

/// etcdctl's flags for a client trusting `ca`, with the certificate `cert` if any.
fn client_tls(pki: &Pki, ca: &str, cert: Option<&str>) -> Vec<String> {
    let mut flags = vec![format!("--cacert={}", pki.path(&format!("{ca}.crt")))];
    if let Some(cert) = cert {
        flags.push(format!("--cert={}", pki.path(&format!("{cert}.crt"))));
        flags.push(format!("--key={}", pki.path(&format!("{cert}.key"))));
    }
    flags
}

/// `curl -s` with `args`: its output.
fn curl(args: &[String]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (Debian package curl)")
}

/// Waits until `GET url/health` (with curl's TLS flags `tls`) answers healthy.
fn wait_healthy(server: &Server, url: &str, tls: &[String]) {
    let started = Instant::now();
    loop {
        let mut args = tls.to_vec();
        args.push(format!("{url}/health"));
        let out = curl(&args);
        if String::from_utf8_lossy(&out.stdout).contains(r#""health":"true""#) {
            return;
        }
        assert!(
            started.elapsed() < START_TIMEOUT,
            "{} not healthy at {url} within {START_TIMEOUT:?}: {}\n--- log ---\n{}",
            server.name,
            text(&out),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// curl's flags for a client trusting the test CA, with the certificate `cert` if any.
fn curl_tls(pki: &Pki, cert: Option<&str>) -> Vec<String> {
    let mut flags = vec!["--cacert".to_string(), pki.path("ca.crt")];
    if let Some(cert) = cert {
        flags.extend([
            "--cert".to_string(),
            pki.path(&format!("{cert}.crt")),
            "--key".to_string(),
            pki.path(&format!("{cert}.key")),
        ]);
    }
    flags
}

/// `curl` trusting the test CA, without a client certificate, with `args`.
fn curl_trusting_ca(pki: &Pki, args: &[String]) -> Output {
    let mut all = curl_tls(pki, None);
    all.extend_from_slice(args);
    curl(&all)
}

/// A one-member cluster on an `https://` client URL with the member certificate, plus
/// `extra` flags; started and healthy (checked with the client certificate `cert`).
fn https_member(pki: &Pki, name: &str, extra: &[&str], cert: Option<&str>) -> (Server, String) {
    let (client, peer) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{client}");
    let mut args = vec![
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster={name}=http://127.0.0.1:{peer}"),
        format!("--cert-file={}", pki.path("member.crt")),
        format!("--key-file={}", pki.path("member.key")),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let server = Server::spawn(pki, name, &args);
    wait_healthy(&server, &url, &curl_tls(pki, cert));
    (server, url)
}

#[test]
fn etcdctl_and_http_clients_work_over_https() {
    let pki = Pki::new("https");
    let (_server, url) = https_member(&pki, "m", &[], None);
    let tls = client_tls(&pki, "ca", None);
    put(&url, &tls, "greeting", "hello");
    assert_eq!(get(&url, &tls, "greeting"), "hello");

    // The JSON gateway and /version answer on the same TLS port.
    let out = curl_trusting_ca(
        &pki,
        &[
            "-X".to_string(),
            "POST".to_string(),
            "-d".to_string(),
            r#"{"key":"Z3JlZXRpbmc="}"#.to_string(), // "greeting"
            format!("{url}/v3/kv/range"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(r#""value":"aGVsbG8=""#), // "hello"
        "/v3/kv/range over https: {}",
        text(&out)
    );
    let out = curl_trusting_ca(&pki, &[format!("{url}/version")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("etcdserver"),
        "/version over https: {}",
        text(&out)
    );

    // A plain-text client is not served on the TLS port.
    let plain = url.replace("https://", "http://");
    let out = curl(&[format!("{plain}/health")]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(r#""health":"true""#),
        "plain HTTP was served on the https port: {}",
        text(&out)
    );
}

#[test]
fn a_server_certificate_of_another_ca_is_refused_by_the_client() {
    let pki = Pki::new("server-ca");
    let (_server, url) = https_member(&pki, "m", &[], None);
    put(&url, &client_tls(&pki, "ca", None), "k", "v");
    refused(
        &url,
        &client_tls(&pki, "wrong-ca", None),
        "a client trusting another CA",
    );
}

#[test]
fn client_cert_auth_requires_a_certificate_of_the_trusted_ca() {
    let pki = Pki::new("client-auth");
    let ca = format!("--trusted-ca-file={}", pki.path("ca.crt"));
    let (_server, url) = https_member(&pki, "m", &["--client-cert-auth", &ca], Some("alice"));
    let alice = client_tls(&pki, "ca", Some("alice"));
    put(&url, &alice, "k", "v");
    assert_eq!(get(&url, &alice, "k"), "v");
    refused(
        &url,
        &client_tls(&pki, "ca", None),
        "a client without a certificate",
    );
    refused(
        &url,
        &client_tls(&pki, "ca", Some("stranger")),
        "a client certificate of another CA",
    );
    // HTTP on the same port asks for the certificate too.
    let out = curl_trusting_ca(&pki, &[format!("{url}/health")]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(r#""health":"true""#),
        "/health answered a client without a certificate: {}",
        text(&out)
    );
}

#[test]
fn a_revoked_client_certificate_is_refused() {
    let pki = Pki::new("crl");
    let ca = format!("--trusted-ca-file={}", pki.path("ca.crt"));
    let crl = format!("--client-crl-file={}", pki.path("crl.pem"));
    let (_server, url) = https_member(&pki, "m", &["--client-cert-auth", &ca, &crl], Some("alice"));
    put(&url, &client_tls(&pki, "ca", Some("alice")), "k", "v");
    refused(
        &url,
        &client_tls(&pki, "ca", Some("mallory")),
        "a revoked client certificate",
    );
}

#[test]
fn an_unknown_cipher_suite_is_refused_at_start_up() {
    let pki = Pki::new("ciphers");
    let (client, peer) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{client}");
    let mut server = Server::spawn(
        &pki,
        "m",
        &[
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=m=http://127.0.0.1:{peer}"),
            format!("--cert-file={}", pki.path("member.crt")),
            format!("--key-file={}", pki.path("member.key")),
            "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_NO_SUCH_SUITE".into(),
        ],
    );
    let log = server
        .exit_log(START_TIMEOUT)
        .expect("the member started with an unknown cipher suite");
    assert!(
        log.contains(r#"unexpected TLS cipher suite "TLS_NO_SUCH_SUITE""#),
        "{log}"
    );
}

#[test]
fn cipher_suites_limit_tls_1_2() {
    let pki = Pki::new("cipher-limit");
    // (Go's HTTP/2 server, hence etcd, refuses a list without an AES-128-GCM suite.)
    let (_server, url) = https_member(
        &pki,
        "m",
        &["--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
        None,
    );
    let tls12 = |cipher: &str| {
        curl_trusting_ca(
            &pki,
            &[
                "--tlsv1.2".to_string(),
                "--tls-max".to_string(),
                "1.2".to_string(),
                "--ciphers".to_string(),
                cipher.to_string(),
                format!("{url}/health"),
            ],
        )
    };
    let allowed = tls12("ECDHE-ECDSA-AES128-GCM-SHA256");
    assert!(
        String::from_utf8_lossy(&allowed.stdout).contains(r#""health":"true""#),
        "the allowed suite: {}",
        text(&allowed)
    );
    let other = tls12("ECDHE-ECDSA-AES256-GCM-SHA384");
    assert!(
        !other.status.success(),
        "a TLS 1.2 suite not in --cipher-suites was negotiated: {}",
        text(&other)
    );
}

/// The flags of member `i` of a cluster whose peer URLs are `https://`, and its client URL.
fn peer_tls_member(
    ports: &[(u16, u16)],
    i: usize,
    client_scheme: &str,
    initial: &str,
    extra: &[String],
) -> (Vec<String>, String) {
    let (client, peer) = ports[i];
    let url = format!("{client_scheme}://127.0.0.1:{client}");
    let mut args = vec![
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls=https://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer}"),
        format!("--initial-cluster={initial}"),
        "--initial-cluster-token=tls-test".to_string(),
    ];
    args.extend(extra.iter().cloned());
    (args, url)
}

/// Ports and `--initial-cluster` of an `n`-member cluster with `https://` peer URLs.
fn https_cluster_ports(n: usize) -> (Vec<(u16, u16)>, String) {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{i}=https://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    (ports, initial)
}

/// The peer TLS flags of a member presenting certificate `cert`.
fn peer_flags(pki: &Pki, cert: &str) -> Vec<String> {
    vec![
        format!("--peer-cert-file={}", pki.path(&format!("{cert}.crt"))),
        format!("--peer-key-file={}", pki.path(&format!("{cert}.key"))),
        format!("--peer-trusted-ca-file={}", pki.path("ca.crt")),
        "--peer-client-cert-auth".to_string(),
        "--peer-cert-allowed-cn=member".to_string(),
    ]
}

#[test]
fn a_cluster_with_peer_tls_replicates() {
    let pki = Pki::new("peer-tls");
    let (ports, initial) = https_cluster_ports(3);
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    // The leader's corruption check asks the others for their hashes over the peer
    // URLs, with the peer certificates too.
    let mut flags = peer_flags(&pki, "member");
    flags.push("--experimental-corrupt-check-time=1s".to_string());
    for i in 0..3 {
        let (args, url) = peer_tls_member(&ports, i, "http", &initial, &flags);
        servers.push(Server::spawn(&pki, &format!("m{i}"), &args));
        urls.push(url);
    }
    for (server, url) in servers.iter().zip(&urls) {
        wait_healthy(server, url, &[]);
    }
    put(&urls[0], &[], "replicated", "over-tls");
    assert_eq!(get(&urls[2], &[], "replicated"), "over-tls");
    if support::testing_etcd_rs() {
        // A few checks' time: none may go without a peer's hash.
        std::thread::sleep(Duration::from_secs(3));
        for server in &servers {
            let log = server.log();
            assert!(
                !log.contains("no hash from member"),
                "{}: a corruption check went without a hash:\n{log}",
                server.name
            );
        }
    }
}

#[test]
fn a_peer_whose_certificate_has_another_cn_takes_no_part() {
    let pki = Pki::new("peer-cn");
    let (ports, initial) = https_cluster_ports(3);
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for (i, cert) in ["member", "member", "intruder"].into_iter().enumerate() {
        let (args, url) = peer_tls_member(&ports, i, "http", &initial, &peer_flags(&pki, cert));
        servers.push(Server::spawn(&pki, &format!("m{i}"), &args));
        urls.push(url);
    }
    // The two members of the allowed CN are a quorum.
    wait_healthy(&servers[0], &urls[0], &[]);
    wait_healthy(&servers[1], &urls[1], &[]);
    put(&urls[0], &[], "secret", "for-members");
    assert_eq!(get(&urls[1], &[], "secret"), "for-members");
    // The intruder never gets the write: its messages are refused, and it is not sent to.
    std::thread::sleep(REFUSED_MEMBER_WATCHED);
    let out = etcdctl(
        &urls[2],
        &[],
        ETCDCTL_FAILING_TIMEOUTS,
        &["get", "secret", "--consistency=s", "--print-value-only"],
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("for-members"),
        "the member with CN intruder got the write: {}",
        text(&out)
    );
}

#[test]
fn auto_tls_serves_clients_and_peers_with_self_signed_certificates() {
    let pki = Pki::new("auto-tls");
    let (ports, initial) = https_cluster_ports(3);
    let auto = ["--auto-tls".to_string(), "--peer-auto-tls".to_string()];
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for i in 0..3 {
        let (args, url) = peer_tls_member(&ports, i, "https", &initial, &auto);
        servers.push(Server::spawn(&pki, &format!("m{i}"), &args));
        urls.push(url);
    }
    let insecure = ["--insecure".to_string()];
    for (server, url) in servers.iter().zip(&urls) {
        wait_healthy(server, url, &insecure);
    }
    // etcdctl 3.4 speaks TLS without a CA only with --insecure-transport=false.
    let skip = [
        "--insecure-transport=false".to_string(),
        "--insecure-skip-tls-verify".to_string(),
    ];
    put(&urls[0], &skip, "auto", "tls");
    assert_eq!(get(&urls[2], &skip, "auto"), "tls");
    // Verified against the test CA, the self-signed certificate is refused.
    refused(
        &urls[0],
        &client_tls(&pki, "ca", None),
        "a self-signed server certificate",
    );
    for side in ["client", "peer"] {
        let cert = Path::new(&pki.path("m0.data"))
            .join("fixtures")
            .join(side)
            .join("cert.pem");
        assert!(cert.exists(), "no {}", cert.display());
        // Valid for a year, as etcd's: still valid in 364 days, expired in 366.
        let valid_in = |days: u64| {
            Command::new("openssl")
                .args([
                    "x509",
                    "-noout",
                    "-checkend",
                    &(days * 86_400).to_string(),
                    "-in",
                ])
                .arg(&cert)
                .stdout(Stdio::null())
                .status()
                .expect("openssl runs")
                .success()
        };
        assert!(
            valid_in(364) && !valid_in(366),
            "{side}: not valid for a year"
        );
    }
}

#[test]
fn with_auth_a_verified_client_certificate_names_the_user() {
    let pki = Pki::new("cn-auth");
    let ca = format!("--trusted-ca-file={}", pki.path("ca.crt"));
    let (_server, url) = https_member(&pki, "m", &["--client-cert-auth", &ca], Some("alice"));
    let alice = client_tls(&pki, "ca", Some("alice"));
    let run = |tls: &[String], args: &[&str]| {
        let out = etcdctl(&url, tls, ETCDCTL_TIMEOUTS, args);
        assert!(out.status.success(), "etcdctl {args:?}: {}", text(&out));
    };
    run(&alice, &["user", "add", "root:rootpw"]);
    // etcdctl makes the root role and grants it to root when it is missing.
    run(&alice, &["auth", "enable"]);
    let mut as_root = alice.clone();
    as_root.push("--user=root:rootpw".to_string());
    run(&as_root, &["user", "add", "alice:alicepw"]);
    run(&as_root, &["user", "grant-role", "alice", "root"]);
    // No token: the certificate's CN, alice, is the user.
    put(&url, &alice, "by-cn", "alice");
    assert_eq!(get(&url, &alice, "by-cn"), "alice");
    // CN member is no user: refused.
    let out = etcdctl(
        &url,
        &client_tls(&pki, "ca", Some("member")),
        ETCDCTL_TIMEOUTS,
        &["put", "by-cn", "member"],
    );
    assert!(
        !out.status.success(),
        "a CN that is no user wrote: {}",
        text(&out)
    );
}

/// A cluster whose client URLs are all `https://` with --client-cert-auth: the calls
/// only the leader answers (lease keep-alive and TimeToLive, membership changes) work
/// on every member, so a follower dials the leader's client URL over TLS, with its
/// own certificate, to forward them.
#[test]
fn followers_forward_to_the_leader_over_https_client_urls() {
    let pki = Pki::new("forward-tls");
    let (ports, initial) = https_cluster_ports(3);
    let mut client_flags = peer_flags(&pki, "member");
    client_flags.extend([
        format!("--cert-file={}", pki.path("member.crt")),
        format!("--key-file={}", pki.path("member.key")),
        format!("--trusted-ca-file={}", pki.path("ca.crt")),
        "--client-cert-auth".to_string(),
    ]);
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for i in 0..3 {
        let (args, url) = peer_tls_member(&ports, i, "https", &initial, &client_flags);
        servers.push(Server::spawn(&pki, &format!("m{i}"), &args));
        urls.push(url);
    }
    let alice_curl = curl_tls(&pki, Some("alice"));
    for (server, url) in servers.iter().zip(&urls) {
        wait_healthy(server, url, &alice_curl);
    }
    let alice = client_tls(&pki, "ca", Some("alice"));
    let run = |url: &str, args: &[&str]| {
        let out = etcdctl(url, &alice, ETCDCTL_TIMEOUTS, args);
        assert!(
            out.status.success(),
            "etcdctl {args:?} at {url}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // At least two of the three are followers.
    for (i, url) in urls.iter().enumerate() {
        let granted = run(url, &["lease", "grant", "60"]);
        let id = granted
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no lease id in {granted:?}"))
            .to_string();
        let key = format!("leased-{i}");
        run(url, &["put", &key, "v", &format!("--lease={id}")]);
        let renewed = run(url, &["lease", "keep-alive", "--once", &id]);
        assert!(
            renewed.contains(&format!("lease {id} keepalived with TTL(60)")),
            "at {url}: {renewed}"
        );
        let ttl = run(url, &["lease", "timetolive", &id, "--keys"]);
        assert!(
            ttl.contains("granted with TTL(60s)") && ttl.contains(&key),
            "at {url}: {ttl}"
        );
        let learner = format!("https://127.0.0.1:{}", free_port());
        let name = format!("l{i}");
        let peer_urls = format!("--peer-urls={learner}");
        let add = ["member", "add", &name, "--learner", &peer_urls];
        // etcd refuses membership changes until its leader has been connected to every
        // member for 5 s ("unhealthy cluster"); etcd-rs only asks that it be connected.
        let started = Instant::now();
        let added = loop {
            let out = etcdctl(url, &alice, ETCDCTL_TIMEOUTS, &add);
            if out.status.success() {
                break String::from_utf8_lossy(&out.stdout).to_string();
            }
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("unhealthy cluster")
                    && started.elapsed() < START_TIMEOUT,
                "etcdctl {add:?} at {url}: {}",
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        let learner_id = added
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no member id in {added:?}"))
            .to_string();
        run(url, &["member", "remove", &learner_id]);
    }
}

/// An `https://` --listen-metrics-urls serves `/metrics` and `/health` with the client
/// certificate, as etcd serves its metrics URLs with the client TLS settings; a client
/// of another CA, or one speaking plain HTTP, gets nothing.
#[test]
fn https_metrics_urls_serve_metrics_inside_tls() {
    let pki = Pki::new("metrics-tls");
    let metrics = format!("https://127.0.0.1:{}", free_port());
    let flag = format!("--listen-metrics-urls={metrics}");
    let (_server, _url) = https_member(&pki, "m", &[&flag], None);
    let out = curl_trusting_ca(&pki, &[format!("{metrics}/metrics")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("etcd_server_has_leader 1"),
        "{}",
        text(&out)
    );
    let out = curl_trusting_ca(&pki, &[format!("{metrics}/health")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(r#""health":"true""#),
        "{}",
        text(&out)
    );
    let other_ca = curl(&[
        "--cacert".to_string(),
        pki.path("wrong-ca.crt"),
        format!("{metrics}/metrics"),
    ]);
    assert!(!other_ca.status.success(), "{}", text(&other_ca));
    let plain = curl(&[format!(
        "{}/metrics",
        metrics.replace("https://", "http://")
    )]);
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("etcd_server_has_leader"),
        "{}",
        text(&plain)
    );
}
