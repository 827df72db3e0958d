//! Two or more transports on loopback, and raw TCP clients speaking the protocol by hand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::codec::{CHUNK_BYTES, Frame, Hello, encode_hello, encode_message, encode_welcome};
use super::listener::read_frame;
use super::network::{PEER_QUEUE_BYTES, PEER_QUEUE_MESSAGES, peer_address};
use super::*;
use crate::raft::{Entry, LogIndex, Message, MessageType, NodeId, SeededRng, Snapshot, Term};
use crate::server::transport::{Inbound, Transport};

const CLUSTER: u64 = 0x1234_5678;
/// How long a test waits for something that should happen in milliseconds.
const PATIENCE: Duration = Duration::from_secs(5);

/// Forwards what the listener delivers to a channel the test reads.
struct Collector(mpsc::UnboundedSender<Message>);

impl Actor for Collector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Room for every message a test sends (actix's default is 16): the listener drops
        // what does not fit, as it does for a busy RaftNode.
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl Handler<Inbound> for Collector {
    type Result = ();

    fn handle(&mut self, Inbound(message): Inbound, _: &mut Context<Self>) {
        let _ = self.0.send(message);
    }
}

/// A member's receiving side: its peer URL and what it receives.
struct Receiver {
    url: String,
    messages: mpsc::UnboundedReceiver<Message>,
    serving: tokio::task::JoinHandle<()>,
}

async fn serve_on(listener: TcpListener, cluster_id: u64, id: NodeId) -> Receiver {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, messages) = mpsc::unbounded_channel();
    let inbound = Collector(tx).start().recipient();
    let config = TransportConfig::new(cluster_id, id);
    let serving = tokio::spawn(serve_peer_port(listener, config, inbound));
    Receiver {
        url,
        messages,
        serving,
    }
}

async fn receiver(cluster_id: u64, id: NodeId) -> Receiver {
    serve_on(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        cluster_id,
        id,
    )
    .await
}

fn transport(cluster_id: u64, id: NodeId, peers: &[(NodeId, &str)]) -> Arc<NetworkTransport> {
    let peers: HashMap<_, _> = peers
        .iter()
        .map(|(id, url)| (*id, vec![url.to_string()]))
        .collect();
    let config = TransportConfig::new(cluster_id, id);
    Arc::new(
        NetworkTransport::start(config, tokio::runtime::Handle::current(), &peers)
            .expect("valid peer URLs"),
    )
}

fn heartbeat(from: u64, to: u64, term: u64) -> Message {
    let mut m = Message::new(MessageType::Heartbeat);
    m.from = NodeId(from);
    m.to = NodeId(to);
    m.term = Term(term);
    m
}

async fn next(messages: &mut mpsc::UnboundedReceiver<Message>) -> Option<Message> {
    tokio::time::timeout(PATIENCE, messages.recv())
        .await
        .ok()
        .flatten()
}

/// Polls `condition` every 10 ms until it holds or [`PATIENCE`] runs out.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn two_transports_exchange_messages_in_both_directions() {
    let (one, two) = (NodeId(1), NodeId(2));
    let mut at_one = receiver(CLUSTER, one).await;
    let mut at_two = receiver(CLUSTER, two).await;
    let from_one = transport(CLUSTER, one, &[(two, &at_two.url)]);
    let from_two = transport(CLUSTER, two, &[(one, &at_one.url)]);

    let mut append = Message::new(MessageType::Append);
    append.from = one;
    append.to = two;
    append.entries = vec![Entry {
        term: Term(3),
        index: LogIndex(7),
        data: b"put k v".to_vec(),
        ..Entry::default()
    }];
    from_one.send(vec![append.clone(), heartbeat(1, 2, 3)]);
    assert_eq!(next(&mut at_two.messages).await, Some(append));
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 3)));

    let many: Vec<_> = (0..1000).map(|term| heartbeat(2, 1, term)).collect();
    from_two.send(many.clone());
    for (i, expected) in many.into_iter().enumerate() {
        let got = next(&mut at_one.messages).await;
        assert_eq!(got, Some(expected), "message {i} from two to one, in order");
    }
    let stats = from_two.stats(one).expect("one is a peer of two");
    assert!(stats.connected && stats.sent_messages == 1000, "{stats:?}");
    assert_eq!(stats.dropped_queue_full + stats.dropped_disconnected, 0);
    assert!(from_one.reports().unreachable().is_empty());
}

