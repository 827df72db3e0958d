//! JSON syntax checking with Go's `encoding/json` scanner semantics, so that a malformed
//! body is refused with the message etcd's gateway gives ("invalid character '}'
//! looking for beginning of object key string", "unexpected EOF").
//!
//! A port of Go's state machine (`encoding/json/scanner.go`): one byte at a time, no
//! recursion (nesting is a stack bounded by Go's `maxNestingDepth`), and the first bad
//! byte in input order is the one reported.

/// Go's bound on nesting (`encoding/json`'s `maxNestingDepth`).
const NESTING_DEPTH_MAX: usize = 10_000;

/// Where the scanner is inside a container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// The scanner's state: which step function Go would call for the next byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    InString,
    InStringEsc,
    /// Inside `\u`, with this many hex digits still to come.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside a literal (`true`, `false`, `null`), at this byte of it.
    Literal(&'static [u8], usize),
    EndValue,
    EndTop,
}

struct Scanner {
    step: Step,
    stack: Vec<Container>,
    /// The top-level value is complete.
    end_top: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `quoteChar`: the byte as a one-character Go rune literal. Go converts the byte
/// to the rune of the same number, so 0xEF prints as 'ï'.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let quoted = super::jsonpb::go_quote(char::from(c).to_string().as_bytes());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            step: Step::BeginValue,
            stack: Vec::new(),
            end_top: false,
        }
    }

    fn push(&mut self, c: u8, container: Container) -> Result<(), String> {
        self.stack.push(container);
        if self.stack.len() > NESTING_DEPTH_MAX {
            return Err(invalid(c, "exceeded max depth"));
        }
        Ok(())
    }

    fn pop(&mut self) {
        self.stack.pop();
        if self.stack.is_empty() {
            self.step = Step::EndTop;
            self.end_top = true;
        } else {
            self.step = Step::EndValue;
        }
    }

    /// Feeds one byte.
    fn feed(&mut self, c: u8) -> Result<(), String> {
        match self.step {
            Step::BeginValueOrEmpty => {
                if is_space(c) {
                    Ok(())
                } else if c == b']' {
                    self.end_value(c)
                } else {
                    self.begin_value(c)
                }
            }
            Step::BeginValue => self.begin_value(c),
            Step::BeginStringOrEmpty => {
                if is_space(c) {
                    Ok(())
                } else if c == b'}' {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Container::ObjectValue;
                    }
                    self.end_value(c)
                } else {
                    self.begin_string(c)
                }
            }
            Step::BeginString => self.begin_string(c),
            Step::InString => {
                match c {
                    b'"' => self.step = Step::EndValue,
                    b'\\' => self.step = Step::InStringEsc,
                    c if c < 0x20 => return Err(invalid(c, "in string literal")),
                    _ => {}
                }
                Ok(())
            }
            Step::InStringEsc => {
                self.step = match c {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => Step::InString,
                    b'u' => Step::InStringEscU(4),
                    _ => return Err(invalid(c, "in string escape code")),
                };
                Ok(())
            }
            Step::InStringEscU(left) => {
                if !c.is_ascii_hexdigit() {
                    return Err(invalid(c, "in \\u hexadecimal character escape"));
                }
                self.step = if left == 1 {
                    Step::InString
                } else {
                    Step::InStringEscU(left - 1)
                };
                Ok(())
            }
            Step::Neg => match c {
                b'0' => {
                    self.step = Step::Zero;
                    Ok(())
                }
                b'1'..=b'9' => {
                    self.step = Step::One;
                    Ok(())
                }
                _ => Err(invalid(c, "in numeric literal")),
            },
            Step::One if c.is_ascii_digit() => Ok(()),
            Step::One | Step::Zero => match c {
                b'.' => {
                    self.step = Step::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::Dot => {
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "after decimal point in numeric literal"));
                }
                self.step = Step::Dot0;
                Ok(())
            }
            Step::Dot0 => match c {
                b'0'..=b'9' => Ok(()),
                b'e' | b'E' => {
                    self.step = Step::E;
                    Ok(())
                }
                _ => self.end_value(c),
            },
            Step::E if c == b'+' || c == b'-' => {
                self.step = Step::ESign;
                Ok(())
            }
            Step::E | Step::ESign => {
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "in exponent of numeric literal"));
                }
                self.step = Step::E0;
                Ok(())
            }
            Step::E0 if c.is_ascii_digit() => Ok(()),
            Step::E0 => self.end_value(c),
            Step::Literal(word, at) => {
                if c != word[at] {
                    let word_text = String::from_utf8_lossy(word);
                    return Err(invalid(
                        c,
                        &format!(
                            "in literal {word_text} (expecting {})",
                            quote_char(word[at])
                        ),
                    ));
                }
                self.step = if at + 1 == word.len() {
                    Step::EndValue
                } else {
                    Step::Literal(word, at + 1)
                };
                Ok(())
            }
            Step::EndValue => self.end_value(c),
            Step::EndTop => {
                if is_space(c) {
                    Ok(())
                } else {
                    Err(invalid(c, "after top-level value"))
                }
            }
        }
    }

    fn begin_value(&mut self, c: u8) -> Result<(), String> {
        if is_space(c) {
            return Ok(());
        }
        self.step = match c {
            b'{' => {
                self.step = Step::BeginStringOrEmpty;
                return self.push(c, Container::ObjectKey);
            }
            b'[' => {
                self.step = Step::BeginValueOrEmpty;
                return self.push(c, Container::ArrayValue);
            }
            b'"' => Step::InString,
            b'-' => Step::Neg,
            b'0' => Step::Zero,
            b'1'..=b'9' => Step::One,
            b't' => Step::Literal(b"true", 1),
            b'f' => Step::Literal(b"false", 1),
            b'n' => Step::Literal(b"null", 1),
            _ => return Err(invalid(c, "looking for beginning of value")),
        };
        Ok(())
    }

    fn begin_string(&mut self, c: u8) -> Result<(), String> {
        if is_space(c) {
            return Ok(());
        }
        if c != b'"' {
            return Err(invalid(c, "looking for beginning of object key string"));
        }
        self.step = Step::InString;
        Ok(())
    }

    fn end_value(&mut self, c: u8) -> Result<(), String> {
        let Some(&top) = self.stack.last() else {
            self.step = Step::EndTop;
            self.end_top = true;
            return self.feed(c);
        };
        if is_space(c) {
            self.step = Step::EndValue;
            return Ok(());
        }
        match (top, c) {
            (Container::ObjectKey, b':') => {
                *self.stack.last_mut().expect("not empty") = Container::ObjectValue;
                self.step = Step::BeginValue;
            }
            (Container::ObjectKey, _) => return Err(invalid(c, "after object key")),
            (Container::ObjectValue, b',') => {
                *self.stack.last_mut().expect("not empty") = Container::ObjectKey;
                self.step = Step::BeginString;
            }
            (Container::ObjectValue, b'}') | (Container::ArrayValue, b']') => self.pop(),
            (Container::ObjectValue, _) => {
                return Err(invalid(c, "after object key:value pair"));
            }
            (Container::ArrayValue, b',') => self.step = Step::BeginValue,
            (Container::ArrayValue, _) => return Err(invalid(c, "after array element")),
        }
        Ok(())
    }

    /// Whether the value would be complete if the input ended here.
    fn complete_at_eof(&mut self) -> bool {
        if self.end_top {
            return true;
        }
        // A space ends a number or a literal, as at Go's EOF.
        let fed = self.feed(b' ');
        fed.is_ok() && self.end_top
    }
}

