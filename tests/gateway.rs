//! The JSON gateway on the client port (`POST /v3/kv/range`, ...): etcd 3.4's answers,
//! status code and body byte for byte, for the KV, lease, Lock and Election calls, the
//! Cluster calls, Status, Alarm, Defragment, MoveLeader, Hash and Snapshot (a stream of
//! the file's chunks), and the errors its grpc-gateway gives for bad requests and bad
//! JSON. The other streaming calls are in `gateway_streams.rs`.
//!
//! The expected answers were captured from etcd 3.4.23 with curl on this machine and are
//! proven against it: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test
//! gateway`. Answers are compared after `Member::normalize_gateway` (ids, raft term and
//! index, database size, server version and URLs replaced by placeholders).
//!
//! Left out because etcd 3.4 is wrong there: a `sort_order` or `sort_target` outside its
//! enum (3.4 ignores an unknown order and crashes on an unknown target; etcd-rs answers
//! 3.5's "etcdserver: invalid sort option"), and a `null` element of a repeated message
//! (3.4 drops the connection).

mod support;

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::gateway::{Case, case, check, error, header, kv, leased_kv, only_header};
use support::{HttpStream, Member, http_request};

/// foo=baz (revision 3, after foo=bar at 2), a=1 (4), b=2 (5), c="" (6).
fn put_cases() -> Vec<Case> {
    vec![
        case(
            "/v3/kv/put",
            r#"{"key":"Zm9v","value":"YmFy"}"#,
            200,
            only_header(2),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Zm9v","value":"YmF6","prev_kv":true}"#,
            200,
            format!(
                r#"{{{},"prev_kv":{}}}"#,
                header(3),
                kv("Zm9v", 2, 2, 1, "YmFy")
            ),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(4),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Yg==","value":"Mg==","lease":"0"}"#,
            200,
            only_header(5),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Yw==","value":""}"#,
            200,
            only_header(6),
        ),
    ]
}

#[test]
fn put_and_range_answer_etcds_json() {
    let member = Member::start(&[]);
    let foo = format!(
        r#"{{{},"kvs":[{}],"count":"1"}}"#,
        header(6),
        kv("Zm9v", 2, 3, 2, "YmF6")
    );
    let (a, b, c) = (
        kv("YQ==", 4, 4, 1, "MQ=="),
        kv("Yg==", 5, 5, 1, "Mg=="),
        kv("Yw==", 6, 6, 1, ""),
    );
    let mut cases = put_cases();
    cases.extend([
        case("/v3/kv/range", r#"{"key":"Zm9v"}"#, 200, foo.clone()),
        case("/v3beta/kv/range", r#"{"key":"Zm9v"}"#, 200, foo.clone()),
        case("/v3/kv/range", r#"{"key":"bm9uZQ=="}"#, 200, only_header(6)),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","range_end":"ZA=="}"#,
            200,
            format!(r#"{{{},"kvs":[{a},{b},{c}],"count":"3"}}"#, header(6)),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","range_end":"ZA==","limit":2,"sort_order":"DESCEND","sort_target":"KEY"}"#,
            200,
            format!(r#"{{{},"kvs":[{c},{b}],"more":true,"count":"3"}}"#, header(6)),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","range_end":"ZA==","limit":"1"}"#,
            200,
            format!(r#"{{{},"kvs":[{a}],"more":true,"count":"3"}}"#, header(6)),
        ),
        // Enums by number, names in lowerCamel: sort by mod revision, descending.
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","rangeEnd":"ZA==","sortOrder":2,"sortTarget":3,"limit":"1"}"#,
            200,
            format!(r#"{{{},"kvs":[{c}],"more":true,"count":"3"}}"#, header(6)),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","rangeEnd":"ZA==","keysOnly":true}"#,
            200,
            format!(
                r#"{{{},"kvs":[{},{},{}],"count":"3"}}"#,
                header(6),
                kv("YQ==", 4, 4, 1, ""),
                kv("Yg==", 5, 5, 1, ""),
                kv("Yw==", 6, 6, 1, "")
            ),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"AA==","range_end":"AA==","count_only":true}"#,
            200,
            format!(r#"{{{},"count":"4"}}"#, header(6)),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"Zm9v","revision":"2"}"#,
            200,
            format!(
                r#"{{{},"kvs":[{}],"count":"1"}}"#,
                header(6),
                kv("Zm9v", 2, 2, 1, "YmFy")
            ),
        ),
        // Unknown fields and `null`s are ignored; what follows the body's object too.
        case(
            "/v3/kv/range",
            r#"{"key":"Zm9v","bogus":{"x":[1]},"limit":null,"keys_only":null} trailing"#,
            200,
            foo.clone(),
        ),
        // A bytes field as Go's array of bytes; a repeated name: the last wins.
        case("/v3/kv/range", r#"{"key":[102,111,111]}"#, 200, foo.clone()),
        case("/v3/kv/range", r#"{"key":"eA==","key":"Zm9v"}"#, 200, foo.clone()),
        // Base64 with a newline, and with an escaped padding character.
        case("/v3/kv/range", r#"{"key":"Zm\n9v","range_end":"Zm9w"}"#, 200, foo),
        case(
            "/v3/kv/range",
            r#"{"key":"Yw=\u003d"}"#,
            200,
            format!(r#"{{{},"kvs":[{c}],"count":"1"}}"#, header(6)),
        ),
    ]);
    check("put and range", &member, &cases);
}

#[test]
fn delete_range_answers_deleted_and_prev_kvs() {
    let member = Member::start(&[]);
    let cases = [
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(2),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Yg==","value":"Mg=="}"#,
            200,
            only_header(3),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Yw==","value":"Mw=="}"#,
            200,
            only_header(4),
        ),
        case(
            "/v3/kv/deleterange",
            r#"{"key":"YQ==","range_end":"Yw==","prev_kv":true}"#,
            200,
            format!(
                r#"{{{},"deleted":"2","prev_kvs":[{},{}]}}"#,
                header(5),
                kv("YQ==", 2, 2, 1, "MQ=="),
                kv("Yg==", 3, 3, 1, "Mg==")
            ),
        ),
        case(
            "/v3/kv/deleterange",
            r#"{"key":"cXE="}"#,
            200,
            only_header(5),
        ),
        case(
            "/v3/kv/deleterange",
            r#"{"key":"Yw=="}"#,
            200,
            format!(r#"{{{},"deleted":"1"}}"#, header(6)),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"AA==","range_end":"AA=="}"#,
            200,
            only_header(6),
        ),
    ];
    check("delete range", &member, &cases);
}

#[test]
fn txn_runs_the_branch_its_compares_choose() {
    let member = Member::start(&[]);
    let cases = [
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(2),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"Yg==","value":"Mg=="}"#,
            200,
            only_header(3),
        ),
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"key":"YQ==","target":"VALUE","result":"EQUAL","value":"MQ=="}],"success":[{"request_put":{"key":"YQ==","value":"Mw=="}},{"request_range":{"key":"YQ=="}}],"failure":[{"request_range":{"key":"Yg=="}}]}"#,
            200,
            format!(
                r#"{{{},"succeeded":true,"responses":[{{"response_put":{{"header":{{"revision":"4"}}}}}},{{"response_range":{{"header":{{"revision":"4"}},"kvs":[{}],"count":"1"}}}}]}}"#,
                header(4),
                kv("YQ==", 2, 4, 2, "Mw==")
            ),
        ),
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"key":"YQ==","target":"VALUE","result":"EQUAL","value":"MQ=="}],"success":[{"request_put":{"key":"YQ==","value":"Mw=="}}],"failure":[{"request_range":{"key":"Yg=="}},{"request_delete_range":{"key":"eno="}}]}"#,
            200,
            format!(
                r#"{{{},"responses":[{{"response_range":{{"header":{{"revision":"4"}},"kvs":[{}],"count":"1"}}}},{{"response_delete_range":{{"header":{{"revision":"4"}}}}}}]}}"#,
                header(4),
                kv("Yg==", 3, 3, 1, "Mg==")
            ),
        ),
        // A txn nested in a branch: its own header is empty.
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"key":"YQ==","target":"MOD","result":"GREATER","mod_revision":"1"}],"success":[{"requestTxn":{"success":[{"requestPut":{"key":"eA==","value":"eQ==","prev_kv":true}}]}}]}"#,
            200,
            format!(
                r#"{{{},"succeeded":true,"responses":[{{"response_txn":{{"header":{{}},"succeeded":true,"responses":[{{"response_put":{{"header":{{"revision":"5"}}}}}}]}}}}]}}"#,
                header(5)
            ),
        ),
        case(
            "/v3/kv/txn",
            "{}",
            200,
            format!(r#"{{{},"succeeded":true}}"#, header(5)),
        ),
        // Enums by number (target 1 is CREATE), a delete with its previous value.
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"key":"YQ==","target":1,"result":"LESS","create_revision":"3"}],"success":[{"request_delete_range":{"key":"Yg==","prev_kv":true}}]}"#,
            200,
            format!(
                r#"{{{},"succeeded":true,"responses":[{{"response_delete_range":{{"header":{{"revision":"6"}},"deleted":"1","prev_kvs":[{}]}}}}]}}"#,
                header(6),
                kv("Yg==", 3, 3, 1, "Mg==")
            ),
        ),
    ];
    check("txn", &member, &cases);
}