#[actix_rt::test]
async fn a_peer_that_starts_later_gets_messages_after_reconnect() {
    let (one, two) = (NodeId(1), NodeId(2));
    // Reserve a port, then leave it closed until the peer starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let from_one = transport(CLUSTER, one, &[(two, &url)]);
    let reports = from_one.reports();
    from_one.send(vec![heartbeat(1, 2, 1)]);
    eventually("two reported unreachable", || {
        reports.unreachable() == vec![two]
    })
    .await;

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let mut at_two = serve_on(listener, CLUSTER, two).await;
    // Raft resends on every heartbeat; so does this loop, until one gets through.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let got = loop {
        from_one.send(vec![heartbeat(1, 2, 2)]);
        let wait = tokio::time::timeout(Duration::from_millis(50), at_two.messages.recv());
        if let Ok(Some(m)) = wait.await {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "two never got a message"
        );
    };
    assert_eq!(
        got,
        heartbeat(1, 2, 2),
        "messages sent while down were dropped"
    );
    assert!(reports.unreachable().is_empty(), "two is reachable again");
    let stats = from_one.stats(two).unwrap();
    assert!(
        stats.connects >= 1 && stats.dropped_disconnected >= 1,
        "{stats:?}"
    );
}

#[actix_rt::test]
async fn a_peer_of_another_cluster_or_another_member_id_is_refused() {
    let (one, two, three) = (NodeId(1), NodeId(2), NodeId(3));
    let mut at_two = receiver(CLUSTER + 1, two).await;
    let other_cluster = transport(CLUSTER, one, &[(two, &at_two.url)]);
    // Member one thinks member three listens on two's port.
    let wrong_member = transport(CLUSTER + 1, one, &[(three, &at_two.url)]);
    other_cluster.send(vec![heartbeat(1, 2, 1)]);
    wrong_member.send(vec![heartbeat(1, 3, 1)]);
    eventually("both refused", || {
        other_cluster.stats(two).unwrap().refusals > 0
            && wrong_member.stats(three).unwrap().refusals > 0
    })
    .await;
    let why = other_cluster.stats(two).unwrap().last_error.unwrap();
    assert!(why.starts_with("cluster ID mismatch"), "{why}");
    let why = wrong_member.stats(three).unwrap().last_error.unwrap();
    assert!(why.starts_with("member ID mismatch"), "{why}");
    assert_eq!(other_cluster.reports().unreachable(), vec![two]);
    assert!(at_two.messages.try_recv().is_err(), "nothing was delivered");
}

/// A TCP server that accepts connections and never answers: a peer that hangs.
async fn silent_peer() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (url, task)
}

#[actix_rt::test]
async fn a_full_queue_drops_messages_rather_than_block() {
    let (url, _peer) = silent_peer().await;
    let from_one = transport(CLUSTER, NodeId(1), &[(NodeId(2), &url)]);
    let extra = 1000;
    let messages: Vec<_> = (0..PEER_QUEUE_MESSAGES + extra)
        .map(|term| heartbeat(1, 2, term as u64))
        .collect();
    // On this single-threaded runtime the writer cannot run during `send`: a send that
    // waited for room would never return.
    from_one.send(messages);
    let stats = from_one.stats(NodeId(2)).unwrap();
    assert_eq!(stats.queued_messages, PEER_QUEUE_MESSAGES as u64);
    assert_eq!(stats.dropped_queue_full, extra as u64);
    from_one.send(vec![heartbeat(1, 9, 1)]);
    assert_eq!(from_one.dropped_unknown_peer(), 1);
}

