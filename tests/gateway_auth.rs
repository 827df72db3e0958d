//! The JSON gateway with authentication: the `/v3/auth/*` calls answer as etcd 3.4's
//! gateway does, and the `Authorization` header carries the token of every call (unary
//! and streaming), so with auth enabled a call is checked as a gRPC client's is: no
//! token is 400 "user name is empty", an unknown one 401, a user lacking the permission
//! 403, each with etcd's JSON error body.
//!
//! The expected answers were captured from etcd 3.4.23 with curl and are proven against
//! it: `ETCD_TEST_BIN=/usr/bin/etcd cargo test --profile ci --test gateway_auth`. Answers
//! are compared after `Member::normalize_gateway`, with the token of an Authenticate
//! answer replaced by `<token>`.
//!
//! etcd-rs only: AuthStatus (`/v3/auth/status`, etcd 3.5's call; etcd 3.4 answers 404).
//! Left out because etcd-rs differs there: a keep-alive without a token (etcd 3.4 renews
//! any lease for anyone; etcd-rs, as etcd 3.5, wants a user allowed to write its keys).

mod support;

use std::fmt::Write as _;
use std::time::Duration;

use support::gateway::{Case, case, check, error, header, kv, only_header};
use support::{HttpStream, Member, http_request_with};

const ROOT_PASSWORD: &str = "rootpw";
const ALICE_PASSWORD: &str = "alicepw";
/// A token of the simple-token shape that the server never issued.
const FORGED_TOKEN: &str = "AAAAAAAAAAAAAAAA.1";
/// How long a streamed line may take to arrive (a write waits for Raft).
const LINE_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether the server under test is real etcd (3.4.23 on this machine).
fn server_is_etcd() -> bool {
    std::env::var_os("ETCD_TEST_BIN").is_some()
}

/// Who a request is sent as, and how.
#[derive(Clone, Copy, Debug)]
enum As {
    /// No token.
    Nobody,
    /// A token the server never issued.
    Forged,
    /// root's token in `Authorization`.
    Root,
    /// alice's token in `Authorization`.
    Alice,
    /// alice's token in `Grpc-Metadata-Token` (grpc-gateway passes it on as `token`).
    AliceAsMetadata,
}

/// The tokens Authenticate gave.
struct Tokens {
    root: String,
    alice: String,
}

impl Tokens {
    /// The headers of a request sent `as`.
    fn headers(&self, who: As) -> Vec<(&'static str, &str)> {
        match who {
            As::Nobody => vec![],
            As::Forged => vec![("Authorization", FORGED_TOKEN)],
            As::Root => vec![("Authorization", &self.root)],
            As::Alice => vec![("Authorization", &self.alice)],
            As::AliceAsMetadata => vec![("Grpc-Metadata-Token", &self.alice)],
        }
    }
}

/// `POST path` with `body` as `who`: the status and the normalized body.
fn post_as(member: &Member, tokens: &Tokens, who: As, path: &str, body: &str) -> (u16, String) {
    let answer = http_request_with(
        member.client_addr(),
        "POST",
        path,
        &tokens.headers(who),
        body,
    )
    .unwrap_or_else(|e| panic!("POST {path} {body} as {who:?}: no answer: {e}"));
    (answer.status, normalize(member, &answer.body))
}

/// `normalize_gateway`, and an Authenticate answer's token as `<token>`.
fn normalize(member: &Member, answer: &str) -> String {
    let answer = member.normalize_gateway(answer);
    let prefix = "\"token\":\"";
    match answer.find(prefix) {
        Some(at) => {
            let start = at + prefix.len();
            let end = start + answer[start..].find('"').unwrap_or(0);
            format!("{}<token>{}", &answer[..start], &answer[end..])
        }
        None => answer,
    }
}