/// Go's `json.Unmarshal` syntax check (`checkValid`): `data` must be exactly one value,
/// with only white space around it.
pub fn check_valid(data: &[u8]) -> Result<(), String> {
    let mut scanner = Scanner::new();
    for &c in data {
        scanner.feed(c)?;
    }
    if scanner.complete_at_eof() {
        Ok(())
    } else {
        Err("unexpected end of JSON input".to_string())
    }
}

/// Go's `json.Decoder.Decode` on a whole request body: the offset of the first value, or
/// `None` when the body is empty or white space (Go's `io.EOF`, which the gateway takes
/// as an empty request). What follows the first value is not read, as with Go.
pub fn first_value(data: &[u8]) -> Result<Option<usize>, String> {
    let Some(start) = data.iter().position(|&c| !is_space(c)) else {
        return Ok(None);
    };
    let mut scanner = Scanner::new();
    for &c in &data[start..] {
        let fed = scanner.feed(c);
        if scanner.end_top {
            // Go reports a bad byte after the value only on the next Decode.
            return Ok(Some(start));
        }
        fed?;
    }
    if scanner.complete_at_eof() {
        Ok(Some(start))
    } else {
        Err("unexpected EOF".to_string())
    }
}

/// Go's `json.Decoder` reading one value after another from a stream (a streaming call's
/// request body), its input given piece by piece as it arrives. The scanner's state is
/// kept between pieces, so each byte is scanned once.
pub struct ValueReader {
    scanner: Scanner,
    /// Where the value being read starts in the caller's buffer, once its first byte
    /// has been seen.
    start: Option<usize>,
    /// How far the caller's buffer has been scanned.
    at: usize,
}

