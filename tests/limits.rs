//! The client port's HTTP/2 limits, seen by a hand-written HTTP/2 client
//! (`support::grpc_raw`): --max-concurrent-streams is what the server advertises, and
//! --grpc-keepalive-interval / --grpc-keepalive-timeout close a connection whose client
//! stopped answering pings (a peer that vanished without closing its socket).
//!
//! Passes against etcd too: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test
//! limits`.

mod support;

use std::time::Duration;

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
