//! The fault-injecting proxy of the fault tests (`support::proxy`) does what it says:
//! each fault hits exactly the directed link it names, on stand-in members (echo servers
//! that log what reaches them) and on a real cluster, where an isolated or blackholed
//! leader is replaced, a member cut off from what the others send falls behind and catches
//! up after healing, and added latency slows commits down.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::cluster::{Cluster, leader, revisions, wait_until};
use support::proxy::Net;
use support::workload::connect;

/// Stand-in member `i` has ID `ID_BASE + i`.
const ID_BASE: u64 = 100;
/// How long a test waits to conclude that bytes were not forwarded.
const SILENCE: Duration = Duration::from_millis(400);

/// A stand-in member: echoes every byte back and logs what reached it.
fn echo_server(log: Arc<Mutex<Vec<u8>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    log.lock().expect("log").extend_from_slice(&buf[..n]);
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// An etcd-rs hello frame from member `from` to member `to` (the proxy reads only the
/// magic, the kind and `from`; the checksum is not checked).
fn hello(from: usize, to: usize) -> Vec<u8> {
    let mut payload = vec![1u8];
    payload.extend_from_slice(&7u64.to_be_bytes());
    payload.extend_from_slice(&(ID_BASE + from as u64).to_be_bytes());
    payload.extend_from_slice(&(ID_BASE + to as u64).to_be_bytes());
    let mut frame = b"ERSP\x01".to_vec();
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&payload);
    frame
}

/// An etcd peer request from member `from`.
fn http_request(from: usize) -> Vec<u8> {
    format!(
        "POST /raft HTTP/1.1\r\nHost: x\r\nX-Server-From: {:x}\r\nContent-Length: 0\r\n\r\n",
        ID_BASE + from as u64
    )
    .into_bytes()
}

/// What happened to bytes sent on a connection.
#[derive(Debug, PartialEq, Eq)]
enum Echo {
    /// They came back.
    Back,
    /// Nothing came back, and the connection stayed open.
    Silence,
    /// The connection was closed.
    Closed,
}

/// Sends `bytes` and waits for them to come back.
fn send(stream: &mut TcpStream, bytes: &[u8]) -> Echo {
    if stream.write_all(bytes).is_err() {
        return Echo::Closed;
    }
    expect_back(stream, bytes.len(), SILENCE)
}

fn expect_back(stream: &mut TcpStream, len: usize, wait: Duration) -> Echo {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut back = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut back[got..]) {
            Ok(0) => return Echo::Closed,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Echo::Silence,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Echo::Silence,
            Err(_) => return Echo::Closed,
        }
    }
    Echo::Back
}

/// A connection from stand-in `from` into `to`'s proxy, opened with `first` bytes.
fn dial(net: &Net, from_first: &[u8], to: usize) -> (TcpStream, Echo) {
    let mut stream = TcpStream::connect(("127.0.0.1", net.port(to))).expect("dial");
    let echo = send(&mut stream, from_first);
    (stream, echo)
}

fn standins() -> (Net, Vec<Arc<Mutex<Vec<u8>>>>) {
    let logs: Vec<_> = (0..3).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let ports: Vec<u16> = logs.iter().map(|log| echo_server(log.clone())).collect();
    let net = Net::start(&ports, 1);
    net.set_member_ids(
        (0..3)
            .map(|i| (ID_BASE + i as u64, i))
            .collect::<HashMap<_, _>>(),
    );
    (net, logs)
}

#[test]
fn each_fault_hits_the_link_it_names() {
    let (net, logs) = standins();
    let (mut a, echo) = dial(&net, &hello(0, 1), 1);
    assert_eq!(echo, Echo::Back, "a healthy link forwards both ways");

    // A one-way cut 0 -> 1: what 0 sends 1 is discarded, the connection kept; 2 -> 1 and
    // 1 -> 0 still work.
    net.cut(0, 1);
    assert_eq!(send(&mut a, b"lost"), Echo::Silence, "cut 0 -> 1");
    assert!(!logs[1].lock().expect("log").ends_with(b"lost"));
    let (mut b, echo) = dial(&net, &hello(2, 1), 1);
    assert_eq!(echo, Echo::Back, "2 -> 1 is not cut");
    let (_, echo) = dial(&net, &hello(1, 0), 0);
    assert_eq!(echo, Echo::Back, "1 -> 0 is not cut");
    let (mut c, echo) = dial(&net, &hello(0, 1), 1);
    assert_eq!(echo, Echo::Silence, "a new connection 0 -> 1 is cut too");

    // Healing closes the connections with a hole in their stream, keeps the others.
    net.heal();
    assert_eq!(
        expect_back(&mut a, 1, SILENCE),
        Echo::Closed,
        "holed: closed"
    );
    assert_eq!(
        expect_back(&mut c, 1, SILENCE),
        Echo::Closed,
        "holed: closed"
    );
    assert_eq!(send(&mut b, b"kept"), Echo::Back, "intact: kept");
    let (mut a, echo) = dial(&net, &hello(0, 1), 1);
    assert_eq!(echo, Echo::Back, "0 -> 1 healed");

    // Isolation closes every connection of the member, both ways, and refuses new ones.
    net.isolate(1);
    assert_eq!(
        expect_back(&mut a, 1, SILENCE),
        Echo::Closed,
        "0 -> 1 closed"
    );
    assert_eq!(
        expect_back(&mut b, 1, SILENCE),
        Echo::Closed,
        "2 -> 1 closed"
    );
    assert_eq!(
        dial(&net, &hello(1, 2), 2).1,
        Echo::Closed,
        "1 -> 2 refused"
    );
    assert_eq!(
        dial(&net, &hello(0, 2), 2).1,
        Echo::Back,
        "0 -> 2 unaffected"
    );

    // A blackhole keeps connections, both ways, and forwards nothing.
    net.heal();
    net.blackhole(2);
    assert_eq!(
        dial(&net, &hello(2, 0), 0).1,
        Echo::Silence,
        "2 -> 0 blackholed"
    );
    assert_eq!(
        dial(&net, &hello(1, 2), 2).1,
        Echo::Silence,
        "1 -> 2 blackholed"
    );
    assert_eq!(
        dial(&net, &hello(1, 0), 0).1,
        Echo::Back,
        "1 -> 0 unaffected"
    );

    // A delay applies to each direction: a round trip takes at least twice as long.
    net.heal();
    let delay = Duration::from_millis(150);
    net.delay_all(delay);
    let started = Instant::now();
    let mut d = TcpStream::connect(("127.0.0.1", net.port(1))).expect("dial");
    d.write_all(&hello(0, 1)).expect("write");
    assert_eq!(
        expect_back(&mut d, hello(0, 1).len(), delay * 10),
        Echo::Back
    );
    assert!(started.elapsed() >= delay * 2, "delayed there and back");

    // Flaky connections: at 1000 per thousand, the next chunk closes the connection.
    net.heal();
    net.flaky(1000);
    assert_eq!(send(&mut d, b"gone"), Echo::Closed, "flaky: closed");
    net.heal();
}

