//! Writing protobuf messages as JSON the way etcd 3.4's gateway does (jsonpb with
//! `OrigName: true`, `EmitDefaults: false`): fields in declaration order under their
//! proto names, fields holding their default value left out (a present message is
//! written even when empty: `"header":{}`), 64-bit integers as strings, 32-bit ones
//! as numbers, bytes as standard base64, and strings escaped as Go's `encoding/json`
//! escapes them (`<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`).

use std::fmt::Write as _;

use super::base64;

/// One JSON object being written.
pub struct Object {
    out: String,
    empty: bool,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    /// An `int64` field: a string, left out when 0.
    pub fn int64(&mut self, name: &str, value: i64) -> &mut Object {
        if value != 0 {
            self.key(name);
            let _ = write!(self.out, "\"{value}\"");
        }
        self
    }

    /// A `uint64` field: a string, left out when 0.
    pub fn uint64(&mut self, name: &str, value: u64) -> &mut Object {
        if value != 0 {
            self.key(name);
            let _ = write!(self.out, "\"{value}\"");
        }
        self
    }

    /// A `uint32` field: a number, left out when 0.
    pub fn uint32(&mut self, name: &str, value: u32) -> &mut Object {
        if value != 0 {
            self.key(name);
            let _ = write!(self.out, "{value}");
        }
        self
    }

    /// A `bool` field, left out when false.
    pub fn boolean(&mut self, name: &str, value: bool) -> &mut Object {
        if value {
            self.key(name);
            self.out.push_str("true");
        }
        self
    }

    /// A `bytes` field: base64, left out when empty.
    pub fn bytes(&mut self, name: &str, value: &[u8]) -> &mut Object {
        if !value.is_empty() {
            self.key(name);
            self.out.push('"');
            self.out.push_str(&base64::encode(value));
            self.out.push('"');
        }
        self
    }

    /// A `repeated bytes` field: base64 strings, left out when empty.
    pub fn bytes_array(&mut self, name: &str, values: &[Vec<u8>]) -> &mut Object {
        let rendered: Vec<String> = values
            .iter()
            .map(|v| format!("\"{}\"", base64::encode(v)))
            .collect();
        self.array(name, rendered)
    }

    /// An enum field: its name (`name_of` answers it), or its number when it has none;
    /// left out when 0.
    pub fn enumeration(
        &mut self,
        name: &str,
        value: i32,
        name_of: impl Fn(i32) -> Option<&'static str>,
    ) -> &mut Object {
        if value != 0 {
            self.key(name);
            match name_of(value) {
                Some(known) => {
                    self.out.push('"');
                    self.out.push_str(known);
                    self.out.push('"');
                }
                None => {
                    let _ = write!(self.out, "{value}");
                }
            }
        }
        self
    }

    /// A `string` field, left out when empty.
    pub fn string(&mut self, name: &str, value: &str) -> &mut Object {
        if !value.is_empty() {
            self.key(name);
            self.out.push_str(&go_string(value));
        }
        self
    }

    /// A `repeated string` field, left out when empty.
    pub fn strings(&mut self, name: &str, values: &[String]) -> &mut Object {
        let rendered: Vec<String> = values.iter().map(|v| go_string(v)).collect();
        self.array(name, rendered)
    }

    /// A message field (`value` is its JSON), left out when `None`.
    pub fn message(&mut self, name: &str, value: Option<String>) -> &mut Object {
        if let Some(value) = value {
            self.key(name);
            self.out.push_str(&value);
        }
        self
    }

    /// A repeated field (`values` are the elements' JSON), left out when empty.
    pub fn array(&mut self, name: &str, values: Vec<String>) -> &mut Object {
        if !values.is_empty() {
            self.key(name);
            self.out.push('[');
            self.out.push_str(&values.join(","));
            self.out.push(']');
        }
        self
    }

    /// A field written as it is (a number of a 32-bit field, an error code).
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Object {
        self.key(name);
        self.out.push_str(json);
        self
    }

    /// The object's JSON.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

/// `text` as a JSON string, escaped as Go's `encoding/json` does by default.
pub fn go_string(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_defaults_and_quotes_64_bit_integers() {
        let json = Object::new()
            .message("header", Some(Object::new().int64("revision", 0).finish()))
            .int64("count", 3)
            .uint64("member_id", u64::MAX)
            .uint32("hash", 0)
            .uint32("hash", u32::MAX)
            .boolean("more", false)
            .bytes("key", b"foo")
            .string("name", "")
            .array("kvs", Vec::new())
            .bytes_array("keys", &[b"a".to_vec(), Vec::new()])
            .enumeration("type", 0, |_| Some("PUT"))
            .enumeration("type", 1, |_| Some("DELETE"))
            .enumeration("type", 7, |_| None)
            .finish();
        assert_eq!(
            json,
            r#"{"header":{},"count":"3","member_id":"18446744073709551615","hash":4294967295,"key":"Zm9v","keys":["YQ==",""],"type":"DELETE","type":7}"#
        );
    }

    #[test]
    fn escapes_strings_as_go_does() {
        assert_eq!(
            go_string("<a&b>\"\\\n\u{1}\u{8}\u{2028}é"),
            r#""\u003ca\u0026b\u003e\"\\\n\u0001\u0008\u2028é""#
        );
    }
}
