//! Reading protobuf fields from JSON as etcd 3.4's gateway does (grpc-gateway v1 with
//! golang/protobuf's `jsonpb`, unknown fields allowed), with its error messages.
//!
//! jsonpb's rules, each checked against etcd 3.4.23:
//! - A field is found under its proto name (`range_end`) or its lowerCamel JSON name
//!   (`rangeEnd`); with both present the camel one wins; with a name repeated the last
//!   wins. Unknown names are ignored.
//! - Fields are read in declaration order and the first failure is the answer, whatever
//!   the order of the keys in the body.
//! - `null` leaves any field unset.
//! - 64-bit integers come as numbers or as strings holding a number; the string's text
//!   is parsed as JSON again, so `"01"` fails as Go's `json.Unmarshal` does. A `uint64`
//!   refuses a sign (`-0` too) as Go's `strconv.ParseUint` does.
//! - A repeated string is an array (not a lone string); each element is read as Go's
//!   `json.Unmarshal` reads a `string`, `null` as `""`.
//! - Enums come as their name (exactly, between the quotes, escapes not decoded) or as
//!   any number that fits an int32.
//! - Bytes come as standard base64 (see [`super::base64`]) or, as Go's `encoding/json`
//!   allows for a `[]byte`, as an array of numbers 0-255.

use super::base64;
use super::scan::check_valid;
use super::value::{Kind, Raw, next_char};

/// A decoding failure: the message etcd's gateway answers (with gRPC code 3).
pub type DecodeError = String;

/// Go's type of a message when jsonpb reads an object into it.
const GO_MESSAGE_TYPE: &str = "map[string]json.RawMessage";
/// Go's type of a repeated message field.
const GO_REPEATED_TYPE: &str = "[]json.RawMessage";

fn type_error(what: &str, go_type: &str) -> DecodeError {
    format!("json: cannot unmarshal {what} into Go value of type {go_type}")
}

fn kind_error(raw: Raw<'_>, go_type: &str) -> DecodeError {
    type_error(raw.kind().go_name(), go_type)
}

/// The fields of one JSON object, read as jsonpb reads a message.
pub struct Fields<'a> {
    entries: Vec<(Vec<u8>, Raw<'a>)>,
}

impl<'a> Fields<'a> {
    /// The fields of `raw` (a message): `None` for `null`, as jsonpb leaves the message
    /// unset; an error for anything but an object.
    pub fn of(raw: Raw<'a>) -> Result<Option<Fields<'a>>, DecodeError> {
        match raw.kind() {
            Kind::Null => Ok(None),
            Kind::Object => Ok(Some(Fields {
                entries: raw.entries(),
            })),
            _ => Err(kind_error(raw, GO_MESSAGE_TYPE)),
        }
    }

    /// The fields of a message with no members (an absent or `null` body).
    pub fn empty() -> Fields<'a> {
        Fields {
            entries: Vec::new(),
        }
    }

