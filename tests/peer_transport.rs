//! Three members' peer transports on loopback, through the crate's public API only: every
//! member reaches every other one, in order, and a member that stops and comes back on
//! the same port is reached again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use etcd_rs::raft::{Message, MessageType, NodeId, Term};
use etcd_rs::server::transport::{Inbound, Transport};
use etcd_rs::transport::{NetworkTransport, TransportConfig, serve_peer_port};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const CLUSTER: u64 = 0xc1u64;
const MEMBERS: u64 = 3;
const MESSAGES_PER_LINK: u64 = 200;
const PATIENCE: Duration = Duration::from_secs(10);

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Stands in for a member's RaftNode: forwards what it receives to the test.
struct Sink(mpsc::UnboundedSender<Message>);

impl Actor for Sink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The RaftNode's own mailbox capacity.
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<Inbound> for Sink {
    type Result = ();

    fn handle(&mut self, Inbound(message): Inbound, _: &mut Context<Self>) {
        let _ = self.0.send(message);
    }
}

fn heartbeat(from: u64, to: u64, term: u64) -> Message {
    let mut m = Message::new(MessageType::Heartbeat);
    (m.from, m.to, m.term) = (NodeId(from), NodeId(to), Term(term));
    m
}

/// Starts member `id`'s peer port on `listener`.
fn serve(
    listener: TcpListener,
    id: u64,
) -> (
    mpsc::UnboundedReceiver<Message>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let inbound = Sink(tx).start().recipient();
    let config = TransportConfig::new(CLUSTER, NodeId(id));
    (rx, tokio::spawn(serve_peer_port(listener, config, inbound)))
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<Message>, expected: &Message) -> TestResult {
    let got = tokio::time::timeout(PATIENCE, rx.recv()).await?;
    if got.as_ref() != Some(expected) {
        return Err(format!("expected {expected:?}, got {got:?}").into());
    }
    Ok(())
}

#[actix_rt::test]
async fn every_member_reaches_every_other_in_order_and_again_after_a_restart() -> TestResult {
    let mut listeners = Vec::new();
    let mut urls = HashMap::new();
    for id in 1..=MEMBERS {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        urls.insert(
            NodeId(id),
            vec![format!("http://{}", listener.local_addr()?)],
        );
        listeners.push(listener);
    }
    let mut inboxes = Vec::new();
    let mut ports = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let (rx, task) = serve(listener, i as u64 + 1);
        inboxes.push(rx);
        ports.push(task);
    }
    let mut transports = Vec::new();
    for id in 1..=MEMBERS {
        let config = TransportConfig::new(CLUSTER, NodeId(id));
        let handle = tokio::runtime::Handle::current();
        transports.push(Arc::new(NetworkTransport::start(config, handle, &urls)?));
    }

    for from in 1..=MEMBERS {
        let messages = (1..=MEMBERS)
            .filter(|to| *to != from)
            .flat_map(|to| (0..MESSAGES_PER_LINK).map(move |term| heartbeat(from, to, term)))
            .collect();
        transports[from as usize - 1].send(messages);
    }
    for to in 1..=MEMBERS {
        // Per link, in order; links interleave arbitrarily.
        let mut next_term: HashMap<NodeId, u64> = HashMap::new();
        for _ in 0..(MEMBERS - 1) * MESSAGES_PER_LINK {
            let got = tokio::time::timeout(PATIENCE, inboxes[to as usize - 1].recv())
                .await?
                .ok_or("inbox closed")?;
            let term = next_term.entry(got.from).or_default();
            assert_eq!(
                got,
                heartbeat(got.from.0, to, *term),
                "out of order at {to}"
            );
            *term += 1;
        }
    }

    // Member 3 stops (its peer port closes) and comes back on the same port.
    ports[2].abort();
    let _ = (&mut ports[2]).await;
    let address = urls[&NodeId(3)][0].trim_start_matches("http://").to_owned();
    let reports = transports[0].reports();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while reports.unreachable() != vec![NodeId(3)] {
        transports[0].send(vec![heartbeat(1, 3, 0)]);
        assert!(
            tokio::time::Instant::now() < deadline,
            "3 never unreachable"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut inbox, _port) = serve(TcpListener::bind(&address).await?, 3);
    loop {
        transports[0].send(vec![heartbeat(1, 3, 99)]);
        match tokio::time::timeout(Duration::from_millis(50), inbox.recv()).await {
            Ok(Some(m)) => {
                assert_eq!(m.from, NodeId(1));
                break;
            }
            _ => assert!(tokio::time::Instant::now() < deadline, "3 never reached"),
        }
    }
    transports[1].send(vec![heartbeat(2, 3, 7)]);
    expect(&mut inbox, &heartbeat(2, 3, 7)).await?;
    Ok(())
}