#[actix_rt::test]
async fn the_queue_is_bounded_in_bytes_but_takes_one_huge_message_when_empty() {
    let (url, _peer) = silent_peer().await;
    let from_one = transport(CLUSTER, NodeId(1), &[(NodeId(2), &url)]);
    let big = |mib: usize| {
        let mut m = heartbeat(1, 2, 1);
        m.msg_type = MessageType::Snapshot;
        m.snapshot = Some(Snapshot {
            data: vec![7; mib << 20],
            ..Snapshot::default()
        });
        m
    };
    let queue_mib = (PEER_QUEUE_BYTES >> 20) as usize;
    from_one.send(vec![big(queue_mib + 1), big(1)]);
    let stats = from_one.stats(NodeId(2)).unwrap();
    assert_eq!((stats.queued_messages, stats.dropped_queue_full), (1, 1));
    let reports = from_one.reports().take_snapshot_reports();
    assert_eq!(
        reports,
        vec![(NodeId(2), false)],
        "the dropped snapshot failed"
    );
}

#[actix_rt::test]
async fn a_snapshot_larger_than_one_chunk_arrives_whole() {
    let (one, two) = (NodeId(1), NodeId(2));
    let mut at_two = receiver(CLUSTER, two).await;
    let from_one = transport(CLUSTER, one, &[(two, &at_two.url)]);
    let mut rng = SeededRng::new(21);
    let mut snapshot = heartbeat(1, 2, 4);
    snapshot.msg_type = MessageType::Snapshot;
    let mut data = vec![0u8; 2 * CHUNK_BYTES + 4321];
    data.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
    snapshot.snapshot = Some(Snapshot {
        data,
        metadata: crate::raft::SnapshotMetadata {
            conf_state: crate::raft::ConfState::with_voters([one, two]),
            index: LogIndex(1000),
            term: Term(4),
        },
    });
    from_one.send(vec![
        heartbeat(1, 2, 4),
        snapshot.clone(),
        heartbeat(1, 2, 5),
    ]);
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 4)));
    assert_eq!(next(&mut at_two.messages).await, Some(snapshot));
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 5)));
    let reports = from_one.reports();
    let mut outcomes = Vec::new();
    eventually("the snapshot reported sent", || {
        outcomes.extend(reports.take_snapshot_reports());
        !outcomes.is_empty()
    })
    .await;
    assert_eq!(outcomes, vec![(two, true)]);
}

/// Accepts one connection, checks the hello and welcomes it.
async fn accept_and_welcome(listener: &TcpListener, expected: Hello) -> TcpStream {
    let (mut stream, _) = listener.accept().await.unwrap();
    let hello = read_frame(&mut stream).await.unwrap();
    assert_eq!(hello, Some(Frame::Hello(expected)));
    let mut welcome = Vec::new();
    encode_welcome(&mut welcome);
    stream.write_all(&welcome).await.unwrap();
    stream
}

/// Reads until the other side closes; false if it did not within [`PATIENCE`].
async fn closes(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let drain = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, drain).await.is_ok()
}

#[actix_rt::test]
async fn shutdown_closes_every_connection_and_later_sends_are_dropped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let from_one = transport(CLUSTER, NodeId(1), &[(NodeId(2), &url)]);
    let hello = Hello {
        cluster_id: CLUSTER,
        from: NodeId(1),
        to: NodeId(2),
    };
    let mut stream = accept_and_welcome(&listener, hello).await;
    from_one.send(vec![heartbeat(1, 2, 1)]);
    let mut got = read_frame(&mut stream).await.unwrap();
    while let Some(Frame::Ping(_)) = got {
        got = read_frame(&mut stream).await.unwrap();
    }
    assert_eq!(got, Some(Frame::Message(Box::new(heartbeat(1, 2, 1)))));
    from_one.shutdown();
    assert!(
        closes(&mut stream).await,
        "the connection outlived shutdown"
    );
    from_one.send(vec![heartbeat(1, 2, 2)]);
    assert_eq!(from_one.dropped_unknown_peer(), 1);
}

/// Connects to a listener and says hello as `from`.
async fn raw_client(url: &str, from: NodeId, to: NodeId) -> TcpStream {
    let mut stream = TcpStream::connect(peer_address(url).unwrap())
        .await
        .unwrap();
    let mut hello = Vec::new();
    encode_hello(
        &Hello {
            cluster_id: CLUSTER,
            from,
            to,
        },
        &mut hello,
    );
    stream.write_all(&hello).await.unwrap();
    assert_eq!(read_frame(&mut stream).await.unwrap(), Some(Frame::Welcome));
    stream
}