#[test]
fn compaction_refuses_compacted_and_future_revisions() {
    let member = Member::start(&[]);
    let mut cases: Vec<Case> = (2..=6)
        .map(|revision| {
            case(
                "/v3/kv/put",
                r#"{"key":"YQ==","value":"MQ=="}"#,
                200,
                only_header(revision),
            )
        })
        .collect();
    let compacted = error(11, "etcdserver: mvcc: required revision has been compacted");
    let future = error(
        11,
        "etcdserver: mvcc: required revision is a future revision",
    );
    cases.extend([
        case(
            "/v3/kv/compaction",
            r#"{"revision":"4"}"#,
            200,
            only_header(6),
        ),
        case(
            "/v3/kv/compaction",
            r#"{"revision":"3"}"#,
            400,
            compacted.clone(),
        ),
        case(
            "/v3/kv/compaction",
            r#"{"revision":"100"}"#,
            400,
            future.clone(),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","revision":"3"}"#,
            400,
            compacted,
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","revision":4}"#,
            200,
            format!(
                r#"{{{},"kvs":[{}],"count":"1"}}"#,
                header(6),
                kv("YQ==", 2, 4, 3, "MQ==")
            ),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"YQ==","revision":"7"}"#,
            400,
            future,
        ),
        case(
            "/v3/kv/compaction",
            r#"{"revision":"6","physical":true}"#,
            200,
            only_header(6),
        ),
    ]);
    check("compaction", &member, &cases);
}

#[test]
fn status_and_member_list_answer_etcds_fields() {
    let member = Member::start(&[]);
    let status = format!(
        r#"{{{},"version":"<version>","dbSize":"<dbSize>","leader":"<leader>","raftIndex":"<raftIndex>","raftTerm":"<raftTerm>","raftAppliedIndex":"<raftAppliedIndex>","dbSizeInUse":"<dbSizeInUse>"}}"#,
        header(2)
    );
    let members = r#"{"header":{"cluster_id":"<cluster_id>","member_id":"<member_id>","raft_term":"<raft_term>"},"members":[{"ID":"<ID>","name":"m1","peerURLs":["<peer-url>"],"clientURLs":["<client-url>"]}]}"#;
    let cases = [
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(2),
        ),
        case("/v3/maintenance/status", "{}", 200, status.clone()),
        case("/v3/maintenance/status", "", 200, status.clone()),
        case("/v3beta/maintenance/status", "{}", 200, status),
        case("/v3/cluster/member/list", "{}", 200, members),
        case("/v3beta/cluster/member/list", "", 200, members),
        case(
            "/v3/maintenance/status",
            r#"{"x":"#,
            400,
            error(3, "unexpected EOF"),
        ),
    ];
    check("status and member list", &member, &cases);
}

#[test]
fn refused_requests_answer_etcds_errors() {
    let member = Member::start(&[]);
    let no_key = error(3, "etcdserver: key is not provided");
    let cases = [
        case(
            "/v3/kv/put",
            r#"{"key":"Zm9v","value":"YmFy"}"#,
            200,
            only_header(2),
        ),
        case("/v3/kv/range", "{}", 400, no_key.clone()),
        case("/v3/kv/range", "", 400, no_key.clone()),
        case("/v3/kv/range", " null ", 400, no_key.clone()),
        case("/v3/kv/range", r#"{"key":""}"#, 400, no_key.clone()),
        case("/v3/kv/put", r#"{"value":"YQ=="}"#, 400, no_key.clone()),
        case("/v3/kv/deleterange", "{}", 400, no_key.clone()),
        case(
            "/v3/kv/txn",
            r#"{"success":[{"request_put":{}}]}"#,
            400,
            no_key.clone(),
        ),
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"target":"VERSION","result":"EQUAL"}]}"#,
            400,
            no_key,
        ),
        case(
            "/v3/kv/txn",
            r#"{"success":[{"request_put":{"key":"YQ=="}},{"request_put":{"key":"YQ=="}}]}"#,
            400,
            error(3, "etcdserver: duplicate key given in txn request"),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","ignore_value":true}"#,
            400,
            error(3, "etcdserver: key not found"),
        ),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","lease":"123"}"#,
            404,
            error(5, "etcdserver: requested lease not found"),
        ),
        case(
            "/v3/kv/range",
            r#"{"key":"Zm9v","revision":100}"#,
            400,
            error(
                11,
                "etcdserver: mvcc: required revision is a future revision",
            ),
        ),
    ];
    check("refused requests", &member, &cases);
}

