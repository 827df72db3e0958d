//! A fault-injecting TCP proxy in front of each member's peer port: the network between
//! members, made to fail on demand (the kernel here has no netem, so latency comes from
//! the proxy too).
//!
//! # Placement
//!
//! Member `i` advertises its proxy's address as its peer URL (in `--initial-cluster`, so
//! that is what every member dials and what member IDs are computed from) and listens on
//! another port, to which the proxy forwards. Every connection into proxy `i` comes from
//! some member `S`; the proxy learns `S` from the first bytes:
//! - etcd-rs: the hello frame (`src/transport/codec.rs`: the 13-byte header, kind 1, then
//!   `cluster_id | from | to` as big-endian u64);
//! - etcd (HTTP): the `X-Server-From` header (hex member ID) of a request on the
//!   connection. etcd's probes carry none; the proxy keeps looking in later requests of
//!   a connection whose sender it does not know yet (a heuristic: a header split across
//!   two reads is missed).
//!
//! Member IDs are mapped to indices with [`Net::learn_member_ids`] (from `member list`).
//!
//! # Which link a byte belongs to
//!
//! Faults are set per directed link `X → Y` ("what X sends, Y does not get"):
//! - etcd-rs: a connection from `S` to `i` carries `S`'s raft messages to `i`; the bytes
//!   back are only the answer to the hello. The whole connection belongs to `S → i`.
//! - etcd: requests carry `S → i` (pipeline, snapshots), but on the streams `S` opened,
//!   `i` answers with its own messages to `S`: the bytes back belong to `i → S`.
//!
//! A connection whose sender is unknown is only subject to faults that cut its member off
//! from every other member (an isolation or a blackhole of that member).
//!
//! # Faults
//!
//! - [`LinkFault::Drop`]: bytes are silently discarded, connections kept (a blackhole).
//! - [`LinkFault::Reset`]: connections are closed as soon as they are seen (new ones right
//!   after the sender is known): the peer sees the link fail fast.
//! - [`LinkFault::Delay`]: every chunk is forwarded that much later, in order, without
//!   limiting throughput.
//! - [`Net::flaky`]: any connection is closed at random, per chunk forwarded.
//!
//! A connection that discarded bytes has a hole in its stream, so when its link heals it
//! is closed rather than resumed; the member reconnects, as after a real network fault.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::rng::Rng;

/// How long the proxy waits for the member behind it to accept a connection.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes read per chunk: one decision (forward, discard, close, delay) per chunk.
const CHUNK_BYTES: usize = 64 << 10;
/// The most bytes read while looking for the sender before giving up on it.
const IDENTIFY_BYTES_MAX: usize = 8 << 10;
/// etcd-rs: the frame magic, and the offsets in a hello frame (see the module docs).
const ERSP_MAGIC: &[u8; 4] = b"ERSP";
const ERSP_HEADER_BYTES: usize = 13;
const ERSP_HELLO_BYTES: usize = ERSP_HEADER_BYTES + 1 + 3 * 8;
const ERSP_KIND_HELLO: u8 = 1;
const ERSP_HELLO_FROM_OFFSET: usize = ERSP_HEADER_BYTES + 1 + 8;
/// etcd: the request header naming the sending member.
const HTTP_SENDER_HEADER: &[u8] = b"x-server-from:";

/// What happens to the bytes of one directed link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkFault {
    /// Discarded; connections kept open.
    Drop,
    /// Connections closed.
    Reset,
    /// Forwarded this much later.
    Delay(Duration),
}

/// The proxies of a whole cluster and the faults they inject. Stops its proxies and
/// closes their connections on drop.
pub struct Net {
    shared: Arc<Shared>,
    proxies: Vec<Proxy>,
}

struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    conns: Mutex<Vec<Arc<Conn>>>,
}

struct State {
    members: usize,
    ids: HashMap<u64, usize>,
    links: HashMap<(usize, usize), LinkFault>,
    /// Chance, per chunk forwarded, that the connection is closed (per thousand).
    flaky_per_mille: u32,
    rng: Rng,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// From the member that dialled to the member behind the proxy.
    Forward,
    /// The answers.
    Back,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    Unknown,
    Id(u64),
}

