//! Standard base64 (RFC 4648, with `=` padding), as the gateway carries bytes fields.
//!
//! Decoding follows Go's `base64.StdEncoding.Decode`, which is what etcd's gateway uses
//! through `encoding/json`: padding is required, `\r` and `\n` are skipped anywhere,
//! nonzero trailing bits are accepted, and a failure names the offset of the offending
//! byte exactly as Go does ("illegal base64 data at input byte 4").

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD: u8 = b'=';

/// Why `decode` refused its input: the offset Go reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {0}")]
pub struct CorruptInput(pub usize);

/// `bytes` in standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn is_newline(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// Decodes standard base64 as Go's `StdEncoding.Decode` does (see the module docs).
pub fn decode(src: &[u8]) -> Result<Vec<u8>, CorruptInput> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let (next, done) = decode_quantum(src, si, &mut out)?;
        si = next;
        if done {
            break;
        }
    }
    Ok(out)
}

/// Decodes one quantum of up to four symbols from `src[si..]` into `out`: the index after
/// it, and whether the input ended (padding or end of input). A port of Go's
/// `decodeQuantum`, so that errors carry the same offsets.
fn decode_quantum(
    src: &[u8],
    mut si: usize,
    out: &mut Vec<u8>,
) -> Result<(usize, bool), CorruptInput> {
    let mut buf = [0u8; 4];
    let mut len = 0;
    let mut done = false;
    while len < 4 {
        let Some(&c) = src.get(si) else {
            return match len {
                0 => Ok((si, true)),
                // Padding is required: an incomplete quantum is corrupt at its start.
                _ => Err(CorruptInput(si - len)),
            };
        };
        si += 1;
        if let Some(v) = sextet(c) {
            buf[len] = v;
            len += 1;
            continue;
        }
        if is_newline(c) {
            continue;
        }
        if c != PAD {
            return Err(CorruptInput(si - 1));
        }
        // Padding: only after two or three symbols.
        match len {
            0 | 1 => return Err(CorruptInput(si - 1)),
            2 => {
                while src.get(si).is_some_and(|&c| is_newline(c)) {
                    si += 1;
                }
                match src.get(si) {
                    None => return Err(CorruptInput(src.len())),
                    Some(&c) if c != PAD => return Err(CorruptInput(si - 1)),
                    Some(_) => si += 1,
                }
            }
            _ => {}
        }
        while src.get(si).is_some_and(|&c| is_newline(c)) {
            si += 1;
        }
        if si < src.len() {
            return Err(CorruptInput(si));
        }
        done = true;
        break;
    }
    let n = (u32::from(buf[0]) << 18)
        | (u32::from(buf[1]) << 12)
        | (u32::from(buf[2]) << 6)
        | u32::from(buf[3]);
    let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    out.extend_from_slice(&bytes[..len - 1]);
    Ok((si, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_with_padding() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foob"), "Zm9vYg==");
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn decodes_what_it_encodes() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(
                decode(encode(&all[..len]).as_bytes()),
                Ok(all[..len].to_vec())
            );
        }
    }

    #[test]
    fn skips_newlines_anywhere() {
        assert_eq!(decode(b"\nY\rQ=\n=\r\n"), Ok(b"a".to_vec()));
        assert_eq!(decode(b"Zm9v\nYmFy"), Ok(b"foobar".to_vec()));
    }

    #[test]
    fn accepts_nonzero_trailing_bits_as_go_does() {
        assert_eq!(decode(b"YR=="), Ok(b"a".to_vec()));
    }

    /// Offsets captured from etcd 3.4's gateway ("illegal base64 data at input byte N").
    #[test]
    fn refuses_with_go_offsets() {
        let cases: &[(&[u8], usize)] = &[
            (b"Zm9", 0),
            (b"YQ", 0),
            (b"Zm9vZm9", 4),
            (b"!!!", 0),
            (b"Y Q==", 1),
            (b"YQ=", 3),
            (b"YQ==YQ==", 4),
            (b"-_8=", 0),
            (b"Zm9v\0", 4),
            (b"=", 0),
            (b"Y=", 1),
            (b"YQ=x", 2),
        ];
        for (input, offset) in cases {
            assert_eq!(
                decode(input),
                Err(CorruptInput(*offset)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            CorruptInput(4).to_string(),
            "illegal base64 data at input byte 4"
        );
    }
}
