//! Bad input: requests etcd refuses, with etcd 3.4's exact errors, and garbage on the
//! client port, after each of which the member must keep serving.
//!
//! Golden cases were captured from etcd 3.4.23 with etcdctl 3.4.23 on this machine
//! (`ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test bad_input`); see
//! `tests/etcdctl_kv.rs` for how they are normalized.

mod support;

use support::Member;
use support::golden::{Case, check_cases, protobuf_text};
use support::grpc_raw::{
    FLAG_END_HEADERS, FLAG_END_STREAM, FRAME_DATA, FRAME_HEADERS, FRAME_SETTINGS, H2Conn, PREFACE,
    grpc_frame, pb,
};

/// etcd's default `--max-txn-ops`.
const MAX_TXN_OPS_DEFAULT: usize = 128;
/// A value over etcd's default `--max-request-bytes` (1.5 MiB) but under the 2 MiB that
/// etcdctl's gRPC client will send at most, so the server is what refuses it.
const VALUE_TOO_LARGE_BYTES: usize = 2_000_000;

/// What every refused etcdctl request prints on standard error: clientv3's warning with
/// the gRPC code, then etcdctl's own line.
fn refused(code: &str, message: &str) -> String {
    format!(
        "{{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\
         \"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\
         \"error\":\"rpc error: code = {code} desc = {message}\"}}\nError: {message}\n"
    )
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A txn whose success branch puts `ops` distinct keys, as etcdctl's stdin.
fn txn_with_puts(ops: usize) -> String {
    let mut stdin = String::from("\n");
    for i in 0..ops {
        stdin.push_str(&format!("put k{i} v\n"));
    }
    stdin.push_str("\n\n");
    stdin
}

/// Panics unless the member answers /health and serves a linearizable read of `foo`.
fn assert_serving(member: &Member, after: &str) {
    assert!(member.is_healthy(), "after {after}: /health is not healthy");
    let got = member.etcdctl(&["get", "foo"]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "foo\nbar\n",
        "after {after}: `etcdctl get foo` no longer reads foo=bar: {got:?}"
    );
}

fn member_with_foo(extra_args: &[&str]) -> Member {
    let member = Member::start(extra_args);
    let put = member.etcdctl(&["put", "foo", "bar"]);
    assert!(put.status.success(), "put foo bar: {put:?}");
    member
}

#[test]
fn requests_etcd_refuses_get_its_exact_errors() {
    check_cases("refused requests", &member_with_foo(&[]), REFUSED);
}

#[test]
fn txn_over_max_txn_ops_is_refused() {
    let member = member_with_foo(&[]);
    let cases = [
        Case {
            args: &["txn"],
            stdin: leak(txn_with_puts(MAX_TXN_OPS_DEFAULT)),
            code: 0,
            stdout: leak(format!("SUCCESS\n{}", "\nOK\n".repeat(MAX_TXN_OPS_DEFAULT))),
            stderr: "",
        },
        Case {
            args: &["txn"],
            stdin: leak(txn_with_puts(MAX_TXN_OPS_DEFAULT + 1)),
            code: 1,
            stdout: "",
            stderr: leak(refused(
                "InvalidArgument",
                "etcdserver: too many operations in txn request",
            )),
        },
    ];
    check_cases("default --max-txn-ops", &member, &cases);

    let member = member_with_foo(&["--max-txn-ops", "2"]);
    let cases = [
        Case {
            args: &["txn"],
            stdin: leak(txn_with_puts(2)),
            code: 0,
            stdout: "SUCCESS\n\nOK\n\nOK\n",
            stderr: "",
        },
        Case {
            args: &["txn"],
            stdin: leak(txn_with_puts(3)),
            code: 1,
            stdout: "",
            stderr: leak(refused(
                "InvalidArgument",
                "etcdserver: too many operations in txn request",
            )),
        },
        // The compares, the success ops and the failure ops are each limited on their own.
        Case {
            args: &["txn"],
            stdin: "value(\"foo\") = \"bar\"\nversion(\"foo\") = \"1\"\n\nput a 1\nput b 2\n\nput c 3\nput d 4\n\n",
            code: 0,
            stdout: "SUCCESS\n\nOK\n\nOK\n",
            stderr: "",
        },
        Case {
            args: &["txn"],
            stdin: "value(\"foo\") = \"bar\"\nversion(\"foo\") = \"1\"\nmod(\"foo\") = \"2\"\n\nput a 1\n\n\n",
            code: 1,
            stdout: "",
            stderr: leak(refused(
                "InvalidArgument",
                "etcdserver: too many operations in txn request",
            )),
        },
    ];
    check_cases("--max-txn-ops 2", &member, &cases);
}

#[test]
fn request_over_max_request_bytes_is_refused() {
    let member = member_with_foo(&[]);
    let output = member.etcdctl_with_stdin(&["put", "big"], &vec![b'x'; VALUE_TOO_LARGE_BYTES]);
    let expected = refused("InvalidArgument", "etcdserver: request is too large");
    assert_eq!(
        (
            output.status.code(),
            member.normalize(&String::from_utf8_lossy(&output.stderr))
        ),
        (Some(1), expected.clone()),
        "a {VALUE_TOO_LARGE_BYTES}-byte value over the default 1.5 MiB limit"
    );
    assert_serving(&member, "a too-large put");

    let member = member_with_foo(&["--max-request-bytes", "1024"]);
    let small = member.etcdctl_with_stdin(&["put", "small"], &[b'x'; 900]);
    assert!(
        small.status.success(),
        "900 bytes under a 1024-byte limit: {small:?}"
    );
    let big = member.etcdctl_with_stdin(&["put", "big"], &[b'x'; 2000]);
    assert_eq!(
        (
            big.status.code(),
            member.normalize(&String::from_utf8_lossy(&big.stderr))
        ),
        (Some(1), expected),
        "2000 bytes over --max-request-bytes 1024"
    );
    assert_serving(&member, "a put over --max-request-bytes");
}

/// A xorshift64 generator: garbage that is the same on every run.
struct Garbage(u64);

impl Garbage {
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}

/// Sends `bytes` on a new connection, reads whatever comes back for a moment (bounded),
/// and closes.
fn send_and_close(member: &Member, bytes: &[u8]) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(member.client_addr()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    // The server may close the connection before taking it all: that is its right.
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 4096];
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

#[test]
fn garbage_on_the_client_port_does_not_stop_the_member() {
    let member = member_with_foo(&[]);
    let mut garbage = Garbage(0x5eed_cafe_f00d_0001);

    send_and_close(&member, &garbage.bytes(64 * 1024));
    assert_serving(&member, "64 KiB of random bytes");

    send_and_close(
        &member,
        b"GET /health HTTP/1.1\r\nHost: \x00\xff\r\nContent-Length: -5\r\n\r\n",
    );
    assert_serving(&member, "a malformed HTTP/1.1 request");

    send_and_close(&member, b"\xff\xfe\xfd\r\n\r\n\r\n");
    assert_serving(&member, "a request line of non-ASCII bytes");

    let mut preface_then_garbage = PREFACE.to_vec();
    preface_then_garbage.extend(garbage.bytes(16 * 1024));
    send_and_close(&member, &preface_then_garbage);
    assert_serving(&member, "the HTTP/2 preface then random bytes");

    // Malformed frames, each on its own connection after a valid preface and SETTINGS.
    #[rustfmt::skip]
    let frames: [(&str, u8, u8, u32, Vec<u8>); 5] = [
        ("a DATA frame on stream 0", FRAME_DATA, 0, 0, b"data".to_vec()),
        ("a HEADERS block that is not HPACK", FRAME_HEADERS, FLAG_END_HEADERS, 1,
         vec![0x80, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("a SETTINGS frame of 5 bytes", FRAME_SETTINGS, 0, 0, vec![0, 4, 0, 0, 0]),
        ("a frame of an unknown type", 0xee, 0xff, 7, garbage.bytes(100)),
        ("HEADERS without END_HEADERS, then DATA", FRAME_HEADERS, 0, 1, vec![0x82]),
    ];
    for (name, kind, flags, stream_id, payload) in frames {
        let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
        let _ = conn.send_frame(kind, flags, stream_id, &payload);
        let _ = conn.send_frame(FRAME_DATA, FLAG_END_STREAM, 1, &grpc_frame(b"\x0a\x03foo"));
        let _ = conn.read_outcome(1);
        assert_serving(&member, name);
    }

    // A frame header announcing 16 MiB, then the connection closes mid-frame.
    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    let _ = conn.send_raw(&[0xff, 0xff, 0xff, FRAME_DATA, 0, 0, 0, 0, 1, 1, 2, 3]);
    drop(conn);
    assert_serving(&member, "a truncated 16 MiB frame");

    // A client that sends half a preface and then nothing must not hold up the others.
    let mut stalled = std::net::TcpStream::connect(member.client_addr()).expect("connect");
    std::io::Write::write_all(&mut stalled, &PREFACE[..10]).expect("half a preface");
    assert_serving(&member, "a stalled half preface (still open)");
    drop(stalled);
}

/// RangeRequest { key: "foo" }.
fn range_foo() -> Vec<u8> {
    let mut request = Vec::new();
    pb::bytes(&mut request, 1, b"foo");
    request
}

#[test]
fn malformed_grpc_requests_are_refused_and_the_member_keeps_serving() {
    let member = member_with_foo(&[]);

    // Control: the hand-made client gets an answer to a well-formed Range.
    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    conn.send_grpc_request(1, "/etcdserverpb.KV/Range", &grpc_frame(&range_foo()))
        .expect("send");
    let outcome = conn.read_outcome(1).expect("read");
    assert_eq!(outcome.messages.len(), 1, "one RangeResponse: {outcome:?}");
    assert_eq!(
        protobuf_text(&outcome.messages[0]),
        "1:{1:<cluster_id> 2:<member_id> 3:2 4:<raft_term>} 2:{1:\"foo\" 2:2 3:2 4:1 5:\"bar\"} 4:1",
        "RangeResponse to a hand-made Range of foo"
    );

    let mut too_long_prefix = vec![0, 0, 0, 0, 100];
    too_long_prefix.extend_from_slice(&range_foo());
    let mut compressed_without_encoding = vec![1];
    compressed_without_encoding.extend_from_slice(&grpc_frame(&range_foo())[1..]);
    #[rustfmt::skip]
    let bodies: [(&str, Vec<u8>); 8] = [
        // Field 1 is bytes, a message or an int64 in these requests: never fixed32.
        ("field 1 sent as a fixed32", grpc_frame(&[0x0d, 1, 2, 3, 4])),
        ("key length past the end", grpc_frame(&[0x0a, 0x10, b'f', b'o', b'o'])),
        ("an 11-byte varint", grpc_frame(&[0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0x01])),
        ("wire type 7", grpc_frame(&[0x0f])),
        ("field number 0", grpc_frame(&[0x00, 0x00])),
        ("a gRPC length prefix past the body", too_long_prefix),
        ("the compressed flag without grpc-encoding", compressed_without_encoding),
        ("a body shorter than the gRPC prefix", vec![0, 0, 0]),
    ];
    for method in ["Range", "Put", "DeleteRange", "Txn", "Compact"] {
        for (name, body) in &bodies {
            let what = format!("KV/{method} with {name}");
            let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
            conn.send_grpc_request(1, &format!("/etcdserverpb.KV/{method}"), body)
                .expect("send");
            let outcome = conn.read_outcome(1).expect("read");
            assert!(
                outcome.is_grpc_error(),
                "{what}: expected a gRPC error status (trailers only), got {outcome:?}"
            );
            assert_serving(&member, &what);
        }
    }

    let mut conn = H2Conn::connect(member.client_addr()).expect("connect");
    conn.send_grpc_request(
        1,
        "/etcdserverpb.KV/NoSuchMethod",
        &grpc_frame(&range_foo()),
    )
    .expect("send");
    let outcome = conn.read_outcome(1).expect("read");
    assert!(
        outcome.is_grpc_error(),
        "an unknown method: expected a gRPC error status (trailers only), got {outcome:?}"
    );
    assert_serving(&member, "an unknown gRPC method");

    // Nothing above wrote: foo is still at the revision of its put.
    let got = member.etcdctl(&["get", "foo", "-w", "json"]);
    assert_eq!(
        member.normalize(&String::from_utf8_lossy(&got.stdout)),
        "{\"header\":{\"cluster_id\":<cluster_id>,\"member_id\":<member_id>,\"revision\":2,\"raft_term\":<raft_term>},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\"value\":\"YmFy\"}],\"count\":1}\n",
        "no malformed request changed the store"
    );
}

// Captured from etcd 3.4.23 on this machine.
#[rustfmt::skip]
const REFUSED: &[Case] = &[
    // An empty key is refused by every request kind, a compare's key included.
    Case { args: &["put", "", "x"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n" },
    Case { args: &["get", ""], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n" },
    Case { args: &["get", "", "z"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n" },
    Case { args: &["del", ""], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n" },
    Case { args: &["txn"], stdin: "value(\"\") = \"x\"\n\n\n\n",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: key is not provided\"}\nError: etcdserver: key is not provided\n" },
    // A lease that was never granted.
    Case { args: &["put", "k", "v", "--lease=1234abcd"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = NotFound desc = etcdserver: requested lease not found\"}\nError: etcdserver: requested lease not found\n" },
    Case { args: &["put", "k", "v", "--lease=7fffffffffffffff"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = NotFound desc = etcdserver: requested lease not found\"}\nError: etcdserver: requested lease not found\n" },
    // Two writes to one key (or to overlapping ranges) in one branch are refused...
    Case { args: &["txn"], stdin: "\nput d 1\nput d 2\n\n\n",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: duplicate key given in txn request\"}\nError: etcdserver: duplicate key given in txn request\n" },
    Case { args: &["txn"], stdin: "\nput d 1\ndel d\n\n\n",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: duplicate key given in txn request\"}\nError: etcdserver: duplicate key given in txn request\n" },
    Case { args: &["txn"], stdin: "\ndel d --prefix\nput d/1 1\n\n\n",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: duplicate key given in txn request\"}\nError: etcdserver: duplicate key given in txn request\n" },
    Case { args: &["txn"], stdin: "\nput x 1\n\nput x 2\nput x 3\n\n",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = InvalidArgument desc = etcdserver: duplicate key given in txn request\"}\nError: etcdserver: duplicate key given in txn request\n" },
    // ...but a read after a write, two deletes of one key, and one key written in both
    // branches are not: etcd's duplicate check is about puts against puts and deletes.
    Case { args: &["txn"], stdin: "\nput d 1\nget d\n\n\n",
           code: 0, stdout: "SUCCESS\n\nOK\n\nd\n1\n",
           stderr: "" },
    Case { args: &["txn"], stdin: "\ndel e\ndel e\n\n\n",
           code: 0, stdout: "SUCCESS\n\n0\n\n0\n",
           stderr: "" },
    Case { args: &["txn"], stdin: "\nput y 1\n\nput y 2\n\n",
           code: 0, stdout: "SUCCESS\n\nOK\n",
           stderr: "" },
    // Compacting at revision 0 on a fresh member "succeeds"; past the head is refused.
    Case { args: &["compaction", "0"], stdin: "",
           code: 0, stdout: "compacted revision 0\n",
           stderr: "" },
    Case { args: &["compaction", "100"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = OutOfRange desc = etcdserver: mvcc: required revision is a future revision\"}\nError: etcdserver: mvcc: required revision is a future revision\n" },
    Case { args: &["get", "foo", "--rev", "100"], stdin: "",
           code: 1, stdout: "",
           stderr: "{\"level\":\"warn\",\"ts\":\"<ts>\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"<target>\",\"attempt\":0,\"error\":\"rpc error: code = OutOfRange desc = etcdserver: mvcc: required revision is a future revision\"}\nError: etcdserver: mvcc: required revision is a future revision\n" },
    Case { args: &["get", "", "--from-key", "-w", "json"], stdin: "",
           code: 0, stdout: "{\"header\":{\"cluster_id\":<cluster_id>,\"member_id\":<member_id>,\"revision\":4,\"raft_term\":<raft_term>},\"kvs\":[{\"key\":\"ZA==\",\"create_revision\":3,\"mod_revision\":3,\"version\":1,\"value\":\"MQ==\"},{\"key\":\"Zm9v\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\"value\":\"YmFy\"},{\"key\":\"eQ==\",\"create_revision\":4,\"mod_revision\":4,\"version\":1,\"value\":\"MQ==\"}],\"count\":3}\n",
           stderr: "" },
];