#[actix_rt::test]
async fn the_listener_ends_connections_that_break_the_protocol_and_keeps_serving() {
    let (one, two) = (NodeId(1), NodeId(2));
    let mut at_two = receiver(CLUSTER, two).await;

    let mut garbage = TcpStream::connect(peer_address(&at_two.url).unwrap())
        .await
        .unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(closes(&mut garbage).await, "garbage accepted");

    for (what, message) in [
        ("a local message type", {
            let mut m = heartbeat(1, 2, 1);
            m.msg_type = MessageType::Hup;
            m
        }),
        ("a message from another member", heartbeat(3, 2, 1)),
        ("a message for another member", heartbeat(1, 3, 1)),
    ] {
        let mut client = raw_client(&at_two.url, one, two).await;
        let mut bytes = Vec::new();
        encode_message(&message, &mut bytes);
        client.write_all(&bytes).await.unwrap();
        assert!(closes(&mut client).await, "{what} accepted");
    }
    assert!(at_two.messages.try_recv().is_err(), "nothing was delivered");

    let from_one = transport(CLUSTER, one, &[(two, &at_two.url)]);
    from_one.send(vec![heartbeat(1, 2, 1)]);
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 1)));
}

#[actix_rt::test]
async fn a_request_forwarded_by_the_caller_for_another_member_is_delivered() {
    // Member 3 sent a read-index request to 1, its leader until then; 1 now follows 2 and
    // forwards it unchanged, so 2 can answer 3 directly.
    let (one, two) = (NodeId(1), NodeId(2));
    let mut at_two = receiver(CLUSTER, two).await;
    let mut client = raw_client(&at_two.url, one, two).await;
    let mut forwarded = heartbeat(3, 2, 1);
    forwarded.msg_type = MessageType::ReadIndex;
    let mut bytes = Vec::new();
    encode_message(&forwarded, &mut bytes);
    encode_message(&heartbeat(1, 2, 1), &mut bytes);
    client.write_all(&bytes).await.unwrap();
    assert_eq!(next(&mut at_two.messages).await, Some(forwarded));
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 1)));
}

#[actix_rt::test]
async fn a_newer_connection_from_a_member_replaces_the_older_one() {
    let (one, two) = (NodeId(1), NodeId(2));
    let mut at_two = receiver(CLUSTER, two).await;
    let mut older = raw_client(&at_two.url, one, two).await;
    let mut newer = raw_client(&at_two.url, one, two).await;
    assert!(closes(&mut older).await, "the older connection stayed open");
    let mut bytes = Vec::new();
    encode_message(&heartbeat(1, 2, 9), &mut bytes);
    newer.write_all(&bytes).await.unwrap();
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 9)));
}

#[actix_rt::test]
async fn aborting_the_listener_closes_its_connections() {
    let at_two = receiver(CLUSTER, NodeId(2)).await;
    let mut client = raw_client(&at_two.url, NodeId(1), NodeId(2)).await;
    at_two.serving.abort();
    assert!(
        closes(&mut client).await,
        "a connection outlived its listener"
    );
}

#[test]
fn peer_urls_must_be_http_host_port() {
    assert_eq!(
        peer_address("http://10.0.0.1:2380/"),
        Ok("10.0.0.1:2380".into())
    );
    assert_eq!(peer_address("http://node-1:2380"), Ok("node-1:2380".into()));
    assert_eq!(
        peer_address("https://node-1:2380"),
        Ok("node-1:2380".into())
    );
    for bad in ["h:2380", "http://h", "http://:2380", "http://h:x"] {
        assert!(peer_address(bad).is_err(), "{bad} accepted");
    }
}