#[test]
fn malformed_bodies_answer_gos_json_errors() {
    let member = Member::start(&[]);
    let bad = |body: &str, message: &str| case("/v3/kv/range", body, 400, error(3, message));
    let cases = [
        bad(r#"{"key":"#, "unexpected EOF"),
        bad(
            r#"{"key":"Zm9v",}"#,
            "invalid character '}' looking for beginning of object key string",
        ),
        bad(
            r#"{"key" "Zm9v"}"#,
            r#"invalid character '\"' after object key"#,
        ),
        bad(
            "{key:1}",
            "invalid character 'k' looking for beginning of object key string",
        ),
        bad(
            r#"{"key":tru}"#,
            "invalid character '}' in literal true (expecting 'e')",
        ),
        bad(
            "{\"key\":\"Zm9v\n\"}",
            r"invalid character '\\n' in string literal",
        ),
        bad(
            r#"{"key":"Zm9v","limit":1.}"#,
            "invalid character '}' after decimal point in numeric literal",
        ),
        bad(
            "[1]",
            "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
        ),
        bad(
            r#""x""#,
            "json: cannot unmarshal string into Go value of type map[string]json.RawMessage",
        ),
        // Wrong types, in field order whatever the order in the body.
        bad(
            r#"{"key":"Zm9v","limit":"abc"}"#,
            "invalid character 'a' looking for beginning of value",
        ),
        bad(
            r#"{"key":"Zm9v","limit":"01"}"#,
            "invalid character '1' after top-level value",
        ),
        bad(
            r#"{"key":"Zm9v","limit":true}"#,
            "json: cannot unmarshal bool into Go value of type int64",
        ),
        bad(
            r#"{"key":"Zm9v","limit":"1.5"}"#,
            "json: cannot unmarshal number 1.5 into Go value of type int64",
        ),
        bad(
            r#"{"key":"Zm9v","limit":99999999999999999999}"#,
            "json: cannot unmarshal number 99999999999999999999 into Go value of type int64",
        ),
        bad(
            r#"{"keys_only":"true","key":"Zm9v"}"#,
            "json: cannot unmarshal string into Go value of type bool",
        ),
        bad(
            r#"{"limit":true,"key":5}"#,
            "json: cannot unmarshal number into Go value of type []uint8",
        ),
        bad(
            r#"{"key":{}}"#,
            "json: cannot unmarshal object into Go value of type []uint8",
        ),
        bad(
            r#"{"key":[300]}"#,
            "json: cannot unmarshal number 300 into Go value of type uint8",
        ),
        bad(r#"{"key":"Zm9"}"#, "illegal base64 data at input byte 0"),
        bad(
            r#"{"key":"Zm9vZm9"}"#,
            "illegal base64 data at input byte 4",
        ),
        bad(r#"{"key":"-_8="}"#, "illegal base64 data at input byte 0"),
        bad(
            r#"{"key":"Zm9v","sort_order":"BAD"}"#,
            r#"unknown value \"BAD\" for enum etcdserverpb.RangeRequest_SortOrder"#,
        ),
        bad(
            r#"{"key":"Zm9v","sort_order":"2"}"#,
            r#"unknown value \"2\" for enum etcdserverpb.RangeRequest_SortOrder"#,
        ),
        bad(
            r#"{"key":"Zm9v","sort_order":"<&>"}"#,
            r#"unknown value \"\u003c\u0026\u003e\" for enum etcdserverpb.RangeRequest_SortOrder"#,
        ),
        bad(
            r#"{"key":"Zm9v","sort_target":1.5}"#,
            "json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.RangeRequest_SortTarget",
        ),
        case(
            "/v3/kv/txn",
            r#"{"compare":[{"key":"YQ==","target":"BAD"}]}"#,
            400,
            error(
                3,
                r#"unknown value \"BAD\" for enum etcdserverpb.Compare_CompareTarget"#,
            ),
        ),
        case(
            "/v3/kv/txn",
            r#"{"compare":{}}"#,
            400,
            error(
                3,
                "json: cannot unmarshal object into Go value of type []json.RawMessage",
            ),
        ),
        case(
            "/v3/kv/txn",
            r#"{"success":[5]}"#,
            400,
            error(
                3,
                "json: cannot unmarshal number into Go value of type map[string]json.RawMessage",
            ),
        ),
    ];
    check("malformed bodies", &member, &cases);
}

#[test]
fn requests_over_the_size_limits_are_refused_as_etcd_refuses_them() {
    let member = Member::start(&[]);
    // A put of `value_bytes` bytes "x" under the key "big\n".
    let put = |value_bytes: usize| {
        let tail = ["", "eA==", "eHg="][value_bytes % 3];
        let value = "eHh4".repeat(value_bytes / 3) + tail;
        format!(r#"{{"key":"YmlnCg==","value":"{value}"}}"#)
    };
    let cases = [
        // Over --max-request-bytes (1.5 MiB): the member refuses the proposal.
        case(
            "/v3/kv/put",
            &put(1_600_000),
            400,
            error(3, "etcdserver: request is too large"),
        ),
        // Over what gRPC takes (1.5 MiB + 512 KiB): refused before the member sees it.
        case(
            "/v3/kv/put",
            &put(2_200_000),
            429,
            error(
                8,
                "grpc: received message larger than max (2200011 vs. 2097152)",
            ),
        ),
    ];
    check("size limits", &member, &cases);
}

#[test]
fn paths_and_methods_answer_as_etcds_http_mux() {
    let member = Member::start(&[]);
    let addr = member.client_addr();
    let cases: &[(&str, &str, u16, &str)] = &[
        ("POST", "/v3/foo", 404, "Not Found\n"),
        ("POST", "/v3beta/kv", 404, "Not Found\n"),
        ("POST", "/v3/kv/range/", 404, "Not Found\n"),
        ("POST", "/v3alpha/kv/range", 404, "404 page not found\n"),
        ("GET", "/v3/kv/range", 405, "Method Not Allowed\n"),
        ("PUT", "/v3beta/kv/put", 405, "Method Not Allowed\n"),
        ("OPTIONS", "/v3/kv/range", 200, ""),
    ];
    for &(method, path, status, body) in cases {
        let answer = http_request(addr, method, path, r#"{"key":"YQ=="}"#)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (status, body),
            "{method} {path}"
        );
    }
    let answer = http_request(addr, "POST", "/v3/kv/range", r#"{"key":"YQ=="}"#).unwrap();
    let header = |name: &str| {
        answer
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(
        header("grpc-metadata-content-type"),
        Some("application/grpc")
    );
    assert_eq!(header("access-control-allow-origin"), Some("*"));
}

/// A lease grant of 60 s with the id `id`, answered at `revision`.
fn grant(id: i64, revision: i64) -> Case {
    case(
        "/v3/lease/grant",
        &format!(r#"{{"TTL":60,"ID":"{id}"}}"#),
        200,
        format!(r#"{{{},"ID":"<ID>","TTL":"60"}}"#, header(revision)),
    )
}

#[test]
fn lease_calls_answer_etcds_json_under_both_paths() {
    let member = Member::start(&[]);
    let not_found = error(5, "etcdserver: requested lease not found");
    let alive = format!(
        r#"{{{},"ID":"<ID>","TTL":"<remaining>","grantedTTL":"60","keys":["YQ=="]}}"#,
        header(2)
    );
    let cases = [
        grant(1000, 1),
        // The id as a number; the same id again.
        case(
            "/v3/lease/grant",
            r#"{"TTL":60,"ID":1000}"#,
            412,
            error(9, "etcdserver: lease already exists"),
        ),
        case(
            "/v3/lease/grant",
            r#"{"TTL":99999999999}"#,
            400,
            error(11, "etcdserver: too large lease TTL"),
        ),
        case(
            "/v3/lease/grant",
            r#"{"TTL":true}"#,
            400,
            error(3, "json: cannot unmarshal bool into Go value of type int64"),
        ),
        // etcd serves grant and keep-alive only under /v3/lease/.
        case("/v3/kv/lease/grant", r#"{"TTL":60}"#, 404, "Not Found\n"),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ==","lease":"1000"}"#,
            200,
            only_header(2),
        ),
        // A linearizable read: it waits until the member has published the put as
        // applied, which the lease calls' headers take their revision from (etcd-rs
        // answers a write a moment before it publishes it).
        case(
            "/v3/kv/range",
            r#"{"key":"YQ=="}"#,
            200,
            format!(
                r#"{{{},"kvs":[{}],"count":"1"}}"#,
                header(2),
                leased_kv("YQ==", 2, 2, 1, "MQ==", 1000)
            ),
        ),
        case(
            "/v3/lease/timetolive",
            r#"{"ID":"1000","keys":true}"#,
            200,
            alive.clone(),
        ),
        case(
            "/v3/kv/lease/timetolive",
            r#"{"ID":"1000","keys":true}"#,
            200,
            alive,
        ),
        case(
            "/v3beta/lease/timetolive",
            r#"{"ID":1000}"#,
            200,
            format!(
                r#"{{{},"ID":"<ID>","TTL":"<remaining>","grantedTTL":"60"}}"#,
                header(2)
            ),
        ),
        // An unknown lease answers TTL -1; so does no id.
        case(
            "/v3/lease/timetolive",
            r#"{"ID":"999","keys":true}"#,
            200,
            format!(r#"{{{},"ID":"<ID>","TTL":"-1"}}"#, header(2)),
        ),
        case(
            "/v3/lease/timetolive",
            "{}",
            200,
            format!(r#"{{{},"TTL":"-1"}}"#, header(2)),
        ),
        case(
            "/v3/lease/leases",
            "{}",
            200,
            format!(r#"{{{},"leases":[{{"ID":"<ID>"}}]}}"#, header(2)),
        ),
        case(
            "/v3/kv/lease/leases",
            "",
            200,
            format!(r#"{{{},"leases":[{{"ID":"<ID>"}}]}}"#, header(2)),
        ),
        // Revoking deletes the attached key, in a revision of its own.
        case("/v3/lease/revoke", r#"{"ID":"1000"}"#, 200, only_header(3)),
        case(
            "/v3/kv/lease/revoke",
            r#"{"ID":"1000"}"#,
            404,
            not_found.clone(),
        ),
        case("/v3/lease/revoke", "{}", 404, not_found),
        case("/v3/kv/range", r#"{"key":"YQ=="}"#, 200, only_header(3)),
        case(
            "/v3/lease/timetolive",
            r#"{"ID":"1000","keys":true}"#,
            200,
            format!(r#"{{{},"ID":"<ID>","TTL":"-1"}}"#, header(3)),
        ),
        case("/v3/lease/leases", "{}", 200, only_header(3)),
        // A TTL below the minimum (1.5 election timeouts) is raised to it; the server
        // chooses the id.
        case(
            "/v3/lease/grant",
            r#"{"TTL":1}"#,
            200,
            format!(r#"{{{},"ID":"<ID>","TTL":"2"}}"#, header(3)),
        ),
    ];
    check("leases", &member, &cases);
}

/// The key "mylock/3e8" (lease 1000, 0x3e8) in base64.
const MYLOCK_1000: &str = "bXlsb2NrLzNlOA==";

/// Lock and Election fail with gRPC code 2 (HTTP 500): etcd's v3lock and v3election
/// servers call the KV through a client, which drops the error's code.
#[test]
fn lock_and_unlock_answer_etcds_json() {
    let member = Member::start(&[]);
    let locked = |revision| format!(r#"{{{},"key":"{MYLOCK_1000}"}}"#, header(revision));
    let unlock = format!(r#"{{"key":"{MYLOCK_1000}"}}"#);
    let cases = [
        grant(1000, 1),
        case(
            "/v3/lock/lock",
            r#"{"name":"bXlsb2Nr","lease":"1000"}"#,
            200,
            locked(2),
        ),
        // The same lease holds it already: the same key, at its creation.
        case(
            "/v3beta/lock/lock",
            r#"{"name":"bXlsb2Nr","lease":1000}"#,
            200,
            locked(2),
        ),
        case("/v3/lock/unlock", &unlock, 200, only_header(3)),
        case("/v3/lock/unlock", &unlock, 200, only_header(3)),
        case(
            "/v3/lock/unlock",
            "{}",
            500,
            error(2, "etcdserver: key is not provided"),
        ),
        case(
            "/v3/lock/lock",
            r#"{"name":"bXlsb2Nr","lease":"77"}"#,
            500,
            error(2, "etcdserver: requested lease not found"),
        ),
        case(
            "/v3/lock/lock",
            r#"{"name":5}"#,
            400,
            error(
                3,
                "json: cannot unmarshal number into Go value of type []uint8",
            ),
        ),
    ];
    check("lock", &member, &cases);
}

/// `POST path` with `body` on `member`, answered 200: the body.
fn post_ok(member: &Member, path: &str, body: &str) -> String {
    let (status, answer) = member.http_post(path, body);
    assert_eq!(status, 200, "POST {path} {body}: {answer}");
    answer
}

/// How many keys lie under `prefix` (base64 of the prefix and of its range end).
fn count_keys(member: &Member, key: &str, range_end: &str) -> String {
    let body = format!(r#"{{"key":"{key}","range_end":"{range_end}","count_only":true}}"#);
    let answer = member.normalize_gateway(&post_ok(member, "/v3/kv/range", &body));
    answer
        .split(r#""count":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("0")
        .to_string()
}

/// How long a lock waiter is watched to be still waiting.
const LOCK_WAIT: Duration = Duration::from_millis(500);
/// How long a lock waiter's key may take to be queued, and to be deleted.
const LOCK_GONE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_lock_waiter_gets_its_turn_and_one_that_leaves_gives_it_up() {
    let member = Member::start(&[]);
    for id in [1000, 1001, 1002] {
        post_ok(
            &member,
            "/v3/lease/grant",
            &format!(r#"{{"TTL":60,"ID":"{id}"}}"#),
        );
    }
    post_ok(
        &member,
        "/v3/lock/lock",
        r#"{"name":"bXlsb2Nr","lease":"1000"}"#,
    );
    // "mylock/" .. "mylock0".
    let (queue, queue_end) = ("bXlsb2NrLw==", "bXlsb2NrMA==");

    // A waiter that gives up: its key is queued, then its connection closes, and its
    // key goes with it (etcd deletes it when the call's context ends).
    let wait_for_count = |count: &str, what: &str| {
        let deadline = Instant::now() + LOCK_GONE_TIMEOUT;
        while count_keys(&member, queue, queue_end) != count {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let addr = member.client_addr();
    let mut leaver = TcpStream::connect(addr).expect("connect");
    let body = r#"{"name":"bXlsb2Nr","lease":"1001"}"#;
    write!(
        leaver,
        "POST /v3/lock/lock HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    wait_for_count("2", "the waiter's key was never queued");
    drop(leaver);
    wait_for_count(
        "1",
        "the key of a lock waiter whose client left is still queued",
    );

    // A waiter that stays gets the lock when the holder unlocks.
    let waiter = std::thread::spawn(move || {
        support::http_post(
            addr,
            "/v3/lock/lock",
            r#"{"name":"bXlsb2Nr","lease":"1002"}"#,
        )
    });
    std::thread::sleep(LOCK_WAIT);
    assert!(!waiter.is_finished(), "a second holder got the lock");
    let unlocked = post_ok(
        &member,
        "/v3/lock/unlock",
        &format!(r#"{{"key":"{MYLOCK_1000}"}}"#),
    );
    let (status, answer) = waiter.join().expect("the waiter ran");
    let revision = |answer: &str| {
        answer
            .split(r#""revision":""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
    };
    // mylock/3ea: the waiter's key, created after the leaver's was deleted.
    assert_eq!(
        (status, member.normalize_gateway(&answer)),
        (
            200,
            format!(
                r#"{{{},"key":"bXlsb2NrLzNlYQ=="}}"#,
                header(revision(&unlocked))
            )
        ),
        "the waiter's answer"
    );
}

#[test]
fn election_calls_answer_etcds_json() {
    let member = Member::start(&[]);
    // el/3e8: the key of lease 1000 under the election "el".
    let leader =
        |rev: i64| format!(r#"{{"name":"ZWw=","key":"ZWwvM2U4","rev":"{rev}","lease":"1000"}}"#);
    let leader_kv = |revision, modified, version, value| {
        format!(
            r#"{{{},"kv":{}}}"#,
            header(revision),
            leased_kv("ZWwvM2U4", 2, modified, version, value, 1000)
        )
    };
    let no_leader_key = error(2, r#"\"leader\" field must be provided"#);
    let cases = [
        grant(1000, 1),
        case(
            "/v3/election/campaign",
            r#"{"name":"ZWw=","lease":"1000","value":"djE="}"#,
            200,
            format!(r#"{{{},"leader":{}}}"#, header(2), leader(2)),
        ),
        case(
            "/v3/election/leader",
            r#"{"name":"ZWw="}"#,
            200,
            leader_kv(2, 2, 1, "djE="),
        ),
        case(
            "/v3/election/proclaim",
            &format!(r#"{{"leader":{},"value":"djI="}}"#, leader(2)),
            200,
            only_header(3),
        ),
        case(
            "/v3/election/proclaim",
            &format!(r#"{{"leader":{},"value":"djI="}}"#, leader(1)),
            500,
            error(2, "election: not leader"),
        ),
        case(
            "/v3/election/proclaim",
            r#"{"value":"djI="}"#,
            500,
            no_leader_key.clone(),
        ),
        case(
            "/v3beta/election/leader",
            r#"{"name":"ZWw="}"#,
            200,
            leader_kv(3, 3, 2, "djI="),
        ),
        // Resigning with another revision deletes nothing and is no error.
        case(
            "/v3/election/resign",
            &format!(r#"{{"leader":{}}}"#, leader(1)),
            200,
            only_header(3),
        ),
        case("/v3/election/resign", "{}", 500, no_leader_key),
        case(
            "/v3/election/resign",
            &format!(r#"{{"leader":{}}}"#, leader(2)),
            200,
            only_header(4),
        ),
        case(
            "/v3/election/leader",
            r#"{"name":"ZWw="}"#,
            500,
            error(2, "election: no leader"),
        ),
        case(
            "/v3/election/campaign",
            r#"{"name":"ZWw=","lease":"99","value":"djE="}"#,
            500,
            error(2, "etcdserver: requested lease not found"),
        ),
    ];
    check("election", &member, &cases);
}

/// The JSON of an answer.
fn json(answer: &str) -> serde_json::Value {
    serde_json::from_str(answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// A lock or a campaign without a lease queues its key under a new lease of 60 s, as
/// etcd's servers do (they make a `concurrency` session for the call, and never keep it
/// alive: the key goes when the lease expires).
#[test]
fn a_lock_or_campaign_without_a_lease_holds_its_key_under_a_new_lease() {
    let member = Member::start(&[]);
    let locked = json(&post_ok(&member, "/v3/lock/lock", r#"{"name":"bXlsb2Nr"}"#));
    let key = locked["key"].as_str().expect("a key").to_string();
    let stored = json(&post_ok(
        &member,
        "/v3/kv/range",
        &format!(r#"{{"key":"{key}"}}"#),
    ));
    let lease = stored["kvs"][0]["lease"]
        .as_str()
        .unwrap_or_else(|| panic!("the lock's key is under no lease: {stored}"))
        .to_string();
    let ttl = post_ok(
        &member,
        "/v3/lease/timetolive",
        &format!(r#"{{"ID":"{lease}","keys":true}}"#),
    );
    assert_eq!(
        support::gateway::normalize_remaining_ttl(&member.normalize_gateway(&ttl)),
        format!(
            r#"{{{},"ID":"<ID>","TTL":"<remaining>","grantedTTL":"60","keys":["{key}"]}}"#,
            header(2)
        ),
        "the lock's lease"
    );

    let campaign = json(&post_ok(
        &member,
        "/v3/election/campaign",
        r#"{"name":"ZWw=","value":"djE="}"#,
    ));
    let leader = &campaign["leader"];
    let lease = leader["lease"]
        .as_str()
        .unwrap_or_else(|| panic!("the leader key has no lease: {campaign}"));
    let ttl = json(&post_ok(
        &member,
        "/v3/lease/timetolive",
        &format!(r#"{{"ID":"{lease}","keys":true}}"#),
    ));
    assert_eq!(ttl["grantedTTL"], "60", "the campaign's lease: {ttl}");
    assert_eq!(ttl["keys"][0], leader["key"], "the campaign's lease: {ttl}");
}

/// How long a MemberAdd may keep answering "unhealthy cluster": etcd 3.4 refuses to add
/// until its leader has been connected to every voter for 5 s.
const MEMBER_ADD_TIMEOUT: Duration = Duration::from_secs(20);

/// `POST /v3/cluster/member/add` with `body`, again while the member answers
/// "etcdserver: unhealthy cluster": the status and the body of the first other answer.
fn member_add(member: &Member, body: &str) -> (u16, String) {
    let deadline = Instant::now() + MEMBER_ADD_TIMEOUT;
    loop {
        let (status, answer) = member.http_post("/v3/cluster/member/add", body);
        if !answer.contains("etcdserver: unhealthy cluster") || Instant::now() >= deadline {
            return (status, answer);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long a member may take to publish its name and client URLs after it is healthy.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The id of the member itself, from the gateway's member list, once the list shows its
/// client URLs. etcd publishes them before it serves clients; etcd-rs answers `/health`
/// a moment before (which `status_and_member_list_answer_etcds_fields` can catch).
fn own_id(member: &Member) -> u64 {
    let deadline = Instant::now() + PUBLISH_TIMEOUT;
    loop {
        let list = json(&post_ok(member, "/v3/cluster/member/list", "{}"));
        let own = &list["members"][0];
        if own["clientURLs"].is_array() || Instant::now() >= deadline {
            return own["ID"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("no member id in {list}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A membership answer's header: etcd's carries no revision.
const MEMBERSHIP_HEADER: &str =
    r#""header":{"cluster_id":"<cluster_id>","member_id":"<member_id>","raft_term":"<raft_term>"}"#;
/// The member itself as the gateway lists it, normalized.
const SELF_MEMBER: &str =
    r#"{"ID":"<ID>","name":"m1","peerURLs":["<peer-url>"],"clientURLs":["<client-url>"]}"#;

/// A `members` array as etcd writes it: sorted by id (their placeholders hide which is
/// which, so the order comes from the real ids).
fn members(mut members: Vec<(u64, &str)>) -> String {
    members.sort_by_key(|&(id, _)| id);
    let members: Vec<&str> = members.into_iter().map(|(_, json)| json).collect();
    format!(r#""members":[{}]"#, members.join(","))
}

/// Adds a learner on a peer URL no process listens on, lists, updates, fails to promote
/// it (it never started, so it is not in sync), and removes it; and the refusals of each
/// call. Left out because etcd 3.4 is wrong there: updating a learner's URLs (3.4 drops its
/// learner flag from the list) or updating to an invalid URL (3.4 crashes).
#[test]
fn membership_changes_answer_etcds_json() {
    let member = Member::start(&[]);
    let own = own_id(&member);
    let port = support::free_port();
    let learner_url = format!("http://127.0.0.1:{port}");
    let (status, added) = member_add(
        &member,
        &format!(r#"{{"peerURLs":["{learner_url}"],"isLearner":true}}"#),
    );
    let learner: u64 = json(&added)["member"]["ID"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no new member id in {added}"));
    let learner_json = format!(r#"{{"ID":"<ID>","peerURLs":["{learner_url}"],"isLearner":true}}"#);
    let both = members(vec![(own, SELF_MEMBER), (learner, &learner_json)]);
    assert_eq!(
        (status, member.normalize_gateway(&added)),
        (
            200,
            format!(r#"{{{MEMBERSHIP_HEADER},"member":{learner_json},{both}}}"#)
        ),
        "the learner's addition"
    );
    let with_learner = format!("{{{MEMBERSHIP_HEADER},{both}}}");
    let alone = format!(
        "{{{MEMBERSHIP_HEADER},{}}}",
        members(vec![(own, SELF_MEMBER)])
    );
    let peer_url = member.peer_url();
    let not_found = error(5, "etcdserver: member not found");
    let bad_urls = error(3, "etcdserver: given member URLs are invalid");
    let url_exists = error(9, "etcdserver: Peer URLs already exists");
    let cases = [
        case("/v3/cluster/member/list", "{}", 200, with_learner.clone()),
        // Its own URLs again: a change of nothing.
        case(
            "/v3/cluster/member/update",
            &format!(r#"{{"ID":"{own}","peerURLs":["{peer_url}"]}}"#),
            200,
            with_learner.clone(),
        ),
        case(
            "/v3beta/cluster/member/update",
            &format!(r#"{{"ID":{learner},"peerURLs":["{peer_url}"]}}"#),
            412,
            url_exists.clone(),
        ),
        case(
            "/v3/cluster/member/update",
            &format!(r#"{{"ID":"5","peerURLs":["{learner_url}"]}}"#),
            404,
            not_found.clone(),
        ),
        case(
            "/v3/cluster/member/promote",
            &format!(r#"{{"ID":"{learner}"}}"#),
            412,
            error(
                9,
                "etcdserver: can only promote a learner member which is in sync with leader",
            ),
        ),
        case(
            "/v3/cluster/member/promote",
            &format!(r#"{{"ID":"{own}"}}"#),
            412,
            error(9, "etcdserver: can only promote a learner member"),
        ),
        case("/v3/cluster/member/promote", "{}", 404, not_found.clone()),
        case(
            "/v3/cluster/member/add",
            &format!(r#"{{"peerURLs":["{peer_url}"],"isLearner":true}}"#),
            412,
            url_exists,
        ),
        case(
            "/v3/cluster/member/add",
            r#"{"peerURLs":["x"],"isLearner":true}"#,
            400,
            bad_urls.clone(),
        ),
        case(
            "/v3/cluster/member/add",
            r#"{"peerURLs":["http://127.0.0.1:1/path"],"isLearner":true}"#,
            400,
            bad_urls.clone(),
        ),
        // A `null` element is an empty URL; no URLs at all are invalid too.
        case(
            "/v3/cluster/member/add",
            r#"{"peerURLs":[null],"isLearner":true}"#,
            400,
            bad_urls.clone(),
        ),
        case("/v3/cluster/member/add", "{}", 400, bad_urls),
        case(
            "/v3/cluster/member/remove",
            &format!(r#"{{"ID":"{learner}"}}"#),
            200,
            alone.clone(),
        ),
        case(
            "/v3/cluster/member/remove",
            &format!(r#"{{"ID":"{learner}"}}"#),
            404,
            not_found.clone(),
        ),
        case(
            "/v3/cluster/member/remove",
            r#"{"ID":18446744073709551615}"#,
            404,
            not_found.clone(),
        ),
        case("/v3/cluster/member/remove", "", 404, not_found),
        case("/v3/cluster/member/list", "", 200, alone),
    ];
    check("membership changes", &member, &cases);
}

#[test]
fn malformed_membership_requests_answer_gos_json_errors() {
    let member = Member::start(&[]);
    let bad =
        |path: &'static str, body: &str, message: &str| case(path, body, 400, error(3, message));
    let (add, remove, update, promote) = (
        "/v3/cluster/member/add",
        "/v3/cluster/member/remove",
        "/v3/cluster/member/update",
        "/v3/cluster/member/promote",
    );
    let not_a_list = "json: cannot unmarshal string into Go value of type []json.RawMessage";
    let cases = [
        bad(add, r#"{"peerURLs":"http://a:1"}"#, not_a_list),
        bad(
            add,
            r#"{"peerURLs":{}}"#,
            "json: cannot unmarshal object into Go value of type []json.RawMessage",
        ),
        bad(
            add,
            r#"{"peerURLs":[1]}"#,
            "json: cannot unmarshal number into Go value of type string",
        ),
        bad(
            add,
            r#"{"peerURLs":["http://a:1",true]}"#,
            "json: cannot unmarshal bool into Go value of type string",
        ),
        bad(
            add,
            r#"{"peerURLs":[["x"]]}"#,
            "json: cannot unmarshal array into Go value of type string",
        ),
        // Fields in declaration order, whatever the order in the body.
        bad(
            add,
            r#"{"isLearner":"true","peerURLs":[1]}"#,
            "json: cannot unmarshal number into Go value of type string",
        ),
        bad(
            add,
            r#"{"isLearner":1}"#,
            "json: cannot unmarshal number into Go value of type bool",
        ),
        bad(
            remove,
            r#"{"ID":"abc"}"#,
            "invalid character 'a' looking for beginning of value",
        ),
        bad(
            remove,
            r#"{"ID":"01"}"#,
            "invalid character '1' after top-level value",
        ),
        bad(remove, r#"{"ID":""}"#, "unexpected end of JSON input"),
        bad(
            remove,
            r#"{"ID":-1}"#,
            "json: cannot unmarshal number -1 into Go value of type uint64",
        ),
        bad(
            remove,
            r#"{"ID":"-0"}"#,
            "json: cannot unmarshal number -0 into Go value of type uint64",
        ),
        bad(
            remove,
            r#"{"ID":"1e2"}"#,
            "json: cannot unmarshal number 1e2 into Go value of type uint64",
        ),
        bad(
            remove,
            r#"{"ID":18446744073709551616}"#,
            "json: cannot unmarshal number 18446744073709551616 into Go value of type uint64",
        ),
        bad(
            remove,
            r#"{"ID":true}"#,
            "json: cannot unmarshal bool into Go value of type uint64",
        ),
        bad(
            remove,
            r#"{"ID":[1]}"#,
            "json: cannot unmarshal array into Go value of type uint64",
        ),
        bad(
            update,
            r#"{"peerURLs":"x","ID":"abc"}"#,
            "invalid character 'a' looking for beginning of value",
        ),
        bad(update, r#"{"ID":"5","peerURLs":"x"}"#, not_a_list),
        bad(
            promote,
            r#"{"ID":1.5}"#,
            "json: cannot unmarshal number 1.5 into Go value of type uint64",
        ),
        bad(
            promote,
            "[1]",
            "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
        ),
        bad(promote, r#"{"ID":"#, "unexpected EOF"),
    ];
    check("malformed membership requests", &member, &cases);
}

/// Raising NOSPACE stops writes and clearing it lets them through again. etcd 3.4's
/// Alarm answers carry no header. Left out because etcd-rs differs (reported): a second
/// ACTIVATE of an active alarm (etcd answers it again), a GET naming an alarm type (etcd
/// lists only that type), and Status's `errors` while an alarm is active. And because
/// etcd 3.4 crashes on it: ACTIVATE of the alarm NONE.
#[test]
fn alarms_answer_etcds_json_and_nospace_stops_writes() {
    let member = Member::start(&[]);
    let own = own_id(&member);
    let nospace = format!(r#"{{"alarms":[{{"memberID":"{own}","alarm":"NOSPACE"}}]}}"#);
    let alarm = "/v3/maintenance/alarm";
    let bad = |body: &str, message: &str| case(alarm, body, 400, error(3, message));
    let cases = [
        case(alarm, "{}", 200, "{}"),
        case(alarm, r#"{"action":"GET"}"#, 200, "{}"),
        case(
            alarm,
            &format!(r#"{{"action":"ACTIVATE","memberID":"{own}","alarm":"NOSPACE"}}"#),
            200,
            nospace.clone(),
        ),
        case(alarm, r#"{"action":"GET"}"#, 200, nospace.clone()),
        case("/v3beta/maintenance/alarm", "", 200, nospace.clone()),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            429,
            error(8, "etcdserver: mvcc: database space exceeded"),
        ),
        case(
            "/v3/lease/grant",
            r#"{"TTL":60}"#,
            429,
            error(8, "etcdserver: mvcc: database space exceeded"),
        ),
        case("/v3/kv/range", r#"{"key":"YQ=="}"#, 200, only_header(1)),
        // Clearing an alarm that is not raised changes nothing and lists nothing.
        case(
            alarm,
            &format!(r#"{{"action":"DEACTIVATE","memberID":"{own}","alarm":"CORRUPT"}}"#),
            200,
            "{}",
        ),
        case(
            alarm,
            r#"{"action":"DEACTIVATE","memberID":"5","alarm":"NOSPACE"}"#,
            200,
            "{}",
        ),
        // Enums by number: DEACTIVATE, NOSPACE.
        case(
            alarm,
            &format!(r#"{{"action":2,"memberID":{own},"alarm":1}}"#),
            200,
            nospace,
        ),
        case(alarm, r#"{"action":"GET"}"#, 200, "{}"),
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(2),
        ),
        bad(
            r#"{"action":"BAD"}"#,
            r#"unknown value \"BAD\" for enum etcdserverpb.AlarmRequest_AlarmAction"#,
        ),
        bad(
            r#"{"action":"1"}"#,
            r#"unknown value \"1\" for enum etcdserverpb.AlarmRequest_AlarmAction"#,
        ),
        bad(
            r#"{"action":1.5}"#,
            "json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.AlarmRequest_AlarmAction",
        ),
        bad(
            r#"{"alarm":"BAD","action":"BAD"}"#,
            r#"unknown value \"BAD\" for enum etcdserverpb.AlarmRequest_AlarmAction"#,
        ),
        bad(
            r#"{"alarm":"BAD"}"#,
            r#"unknown value \"BAD\" for enum etcdserverpb.AlarmType"#,
        ),
        bad(
            r#"{"memberID":"x","alarm":"BAD"}"#,
            "invalid character 'x' looking for beginning of value",
        ),
        bad(
            r#"{"memberID":-1}"#,
            "json: cannot unmarshal number -1 into Go value of type uint64",
        ),
    ];
    check("alarms", &member, &cases);
}

/// etcd 3.4 answers both with `{}`: no header.
#[test]
fn defragment_and_transfer_leadership_answer_etcds_json() {
    let member = Member::start(&[]);
    let own = own_id(&member);
    let (defragment, transfer) = (
        "/v3/maintenance/defragment",
        "/v3/maintenance/transfer-leadership",
    );
    let bad_transferee = error(9, "etcdserver: bad leader transferee");
    let cases = [
        case(
            "/v3/kv/put",
            r#"{"key":"YQ==","value":"MQ=="}"#,
            200,
            only_header(2),
        ),
        case(defragment, "{}", 200, "{}"),
        case("/v3beta/maintenance/defragment", "", 200, "{}"),
        case(
            defragment,
            "[1]",
            400,
            error(
                3,
                "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
            ),
        ),
        // The data is all there after a defragmentation.
        case(
            "/v3/kv/range",
            r#"{"key":"YQ=="}"#,
            200,
            format!(
                r#"{{{},"kvs":[{}],"count":"1"}}"#,
                header(2),
                kv("YQ==", 2, 2, 1, "MQ==")
            ),
        ),
        // To the leader itself: nothing to do.
        case(transfer, &format!(r#"{{"targetID":"{own}"}}"#), 200, "{}"),
        case(transfer, r#"{"targetID":"5"}"#, 412, bad_transferee.clone()),
        case(
            "/v3beta/maintenance/transfer-leadership",
            "{}",
            412,
            bad_transferee,
        ),
        case(
            transfer,
            r#"{"targetID":-1}"#,
            400,
            error(
                3,
                "json: cannot unmarshal number -1 into Go value of type uint64",
            ),
        ),
    ];
    check("defragment and transfer leadership", &member, &cases);
}

/// HashKV has no path in etcd 3.4's gateway (its `/v3/maintenance/hash` answers Hash);
/// etcd-rs serves it where etcd 3.5 does, `/v3/maintenance/hashkv`. The hash is the one
/// etcd 3.4.23 computes over the same store (`etcdctl endpoint hashkv` after `put a 1`).
#[test]
fn hash_kv_is_served_on_etcd_3_5s_path() {
    let member = Member::start(&[]);
    post_ok(&member, "/v3/kv/put", r#"{"key":"YQ==","value":"MQ=="}"#);
    let status = json(&post_ok(&member, "/v3/maintenance/status", "{}"));
    let hash_kv = "/v3/maintenance/hashkv";
    if status["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.4."))
    {
        let answer = http_request(member.client_addr(), "POST", hash_kv, "{}").expect("an answer");
        assert_eq!((answer.status, answer.body.as_str()), (404, "Not Found\n"));
        return;
    }
    let answer = json(&post_ok(&member, hash_kv, "{}"));
    assert_eq!(answer["header"]["revision"], "2", "{answer}");
    assert_eq!(
        answer["hash"], 2_587_454_935_u32,
        "the hash as a number: {answer}"
    );
    assert_eq!(answer["hash_revision"], "2", "{answer}");
    let cases = [
        case(
            hash_kv,
            r#"{"revision":"100"}"#,
            400,
            error(
                11,
                "etcdserver: mvcc: required revision is a future revision",
            ),
        ),
        case(
            hash_kv,
            r#"{"revision":true}"#,
            400,
            error(3, "json: cannot unmarshal bool into Go value of type int64"),
        ),
    ];
    check("hash kv", &member, &cases);
}

/// A Hash answer with its hash (a number, which depends on the member's ids) replaced by
/// `<hash>`, and the hash.
fn normalize_hash(member: &Member, answer: &str) -> (String, u64) {
    let answer = member.normalize_gateway(answer);
    let hash = json(&answer)["hash"]
        .as_u64()
        .unwrap_or_else(|| panic!("no hash, as a number, in {answer}"));
    let normalized = answer.replace(&format!(r#""hash":{hash}"#), r#""hash":<hash>"#);
    (normalized, hash)
}

/// etcd 3.4 answers Hash on `/v3/maintenance/hash` (HashKV is declared there too): the
/// header at the current revision and the hash of the whole store, a number. The request
/// has no fields: a `revision` is skipped, but the body must still be JSON.
#[test]
fn hash_answers_the_header_and_the_stores_hash() {
    let member = Member::start(&[]);
    let path = "/v3/maintenance/hash";
    let expected = |revision| format!(r#"{{{},"hash":<hash>}}"#, header(revision));
    let (answer, before) = normalize_hash(&member, &post_ok(&member, path, "{}"));
    assert_eq!(answer, expected(1));
    post_ok(&member, "/v3/kv/put", r#"{"key":"YQ==","value":"MQ=="}"#);
    let (answer, after) = normalize_hash(&member, &post_ok(&member, path, "{}"));
    assert_eq!(answer, expected(2));
    assert_ne!(before, after, "a put changes the store's hash");
    let bodies = [
        "",
        "null",
        r#"{"revision":"100"}"#,
        r#"{"revision":true}"#,
        "{} trailing",
    ];
    for (path, body) in bodies
        .iter()
        .map(|&b| (path, b))
        .chain([("/v3beta/maintenance/hash", "{}")])
    {
        let (answer, hash) = normalize_hash(&member, &post_ok(&member, path, body));
        assert_eq!(
            (answer.as_str(), hash),
            (expected(2).as_str(), after),
            "POST {path} {body}: the same hash with no write between"
        );
    }
    let cases = [
        case(
            path,
            r#"{"revision":x}"#,
            400,
            error(3, "invalid character 'x' looking for beginning of value"),
        ),
        case(
            path,
            "[1]",
            400,
            error(
                3,
                "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
            ),
        ),
        case(path, "{", 400, error(3, "unexpected EOF")),
    ];
    check("hash", &member, &cases);
    let answer = http_request(member.client_addr(), "GET", path, "").expect("an answer");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (405, "Method Not Allowed\n")
    );
}

/// How long a snapshot's next line may take to arrive.
const LINE_TIMEOUT: Duration = Duration::from_secs(15);
/// The size of the chunks etcd's Snapshot sends.
const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;
/// The size of a value written to make the snapshot longer than a few chunks.
const SNAPSHOT_VALUE_BYTES: usize = 30_000;

/// Standard base64 with padding (the gateway's bytes), decoded; panics if malformed.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert!(
        text.len() % 4 == 0,
        "base64 of a length not a multiple of 4"
    );
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for quad in text.as_bytes().chunks(4) {
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        let mut bits = 0u32;
        for &c in &quad[..4 - padding] {
            let sextet = ALPHABET
                .iter()
                .position(|&a| a == c)
                .unwrap_or_else(|| panic!("{c:?} is not a base64 character"));
            bits = bits << 6 | sextet as u32;
        }
        bits <<= 6 * padding;
        out.extend_from_slice(&bits.to_be_bytes()[1..4 - padding]);
    }
    out
}

/// One line of a snapshot stream: `remaining_bytes` (absent: 0) and the blob. Asserts
/// that the line holds nothing else, in jsonpb's order (etcd 3.4 sends no header).
fn snapshot_line(line: &str) -> (u64, Vec<u8>) {
    let value = json(line);
    let result = value["result"]
        .as_object()
        .unwrap_or_else(|| panic!("not a result: {line:.200}"));
    let remaining = match result.get("remaining_bytes") {
        None => 0,
        Some(remaining) => {
            let text = remaining
                .as_str()
                .unwrap_or_else(|| panic!("remaining_bytes, a uint64, not a string: {line:.200}"));
            assert!(
                line.starts_with(&format!(
                    r#"{{"result":{{"remaining_bytes":"{text}","blob":""#
                )),
                "remaining_bytes before blob: {line:.200}"
            );
            text.parse().expect("remaining_bytes, a number")
        }
    };
    if remaining == 0 {
        assert!(
            line.starts_with(r#"{"result":{"blob":""#),
            "remaining_bytes 0 left out: {line:.200}"
        );
    }
    assert_eq!(result.len(), 1 + usize::from(remaining != 0), "{line:.200}");
    let blob = result["blob"]
        .as_str()
        .unwrap_or_else(|| panic!("no blob: {line:.200}"));
    (remaining, base64_decode(blob))
}

/// `POST /v3/maintenance/snapshot` with `body`: the file, checked chunk by chunk against
/// what etcd's Snapshot sends (32 KiB chunks, each with the bytes left after it, then the
/// file's SHA-256 in a line of its own, then the end of the stream).
fn snapshot_file(member: &Member, path: &str, body: &str) -> Vec<u8> {
    let mut stream = HttpStream::post(member.client_addr(), path, body, LINE_TIMEOUT)
        .unwrap_or_else(|e| panic!("POST {path} {body}: no answer: {e}"));
    assert_eq!(stream.status, 200, "POST {path} {body}");
    assert_eq!(stream.header("content-type"), Some("application/json"));
    assert_eq!(stream.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        stream.header("grpc-metadata-content-type"),
        Some("application/grpc")
    );
    let mut chunks = Vec::new();
    loop {
        match stream.next_line(LINE_TIMEOUT) {
            Ok(Some(line)) => chunks.push(snapshot_line(&line)),
            Ok(None) => break,
            Err(e) => panic!("POST {path} {body}: the stream stopped: {e}"),
        }
    }
    let Some(((0, digest), chunks)) = chunks.split_last() else {
        panic!("the stream does not end with a line of remaining_bytes 0");
    };
    let mut file = Vec::new();
    for (i, (remaining, blob)) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        if last {
            assert!(blob.len() <= SNAPSHOT_CHUNK_BYTES, "chunk {i}: too long");
        } else {
            assert_eq!(blob.len(), SNAPSHOT_CHUNK_BYTES, "chunk {i}: not 32 KiB");
        }
        file.extend_from_slice(blob);
        let left_after: usize = chunks[i + 1..].iter().map(|(_, b)| b.len()).sum();
        assert_eq!(*remaining, left_after as u64, "chunk {i}: remaining_bytes");
    }
    assert_eq!(
        digest.as_slice(),
        etcd_rs::snapshot::sha256::sha256(&file),
        "the last line is the SHA-256 of the file"
    );
    file
}

/// A little-endian integer of `file` at `at`.
fn le(file: &[u8], at: usize, len: usize) -> u64 {
    file[at..at + len]
        .iter()
        .rev()
        .fold(0, |n, &b| n << 8 | u64::from(b))
}

/// Snapshot streams the store as a bbolt file, as etcd 3.4's gateway writes it: one line
/// per 32 KiB chunk (`{"result":{"remaining_bytes":"N","blob":B}}`, no header), the last
/// chunk and the SHA-256 after it without `remaining_bytes`, then the end; etcdctl reads
/// the file.
#[test]
fn snapshot_streams_the_store_as_a_bbolt_file_then_its_sha256() {
    let member = Member::start(&[]);
    // "xxx" is "eHh4" in base64.
    let value = "eHh4".repeat(SNAPSHOT_VALUE_BYTES / 3);
    for key in ["azE=", "azI=", "azM=", "azQ="] {
        post_ok(
            &member,
            "/v3/kv/put",
            &format!(r#"{{"key":"{key}","value":"{value}"}}"#),
        );
    }
    let path = "/v3/maintenance/snapshot";
    let file = snapshot_file(&member, path, "{}");
    assert!(
        file.len() > 4 * SNAPSHOT_VALUE_BYTES,
        "the file holds the values: {} bytes",
        file.len()
    );
    // bbolt's first page is a meta page: the page header (id u64, flags u16 = 0x04 meta,
    // count u16, overflow u32), then the meta: magic u32, version u32 = 2, page size u32.
    assert_eq!(le(&file, 0, 8), 0, "page 0's id");
    assert_eq!(le(&file, 8, 2), 0x04, "page 0 is a meta page");
    assert_eq!(le(&file, 16, 4), 0xED0C_DAED, "bbolt's magic");
    assert_eq!(le(&file, 20, 4), 2, "bbolt's file format version");
    let page_bytes = le(&file, 24, 4);
    assert!(
        page_bytes >= 512 && file.len() as u64 % page_bytes == 0,
        "a whole number of pages of {page_bytes} bytes: {}",
        file.len()
    );
    let saved = member.data_dir().with_file_name("gateway-snapshot.db");
    std::fs::write(&saved, &file).expect("the snapshot written");
    let out = member.etcdctl(&[
        "snapshot",
        "status",
        saved.to_str().expect("a UTF-8 path"),
        "-w",
        "json",
    ]);
    let status = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        status["revision"],
        5,
        "etcdctl snapshot status: {status} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status["totalSize"], file.len(), "{status}");
    // Any body that is empty JSON or no JSON is the same (empty) request.
    for (path, body) in [
        (path, ""),
        (path, r#"{"revision":"1"}"#),
        ("/v3beta/maintenance/snapshot", "null"),
    ] {
        let again = snapshot_file(&member, path, body);
        assert_eq!(again.len(), file.len(), "POST {path} {body}: the same file");
    }
    let cases = [
        case(
            path,
            "[1]",
            400,
            error(
                3,
                "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
            ),
        ),
        case(path, "{", 400, error(3, "unexpected EOF")),
    ];
    check("snapshot", &member, &cases);
}

/// `--enable-grpc-gateway=false`: the gateway's paths answer Go's 404, as etcd's do
/// without it; `/health` and gRPC are served as before.
#[test]
fn without_the_gateway_its_paths_are_not_found() {
    let member = Member::start(&["--enable-grpc-gateway=false"]);
    // No body: etcd's Go server answers 404 without reading one, and may reset the
    // connection while the body is still arriving.
    let answer = http_request(member.client_addr(), "POST", "/v3/kv/range", "").expect("an answer");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (404, "404 page not found\n")
    );
    let health = http_request(member.client_addr(), "GET", "/health", "").expect("an answer");
    assert_eq!(health.status, 200, "{}", health.body);
    let put = member.etcdctl(&["put", "a", "1"]);
    assert!(put.status.success(), "{put:?}");
}
