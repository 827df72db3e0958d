//! Lazy access to JSON that passed [`super::scan`]'s syntax check, the way Go's jsonpb
//! reads a message: an object as a map of its keys to the raw text of their values, each
//! value decoded only when its field is read. Nothing is built for values no field reads,
//! so deep nesting in an unknown field costs no recursion.

/// The kind of a JSON value, named as Go's `encoding/json` names it in type errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    /// Go's word for it in "json: cannot unmarshal <word> into Go value of type T".
    pub fn go_name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Bool => "bool",
            Kind::Null => "null",
        }
    }
}

/// One JSON value of a syntactically valid document.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a> {
    /// The value's text: from its first byte to its last.
    text: &'a [u8],
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_space(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|&c| is_space(c)) {
        at += 1;
    }
    at
}

/// The length of the value starting at `text[0]`. `text` MUST be valid JSON from there.
fn value_len(text: &[u8]) -> usize {
    match text.first() {
        Some(b'"') => string_len(text),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut at = 0;
            while at < text.len() {
                match text[at] {
                    b'"' => {
                        at += string_len(&text[at..]);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            text.len()
        }
        _ => text
            .iter()
            .position(|&c| matches!(c, b',' | b'}' | b']') || is_space(c))
            .unwrap_or(text.len()),
    }
}

/// The length of the string literal starting at `text[0]`, quotes included.
fn string_len(text: &[u8]) -> usize {
    let mut at = 1;
    while at < text.len() {
        match text[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

impl<'a> Raw<'a> {
    /// The value at the start of `text` (after white space). `text` MUST hold a valid
    /// JSON value there (checked by [`super::scan`]); what follows it is ignored.
    pub fn new(text: &'a [u8]) -> Raw<'a> {
        let text = &text[skip_space(text, 0)..];
        Raw {
            text: &text[..value_len(text)],
        }
    }

    /// The value's text.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self.text.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    /// For `true`, true.
    pub fn is_true(&self) -> bool {
        self.text == b"true"
    }

    /// A string's text between its quotes, escapes left as they are (what jsonpb reads
    /// an enum name or a quoted number from).
    pub fn string_inner(&self) -> &'a [u8] {
        &self.text[1..self.text.len() - 1]
    }

    /// A string's value, unescaped as Go does (`unquoteBytes`): a lone surrogate or an
    /// invalid UTF-8 byte becomes U+FFFD.
    pub fn unquote(&self) -> Vec<u8> {
        unquote(self.string_inner())
    }

    /// An object's members in order (duplicates kept: a reader takes the last, as a Go
    /// map does).
    pub fn entries(&self) -> Vec<(Vec<u8>, Raw<'a>)> {
        let mut entries = Vec::new();
        let text = self.text;
        let mut at = skip_space(text, 1);
        while text.get(at) == Some(&b'"') {
            let key_len = string_len(&text[at..]);
            let key = unquote(&text[at + 1..at + key_len - 1]);
            at = skip_space(text, at + key_len) + 1; // past ':'
            let value = Raw::new(&text[at..]);
            at = skip_space(text, at);
            at = skip_space(text, at + value.text.len());
            entries.push((key, value));
            if text.get(at) == Some(&b',') {
                at = skip_space(text, at + 1);
            }
        }
        entries
    }

    /// An array's elements in order.
    pub fn elements(&self) -> Vec<Raw<'a>> {
        let mut elements = Vec::new();
        let text = self.text;
        let mut at = skip_space(text, 1);
        while at < text.len() && text[at] != b']' {
            let element = Raw::new(&text[at..]);
            at = skip_space(text, at + element.text.len());
            elements.push(element);
            if text.get(at) == Some(&b',') {
                at = skip_space(text, at + 1);
            }
        }
        elements
    }
}

fn hex4(text: &[u8]) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(..4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// Go's `unquoteBytes` on the text between a string's quotes.
fn unquote(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    let push_char = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    while at < text.len() {
        let c = text[at];
        if c == b'\\' {
            let escape = text.get(at + 1).copied().unwrap_or(b'\\');
            at += 2;
            let simple = match escape {
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'u' => None,
                other => Some(other),
            };
            if let Some(byte) = simple {
                out.push(byte);
                continue;
            }
            let unit = hex4(&text[at..]).unwrap_or(0xfffd);
            at += 4;
            let decoded =
                if (0xd800..0xdc00).contains(&unit) && text.get(at..at + 2) == Some(b"\\u") {
                    match hex4(&text[at + 2..]) {
                        Some(low @ 0xdc00..0xe000) => {
                            at += 6;
                            char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
                        }
                        _ => None,
                    }
                } else {
                    char::from_u32(unit)
                };
            push_char(&mut out, decoded.unwrap_or(char::REPLACEMENT_CHARACTER));
            continue;
        }
        if c < 0x80 {
            out.push(c);
            at += 1;
            continue;
        }
        match next_char(&text[at..]) {
            Some((ch, len)) => {
                push_char(&mut out, ch);
                at += len;
            }
            None => {
                push_char(&mut out, char::REPLACEMENT_CHARACTER);
                at += 1;
            }
        }
    }
    out
}

/// The UTF-8 character at the start of `bytes` and its length, or `None` if the first
/// byte does not start a valid one.
pub fn next_char(bytes: &[u8]) -> Option<(char, usize)> {
    let len = match bytes.first()? {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let s = std::str::from_utf8(bytes.get(..len)?).ok()?;
    s.chars().next().map(|c| (c, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_objects_lazily_with_duplicates_in_order() {
        let raw = Raw::new(br#" { "a" : [1, {"x":"]"}] , "b":"YQ==","a":null } trailing"#);
        assert_eq!(raw.kind(), Kind::Object);
        let entries = raw.entries();
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"a"]);
        assert_eq!(entries[0].1.text(), br#"[1, {"x":"]"}]"#);
        assert_eq!(entries[0].1.elements().len(), 2);
        assert_eq!(entries[1].1.unquote(), b"YQ==");
        assert_eq!(entries[2].1.kind(), Kind::Null);
        assert!(Raw::new(b"{}").entries().is_empty());
        assert!(Raw::new(b"[ ]").elements().is_empty());
    }

    #[test]
    fn unquotes_as_go_does() {
        let unquoted = |text: &str| String::from_utf8(Raw::new(text.as_bytes()).unquote());
        assert_eq!(unquoted(r#""a\"\\\/\n\u0041""#).unwrap(), "a\"\\/\nA");
        assert_eq!(unquoted(r#""\ud83d\ude00""#).unwrap(), "\u{1f600}");
        assert_eq!(unquoted(r#""\ud800x""#).unwrap(), "\u{fffd}x");
        assert_eq!(
            Raw::new(b"\"\xff\"").unquote(),
            "\u{fffd}".as_bytes().to_vec()
        );
    }
}
