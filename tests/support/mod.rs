//! Shared harness of the compatibility tests: one real member process, driven through the
//! real `etcdctl`.
//!
//! The server binary is `$ETCD_TEST_BIN` when set (e.g. `ETCD_TEST_BIN=/usr/bin/etcd`, to
//! prove the tests right against etcd itself), else this crate's `etcd-rs`. It is started
//! with etcd's own flags, so the same test runs against either. `etcdctl` is
//! `$ETCDCTL_BIN` when set, else `etcdctl` from `PATH`.
//!
//! Each test file uses a different part of this module.
#![allow(dead_code)] // each test binary compiles this module but uses only part of it

pub mod cluster;
pub mod gateway;
pub mod golden;
pub mod grpc_raw;
pub mod proxy;
pub mod rng;
pub mod workload;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a member may take to answer `/health` after it is spawned. Generous: the
/// machine is small and shared with builds.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Passed to every `etcdctl` as `--command-timeout`: bounds each request.
pub const ETCDCTL_COMMAND_TIMEOUT: &str = "--command-timeout=15s";
/// Passed to every `etcdctl` as `--dial-timeout`: bounds connecting.
pub const ETCDCTL_DIAL_TIMEOUT: &str = "--dial-timeout=5s";
/// How many times `Member::start` picks new ports when the chosen ones were taken
/// between choosing and binding (another test may grab a released port).
const START_ATTEMPTS_MAX: u32 = 3;
/// The member's `--data-dir`, under its test directory.
const DATA_DIR: &str = "data";
/// Lines of the member's log shown when it fails to start or a test fails.
const LOG_TAIL_LINES: usize = 60;

/// The server binary under test.
pub fn server_bin() -> PathBuf {
    match std::env::var_os("ETCD_TEST_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => PathBuf::from(env!("CARGO_BIN_EXE_etcd-rs")),
    }
}

/// Whether the server under test is this crate's (not etcd through `ETCD_TEST_BIN`).
pub fn testing_etcd_rs() -> bool {
    std::env::var_os("ETCD_TEST_BIN").is_none()
}

/// The `etcdctl` used to drive the member.
pub fn etcdctl_bin() -> PathBuf {
    std::env::var_os("ETCDCTL_BIN").map_or_else(|| PathBuf::from("etcdctl"), PathBuf::from)
}

/// One member of a one-member cluster, running as a child process. Killed (SIGKILL) and
/// its directory removed on drop.
pub struct Member {
    child: Option<Child>,
    /// Holds the data dir (`data/`) and the member's log (`member.log`).
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    extra_args: Vec<String>,
    /// A command the server runs under (e.g. `fiu-run -x`), empty for none.
    wrapper: Vec<String>,
    /// The log tail is already in a panic message: drop need not print it again.
    log_shown: bool,
}

impl Member {
    /// Starts a member with etcd's flags plus `extra_args` on two free localhost ports and
    /// a fresh data dir, and waits until it reports healthy. Panics with the tail of the
    /// member's log if it does not become healthy within `START_TIMEOUT`.
    pub fn start(extra_args: &[&str]) -> Member {
        Member::start_wrapped(&[], extra_args)
    }

    /// As [`Member::start`], the server running under `wrapper` (a command that runs
    /// the program given after its own arguments, e.g. `["fiu-run", "-x"]`).
    pub fn start_wrapped(wrapper: &[&str], extra_args: &[&str]) -> Member {
        Member::start_prepared(wrapper, extra_args, |_| {})
    }

