//! The JSON gateway's streaming calls: `/v3/watch`, `/v3/lease/keepalive` and
//! `/v3/election/observe` answer one line `{"result":<message>}` per response, flushed as
//! it happens, and fail as etcd 3.4's grpc-gateway fails them.
//!
//! The expected answers were captured from etcd 3.4.23 with curl and are proven against
//! it: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test gateway_streams`.
//! Each request body is sent whole before anything is read (see `HttpStream`): etcd 3.4
//! drops what a client sends after its first response.
//!
//! Left out because etcd-rs differs there: a watch from a compacted revision (etcd-rs's
//! WatchHub adds a `cancel_reason` to the canceled response, which etcd leaves empty).

mod support;

use std::time::Duration;

use support::gateway::{error, header, kv, leased_kv};
use support::{HttpStream, Member};

/// How long a streamed line may take to arrive (a write waits for Raft).
const LINE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stream is watched to stay open without a line.
const QUIET: Duration = Duration::from_millis(500);

/// Opens the streaming call `path` with `body` on `member`.
fn open(member: &Member, path: &str, body: &str) -> HttpStream {
    HttpStream::post(member.client_addr(), path, body, LINE_TIMEOUT)
        .unwrap_or_else(|e| panic!("POST {path} {body:.200}: no answer: {e}"))
}

/// The stream's next line, normalized; panics if none arrives.
fn line(member: &Member, stream: &mut HttpStream, what: &str) -> String {
    match stream.next_line(LINE_TIMEOUT) {
        Ok(Some(line)) => member.normalize_gateway(&line),
        Ok(None) => panic!("{what}: the stream ended"),
        Err(e) => panic!("{what}: no line arrived: {e}"),
    }
}

/// Asserts that the stream ends with no more lines.
fn assert_ends(stream: &mut HttpStream, what: &str) {
    match stream.next_line(LINE_TIMEOUT) {
        Ok(None) => {}
        Ok(Some(line)) => panic!("{what}: another line instead of the end: {line}"),
        Err(e) => panic!("{what}: the stream did not end: {e}"),
    }
}