enum Action {
    Forward(Duration),
    Discard,
    Close,
}

/// One proxied connection: `down` to the member that dialled, `up` to the member behind
/// the proxy.
struct Conn {
    to: usize,
    sender: Mutex<Sender>,
    http: AtomicBool,
    /// Per direction (Forward, Back): bytes were discarded, the stream has a hole.
    holed: [AtomicBool; 2],
    closed: AtomicBool,
    down: TcpStream,
    up: TcpStream,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.down.shutdown(Shutdown::Both);
        let _ = self.up.shutdown(Shutdown::Both);
    }

    fn holed(&self, dir: Dir) -> &AtomicBool {
        &self.holed[dir as usize]
    }
}

impl Net {
    /// Starts one proxy per entry of `upstream_ports` (member `i`'s real peer port), each
    /// on a fresh loopback port ([`Net::port`]). `seed` drives the random connection drops.
    pub fn start(upstream_ports: &[u16], seed: u64) -> Net {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                members: upstream_ports.len(),
                ids: HashMap::new(),
                links: HashMap::new(),
                flaky_per_mille: 0,
                rng: Rng::new(seed),
            }),
            conns: Mutex::new(Vec::new()),
        });
        let proxies = upstream_ports
            .iter()
            .enumerate()
            .map(|(to, &upstream)| {
                let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
                let port = listener.local_addr().expect("proxy address").port();
                let stop = Arc::new(AtomicBool::new(false));
                let accept = {
                    let (shared, stop) = (shared.clone(), stop.clone());
                    std::thread::spawn(move || accept_loop(listener, to, upstream, shared, stop))
                };
                Proxy {
                    port,
                    stop,
                    accept: Some(accept),
                }
            })
            .collect();
        Net { shared, proxies }
    }

    /// The port member `i`'s proxy listens on: member `i`'s advertised peer port.
    pub fn port(&self, i: usize) -> u16 {
        self.proxies[i].port
    }

    /// Learns which member ID is which member, from `etcdctl member list -w json` at
    /// `endpoint` (peer URLs are the proxies' addresses).
    pub fn learn_member_ids(&self, endpoint: &str) {
        let output = super::etcdctl_at(endpoint, &["member", "list", "-w", "json"], b"");
        let list: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("member list as JSON");
        let mut ids = HashMap::new();
        for member in list["members"].as_array().expect("members") {
            let id = member["ID"].as_u64().expect("member ID");
            let url = member["peerURLs"][0].as_str().expect("peer URL");
            let port: u16 = url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            let index = (0..self.proxies.len())
                .find(|&i| self.port(i) == port)
                .expect("a proxy's port");
            ids.insert(id, index);
        }
        assert_eq!(ids.len(), self.proxies.len(), "every member listed");
        self.set_member_ids(ids);
    }

    /// Sets which member ID is which member index.
    pub fn set_member_ids(&self, ids: HashMap<u64, usize>) {
        self.state().ids = ids;
    }

    /// Cuts the directed link `from → to`: what `from` sends, `to` never gets (silently).
    pub fn cut(&self, from: usize, to: usize) {
        self.set(&[(from, to)], LinkFault::Drop);
    }

    /// Cuts member `m` off from every other member, both ways, by closing connections.
    pub fn isolate(&self, m: usize) {
        self.set(&self.links_of(m), LinkFault::Reset);
    }

    /// Silently discards everything member `m` sends or is sent, keeping connections.
    pub fn blackhole(&self, m: usize) {
        self.set(&self.links_of(m), LinkFault::Drop);
    }

    /// Delays every chunk on every link by `delay`.
    pub fn delay_all(&self, delay: Duration) {
        let n = self.proxies.len();
        let links: Vec<_> = (0..n)
            .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
            .collect();
        self.set(&links, LinkFault::Delay(delay));
    }

    /// Closes connections at random: each chunk forwarded has a `per_mille / 1000` chance.
    pub fn flaky(&self, per_mille: u32) {
        self.state().flaky_per_mille = per_mille;
    }

    /// Removes every fault. Connections with a hole in their stream are closed.
    pub fn heal(&self) {
        {
            let mut state = self.state();
            state.links.clear();
            state.flaky_per_mille = 0;
        }
        self.enforce();
    }

    fn links_of(&self, m: usize) -> Vec<(usize, usize)> {
        (0..self.proxies.len())
            .filter(|&x| x != m)
            .flat_map(|x| [(m, x), (x, m)])
            .collect()
    }

    fn set(&self, links: &[(usize, usize)], fault: LinkFault) {
        {
            let mut state = self.state();
            for &link in links {
                state.links.insert(link, fault);
            }
        }
        self.enforce();
    }

    /// Applies the faults to live connections at once, not at their next chunk: a member
    /// with nothing to send must still see its connection fail.
    fn enforce(&self) {
        let conns = self.shared.conns.lock().expect("conns").clone();
        let state = self.state();
        for conn in conns {
            for dir in [Dir::Forward, Dir::Back] {
                match state.fault(&conn, dir) {
                    Some(LinkFault::Reset) => conn.close(),
                    Some(LinkFault::Drop) => {}
                    _ if conn.holed(dir).load(Ordering::SeqCst) => conn.close(),
                    _ => {}
                }
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("proxy state")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for proxy in &mut self.proxies {
            proxy.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop.
            let _ = TcpStream::connect(("127.0.0.1", proxy.port));
            if let Some(accept) = proxy.accept.take() {
                let _ = accept.join();
            }
        }
        for conn in self.shared.conns.lock().expect("conns").drain(..) {
            conn.close();
        }
    }
}

impl State {
    /// The fault on the link that direction `dir` of `conn` belongs to (module docs).
    fn fault(&self, conn: &Conn, dir: Dir) -> Option<LinkFault> {
        let to = conn.to;
        let back_is_reverse = dir == Dir::Back && conn.http.load(Ordering::SeqCst);
        let link = |s: usize| if back_is_reverse { (to, s) } else { (s, to) };
        let sender = match *conn.sender.lock().expect("sender") {
            Sender::Id(id) => self.ids.get(&id).copied(),
            Sender::Unknown => None,
        };
        match sender {
            Some(s) => self.links.get(&link(s)).copied(),
            None => {
                // Unknown sender: only a fault on every link of this member applies.
                let faults: Vec<Option<&LinkFault>> = (0..self.members)
                    .filter(|&x| x != to)
                    .map(|x| self.links.get(&link(x)))
                    .collect();
                if faults.iter().all(Option::is_some) {
                    faults.first().copied().flatten().copied()
                } else {
                    None
                }
            }
        }
    }

    fn decide(&mut self, conn: &Conn, dir: Dir) -> Action {
        if self.flaky_per_mille > 0 && self.rng.chance(self.flaky_per_mille) {
            return Action::Close;
        }
        let holed = conn.holed(dir);
        match self.fault(conn, dir) {
            Some(LinkFault::Reset) => Action::Close,
            Some(LinkFault::Drop) => {
                holed.store(true, Ordering::SeqCst);
                Action::Discard
            }
            _ if holed.load(Ordering::SeqCst) => Action::Close,
            Some(LinkFault::Delay(delay)) => Action::Forward(delay),
            None => Action::Forward(Duration::ZERO),
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    to: usize,
    upstream: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    for down in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(down) = down else { continue };
        let address = SocketAddr::from(([127, 0, 0, 1], upstream));
        // The member is down: close the caller's connection, as a refused dial would.
        let Ok(up) = TcpStream::connect_timeout(&address, UPSTREAM_CONNECT_TIMEOUT) else {
            continue;
        };
        let _ = down.set_nodelay(true);
        let _ = up.set_nodelay(true);
        let clones = (
            down.try_clone(),
            up.try_clone(),
            down.try_clone(),
            up.try_clone(),
        );
        let (Ok(down_clone), Ok(up_clone), Ok(down_writer), Ok(up_writer)) = clones else {
            continue;
        };
        let conn = Arc::new(Conn {
            to,
            sender: Mutex::new(Sender::Unknown),
            http: AtomicBool::new(false),
            holed: [AtomicBool::new(false), AtomicBool::new(false)],
            closed: AtomicBool::new(false),
            down: down_clone,
            up: up_clone,
        });
        {
            let mut conns = shared.conns.lock().expect("conns");
            conns.retain(|c| !c.closed.load(Ordering::SeqCst));
            conns.push(conn.clone());
        }
        pump(shared.clone(), conn.clone(), Dir::Forward, down, up_writer);
        pump(shared.clone(), conn, Dir::Back, up, down_writer);
    }
}

/// Starts the two threads of one direction of a connection: one reads and decides, the
/// other writes each chunk when it is due (so a delay adds latency, not a throughput cap).
fn pump(shared: Arc<Shared>, conn: Arc<Conn>, dir: Dir, mut from: TcpStream, mut to: TcpStream) {
    let (chunks, due_chunks) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer_conn = conn.clone();
    std::thread::spawn(move || {
        for (due, chunk) in due_chunks {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                writer_conn.close();
                return;
            }
        }
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK_BYTES];
        let mut first = Vec::new();
        if dir == Dir::Forward {
            // Hold the first bytes until the sender is known, so that a fault applies from
            // the very first byte of a connection.
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => return conn.close(),
                    Ok(n) => n,
                };
                first.extend_from_slice(&buf[..n]);
                if let Some((sender, http)) = identify(&first) {
                    *conn.sender.lock().expect("sender") = sender;
                    conn.http.store(http, Ordering::SeqCst);
                    break;
                }
            }
        }
        let mut chunk = first;
        loop {
            if !chunk.is_empty() {
                if dir == Dir::Forward && conn.http.load(Ordering::SeqCst) {
                    learn_http_sender(&conn, &chunk);
                }
                let action = shared.state.lock().expect("proxy state").decide(&conn, dir);
                match action {
                    Action::Forward(delay) => {
                        if chunks.send((Instant::now() + delay, chunk)).is_err() {
                            return conn.close();
                        }
                    }
                    Action::Discard => {}
                    Action::Close => return conn.close(),
                }
            }
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => return conn.close(),
                Ok(n) => n,
            };
            chunk = buf[..n].to_vec();
        }
    });
}