    /// As [`Member::start_wrapped`], `prepare` first called with the path of the data
    /// dir, before anything is there (e.g. to mount a filesystem on it; the member's
    /// drop then removes what it can of its directory).
    pub fn start_prepared(
        wrapper: &[&str],
        extra_args: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Member {
        let dir = fresh_test_dir();
        prepare(&dir.join(DATA_DIR));
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS_MAX {
            let (client_port, peer_port) = two_free_ports();
            let mut member = Member {
                child: None,
                dir: dir.clone(),
                client_port,
                peer_port,
                extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
                wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
                log_shown: false,
            };
            match member.spawn_and_wait_healthy() {
                Ok(()) => return member,
                // Go says "address already in use", Rust "Address already in use".
                Err(failure) if failure.to_lowercase().contains("address already in use") => {
                    // Another process took a port between our release and the bind:
                    // try again on new ports with a clean data dir (the drop of this
                    // attempt's `member` removes the test dir; the next one remakes it).
                    member.kill();
                    let _ = fs::remove_dir_all(member.data_dir());
                    last_failure = failure;
                }
                Err(failure) => {
                    member.log_shown = true;
                    panic!("{failure}")
                }
            }
        }
        panic!("member did not start in {START_ATTEMPTS_MAX} attempts:\n{last_failure}");
    }

    /// `http://127.0.0.1:P`, the client URL.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// `http://127.0.0.1:Q`, the peer URL.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// `127.0.0.1:P`, the client address for raw sockets.
    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    /// The member's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("member.log")
    }