    /// The value of the field named `name` (proto name) or `camel` (JSON name).
    pub fn get(&self, name: &str, camel: &str) -> Option<Raw<'a>> {
        let last = |wanted: &str| {
            self.entries
                .iter()
                .rev()
                .find(|(key, _)| key.as_slice() == wanted.as_bytes())
                .map(|(_, value)| *value)
        };
        last(camel).or_else(|| last(name))
    }

    /// An `int64` field; 0 when absent or `null`.
    pub fn int64(&self, name: &str, camel: &str) -> Result<i64, DecodeError> {
        match self.get(name, camel) {
            None => Ok(0),
            Some(raw) => int64(raw),
        }
    }

    /// A `uint64` field; 0 when absent or `null`.
    pub fn uint64(&self, name: &str, camel: &str) -> Result<u64, DecodeError> {
        match self.get(name, camel) {
            None => Ok(0),
            Some(raw) => uint64(raw),
        }
    }

    /// A `repeated string` field; empty when absent or `null`.
    pub fn strings(&self, name: &str, camel: &str) -> Result<Vec<String>, DecodeError> {
        let Some(raw) = self.get(name, camel) else {
            return Ok(Vec::new());
        };
        match raw.kind() {
            Kind::Null => Ok(Vec::new()),
            Kind::Array => raw.elements().into_iter().map(string).collect(),
            _ => Err(kind_error(raw, GO_REPEATED_TYPE)),
        }
    }

    /// A `string` field; empty when absent or `null`.
    pub fn string(&self, name: &str, camel: &str) -> Result<String, DecodeError> {
        match self.get(name, camel) {
            None => Ok(String::new()),
            Some(raw) => string(raw),
        }
    }

    /// A `bool` field; false when absent or `null`.
    pub fn boolean(&self, name: &str, camel: &str) -> Result<bool, DecodeError> {
        match self.get(name, camel) {
            None => Ok(false),
            Some(raw) => match raw.kind() {
                Kind::Null => Ok(false),
                Kind::Bool => Ok(raw.is_true()),
                _ => Err(kind_error(raw, "bool")),
            },
        }
    }

    /// A `bytes` field; empty when absent or `null`.
    pub fn bytes(&self, name: &str, camel: &str) -> Result<Vec<u8>, DecodeError> {
        match self.get(name, camel) {
            None => Ok(Vec::new()),
            Some(raw) => bytes(raw),
        }
    }

    /// An enum field of Go type `go_type` (`etcdserverpb.RangeRequest_SortOrder`), its
    /// names read by `from_name`; 0 when absent or `null`.
    pub fn enumeration(
        &self,
        name: &str,
        camel: &str,
        go_type: &str,
        from_name: impl Fn(&str) -> Option<i32>,
    ) -> Result<i32, DecodeError> {
        match self.get(name, camel) {
            None => Ok(0),
            Some(raw) => enumeration(raw, go_type, &from_name),
        }
    }

    /// A repeated enum field, as [`Fields::enumeration`] reads each element (`null` is
    /// 0); empty when absent or `null`.
    pub fn repeated_enumeration(
        &self,
        name: &str,
        camel: &str,
        go_type: &str,
        from_name: impl Fn(&str) -> Option<i32>,
    ) -> Result<Vec<i32>, DecodeError> {
        let Some(raw) = self.get(name, camel) else {
            return Ok(Vec::new());
        };
        match raw.kind() {
            Kind::Null => Ok(Vec::new()),
            Kind::Array => raw
                .elements()
                .into_iter()
                .map(|element| enumeration(element, go_type, &from_name))
                .collect(),
            // jsonpb looks a string up as one enum name before it sees the field is
            // repeated.
            Kind::String => match enumeration(raw, go_type, &from_name) {
                Ok(_) => Err(format!("invalid target \"slice\" for enum {go_type}")),
                Err(e) => Err(e),
            },
            _ => Err(kind_error(raw, GO_REPEATED_TYPE)),
        }
    }

    /// A message field, read by `read`; `None` when absent or `null`.
    pub fn message<T>(
        &self,
        name: &str,
        camel: &str,
        read: impl Fn(Fields<'a>) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.get(name, camel) {
            None => Ok(None),
            Some(raw) => Fields::of(raw)?.map(read).transpose(),
        }
    }

    /// A repeated message field, each element read by `read`; empty when absent or
    /// `null`. A `null` element reads as an empty message (etcd 3.4's gateway drops the
    /// connection on one).
    pub fn repeated<T>(
        &self,
        name: &str,
        camel: &str,
        read: impl Fn(Fields<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let Some(raw) = self.get(name, camel) else {
            return Ok(Vec::new());
        };
        match raw.kind() {
            Kind::Null => Ok(Vec::new()),
            Kind::Array => raw
                .elements()
                .into_iter()
                .map(|element| read(Fields::of(element)?.unwrap_or_else(Fields::empty)))
                .collect(),
            _ => Err(kind_error(raw, GO_REPEATED_TYPE)),
        }
    }
}

/// jsonpb's enum: its name (exactly, between the quotes) or any number that fits an
/// int32; `null` is 0.
fn enumeration(
    raw: Raw<'_>,
    go_type: &str,
    from_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, DecodeError> {
    if raw.kind() == Kind::String {
        let inner = raw.string_inner();
        return std::str::from_utf8(inner)
            .ok()
            .and_then(from_name)
            .ok_or_else(|| format!("unknown value {} for enum {go_type}", go_quote(inner)));
    }
    let value = integer(raw, go_type)?;
    i32::try_from(value).map_err(|_| number_error(raw, go_type))
}

fn number_error(raw: Raw<'_>, go_type: &str) -> DecodeError {
    let text = String::from_utf8_lossy(raw.text());
    type_error(&format!("number {text}"), go_type)
}

/// Go's `json.Unmarshal` of `raw` into an integer of `go_type` (range checked by the
/// caller): `null` is 0.
fn integer(raw: Raw<'_>, go_type: &str) -> Result<i64, DecodeError> {
    match raw.kind() {
        Kind::Null => Ok(0),
        Kind::Number => std::str::from_utf8(raw.text())
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| number_error(raw, go_type)),
        _ => Err(kind_error(raw, go_type)),
    }
}

