//! The JSON gateway's tests: a table of requests and the answers etcd 3.4 gives them,
//! compared after `Member::normalize_gateway` (ids, raft term and index, database size,
//! server version and URLs replaced by placeholders) and, in TimeToLive answers, the
//! remaining TTL (see `normalize_remaining_ttl`).

use std::fmt::Write as _;

use super::Member;

/// One request and the answer it must get.
pub struct Case {
    pub path: &'static str,
    pub body: String,
    pub status: u16,
    pub answer: String,
}

/// The case `POST path` with `body`, which must answer `status` and `answer`.
pub fn case(path: &'static str, body: &str, status: u16, answer: impl Into<String>) -> Case {
    Case {
        path,
        body: body.to_string(),
        status,
        answer: answer.into(),
    }
}

/// A response header at `revision`, normalized.
pub fn header(revision: i64) -> String {
    format!(
        r#""header":{{"cluster_id":"<cluster_id>","member_id":"<member_id>","revision":"{revision}","raft_term":"<raft_term>"}}"#
    )
}

/// An answer holding only a header at `revision`.
pub fn only_header(revision: i64) -> String {
    format!("{{{}}}", header(revision))
}

/// The gateway's error body for gRPC code `code` with `message` (as JSON text).
pub fn error(code: i32, message: &str) -> String {
    format!(r#"{{"error":"{message}","message":"{message}","code":{code}}}"#)
}

/// A stored key-value as the gateway writes it.
pub fn kv(key: &str, create: i64, modified: i64, version: i64, value: &str) -> String {
    leased_kv(key, create, modified, version, value, 0)
}

/// A stored key-value attached to `lease` (0: none) as the gateway writes it.
pub fn leased_kv(
    key: &str,
    create: i64,
    modified: i64,
    version: i64,
    value: &str,
    lease: i64,
) -> String {
    let lease = if lease == 0 {
        String::new()
    } else {
        format!(r#","lease":"{lease}""#)
    };
    let value = if value.is_empty() {
        String::new()
    } else {
        format!(r#","value":"{value}""#)
    };
    format!(
        r#"{{"key":"{key}","create_revision":"{create}","mod_revision":"{modified}","version":"{version}"{value}{lease}}}"#
    )
}

/// Runs `cases` in order on `member` and panics, listing every mismatch and then the
/// whole table as it ran, if any answer differs.
pub fn check(scenario: &str, member: &Member, cases: &[Case]) {
    let mut mismatches = String::new();
    let mut actual_table = String::new();
    for (i, case) in cases.iter().enumerate() {
        let (status, answer) = member.http_post(case.path, &case.body);
        let answer = normalize_remaining_ttl(&member.normalize_gateway(&answer));
        if status != case.status || answer != case.answer {
            let _ = writeln!(
                mismatches,
                "case {i}: POST {} {}\n  expected: {} {}\n  actual:   {status} {answer}",
                case.path, case.body, case.status, case.answer
            );
        }
        let _ = writeln!(
            actual_table,
            "case({:?}, {:?}, {status}, {answer:?}),",
            case.path, case.body
        );
    }
    assert!(
        mismatches.is_empty(),
        "{scenario}: the gateway answered otherwise than etcd 3.4:\n{mismatches}\
         --- the table as it ran ---\n{actual_table}"
    );
}

/// In an answer with a `grantedTTL` (a TimeToLive), its remaining `TTL` becomes
/// `<remaining>` when it is between 1 and the granted TTL: how much time has passed
/// differs from run to run (and etcd rounds down where etcd-rs may not).
pub fn normalize_remaining_ttl(answer: &str) -> String {
    let number = |text: &str, key: &str| -> Option<(usize, usize, i64)> {
        let prefix = format!("\"{key}\":\"");
        let start = text.find(&prefix)? + prefix.len();
        let len = text[start..].find('"')?;
        Some((start, len, text[start..start + len].parse().ok()?))
    };
    let (Some((start, len, remaining)), Some((_, _, granted))) =
        (number(answer, "TTL"), number(answer, "grantedTTL"))
    else {
        return answer.to_string();
    };
    if (1..=granted).contains(&remaining) {
        format!("{}<remaining>{}", &answer[..start], &answer[start + len..])
    } else {
        answer.to_string()
    }
}