/// Asserts that the stream stays open and quiet for `QUIET`.
fn assert_open_and_quiet(stream: &mut HttpStream, what: &str) {
    match stream.next_line(QUIET) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) => {}
        Ok(Some(line)) => panic!("{what}: an unexpected line: {line}"),
        Ok(None) => panic!("{what}: the stream ended"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// `{"result":<message>}`.
fn result(message: &str) -> String {
    format!(r#"{{"result":{message}}}"#)
}

/// `POST path` with `body`, which must answer 200: the body.
fn post_ok(member: &Member, path: &str, body: &str) -> String {
    let (status, answer) = member.http_post(path, body);
    assert_eq!(status, 200, "POST {path} {body}: {answer}");
    answer
}

fn assert_streaming_headers(stream: &HttpStream, metadata: bool, what: &str) {
    assert_eq!(stream.status, 200, "{what}: status");
    assert_eq!(
        stream.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(
        stream.header("transfer-encoding"),
        Some("chunked"),
        "{what}"
    );
    let expected = metadata.then_some("application/grpc");
    assert_eq!(
        stream.header("grpc-metadata-content-type"),
        expected,
        "{what}: Grpc-Metadata-Content-Type (present when a first request was sent)"
    );
}

#[test]
fn a_watch_answers_created_then_each_event_and_outlives_its_body() {
    let member = Member::start(&[]);
    let mut watch = open(
        &member,
        "/v3/watch",
        r#"{"create_request":{"key":"d2s=","watch_id":"7","prev_kv":true}}"#,
    );
    assert_streaming_headers(&watch, true, "watch");
    assert_eq!(
        line(&member, &mut watch, "created"),
        result(&format!(
            r#"{{{},"watch_id":"7","created":true}}"#,
            header(1)
        ))
    );
    post_ok(&member, "/v3/kv/put", r#"{"key":"d2s=","value":"MQ=="}"#);
    assert_eq!(
        line(&member, &mut watch, "the put"),
        result(&format!(
            r#"{{{},"watch_id":"7","events":[{{"kv":{}}}]}}"#,
            header(2),
            kv("d2s=", 2, 2, 1, "MQ==")
        ))
    );
    post_ok(&member, "/v3/kv/deleterange", r#"{"key":"d2s="}"#);
    assert_eq!(
        line(&member, &mut watch, "the delete"),
        result(&format!(
            r#"{{{},"watch_id":"7","events":[{{"type":"DELETE","kv":{{"key":"d2s=","mod_revision":"3"}},"prev_kv":{}}}]}}"#,
            header(3),
            kv("d2s=", 2, 2, 1, "MQ==")
        ))
    );
    // The body ended long ago; the watch goes on until the client leaves.
    assert_open_and_quiet(&mut watch, "a watch after its body");
}

#[test]
fn a_watch_answers_the_requests_of_its_body_in_order() {
    let member = Member::start(&[]);
    let body = [
        r#"{"create_request":{"key":"YQ==","watch_id":"1"}}"#,
        r#"{"createRequest":{"key":"YQ==","watchId":1}}"#,
        r#"{"create_request":{"key":"YQ==","watch_id":"2","filters":["NOPUT"]}}"#,
        r#"{"cancel_request":{"watch_id":"1"}}"#,
    ]
    .join("\n");
    let mut watch = open(&member, "/v3/watch", &body);
    let expected = [
        format!(r#"{{{},"watch_id":"1","created":true}}"#, header(1)),
        format!(
            r#"{{{},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"mvcc: duplicate watch ID provided on the WatchStream"}}"#,
            header(1)
        ),
        format!(r#"{{{},"watch_id":"2","created":true}}"#, header(1)),
        format!(r#"{{{},"watch_id":"1","canceled":true}}"#, header(1)),
    ];
    for (i, message) in expected.iter().enumerate() {
        assert_eq!(
            line(&member, &mut watch, &format!("answer {i}")),
            result(message),
            "answer {i}"
        );
    }
    // Watch 1 is canceled and watch 2 filters puts out: only the delete is seen.
    post_ok(&member, "/v3/kv/put", r#"{"key":"YQ==","value":"MQ=="}"#);
    post_ok(&member, "/v3/kv/deleterange", r#"{"key":"YQ=="}"#);
    assert_eq!(
        line(&member, &mut watch, "the delete"),
        result(&format!(
            r#"{{{},"watch_id":"2","events":[{{"type":"DELETE","kv":{{"key":"YQ==","mod_revision":"3"}}}}]}}"#,
            header(3)
        ))
    );
    assert_open_and_quiet(&mut watch, "a watch after its events");
}

#[test]
fn keep_alive_answers_each_request_then_ends_with_its_body() {
    let member = Member::start(&[]);
    post_ok(&member, "/v3/lease/grant", r#"{"TTL":60,"ID":"1000"}"#);
    let renewed = result(&format!(r#"{{{},"ID":"<ID>","TTL":"60"}}"#, header(1)));
    // An unknown lease answers TTL 0 (left out); `null` is an empty request.
    let unknown = result(&format!(r#"{{{},"ID":"<ID>"}}"#, header(1)));
    let empty = result(&format!("{{{}}}", header(1)));
    let runs: &[(&str, &str, &[&String])] = &[
        (
            "/v3/lease/keepalive",
            r#"{"ID":"1000"}{"ID":1000} {"ID":"5"}"#,
            &[&renewed, &renewed, &unknown],
        ),
        ("/v3beta/lease/keepalive", r#"{"ID":"1000"}"#, &[&renewed]),
        (
            "/v3/lease/keepalive",
            r#"{"ID":"1000"} null {"ID":"1000"}"#,
            &[&renewed, &empty, &renewed],
        ),
        // A malformed object ends the requests, as the end of the body does.
        (
            "/v3/lease/keepalive",
            r#"{"ID":"1000"} {"ID": tru} {"ID":"1000"}"#,
            &[&renewed],
        ),
        (
            "/v3/lease/keepalive",
            r#"{"ID":"1000"} [1] {"ID":"1000"}"#,
            &[&renewed],
        ),
    ];
    for &(path, body, lines) in runs {
        let what = format!("POST {path} {body}");
        let mut stream = open(&member, path, body);
        assert_streaming_headers(&stream, true, &what);
        for (i, expected) in lines.iter().enumerate() {
            assert_eq!(
                &line(&member, &mut stream, &what),
                *expected,
                "{what}: line {i}"
            );
        }
        assert_ends(&mut stream, &what);
    }
    // No request: no line, and no gRPC metadata (grpc-gateway never asked for it).
    let mut stream = open(&member, "/v3/lease/keepalive", "");
    assert_streaming_headers(&stream, false, "an empty keep-alive body");
    assert_ends(&mut stream, "an empty keep-alive body");
}

#[test]
fn observe_streams_the_leader_then_each_proclaim_and_each_new_leader() {
    let member = Member::start(&[]);
    for id in [1000, 1001] {
        post_ok(
            &member,
            "/v3/lease/grant",
            &format!(r#"{{"TTL":60,"ID":"{id}"}}"#),
        );
    }
    post_ok(
        &member,
        "/v3/election/campaign",
        r#"{"name":"ZWw=","lease":"1000","value":"djE="}"#,
    );
    let mut observe = open(&member, "/v3/election/observe", r#"{"name":"ZWw="}"#);
    assert_streaming_headers(&observe, true, "observe");
    // el/3e8, lease 1000's key, created at revision 2.
    let leader = |revision, modified, version, value| {
        result(&format!(
            r#"{{{},"kv":{}}}"#,
            header(revision),
            leased_kv("ZWwvM2U4", 2, modified, version, value, 1000)
        ))
    };
    assert_eq!(
        line(&member, &mut observe, "the leader"),
        leader(2, 2, 1, "djE=")
    );
    let leader_key = r#"{"name":"ZWw=","key":"ZWwvM2U4","rev":"2","lease":"1000"}"#;
    let proclaim = format!(r#"{{"leader":{leader_key},"value":"djI="}}"#);
    post_ok(&member, "/v3/election/proclaim", &proclaim);
    assert_eq!(
        line(&member, &mut observe, "a proclaim"),
        leader(3, 3, 2, "djI=")
    );
    // The same value again is a put of the key all the same.
    post_ok(&member, "/v3/election/proclaim", &proclaim);
    assert_eq!(
        line(&member, &mut observe, "the same value proclaimed again"),
        leader(4, 4, 3, "djI=")
    );
    // A second candidate queues (el/3e9 at revision 5) and leads once the first resigns
    // (revision 6).
    let addr = member.client_addr();
    let candidate = std::thread::spawn(move || {
        support::http_post(
            addr,
            "/v3/election/campaign",
            r#"{"name":"ZWw=","lease":"1001","value":"djM="}"#,
        )
    });
    let queued = || {
        let body = r#"{"key":"ZWwvM2U5","count_only":true}"#;
        post_ok(&member, "/v3/kv/range", body).contains(r#""count":"1""#)
    };
    let deadline = std::time::Instant::now() + LINE_TIMEOUT;
    while !queued() {
        assert!(
            std::time::Instant::now() < deadline,
            "the second candidate never queued"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    post_ok(
        &member,
        "/v3/election/resign",
        &format!(r#"{{"leader":{leader_key}}}"#),
    );
    assert_eq!(
        line(&member, &mut observe, "the new leader"),
        result(&format!(
            r#"{{{},"kv":{}}}"#,
            header(6),
            leased_kv("ZWwvM2U5", 5, 5, 1, "djM=", 1001)
        ))
    );
    let (status, _) = candidate.join().expect("the candidate ran");
    assert_eq!(status, 200, "the second candidate's campaign");
    assert_open_and_quiet(&mut observe, "observe after a new leader");
}

/// A body of one watch create request for a key of `key_bytes` bytes.
fn create_request_of(key_bytes: usize) -> String {
    let tail = ["", "eA==", "eHg="][key_bytes % 3];
    let key = "eHh4".repeat(key_bytes / 3) + tail;
    format!(r#"{{"create_request":{{"key":"{key}"}}}}"#)
}

/// A message over gRPC's limit (1.5 MiB + 512 KiB): 2,200,000 key bytes.
const OVERSIZED_KEY_BYTES: usize = 2_200_000;

#[test]
fn stream_failures_answer_as_grpc_gateway_writes_them() {
    let member = Member::start(&[]);
    let too_large = r#"{"error":{"grpc_code":8,"http_code":429,"message":"grpc: received message larger than max (2200010 vs. 2097152)","http_status":"Too Many Requests"}}"#;

    // A first request that does not decode: grpc-gateway's error, with code 2.
    let bad_first: &[(&str, &str, &str)] = &[
        (
            "/v3/watch",
            r#"{"create_request":{"key":5}}"#,
            "json: cannot unmarshal number into Go value of type []uint8",
        ),
        (
            "/v3/watch",
            r#"{"create_request":{"key":"YQ==","filters":"NOPUT"}}"#,
            r#"invalid target \"slice\" for enum etcdserverpb.WatchCreateRequest_FilterType"#,
        ),
        (
            "/v3/watch",
            r#"{"create_request":{"key":"YQ==",}}"#,
            "invalid character '}' looking for beginning of object key string",
        ),
        (
            "/v3/lease/keepalive",
            r#"{"ID":"abc"}"#,
            "invalid character 'a' looking for beginning of value",
        ),
        (
            "/v3/lease/keepalive",
            "[1]",
            "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
        ),
    ];
    for &(path, body, message) in bad_first {
        assert_eq!(
            member.http_post(path, body),
            (500, error(2, message)),
            "POST {path} {body}"
        );
    }
    // Observe reads its one request as a unary call does.
    assert_eq!(
        member.http_post("/v3/election/observe", r#"{"name":5}"#),
        (
            400,
            error(
                3,
                "json: cannot unmarshal number into Go value of type []uint8"
            )
        )
    );

    // A first request over the limit fails the call before its first response: the
    // status is the failure's, the body the stream's error object.
    let mut refused = open(
        &member,
        "/v3/watch",
        &create_request_of(OVERSIZED_KEY_BYTES),
    );
    assert_eq!(refused.status, 429, "an oversized first request");
    assert_eq!(
        line(&member, &mut refused, "an oversized first request"),
        too_large
    );
    assert_ends(&mut refused, "an oversized first request");

    // After a first response, the failure is the stream's last bytes (no newline).
    let body = format!(
        "{}\n{}",
        r#"{"create_request":{"key":"YQ=="}}"#,
        create_request_of(OVERSIZED_KEY_BYTES)
    );
    let mut failed = open(&member, "/v3/watch", &body);
    assert_streaming_headers(&failed, true, "an oversized second request");
    assert_eq!(
        line(&member, &mut failed, "an oversized second request"),
        result(&format!(r#"{{{},"created":true}}"#, header(1)))
    );
    assert_eq!(
        line(&member, &mut failed, "an oversized second request"),
        too_large
    );
    assert_ends(&mut failed, "an oversized second request");

    // Paths: keep-alive is not served under /v3/kv/lease/; a stream is POST only.
    assert_eq!(
        member.http_post("/v3/kv/lease/keepalive", r#"{"ID":"1"}"#),
        (404, "Not Found\n".to_string())
    );
    let get =
        support::http_request(member.client_addr(), "GET", "/v3/watch", "").expect("GET /v3/watch");
    assert_eq!(
        (get.status, get.body.as_str()),
        (405, "Method Not Allowed\n")
    );
}