/// The token of an Authenticate answer.
fn authenticate(member: &Member, name: &str, password: &str) -> String {
    let body = format!(r#"{{"name":"{name}","password":"{password}"}}"#);
    let (status, answer) = member.http_post("/v3/auth/authenticate", &body);
    assert_eq!(status, 200, "Authenticate {name}: {answer}");
    let start = answer.find("\"token\":\"").expect("a token") + "\"token\":\"".len();
    let len = answer[start..].find('"').expect("the token's end");
    answer[start..start + len].to_string()
}

/// Users root (the root role) and alice (role reader: read on [foo, fop)), the reader
/// role's other permission granted then revoked, then auth enabled: every answer as
/// etcd 3.4.23 gave it (all at revision 1: auth calls write no key).
fn setup_cases() -> Vec<Case> {
    let ok = || only_header(1);
    let failed = |code, message: &str| error(code, message);
    vec![
        case(
            "/v3/auth/user/add",
            r#"{"name":"root","password":"rootpw"}"#,
            200,
            ok(),
        ),
        case("/v3/auth/role/add", r#"{"name":"reader"}"#, 200, ok()),
        case(
            "/v3/auth/role/add",
            r#"{"name":"reader"}"#,
            412,
            failed(9, "etcdserver: role name already exists"),
        ),
        case(
            "/v3/auth/role/grant",
            r#"{"name":"reader","perm":{"key":"Zm9v","range_end":"Zm9w"}}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/role/grant",
            r#"{"name":"reader","perm":{"permType":"READWRITE","key":"YQ=="}}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/role/grant",
            r#"{"name":"reader","perm":{"permType":"BAD","key":"Yg=="}}"#,
            400,
            failed(
                3,
                r#"unknown value \"BAD\" for enum authpb.Permission_Type"#,
            ),
        ),
        // Sorted by key; READ (the enum's 0) is left out.
        case(
            "/v3/auth/role/get",
            r#"{"role":"reader"}"#,
            200,
            format!(
                r#"{{{},"perm":[{{"permType":"READWRITE","key":"YQ=="}},{{"key":"Zm9v","range_end":"Zm9w"}}]}}"#,
                header(1)
            ),
        ),
        case(
            "/v3/auth/role/get",
            r#"{"role":"nope"}"#,
            412,
            failed(9, "etcdserver: role name not found"),
        ),
        case(
            "/v3/auth/user/add",
            r#"{"name":"alice","password":"alicepw"}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/user/add",
            r#"{"name":"alice","password":"alicepw"}"#,
            412,
            failed(9, "etcdserver: user name already exists"),
        ),
        case(
            "/v3/auth/user/add",
            r#"{"password":"x"}"#,
            400,
            failed(3, "etcdserver: user name is empty"),
        ),
        case(
            "/v3/auth/user/grant",
            r#"{"user":"alice","role":"reader"}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/user/grant",
            r#"{"user":"root","role":"root"}"#,
            200,
            ok(),
        ),
        // The root role is not listed.
        case(
            "/v3/auth/role/list",
            "",
            200,
            format!(r#"{{{},"roles":["reader"]}}"#, header(1)),
        ),
        case(
            "/v3/auth/user/get",
            r#"{"name":"alice"}"#,
            200,
            format!(r#"{{{},"roles":["reader"]}}"#, header(1)),
        ),
        case(
            "/v3/auth/user/get",
            r#"{"name":"nobody"}"#,
            412,
            failed(9, "etcdserver: user name not found"),
        ),
        case(
            "/v3/auth/user/list",
            "{}",
            200,
            format!(r#"{{{},"users":["alice","root"]}}"#, header(1)),
        ),
        // UserRevokeRole names the user `name` (UserGrantRole: `user`).
        case(
            "/v3/auth/user/revoke",
            r#"{"name":"alice","role":"nope"}"#,
            412,
            failed(9, "etcdserver: role is not granted to the user"),
        ),
        case(
            "/v3/auth/role/revoke",
            r#"{"role":"reader","key":"YQ=="}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/role/revoke",
            r#"{"role":"reader","key":"YQ=="}"#,
            412,
            failed(9, "etcdserver: permission is not granted to the role"),
        ),
        case(
            "/v3/auth/role/revoke",
            r#"{"role":"reader","key":"b"}"#,
            400,
            failed(3, "illegal base64 data at input byte 0"),
        ),
        case(
            "/v3/auth/user/add",
            r#"{"name":"bob","password":"bobpw"}"#,
            200,
            ok(),
        ),
        case(
            "/v3/auth/user/changepw",
            r#"{"name":"bob","password":"bobpw2"}"#,
            200,
            ok(),
        ),
        case("/v3/auth/user/delete", r#"{"name":"bob"}"#, 200, ok()),
        case("/v3/auth/role/add", r#"{"name":"tmp"}"#, 200, ok()),
        case("/v3beta/auth/role/delete", r#"{"role":"tmp"}"#, 200, ok()),
        case(
            "/v3/auth/role/delete",
            r#"{"role":"tmp"}"#,
            412,
            failed(9, "etcdserver: role name not found"),
        ),
        case("/v3/auth/disable", "", 200, ok()),
        case("/v3/auth/enable", "", 200, ok()),
    ]
}

/// Runs the setup on `member` and authenticates root and alice.
fn set_up(member: &Member) -> Tokens {
    check("auth setup", member, &setup_cases());
    Tokens {
        root: authenticate(member, "root", ROOT_PASSWORD),
        alice: authenticate(member, "alice", ALICE_PASSWORD),
    }
}

#[test]
fn auth_calls_answer_as_etcd_and_the_authorization_header_carries_the_token() {
    let member = Member::start(&[]);
    let tokens = set_up(&member);
    let foo = format!(
        r#"{{{},"kvs":[{}],"count":"1"}}"#,
        header(2),
        kv("Zm9v", 2, 2, 1, "YmFy")
    );
    let empty = || error(3, "etcdserver: user name is empty");
    let denied = || error(7, "etcdserver: permission denied");
    let put = r#"{"key":"Zm9v","value":"YmFy"}"#;
    let cases: Vec<(As, &str, &str, u16, String)> = vec![
        (As::Nobody, "/v3/auth/enable", "", 400, empty()),
        (
            As::Nobody,
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"bad"}"#,
            400,
            error(
                3,
                "etcdserver: authentication failed, invalid user ID or password",
            ),
        ),
        (
            As::Nobody,
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"rootpw"}"#,
            200,
            format!(r#"{{{},"token":"<token>"}}"#, header(1)),
        ),
        (As::Nobody, "/v3/kv/put", put, 400, empty()),
        (
            As::Forged,
            "/v3/kv/put",
            put,
            401,
            error(16, "etcdserver: invalid auth token"),
        ),
        (As::Root, "/v3/kv/put", put, 200, only_header(2)),
        (
            As::Alice,
            "/v3/kv/range",
            r#"{"key":"Zm9v"}"#,
            200,
            foo.clone(),
        ),
        (
            As::AliceAsMetadata,
            "/v3/kv/range",
            r#"{"key":"Zm9v"}"#,
            200,
            foo.clone(),
        ),
        (
            As::Nobody,
            "/v3/kv/range",
            r#"{"key":"Zm9v"}"#,
            400,
            empty(),
        ),
        (
            As::Alice,
            "/v3/kv/put",
            r#"{"key":"Zm9v","value":"YmF6"}"#,
            403,
            denied(),
        ),
        // Revoked in the setup.
        (
            As::Alice,
            "/v3/kv/range",
            r#"{"key":"YQ=="}"#,
            403,
            denied(),
        ),
        (As::Nobody, "/v3/auth/user/list", "", 400, empty()),
        (As::Alice, "/v3/auth/user/list", "", 403, denied()),
        (
            As::Root,
            "/v3/auth/user/list",
            "",
            200,
            format!(r#"{{{},"users":["alice","root"]}}"#, header(2)),
        ),
        (
            As::Root,
            "/v3/auth/role/get",
            r#"{"role":"reader"}"#,
            200,
            format!(
                r#"{{{},"perm":[{{"key":"Zm9v","range_end":"Zm9w"}}]}}"#,
                header(2)
            ),
        ),
        (As::Alice, "/v3/auth/disable", "", 403, denied()),
        (As::Root, "/v3/auth/disable", "", 200, only_header(2)),
        (
            As::Nobody,
            "/v3/kv/range",
            r#"{"key":"Zm9v"}"#,
            200,
            foo.clone(),
        ),
    ];
    let mut mismatches = String::new();
    for (i, (who, path, body, status, expected)) in cases.iter().enumerate() {
        if i + 2 == cases.len() {
            check_auth_status(&member, &tokens);
        }
        let (actual_status, actual) = post_as(&member, &tokens, *who, path, body);
        if actual_status != *status || actual != *expected {
            let _ = writeln!(
                mismatches,
                "case {i}: POST {path} {body} as {who:?}\n  expected: {status} {expected}\n  \
                 actual:   {actual_status} {actual}"
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "the gateway answered otherwise than etcd 3.4:\n{mismatches}"
    );
}

/// AuthStatus (etcd 3.5's call, with auth enabled and root's token): etcd 3.4 has no such
/// path.
fn check_auth_status(member: &Member, tokens: &Tokens) {
    let (status, answer) = post_as(member, tokens, As::Root, "/v3/auth/status", "");
    if server_is_etcd() {
        assert_eq!((status, answer.as_str()), (404, "Not Found\n"));
        return;
    }
    let prefix = format!(r#"{{{},"enabled":true,"authRevision":""#, header(2));
    assert!(
        status == 200 && answer.starts_with(&prefix) && answer.ends_with("\"}"),
        "AuthStatus: {status} {answer}"
    );
}

/// Opens the streaming call `path` with `body` as `who`: its first line, normalized,
/// and the stream.
fn open_as(
    member: &Member,
    tokens: &Tokens,
    who: As,
    path: &str,
    body: &str,
) -> (String, HttpStream) {
    let what = format!("POST {path} {body} as {who:?}");
    let mut stream = HttpStream::post_with(
        member.client_addr(),
        path,
        &tokens.headers(who),
        body,
        LINE_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    assert_eq!(stream.status, 200, "{what}: status");
    let line = next_line(member, &mut stream, &what);
    (line, stream)
}

fn next_line(member: &Member, stream: &mut HttpStream, what: &str) -> String {
    match stream.next_line(LINE_TIMEOUT) {
        Ok(Some(line)) => normalize(member, &line),
        Ok(None) => panic!("{what}: the stream ended"),
        Err(e) => panic!("{what}: no line arrived: {e}"),
    }
}

#[test]
fn a_watch_with_a_token_is_served_and_without_one_is_canceled_as_in_grpc() {
    let member = Member::start(&[]);
    let tokens = set_up(&member);
    let watch_foo = r#"{"create_request":{"key":"Zm9v"}}"#;
    let canceled = |reason: &str| {
        format!(
            r#"{{"result":{{{},"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"rpc error: code = {reason}"}}}}"#,
            header(1)
        )
    };
    let refusals = [
        (
            As::Nobody,
            watch_foo,
            canceled("InvalidArgument desc = etcdserver: user name is empty"),
        ),
        (
            As::Forged,
            watch_foo,
            canceled("Unauthenticated desc = etcdserver: invalid auth token"),
        ),
        (
            As::Alice,
            r#"{"create_request":{"key":"YQ=="}}"#,
            canceled("PermissionDenied desc = etcdserver: permission denied"),
        ),
    ];
    for (who, body, expected) in refusals {
        let (line, _stream) = open_as(&member, &tokens, who, "/v3/watch", body);
        assert_eq!(line, expected, "a watch as {who:?} of {body}");
    }
    let created = format!(r#"{{"result":{{{},"created":true}}}}"#, header(1));
    let (line, mut alice) = open_as(&member, &tokens, As::Alice, "/v3/watch", watch_foo);
    assert_eq!(line, created, "alice's watch on foo");
    let (line, mut root) = open_as(&member, &tokens, As::Root, "/v3/watch", watch_foo);
    assert_eq!(line, created, "root's watch on foo");
    let (status, answer) = post_as(
        &member,
        &tokens,
        As::Root,
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmFy"}"#,
    );
    assert_eq!((status, answer), (200, only_header(2)), "root's put");
    let event = format!(
        r#"{{"result":{{{},"events":[{{"kv":{}}}]}}}}"#,
        header(2),
        kv("Zm9v", 2, 2, 1, "YmFy")
    );
    assert_eq!(next_line(&member, &mut root, "root's watch"), event);
    assert_eq!(next_line(&member, &mut alice, "alice's watch"), event);

    // A keep-alive with root's token renews (etcd-rs refuses one without a token).
    let grant = http_request_with(
        member.client_addr(),
        "POST",
        "/v3/lease/grant",
        &tokens.headers(As::Root),
        r#"{"TTL":60}"#,
    )
    .expect("lease grant");
    assert_eq!(grant.status, 200, "lease grant: {}", grant.body);
    let id_at = grant.body.find(r#""ID":""#).expect("an ID") + r#""ID":""#.len();
    let id_len = grant.body[id_at..].find('"').expect("the ID's end");
    let raw_id = &grant.body[id_at..id_at + id_len];
    let (line, _stream) = open_as(
        &member,
        &tokens,
        As::Root,
        "/v3/lease/keepalive",
        &format!(r#"{{"ID":"{raw_id}"}}"#),
    );
    assert_eq!(
        line,
        format!(r#"{{"result":{{{},"ID":"<ID>","TTL":"60"}}}}"#, header(2)),
        "keep-alive with root's token"
    );
}