#[test]
fn etcd_http_peer_traffic_is_attributed_by_its_sender_header() {
    let (net, logs) = standins();
    // An etcd stream is opened by the member that receives on it: the answers carry the
    // messages of the member behind the proxy. A cut 1 -> 0 silences the answers of a
    // connection 0 opened to 1, but its requests still reach 1.
    net.cut(1, 0);
    let (_, echo) = dial(&net, &http_request(0), 1);
    assert_eq!(echo, Echo::Silence, "the answers belong to 1 -> 0");
    let reached = logs[1].lock().expect("log").clone();
    assert!(
        reached.ends_with(&http_request(0)),
        "the request belongs to 0 -> 1"
    );
    net.heal();
    net.cut(0, 1);
    logs[1].lock().expect("log").clear();
    assert_eq!(dial(&net, &http_request(0), 1).1, Echo::Silence);
    assert!(logs[1].lock().expect("log").is_empty(), "0 -> 1 is cut");
    assert_eq!(
        dial(&net, &http_request(2), 1).1,
        Echo::Back,
        "2 -> 1 is not"
    );
    // A request without the header is from an unknown sender: only a fault on every link
    // of the member applies to it.
    let anonymous = b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(dial(&net, anonymous, 1).1, Echo::Back);
    net.isolate(1);
    assert_eq!(dial(&net, anonymous, 1).1, Echo::Closed);
}

#[test]
fn a_real_cluster_feels_the_proxy_faults() {
    let cluster = Cluster::start_with_proxies(3, "fault-proxy", 1, &[]);
    let urls = cluster.urls();
    let net = cluster.net();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let put_via = |i: usize, value: &str| {
        runtime.block_on(async {
            let mut client = connect(&urls[i..=i]).await;
            client.put("k", value, None).await.is_ok()
        })
    };
    let leader_now = || runtime.block_on(leader(&urls));
    let revisions_now = || runtime.block_on(revisions(&urls));

    // An isolated leader, then a blackholed one, is replaced by another member.
    for blackhole in [false, true] {
        let mut old = None;
        wait_until("a leader", || {
            old = leader_now();
            old.is_some()
        });
        let old = old.expect("a leader");
        if blackhole {
            net.blackhole(old);
        } else {
            net.isolate(old);
        }
        let other = (old + 1) % 3;
        wait_until("another leader, writes through it", || {
            put_via(other, "v") && leader_now().is_some_and(|l| l != old)
        });
        net.heal();
        wait_until("every member at the same revision", || {
            let r = revisions_now();
            r[0].is_some() && r.iter().all(|x| *x == r[0])
        });
    }

    // A member that gets nothing from the others falls behind, and catches up on healing.
    let l = leader_now().expect("a leader");
    let f = (l + 1) % 3;
    let g = (l + 2) % 3;
    net.cut(l, f);
    net.cut(g, f);
    wait_until(&format!("a write while m{f} hears nothing"), || {
        put_via(l, "behind")
    });
    std::thread::sleep(Duration::from_secs(1));
    let r = revisions_now();
    assert!(r[f] < r[l], "m{f} cut off from what the others send: {r:?}");
    net.heal();
    wait_until(&format!("m{f} catches up"), || {
        let r = revisions_now();
        r[f].is_some() && r[f] == r[l]
    });

    // Latency on every link: a commit needs a round trip from the leader to a follower.
    let delay = Duration::from_millis(200);
    net.delay_all(delay);
    let l = leader_now().expect("a leader");
    let started = Instant::now();
    assert!(put_via(l, "slow"), "a write under latency");
    let took = started.elapsed();
    eprintln!("a write under {delay:?} of added latency per hop took {took:?}");
    assert!(took >= delay * 2, "{took:?}: the latency was added");
    net.heal();
}
