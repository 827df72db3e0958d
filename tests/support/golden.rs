//! Golden `etcdctl` cases: one invocation, its standard input, and the exit code, standard
//! output and standard error expected after normalization.

use super::Member;
use std::fmt::Write as _;

/// One `etcdctl` invocation and what it must print.
pub struct Case {
    /// Arguments after `etcdctl --endpoints <member> --command-timeout=.. --dial-timeout=..`.
    pub args: &'static [&'static str],
    /// Fed to etcdctl's standard input (then closed).
    pub stdin: &'static str,
    /// The exit code.
    pub code: i32,
    /// Standard output after `Member::normalize` (for `-w protobuf`: after `protobuf_text`).
    pub stdout: &'static str,
    /// Standard error after `Member::normalize`.
    pub stderr: &'static str,
}

/// What one case printed, normalized.
pub struct Actual {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `case` on `member` and normalizes what it printed.
pub fn run_case(member: &Member, case: &Case) -> Actual {
    let output = member.etcdctl_with_stdin(case.args, case.stdin.as_bytes());
    let protobuf = case.args.iter().any(|a| a.ends_with("protobuf"));
    let stdout = if protobuf {
        protobuf_text(&output.stdout)
    } else {
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    Actual {
        // A signal (no code) shows as -1: no case expects it.
        code: output.status.code().unwrap_or(-1),
        stdout: member.normalize(&stdout),
        stderr: member.normalize(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// Runs `cases` in order on `member` (each sees the state the previous ones left) and
/// panics if any printed something else than expected. The panic message lists every
/// mismatch, then the whole table as it actually ran, ready to paste into the test when a
/// change of the expectation is intended (re-establish it against the real etcd first).
pub fn check_cases(scenario: &str, member: &Member, cases: &[Case]) {
    let mut mismatches = String::new();
    let mut actual_table = String::new();
    for (i, case) in cases.iter().enumerate() {
        let actual = run_case(member, case);
        let ok = actual.code == case.code
            && actual.stdout == case.stdout
            && actual.stderr == case.stderr;
        if !ok {
            let _ = writeln!(
                mismatches,
                "case {i}: etcdctl {}\n  expected: code {} stdout {:?} stderr {:?}\n  \
                 actual:   code {} stdout {:?} stderr {:?}",
                case.args.join(" "),
                case.code,
                case.stdout,
                case.stderr,
                actual.code,
                actual.stdout,
                actual.stderr
            );
        }
        let _ = writeln!(
            actual_table,
            "    Case {{ args: &{:?}, stdin: {:?},\n           code: {}, stdout: {:?},\n           stderr: {:?} }},",
            case.args, case.stdin, actual.code, actual.stdout, actual.stderr
        );
    }
    assert!(
        mismatches.is_empty(),
        "scenario {scenario:?}: etcdctl printed something other than etcd 3.4 does\n\
         {mismatches}\n--- the table as it ran ---\n{actual_table}"
    );
}

/// Keys whose nonzero numeric JSON values legitimately differ between implementations
/// and runs: ids, the raft term and index, the database size. Revisions and versions are
/// not among them: they must match.
const JSON_NUMBER_KEYS: &[&str] = &[
    "cluster_id",
    "member_id",
    "raft_term",
    "ID",
    "leader",
    "raftIndex",
    "raftTerm",
    "raftAppliedIndex",
    "dbSize",
    "dbSizeInUse",
];

/// Keys whose JSON string values differ: the server version (a string, unlike a key's
/// numeric `version`), a measured duration, and the timestamp and client-generated target
/// of etcdctl's own warning lines.
const JSON_STRING_KEYS: &[&str] = &["version", "took", "ts", "target"];

/// The same in `-w fields` output (`"ClusterID" : 123`).
const FIELDS_NUMBER_KEYS: &[&str] = &[
    "ClusterID",
    "MemberID",
    "RaftTerm",
    "ID",
    "Leader",
    "RaftIndex",
    "RaftAppliedIndex",
    "DBSize",
];

/// The server version in `-w fields` output (`"Version" : "3.4.23"`; a key's version
/// is a number and is kept).
const FIELDS_STRING_KEYS: &[&str] = &["Version"];

/// Replaces what legitimately differs between implementations and runs by `<name>`
/// placeholders (see the key lists above); zero values are kept, since a zero where etcd
/// prints zero must stay zero. Also `took = 1.2ms` of `endpoint health` and the hex
/// member id leading a `member list` line.
pub fn normalize(text: &str) -> String {
    let mut text = text.to_string();
    for key in JSON_NUMBER_KEYS {
        text = replace_nonzero_numbers(&text, &format!("\"{key}\":"), key);
    }
    for key in FIELDS_NUMBER_KEYS {
        text = replace_nonzero_numbers(&text, &format!("\"{key}\" : "), key);
    }
    for key in JSON_STRING_KEYS {
        text = replace_strings(&text, &format!("\"{key}\":"), key);
    }
    for key in FIELDS_STRING_KEYS {
        text = replace_strings(&text, &format!("\"{key}\" : "), key);
    }
    let lines: Vec<String> = text.split('\n').map(normalize_line).collect();
    lines.join("\n")
}

/// Keys whose values in the JSON gateway's answers legitimately differ: ids, the raft
/// term and index, the database size. The gateway writes these 64-bit integers as
/// strings (`"cluster_id":"123"`).
const GATEWAY_NUMBER_KEYS: &[&str] = &[
    "cluster_id",
    "member_id",
    "raft_term",
    "ID",
    "leader",
    "raftIndex",
    "raftTerm",
    "raftAppliedIndex",
    "dbSize",
    "dbSizeInUse",
];

/// `normalize` for the JSON gateway's answers: the values of `GATEWAY_NUMBER_KEYS` when
/// nonzero, and Status's server version (`"version":"3.4.23"`, told from a key's
/// `"version":"2"` by its dot).
pub fn normalize_gateway(text: &str) -> String {
    let mut text = text.to_string();
    for key in GATEWAY_NUMBER_KEYS {
        text = replace_nonzero_numbers(&text, &format!("\"{key}\":\""), key);
    }
    let prefix = "\"version\":\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(prefix) {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(end) = rest.find('"') {
            if rest[..end].contains('.') {
                out.push_str("<version>");
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn normalize_line(line: &str) -> String {
    let mut line = line.to_string();
    if let Some(at) = line.find("took = ") {
        let start = at + "took = ".len();
        let end = line[start..]
            .find(|c: char| c.is_whitespace())
            .map_or(line.len(), |n| start + n);
        line.replace_range(start..end, "<took>");
    }
    // `member list` (simple): "2e1259d415f2a040, started, m1, ...".
    let mut fields = line.splitn(3, ", ");
    if let (Some(id), Some(state)) = (fields.next(), fields.next()) {
        let is_hex_id =
            !id.is_empty() && id.len() <= 16 && id.chars().all(|c| c.is_ascii_hexdigit());
        if is_hex_id && (state == "started" || state == "unstarted") {
            line.replace_range(..id.len(), "<member-id-hex>");
        }
    }
    line
}

fn replace_nonzero_numbers(text: &str, prefix: &str, name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits > 0 && rest[..digits].chars().any(|c| c != '0') {
            let _ = write!(out, "<{name}>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn replace_strings(text: &str, prefix: &str, name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(body) = rest.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                let _ = write!(out, "\"<{name}>\"");
                rest = &body[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A schema-less text form of a protobuf message (what `-w protobuf` prints), with the
/// response header's cluster_id (1), member_id (2) and raft_term (4) replaced by
/// placeholders when nonzero, like `normalize` does for JSON. Varints print as numbers,
/// a length-delimited field as a nested `{..}` when it parses as a message, else as a
/// quoted string (or hex bytes when not UTF-8). Invalid input prints as `invalid: <hex>`.
pub fn protobuf_text(bytes: &[u8]) -> String {
    match parse_message(bytes) {
        Some(fields) => render(&fields, true),
        None => format!("invalid: {}", hex(bytes)),
    }
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn parse_message(bytes: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag = read_varint(bytes, &mut at)?;
        let (number, wire_type) = (tag >> 3, tag & 7);
        if number == 0 {
            return None;
        }
        let value = match wire_type {
            0 => Value::Varint(read_varint(bytes, &mut at)?),
            1 => {
                let raw = bytes.get(at..at + 8)?;
                at += 8;
                Value::Fixed64(u64::from_le_bytes(raw.try_into().ok()?))
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)?).ok()?;
                let raw = bytes.get(at..at.checked_add(len)?)?;
                at += len;
                Value::Bytes(raw)
            }
            5 => {
                let raw = bytes.get(at..at + 4)?;
                at += 4;
                Value::Fixed32(u32::from_le_bytes(raw.try_into().ok()?))
            }
            _ => return None,
        };
        fields.push((number, value));
    }
    Some(fields)
}

fn render(fields: &[(u64, Value<'_>)], top_level: bool) -> String {
    let mut out = String::new();
    for (i, (number, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{number}:");
        match value {
            Value::Varint(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Fixed64(v) => {
                let _ = write!(out, "f64:{v}");
            }
            Value::Fixed32(v) => {
                let _ = write!(out, "f32:{v}");
            }
            Value::Bytes(raw) => match parse_message(raw) {
                Some(inner) if !raw.is_empty() && top_level && *number == 1 => {
                    let _ = write!(out, "{{{}}}", render_header(&inner));
                }
                Some(inner) if !raw.is_empty() => {
                    let _ = write!(out, "{{{}}}", render(&inner, false));
                }
                _ => match std::str::from_utf8(raw) {
                    Ok(text) => {
                        let _ = write!(out, "{text:?}");
                    }
                    Err(_) => {
                        let _ = write!(out, "0x{}", hex(raw));
                    }
                },
            },
        }
    }
    out
}

/// A response header (`etcdserverpb.ResponseHeader`), its ids and term replaced.
fn render_header(fields: &[(u64, Value<'_>)]) -> String {
    let mut out = String::new();
    for (i, (number, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let placeholder = match number {
            1 => Some("<cluster_id>"),
            2 => Some("<member_id>"),
            4 => Some("<raft_term>"),
            _ => None,
        };
        match (value, placeholder) {
            (Value::Varint(v), Some(name)) if *v != 0 => {
                let _ = write!(out, "{number}:{name}");
            }
            _ => out.push_str(&render(&[(*number, *value)], false)),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
