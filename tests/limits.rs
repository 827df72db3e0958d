//! The client port's limits. Seen by a hand-written HTTP/2 client
//! (`support::grpc_raw`): --max-concurrent-streams is what the server advertises, and
//! --grpc-keepalive-interval / --grpc-keepalive-timeout close a connection whose client
//! stopped answering pings (a peer that vanished without closing its socket). And a
//! flood of idle connections cannot take the descriptors the member needs for its own
//! files.
//!
//! The HTTP/2 tests pass against etcd too: `ETCD_TEST_BIN=/usr/bin/etcd cargo test
//! --profile ci --test limits`.

mod support;

use std::net::TcpStream;
use std::time::Duration;

use etcd_client::Client;
use support::Member;
use support::grpc_raw::H2Conn;

/// HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS identifier (RFC 9113, 6.5.2).
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// How long a client that never answers may stay connected, at most, with a 1 s
/// keepalive interval and timeout: generous, the machine is small and shared.
const DEAD_CLIENT_CLOSED_WITHIN: Duration = Duration::from_secs(15);
/// How long the default keepalive (2 hours) is watched for a ping that must not come.
const DEFAULT_KEEPALIVE_WATCHED: Duration = Duration::from_secs(3);

#[test]
fn max_concurrent_streams_is_what_the_server_advertises() {
    let member = Member::start(&["--max-concurrent-streams", "7"]);
    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    let settings = conn.server_settings().expect("the server's SETTINGS");
    assert!(
        settings.contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 7)),
        "the server's SETTINGS do not limit streams to 7: {settings:?}"
    );
}

#[test]
fn a_client_that_stops_answering_pings_is_disconnected() {
    let member = Member::start(&[
        "--grpc-keepalive-interval",
        "1s",
        "--grpc-keepalive-timeout",
        "1s",
    ]);
    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    let (pings, closed) = conn
        .idle_without_answering_pings(DEAD_CLIENT_CLOSED_WITHIN)
        .expect("read the connection");
    assert!(pings >= 1, "the server never pinged an idle connection");
    assert!(
        closed,
        "the server kept a connection whose client never answered its pings for {DEAD_CLIENT_CLOSED_WITHIN:?}"
    );
}

#[test]
fn by_default_an_idle_connection_is_not_pinged_for_hours() {
    let member = Member::start(&[]);
    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    let (pings, closed) = conn
        .idle_without_answering_pings(DEFAULT_KEEPALIVE_WATCHED)
        .expect("read the connection");
    assert_eq!(
        (pings, closed),
        (0, false),
        "with etcd's default keepalive (2 h), an idle connection was pinged or closed"
    );
}

/// The open-files limit the flooded member runs with: small, so that the flood reaches it.
const FLOODED_FDS_LIMIT: u32 = 160;
/// Idle connections opened against it: more than its limit, but no more than it may
/// accept plus the listen backlog (128) holds, so that each connect returns at once.
const FLOOD_CONNECTIONS: usize = 200;
/// Puts made through an established connection during the flood: 8 MB of values, enough
/// for the storage to flush memtables and open new files.
const PUTS_DURING_FLOOD: usize = 2000;
/// The size of each put's value.
const VALUE_BYTES: usize = 4096;

#[test]
fn a_flood_of_idle_connections_does_not_starve_the_member_of_descriptors() {
    let limit = format!("ulimit -n {FLOODED_FDS_LIMIT} && exec \"$0\" \"$@\"");
    let mut member = Member::start_wrapped(&["sh", "-c", &limit], &[]);
    let url = member.client_url();
    let addr = member.client_addr();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut client = Client::connect([url.as_str()], None)
            .await
            .expect("connect");
        // The client's connection is established before the flood (it connects lazily).
        client
            .put("before", "the flood", None)
            .await
            .expect("put before the flood");
        let flood: Vec<TcpStream> = (0..FLOOD_CONNECTIONS)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
            .collect();
        assert!(
            flood.len() > FLOODED_FDS_LIMIT as usize,
            "only {} connections were opened: the flood did not exceed the limit",
            flood.len()
        );
        let value = vec![b'v'; VALUE_BYTES];
        for i in 0..PUTS_DURING_FLOOD {
            if let Err(e) = client.put(format!("key-{i}"), value.clone(), None).await {
                panic!("put {i} failed during a flood of idle connections: {e}");
            }
        }
        drop(flood);
    });
    assert!(
        member.wait_exit(Duration::from_millis(100)).is_none(),
        "the member exited during the flood; log:\n{}",
        member.log_tail()
    );
    // Once the flood is gone, new connections are served again.
    let out = member.etcdctl(&["get", "key-0", "--print-value-only"]);
    assert!(
        out.status.success(),
        "a new connection after the flood failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