/// Who is sending, from a connection's first bytes: `None` while more bytes are needed.
fn identify(first: &[u8]) -> Option<(Sender, bool)> {
    if first.len() < ERSP_MAGIC.len() {
        return None;
    }
    if first.starts_with(ERSP_MAGIC) {
        if first.len() < ERSP_HELLO_BYTES {
            return None;
        }
        if first[ERSP_HEADER_BYTES] != ERSP_KIND_HELLO {
            return Some((Sender::Unknown, false));
        }
        let from: [u8; 8] = first[ERSP_HELLO_FROM_OFFSET..ERSP_HELLO_FROM_OFFSET + 8]
            .try_into()
            .expect("8 bytes");
        return Some((Sender::Id(u64::from_be_bytes(from)), false));
    }
    if first[0].is_ascii_uppercase() {
        // An HTTP request: wait for the end of its headers.
        let headers_end = first.windows(4).position(|w| w == b"\r\n\r\n");
        return match (headers_end, http_sender(first)) {
            (_, Some(id)) => Some((Sender::Id(id), true)),
            (Some(_), None) => Some((Sender::Unknown, true)),
            (None, None) if first.len() >= IDENTIFY_BYTES_MAX => Some((Sender::Unknown, true)),
            (None, None) => None,
        };
    }
    Some((Sender::Unknown, false))
}

/// etcd: a later request on a connection whose first one named no sender may name it.
fn learn_http_sender(conn: &Conn, chunk: &[u8]) {
    let mut sender = conn.sender.lock().expect("sender");
    if *sender == Sender::Unknown {
        if let Some(id) = http_sender(chunk) {
            *sender = Sender::Id(id);
        }
    }
}

/// The member ID in an `X-Server-From` header within `bytes`, if any.
fn http_sender(bytes: &[u8]) -> Option<u64> {
    let lower = bytes.to_ascii_lowercase();
    let start = lower
        .windows(HTTP_SENDER_HEADER.len())
        .position(|w| w == HTTP_SENDER_HEADER)?
        + HTTP_SENDER_HEADER.len();
    let line = &bytes[start..];
    let end = line.iter().position(|&b| b == b'\r')?;
    let value = std::str::from_utf8(&line[..end]).ok()?;
    u64::from_str_radix(value.trim(), 16).ok()
}