impl Default for ValueReader {
    fn default() -> Self {
        ValueReader::new()
    }
}

impl ValueReader {
    /// A reader at the start of a stream.
    pub fn new() -> ValueReader {
        ValueReader {
            scanner: Scanner::new(),
            start: None,
            at: 0,
        }
    }

    /// Scans `buf` on from where the previous call stopped. `buf` MUST be the previous
    /// call's `buf` with bytes appended, or, after a value was answered, what followed
    /// that value (the caller drops `buf[..range.end]`). Answers the next value's range,
    /// `None` if its end has not arrived yet, or Go's syntax error.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<std::ops::Range<usize>>, String> {
        while self.at < buf.len() {
            let c = buf[self.at];
            let start = match self.start {
                Some(start) => start,
                None if is_space(c) => {
                    self.at += 1;
                    continue;
                }
                None => *self.start.insert(self.at),
            };
            // An object or array ends at its closing byte; a string, number or literal
            // ends before the byte after it, which starts what follows (Go's decoder
            // does not consume it either).
            let nested = !self.scanner.stack.is_empty();
            let fed = self.scanner.feed(c);
            if self.scanner.end_top {
                let end = if nested { self.at + 1 } else { self.at };
                *self = ValueReader::new();
                return Ok(Some(start..end));
            }
            fed?;
            self.at += 1;
        }
        Ok(None)
    }

    /// At the end of the stream, with `buf` as for [`ValueReader::next`] (all of it
    /// scanned): the last value's range if it is complete (a number needs no byte
    /// after it there), `None` if only white space is left, or "unexpected EOF".
    pub fn finish(&mut self, buf: &[u8]) -> Result<Option<std::ops::Range<usize>>, String> {
        let Some(start) = self.start else {
            return Ok(None);
        };
        if self.scanner.complete_at_eof() {
            *self = ValueReader::new();
            Ok(Some(start..buf.len()))
        } else {
            Err("unexpected EOF".to_string())
        }
    }

    /// How many bytes of the value being read have arrived (0 between values).
    pub fn pending_len(&self, buf: &[u8]) -> usize {
        self.start.map_or(0, |start| buf.len() - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages captured from etcd 3.4's gateway for the same bodies.
    #[test]
    fn decoder_errors_are_gos() {
        let cases: &[(&str, &str)] = &[
            (r#"{"key":"#, "unexpected EOF"),
            (
                r#"{"key":"Zm9v",}"#,
                "invalid character '}' looking for beginning of object key string",
            ),
            (
                r#"{"key" "Zm9v"}"#,
                "invalid character '\"' after object key",
            ),
            (
                "{key:1}",
                "invalid character 'k' looking for beginning of object key string",
            ),
            (
                r#"{"key":tru}"#,
                "invalid character '}' in literal true (expecting 'e')",
            ),
            (
                r#"{"key":"x\u00"}"#,
                "invalid character '\"' in \\u hexadecimal character escape",
            ),
            (
                r#"{"key":"x\q"}"#,
                "invalid character 'q' in string escape code",
            ),
            (
                "{\"key\":\"\x01\"}",
                "invalid character '\\x01' in string literal",
            ),
            (
                "{\"key\":\"a\n\"}",
                "invalid character '\\n' in string literal",
            ),
            (
                "\u{feff}{}",
                "invalid character 'ï' looking for beginning of value",
            ),
            (r#"{"limit":-}"#, "invalid character '}' in numeric literal"),
            (
                r#"{"limit":1.}"#,
                "invalid character '}' after decimal point in numeric literal",
            ),
            (
                r#"{"limit":1e}"#,
                "invalid character '}' in exponent of numeric literal",
            ),
            (
                r#"{"a":1x}"#,
                "invalid character 'x' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
        ];
        for (body, message) in cases {
            assert_eq!(
                first_value(body.as_bytes()),
                Err(message.to_string()),
                "{body}"
            );
        }
    }

    #[test]
    fn decoder_reads_one_value_and_ignores_the_rest() {
        assert_eq!(first_value(b""), Ok(None));
        assert_eq!(first_value(b" \n\t"), Ok(None));
        assert_eq!(first_value(b"  {} garbage"), Ok(Some(2)));
        assert_eq!(first_value(br#"{"key":"Zm9v"}{"#), Ok(Some(0)));
        assert_eq!(first_value(b"5"), Ok(Some(0)));
        assert_eq!(first_value(b"5x"), Ok(Some(0)));
        assert_eq!(first_value(b"null"), Ok(Some(0)));
        assert_eq!(first_value(b"nul"), Err("unexpected EOF".to_string()));
    }

    /// Reads `pieces` as a stream arriving piece by piece: the values, then the error
    /// that ended the stream, if any.
    fn read_stream(pieces: &[&str]) -> (Vec<String>, Option<String>) {
        let mut reader = ValueReader::new();
        let mut buf = Vec::new();
        let mut values = Vec::new();
        let mut take = |buf: &mut Vec<u8>, range: std::ops::Range<usize>| {
            values.push(String::from_utf8(buf[range.clone()].to_vec()).unwrap());
            buf.drain(..range.end);
        };
        for piece in pieces {
            buf.extend_from_slice(piece.as_bytes());
            loop {
                match reader.next(&buf) {
                    Ok(Some(range)) => take(&mut buf, range),
                    Ok(None) => break,
                    Err(e) => return (values, Some(e)),
                }
            }
        }
        match reader.finish(&buf) {
            Ok(Some(range)) => take(&mut buf, range),
            Ok(None) => {}
            Err(e) => return (values, Some(e)),
        }
        (values, None)
    }

    #[test]
    fn stream_values_are_read_as_they_complete() {
        assert_eq!(
            read_stream(&[r#" {"a":"}"#, r#"{"}{"b""#, r#":[1]} null"#, " 5 "]),
            (
                vec![
                    r#"{"a":"}{"}"#.into(),
                    r#"{"b":[1]}"#.into(),
                    "null".into(),
                    "5".into()
                ],
                None
            )
        );
        assert_eq!(read_stream(&["", " \n"]), (vec![], None));
        assert_eq!(
            read_stream(&[r#""x"5"#]),
            (vec![r#""x""#.into(), "5".into()], None)
        );
        assert_eq!(
            read_stream(&["[]", "7"]),
            (vec!["[]".into(), "7".into()], None)
        );
        assert_eq!(
            read_stream(&[r#"{"ID":"1"} {"ID": tru} {}"#]),
            (
                vec![r#"{"ID":"1"}"#.into()],
                Some("invalid character '}' in literal true (expecting 'e')".into())
            )
        );
        assert_eq!(
            read_stream(&[r#"{} {"ID""#]),
            (vec!["{}".into()], Some("unexpected EOF".into()))
        );
        assert_eq!(
            read_stream(&["5x"]),
            (
                vec!["5".into()],
                Some("invalid character 'x' looking for beginning of value".into())
            )
        );
    }

    /// A stream cut into pieces anywhere reads as the same values, or fails with the
    /// same error, as in one piece (a fixed-seed xorshift chooses the cuts).
    #[test]
    fn stream_values_do_not_depend_on_how_the_body_arrives() {
        const SEED: u64 = 0x2545_f491_4f6c_dd1d;
        const ROUNDS: usize = 2_000;
        let bodies = [
            r#"{"create_request":{"key":"YQ==","filters":["NOPUT"]}} {"ID":"1"}"#,
            r#" "x"5 [1,{"a":"}"}] null true 12 {"#,
            r#"{"a":1}{"b":"\u00e9\"}"} {"c":tru}"#,
            "  \n\t ",
        ];
        let mut state = SEED;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        for round in 0..ROUNDS {
            let body = bodies[round % bodies.len()];
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let len = 1 + next() % 8;
                let end = (at + len).min(body.len());
                pieces.push(&body[at..end]);
                at = end;
            }
            assert_eq!(read_stream(&pieces), read_stream(&[body]), "{pieces:?}");
        }
    }

    #[test]
    fn unmarshal_check_is_gos() {
        assert_eq!(check_valid(b" 5 "), Ok(()));
        assert_eq!(check_valid(b"-1.5e+3"), Ok(()));
        assert_eq!(
            check_valid(b""),
            Err("unexpected end of JSON input".to_string())
        );
        assert_eq!(
            check_valid(b"01"),
            Err("invalid character '1' after top-level value".to_string())
        );
        assert_eq!(
            check_valid(br"\u0035"),
            Err("invalid character '\\\\' looking for beginning of value".to_string())
        );
        assert_eq!(
            check_valid(b"abc"),
            Err("invalid character 'a' looking for beginning of value".to_string())
        );
    }

    #[test]
    fn nesting_is_bounded_as_in_go() {
        let deep = "[".repeat(NESTING_DEPTH_MAX + 1);
        assert_eq!(
            first_value(deep.as_bytes()),
            Err("invalid character '[' exceeded max depth".to_string())
        );
        let ok = format!(
            "{}{}",
            "[".repeat(NESTING_DEPTH_MAX),
            "]".repeat(NESTING_DEPTH_MAX)
        );
        assert_eq!(first_value(ok.as_bytes()), Ok(Some(0)));
    }
}