    /// Runs `etcdctl --endpoints <client url> <args>` with an empty standard input.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_with_stdin(args, b"")
    }

    /// Runs `etcdctl --endpoints <client url> <args>` with `stdin` as its standard input.
    pub fn etcdctl_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        etcdctl_at(&self.client_url(), args, stdin)
    }

    /// SIGKILLs the member and starts it again on the same data dir and ports; waits
    /// until it is healthy.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(failure) = self.spawn_and_wait_healthy() {
            self.log_shown = true;
            panic!("member did not restart: {failure}");
        }
    }

    /// The process id of the running member (the wrapper, if any, execs it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("member is running").id()
    }

    /// Waits up to `timeout` for the member to exit on its own; its exit status, or None
    /// if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The whole log of the member (every run of it).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILLs the member (if running) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the member answers `GET /health` with `"health":"true"`.
    pub fn is_healthy(&self) -> bool {
        match http_get(self.client_addr(), "/health") {
            Ok(response) => {
                response.starts_with("HTTP/1.1 200") && response.contains(r#""health":"true""#)
            }
            Err(_) => false,
        }
    }

    /// The last `LOG_TAIL_LINES` lines of the member's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }

    /// Replaces what legitimately differs between runs and implementations: this
    /// member's URLs, ids and raft term (see `golden::normalize`).
    pub fn normalize(&self, text: &str) -> String {
        let text = text
            .replace(&self.client_url(), "<client-url>")
            .replace(&self.peer_url(), "<peer-url>")
            .replace(&format!("127.0.0.1:{}", self.client_port), "<client-addr>");
        golden::normalize(&text)
    }

    /// Like `normalize`, for the JSON gateway's answers (see `golden::normalize_gateway`).
    pub fn normalize_gateway(&self, text: &str) -> String {
        let text = text
            .replace(&self.client_url(), "<client-url>")
            .replace(&self.peer_url(), "<peer-url>");
        golden::normalize_gateway(&text)
    }

    /// `POST path` with `body` on the client port: the status code and the body.
    pub fn http_post(&self, path: &str, body: &str) -> (u16, String) {
        http_post(self.client_addr(), path, body)
    }

    fn spawn_and_wait_healthy(&mut self) -> Result<(), String> {
        fs::create_dir_all(&self.dir).expect("test dir");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("member log");
        let peer_url = self.peer_url();
        let client_url = self.client_url();
        let bin = server_bin();
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&bin);
                command
            }
            None => Command::new(&bin),
        };
        let child = command
            .args(["--name", "m1", "--data-dir"])
            .arg(self.data_dir())
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("m1={peer_url}")])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.is_healthy() {
                return Ok(());
            }
            let child = self.child.as_mut().expect("just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!(
                    "{} exited with {status} before it was healthy; log tail:\n{}",
                    bin.display(),
                    self.log_tail()
                ));
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(format!(
                    "{} did not answer /health with \"health\":\"true\" within {:?}; \
                     log tail:\n{}",
                    bin.display(),
                    START_TIMEOUT,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && !self.log_shown {
            eprintln!(
                "--- log tail of the member at {} ---\n{}",
                self.client_url(),
                self.log_tail()
            );
        }
        if std::env::var_os("ETCD_TEST_KEEP_DIRS").is_some() {
            eprintln!("kept the member's dir {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The etcdctl commands that make users `root` (password `rootpw`) and `alice`
/// (`alicepw`), alice holding role `reader`, which may read the keys under `prefix`.
pub fn users_with_a_reader(prefix: &str) -> Vec<Vec<String>> {
    let words = |line: &str| line.split(' ').map(str::to_string).collect();
    vec![
        words("user add root:rootpw"),
        words("user add alice:alicepw"),
        words("role add reader"),
        words(&format!(
            "role grant-permission reader read {prefix} --prefix"
        )),
        words("user grant-role alice reader"),
    ]
}

/// Sets up auth on `member` with etcdctl and enables it: [`users_with_a_reader`] of
/// `pub/`; key `pub/a` is `1`.
pub fn enable_auth_with_a_reader(member: &Member) {
    let mut commands = users_with_a_reader("pub/");
    commands.push(vec!["put".into(), "pub/a".into(), "1".into()]);
    commands.push(vec!["auth".into(), "enable".into()]);
    for command in &commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let output = member.etcdctl(&args);
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Runs `etcdctl --endpoints <endpoint> <args>` with `stdin` as its standard input, for
/// callers that cannot hold the `Member` (e.g. writer threads while it is killed).
pub fn etcdctl_at(endpoint: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .env_remove("ETCDCTL_ENDPOINTS")
        .arg("--endpoints")
        .arg(endpoint)
        .arg(ETCDCTL_COMMAND_TIMEOUT)
        .arg(ETCDCTL_DIAL_TIMEOUT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", etcdctl_bin().display()));
    // Written from a thread: a large input must not block while etcdctl's output
    // fills its pipes. etcdctl may exit before reading it all, so errors are ignored.
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("etcdctl ran");
    let _ = writer.join();
    output
}

/// A directory under the system temp dir that no other test (of this or another
/// process) uses.
fn fresh_test_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "etcd-rs-test-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Two distinct free localhost ports.
fn two_free_ports() -> (u16, u16) {
    (free_port(), free_port())
}

/// Ports handed out by [`free_port`] come from below the kernel's ephemeral range
/// (32768–60999 here), so no outgoing connection, of this test or another, can take one
/// between its probe and the member's bind; and each is handed out once per process, so
/// two picks never collide (binding port 0 twice can return the same port once the first
/// is released). Processes start at different offsets (their pid), which keeps concurrent
/// test binaries apart.
const PORTS: std::ops::Range<u16> = 12000..32000;

/// A localhost port that is free now and that this process has not handed out before.
/// The well-known etcd ports (2379/2380, 22379, 32379 of the dev cluster) are outside or
/// skipped.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(u64::MAX);
    let span = u64::from(PORTS.end - PORTS.start);
    let _ = NEXT.compare_exchange(
        u64::MAX,
        u64::from(std::process::id()).wrapping_mul(7919) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = PORTS.start + (NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if port == 22379 || port == 22380 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORTS:?}");
}

/// A tiny HTTP/1.1 GET: the whole response (status line, headers, body) as text.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// How long an HTTP request may take to be answered (a write waits for Raft).
const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP/1.1 answer.
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked (trailers dropped).
    pub body: String,
}

/// One HTTP/1.1 request with `body` (sent as JSON) on a fresh connection.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<HttpAnswer> {
    http_request_with(addr, method, path, &[], body)
}

/// `headers` as HTTP/1.1 header lines.
fn header_lines(headers: &[(&str, &str)]) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect()
}

/// [`http_request`] with more `headers` (`Authorization`, ...).
pub fn http_request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(HTTP_READ_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_READ_TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {}Content-Length: {}\r\nConnection: close\r\n\r\n",
        header_lines(headers),
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = response[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(HttpAnswer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// `POST path` with `body`: the status code and the body. Panics if the member does not
/// answer.
pub fn http_post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let answer = http_request(addr, "POST", path, body)
        .unwrap_or_else(|e| panic!("POST {path} {body:.200}: no answer: {e}"));
    (answer.status, answer.body)
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// A streaming HTTP/1.1 answer (the gateway's watch, keep-alive and observe), read as it
/// arrives: the status and headers, then the body line by line, de-chunked.
///
/// The request body is sent whole, with its length, before anything is read: etcd 3.4's
/// HTTP/1 server drops what the client sends after its first response is written, so a
/// test that must pass against it cannot send more later.
pub struct HttpStream {
    stream: TcpStream,
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    chunked: bool,
    /// Body bytes not yet framed: chunked framing, or the rest of a `Content-Length` body.
    raw: Vec<u8>,
    /// What is left of a `Content-Length` body.
    length_left: Option<usize>,
    /// De-chunked body bytes not yet answered as lines.
    body: Vec<u8>,
    /// The body ended (its last chunk, its length, or the connection's end).
    ended: bool,
}

impl HttpStream {
    /// `POST path` with `body` on a fresh connection; waits up to `timeout` for the status
    /// line and headers.
    pub fn post(
        addr: SocketAddr,
        path: &str,
        body: &str,
        timeout: Duration,
    ) -> std::io::Result<HttpStream> {
        HttpStream::post_with(addr, path, &[], body, timeout)
    }

    /// [`HttpStream::post`] with more `headers` (`Authorization`, ...).
    pub fn post_with(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        timeout: Duration,
    ) -> std::io::Result<HttpStream> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_write_timeout(Some(HTTP_READ_TIMEOUT))?;
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             {}Content-Length: {}\r\n\r\n",
            header_lines(headers),
            body.len()
        )?;
        stream.write_all(body.as_bytes())?;
        let mut answer = HttpStream {
            stream,
            status: 0,
            headers: Vec::new(),
            chunked: false,
            raw: Vec::new(),
            length_left: None,
            body: Vec::new(),
            ended: false,
        };
        let deadline = Instant::now() + timeout;
        let split = loop {
            if let Some(at) = answer.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if !answer.read_more(deadline)? {
                return Err(invalid_data("the connection ended before the headers"));
            }
        };
        let head = String::from_utf8_lossy(&answer.raw[..split]).into_owned();
        answer.raw.drain(..split + 4);
        let mut lines = head.split("\r\n");
        answer.status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid_data("no status line"))?;
        answer.headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
            .collect();
        answer.chunked = answer.header("transfer-encoding") == Some("chunked");
        if !answer.chunked {
            answer.length_left = answer.header("content-length").and_then(|v| v.parse().ok());
        }
        Ok(answer)
    }

    /// The value of the header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's next line, without its `\n` (the last one may have none), or `None`
    /// once the body has ended. An error if nothing completes a line within `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> std::io::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            self.frame()?;
            if let Some(at) = self.body.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.body.drain(..=at).collect();
                return Ok(Some(String::from_utf8_lossy(&line[..at]).into_owned()));
            }
            if self.ended {
                if self.body.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.body);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if !self.read_more(deadline)? {
                self.ended = true;
            }
        }
    }

    /// Reads what arrives until `deadline`: false when the connection ended.
    fn read_more(&mut self, deadline: Instant) -> std::io::Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "nothing more arrived in time",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut buf = [0u8; 16 * 1024];
        let n = self.stream.read(&mut buf)?;
        self.raw.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    }

    /// Moves the complete chunks (or the `Content-Length` body) of `raw` to `body`.
    fn frame(&mut self) -> std::io::Result<()> {
        if !self.chunked {
            let n = self
                .length_left
                .map_or(self.raw.len(), |left| left.min(self.raw.len()));
            self.body.extend(self.raw.drain(..n));
            if let Some(left) = self.length_left.as_mut() {
                *left -= n;
                if *left == 0 {
                    self.ended = true;
                }
            }
            return Ok(());
        }
        while !self.ended {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return Ok(());
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid_data("bad chunk size"))?;
            if size == 0 {
                self.ended = true;
                return Ok(());
            }
            let chunk_end = line_end + 2 + size;
            if self.raw.len() < chunk_end + 2 {
                return Ok(());
            }
            self.body
                .extend_from_slice(&self.raw[line_end + 2..chunk_end]);
            self.raw.drain(..chunk_end + 2);
        }
        Ok(())
    }
}

fn invalid_data(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}