/// jsonpb's `int64`: a number, or a string whose text is a JSON number.
fn int64(raw: Raw<'_>) -> Result<i64, DecodeError> {
    if raw.kind() == Kind::String {
        let inner = raw.string_inner();
        check_valid(inner)?;
        return integer(Raw::new(inner), "int64");
    }
    integer(raw, "int64")
}

/// jsonpb's `uint64`: a number, or a string whose text is a JSON number; Go parses it
/// with `strconv.ParseUint`, so a sign, a fraction or an exponent is refused.
fn uint64(raw: Raw<'_>) -> Result<u64, DecodeError> {
    let raw = if raw.kind() == Kind::String {
        let inner = raw.string_inner();
        check_valid(inner)?;
        Raw::new(inner)
    } else {
        raw
    };
    match raw.kind() {
        Kind::Null => Ok(0),
        Kind::Number => std::str::from_utf8(raw.text())
            .ok()
            .filter(|text| !text.starts_with('+'))
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| number_error(raw, "uint64")),
        _ => Err(kind_error(raw, "uint64")),
    }
}

/// Go's `json.Unmarshal` into a `string`: `null` leaves it empty; escapes are decoded,
/// and what is not UTF-8 becomes U+FFFD.
fn string(raw: Raw<'_>) -> Result<String, DecodeError> {
    match raw.kind() {
        Kind::Null => Ok(String::new()),
        Kind::String => Ok(String::from_utf8_lossy(&raw.unquote()).into_owned()),
        _ => Err(kind_error(raw, "string")),
    }
}