/// A loopback URL where nothing listens.
fn closed_port_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[actix_rt::test]
async fn a_replaced_or_removed_peer_leaves_no_stale_unreachable_report() {
    let (one, two, three) = (NodeId(1), NodeId(2), NodeId(3));
    let mut at_two = receiver(CLUSTER, two).await;
    let from_one = transport(
        CLUSTER,
        one,
        &[(two, &closed_port_url()), (three, &closed_port_url())],
    );
    let reports = from_one.reports();
    eventually("both unreachable", || {
        reports.unreachable() == vec![two, three]
    })
    .await;

    from_one.remove_peer(three);
    from_one.add_peer(two, &[at_two.url.clone()]).unwrap();
    from_one.send(vec![heartbeat(1, 2, 1)]);
    assert_eq!(next(&mut at_two.messages).await, Some(heartbeat(1, 2, 1)));
    // Long enough for the retired writers to try (and fail) once more.
    tokio::time::sleep(2 * super::network::RECONNECT_BACKOFF_MAX).await;
    assert_eq!(reports.unreachable(), Vec::<NodeId>::new());
    assert_eq!(from_one.stats(three), None);
}

#[test]
fn sends_from_a_plain_thread_reach_a_peer_with_writers_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = 20_000u64;
    actix_rt::System::new().block_on(async {
        let mut at_two = receiver(CLUSTER, NodeId(2)).await;
        let peers = HashMap::from([(NodeId(2), vec![at_two.url.clone()])]);
        let config = TransportConfig::new(CLUSTER, NodeId(1));
        let from_one =
            Arc::new(NetworkTransport::start(config, runtime.handle().clone(), &peers).unwrap());
        // As the RaftNode does: from its own thread, in small batches.
        let sender = from_one.clone();
        let raft_thread = std::thread::spawn(move || {
            for term in 0..total {
                sender.send(vec![heartbeat(1, 2, term)]);
            }
        });
        let mut received = 0u64;
        let mut last = None;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let dropped = || from_one.stats(NodeId(2)).unwrap().dropped_queue_full;
        while received + dropped() < total {
            let wait = Duration::from_millis(20);
            match tokio::time::timeout(wait, at_two.messages.recv()).await {
                Ok(Some(m)) => {
                    assert!(last < Some(m.term), "{:?} after {last:?}", m.term);
                    last = Some(m.term);
                    received += 1;
                }
                _ => assert!(
                    tokio::time::Instant::now() < deadline,
                    "messages went missing"
                ),
            }
        }
        raft_thread.join().unwrap();
        let stats = from_one.stats(NodeId(2)).unwrap();
        assert_eq!(stats.dropped_disconnected + stats.dropped_too_large, 0);
        assert!(received > 0);
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[actix_rt::test]
async fn pings_time_the_round_trip_and_bytes_are_counted_on_both_sides() {
    let (one, two) = (NodeId(1), NodeId(2));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, mut messages) = mpsc::unbounded_channel();
    let inbound = Collector(tx).start().recipient();
    let at_two = PeerPortMetrics::default();
    let config = TransportConfig::new(CLUSTER, two);
    let serving = tokio::spawn(serve_member_peer_port(
        listener,
        config,
        inbound,
        PeerQueries::default(),
        at_two.clone(),
        None,
    ));
    let from_one = transport(CLUSTER, one, &[(two, &url)]);
    from_one.send(vec![heartbeat(1, 2, 1)]);
    assert_eq!(next(&mut messages).await, Some(heartbeat(1, 2, 1)));

    let at_one = from_one.metrics();
    let round_trip = at_one.round_trip_seconds.with_label_values(&["2"]);
    eventually("a pong", || round_trip.get_sample_count() >= 1).await;
    assert!(round_trip.get_sample_sum() < PATIENCE.as_secs_f64());
    // Everything written after the hello (a message, pings) is read and counted by the
    // listener; the pongs it writes back are counted as sent to member 1.
    let sent_to_two = at_one.sent_bytes.with_label_values(&["2"]);
    let received_from_one = at_two.peer.received_bytes.with_label_values(&["1"]);
    eventually("as many bytes read as written", || {
        sent_to_two.get() > 0 && received_from_one.get() == sent_to_two.get()
    })
    .await;
    assert!(at_two.peer.sent_bytes.with_label_values(&["1"]).get() > 0);
    serving.abort();
}