/// Go's `json.Unmarshal` into a `[]byte`.
fn bytes(raw: Raw<'_>) -> Result<Vec<u8>, DecodeError> {
    match raw.kind() {
        Kind::Null => Ok(Vec::new()),
        Kind::String => base64::decode(&raw.unquote()).map_err(|e| e.to_string()),
        Kind::Array => {
            // Go decodes every element and answers the first failure.
            let mut first_error = None;
            let mut out = Vec::new();
            for element in raw.elements() {
                let byte = integer(element, "uint8")
                    .and_then(|n| u8::try_from(n).map_err(|_| number_error(element, "uint8")));
                match byte {
                    Ok(b) => out.push(b),
                    Err(e) => {
                        out.push(0);
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(out), Err)
        }
        Kind::Number => Err(type_error("number", "[]uint8")),
        _ => Err(kind_error(raw, "[]uint8")),
    }
}

/// Go's `strconv.Quote` (what `%q` prints): printable characters as they are, the rest
/// escaped; an invalid UTF-8 byte as `\xNN`. Go's notion of printable is approximated
/// without Unicode tables: control, white-space (other than the space) and format
/// characters are escaped, everything else is printed.
pub fn go_quote(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("\"");
    let mut at = 0;
    while at < bytes.len() {
        let Some((c, len)) = next_char(&bytes[at..]) else {
            let _ = write!(out, "\\x{:02x}", bytes[at]);
            at += 1;
            continue;
        };
        at += len;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format = matches!(
        u32::from(c),
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff
            | 0xf0000..
    );
    !(c.is_control() || c.is_whitespace() || format)
}

/// The fields of a JSON object written in a test.
#[cfg(test)]
pub(super) fn fields(body: &str) -> Fields<'_> {
    Fields::of(Raw::new(body.as_bytes()))
        .expect("an object")
        .expect("not null")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages captured from etcd 3.4's gateway for `{"key":"Zm9v","limit":<value>}`.
    #[test]
    fn int64_as_etcd_reads_it() {
        let limit =
            |value: &str| fields(&format!(r#"{{"limit":{value}}}"#)).int64("limit", "limit");
        assert_eq!(limit("5"), Ok(5));
        assert_eq!(limit(r#""-5""#), Ok(-5));
        assert_eq!(limit(r#"" 5""#), Ok(5));
        assert_eq!(limit("null"), Ok(0));
        assert_eq!(limit(r#""null""#), Ok(0));
        let error = |what: &str| {
            Err(format!(
                "json: cannot unmarshal {what} into Go value of type int64"
            ))
        };
        assert_eq!(limit("1.5"), error("number 1.5"));
        assert_eq!(limit(r#""1.5""#), error("number 1.5"));
        assert_eq!(limit("1e2"), error("number 1e2"));
        assert_eq!(
            limit("99999999999999999999"),
            error("number 99999999999999999999")
        );
        assert_eq!(limit("true"), error("bool"));
        assert_eq!(limit("{}"), error("object"));
        assert_eq!(limit("[1]"), error("array"));
        assert_eq!(
            limit(r#""abc""#),
            Err("invalid character 'a' looking for beginning of value".to_string())
        );
        assert_eq!(
            limit(r#""01""#),
            Err("invalid character '1' after top-level value".to_string())
        );
        assert_eq!(
            limit(r#""""#),
            Err("unexpected end of JSON input".to_string())
        );
    }

    /// Messages captured from etcd 3.4's gateway for `{"ID":<value>}` (MemberRemove).
    #[test]
    fn uint64_as_etcd_reads_it() {
        let id = |value: &str| fields(&format!(r#"{{"ID":{value}}}"#)).uint64("ID", "ID");
        assert_eq!(id("5"), Ok(5));
        assert_eq!(id(r#"" 5""#), Ok(5));
        assert_eq!(id("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(id("null"), Ok(0));
        assert_eq!(id(r#""null""#), Ok(0));
        let error = |what: &str| {
            Err(format!(
                "json: cannot unmarshal {what} into Go value of type uint64"
            ))
        };
        assert_eq!(id("-1"), error("number -1"));
        assert_eq!(id(r#""-1""#), error("number -1"));
        assert_eq!(id("-0"), error("number -0"));
        assert_eq!(id("1.5"), error("number 1.5"));
        assert_eq!(id(r#""1e2""#), error("number 1e2"));
        assert_eq!(
            id("18446744073709551616"),
            error("number 18446744073709551616")
        );
        assert_eq!(id("true"), error("bool"));
        assert_eq!(id("[1]"), error("array"));
        assert_eq!(id("{}"), error("object"));
        assert_eq!(
            id(r#""abc""#),
            Err("invalid character 'a' looking for beginning of value".to_string())
        );
        assert_eq!(
            id(r#""01""#),
            Err("invalid character '1' after top-level value".to_string())
        );
        assert_eq!(id(r#""""#), Err("unexpected end of JSON input".to_string()));
    }

    /// Messages captured from etcd 3.4's gateway for `{"peerURLs":<value>}` (MemberAdd).
    #[test]
    fn repeated_strings_as_etcd_reads_them() {
        let urls =
            |value: &str| fields(&format!(r#"{{"peerURLs":{value}}}"#)).strings("x", "peerURLs");
        assert_eq!(
            urls(r#"["http://a:1",null,"\u00e9\n\ud800"]"#),
            Ok(vec![
                "http://a:1".to_string(),
                String::new(),
                "é\n\u{fffd}".to_string()
            ])
        );
        assert_eq!(urls("null"), Ok(vec![]));
        assert_eq!(urls("[]"), Ok(vec![]));
        let error = |what: &str, go_type: &str| {
            Err(format!(
                "json: cannot unmarshal {what} into Go value of type {go_type}"
            ))
        };
        assert_eq!(urls(r#""x""#), error("string", "[]json.RawMessage"));
        assert_eq!(urls("5"), error("number", "[]json.RawMessage"));
        assert_eq!(urls("{}"), error("object", "[]json.RawMessage"));
        assert_eq!(urls("true"), error("bool", "[]json.RawMessage"));
        assert_eq!(urls("[1]"), error("number", "string"));
        assert_eq!(urls(r#"["a",true]"#), error("bool", "string"));
        assert_eq!(urls("[{}]"), error("object", "string"));
        assert_eq!(urls("[[1]]"), error("array", "string"));
    }

    #[test]
    fn enums_by_name_or_number() {
        let order = |value: &str| {
            fields(&format!(r#"{{"sort_order":{value}}}"#)).enumeration(
                "sort_order",
                "sortOrder",
                "etcdserverpb.RangeRequest_SortOrder",
                |name| match name {
                    "NONE" => Some(0),
                    "DESCEND" => Some(2),
                    _ => None,
                },
            )
        };
        assert_eq!(order(r#""DESCEND""#), Ok(2));
        assert_eq!(order("7"), Ok(7));
        assert_eq!(order("null"), Ok(0));
        assert_eq!(
            order(r#""2""#),
            Err(r#"unknown value "2" for enum etcdserverpb.RangeRequest_SortOrder"#.to_string())
        );
        assert_eq!(
            order(r#""<a&b>\u2028é""#),
            Err(
                r#"unknown value "<a&b>\\u2028é" for enum etcdserverpb.RangeRequest_SortOrder"#
                    .to_string()
            )
        );
        assert_eq!(
            order("1.5"),
            Err("json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.RangeRequest_SortOrder".to_string())
        );
        assert_eq!(
            order("3000000000"),
            Err("json: cannot unmarshal number 3000000000 into Go value of type etcdserverpb.RangeRequest_SortOrder".to_string())
        );
        assert_eq!(
            order("true"),
            Err("json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder".to_string())
        );
    }

    /// Messages captured from etcd 3.4's gateway for a watch's `filters`.
    #[test]
    fn repeated_enums_as_etcd_reads_them() {
        let filters = |value: &str| {
            fields(&format!(r#"{{"filters":{value}}}"#)).repeated_enumeration(
                "filters",
                "filters",
                "etcdserverpb.WatchCreateRequest_FilterType",
                |name| match name {
                    "NOPUT" => Some(0),
                    "NODELETE" => Some(1),
                    _ => None,
                },
            )
        };
        assert_eq!(filters(r#"[null,"NODELETE",1,7]"#), Ok(vec![0, 1, 1, 7]));
        assert_eq!(filters("null"), Ok(vec![]));
        assert_eq!(
            filters(r#""NOPUT""#),
            Err(
                r#"invalid target "slice" for enum etcdserverpb.WatchCreateRequest_FilterType"#
                    .to_string()
            )
        );
        assert_eq!(
            filters(r#""BAD""#),
            Err(
                r#"unknown value "BAD" for enum etcdserverpb.WatchCreateRequest_FilterType"#
                    .to_string()
            )
        );
        assert_eq!(
            filters("[1.5]"),
            Err("json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.WatchCreateRequest_FilterType".to_string())
        );
        assert_eq!(
            filters("{}"),
            Err(
                "json: cannot unmarshal object into Go value of type []json.RawMessage".to_string()
            )
        );
    }

    #[test]
    fn bytes_as_base64_or_an_array_of_bytes() {
        let key = |value: &str| fields(&format!(r#"{{"key":{value}}}"#)).bytes("key", "key");
        assert_eq!(key(r#""Zm9v""#), Ok(b"foo".to_vec()));
        assert_eq!(key(r#""YQ=\u003d""#), Ok(b"a".to_vec()));
        assert_eq!(key("[102,111,111]"), Ok(b"foo".to_vec()));
        assert_eq!(
            key("[300]"),
            Err("json: cannot unmarshal number 300 into Go value of type uint8".to_string())
        );
        assert_eq!(
            key(r#"["a",300]"#),
            Err("json: cannot unmarshal string into Go value of type uint8".to_string())
        );
        assert_eq!(
            key("5"),
            Err("json: cannot unmarshal number into Go value of type []uint8".to_string())
        );
        assert_eq!(
            key("{}"),
            Err("json: cannot unmarshal object into Go value of type []uint8".to_string())
        );
        assert_eq!(
            key(r#""Zm9""#),
            Err("illegal base64 data at input byte 0".to_string())
        );
    }

    #[test]
    fn names_camel_wins_and_last_duplicate_wins() {
        let f = fields(r#"{"range_end":"YQ==","rangeEnd":"Yg==","key":"YQ==","key":"eA=="}"#);
        assert_eq!(f.bytes("range_end", "rangeEnd"), Ok(b"b".to_vec()));
        assert_eq!(f.bytes("key", "key"), Ok(b"x".to_vec()));
    }

    #[test]
    fn bools_and_messages() {
        let f = fields(r#"{"a":true,"b":"true","c":1,"m":5,"r":{}}"#);
        assert_eq!(f.boolean("a", "a"), Ok(true));
        assert_eq!(
            f.boolean("b", "b"),
            Err("json: cannot unmarshal string into Go value of type bool".to_string())
        );
        assert_eq!(
            f.boolean("c", "c"),
            Err("json: cannot unmarshal number into Go value of type bool".to_string())
        );
        assert_eq!(
            f.message("m", "m", |_| Ok(())),
            Err(
                "json: cannot unmarshal number into Go value of type map[string]json.RawMessage"
                    .to_string()
            )
        );
        assert_eq!(
            f.repeated("r", "r", |_| Ok(())),
            Err(
                "json: cannot unmarshal object into Go value of type []json.RawMessage".to_string()
            )
        );
    }

    #[test]
    fn quotes_as_go_does() {
        assert_eq!(go_quote(b"a\"b\\"), r#""a\"b\\""#);
        assert_eq!(go_quote(b"\xff"), r#""\xff""#);
        assert_eq!(go_quote(b"\x01\n"), r#""\x01\n""#);
        assert_eq!(go_quote("é\u{2028}\u{a0}".as_bytes()), r#""é\u2028\u00a0""#);
        assert_eq!(go_quote("ï".as_bytes()), r#""ï""#);
    }
}
