//! A hand-written HTTP/2 client just capable enough to send one gRPC request with any
//! payload (well-formed or not) and see how the stream ends. No HTTP/2 crate: the point is
//! to send what a well-behaved client never would.
//!
//! Request headers are HPACK literals without Huffman coding or indexing (valid HPACK).
//! Response headers are not decoded (they may be Huffman-coded): an outcome reports
//! whether response messages came back and how the stream ended, which is enough to tell
//! an answer from an error.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The connection preface every HTTP/2 client sends first (RFC 9113, 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const FRAME_DATA: u8 = 0x0;
pub const FRAME_HEADERS: u8 = 0x1;
pub const FRAME_RST_STREAM: u8 = 0x3;
pub const FRAME_SETTINGS: u8 = 0x4;
pub const FRAME_PING: u8 = 0x6;
pub const FRAME_GOAWAY: u8 = 0x7;
pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;

/// How long to wait for the end of a response stream.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);

/// How a request's stream ended, as seen by the client.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The gRPC messages (length-prefix removed) that came back on the stream.
    pub messages: Vec<Vec<u8>>,
    /// HEADERS frames on the stream (response headers and trailers).
    pub header_frames: usize,
    /// The stream ended with END_STREAM from the server.
    pub ended: bool,
    /// The server reset the stream with this error code.
    pub reset: Option<u32>,
    /// The server sent GOAWAY.
    pub goaway: bool,
    /// The server closed the connection.
    pub closed: bool,
}

impl Outcome {
    /// The server answered with a gRPC error: no response message, and the stream ended
    /// with headers (which carry grpc-status; etcd sends one trailers-only HEADERS frame),
    /// not with a reset, GOAWAY or a closed connection. The status code itself is not
    /// decoded (response headers may be Huffman-coded).
    pub fn is_grpc_error(&self) -> bool {
        self.messages.is_empty()
            && self.ended
            && self.header_frames > 0
            && self.reset.is_none()
            && !self.goaway
            && !self.closed
    }
}

/// One frame as read.
struct Frame {
    kind: u8,
    flags: u8,
    id: u32,
    payload: Vec<u8>,
}

/// One client connection.
pub struct H2Conn {
    stream: TcpStream,
    addr: SocketAddr,
}

impl H2Conn {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub fn connect(addr: SocketAddr) -> io::Result<H2Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut conn = H2Conn { stream, addr };
        conn.stream.write_all(PREFACE)?;
        conn.send_frame(FRAME_SETTINGS, 0, 0, &[])?;
        Ok(conn)
    }

    /// Sends one frame as given (any type, flags, stream and payload).
    pub fn send_frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        let len = u32::try_from(payload.len()).expect("frame payload fits u32");
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&len.to_be_bytes()[1..]);
        frame.push(kind);
        frame.push(flags);
        frame.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Sends raw bytes on the connection.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a unary gRPC request on `stream_id` to `path` (e.g.
    /// `/etcdserverpb.KV/Range`) whose body is `body` exactly: the caller writes the
    /// 5-byte gRPC length prefix (see `grpc_frame`), so it can also write a wrong one.
    pub fn send_grpc_request(&mut self, stream_id: u32, path: &str, body: &[u8]) -> io::Result<()> {
        let authority = self.addr.to_string();
        let headers: [(&str, &str); 6] = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", &authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ];
        let mut block = Vec::new();
        for (name, value) in headers {
            hpack_literal(&mut block, name, value);
        }
        self.send_frame(FRAME_HEADERS, FLAG_END_HEADERS, stream_id, &block)?;
        self.send_frame(FRAME_DATA, FLAG_END_STREAM, stream_id, body)
    }

    /// Reads frames until `stream_id` ends, the server resets it, sends GOAWAY or closes
    /// the connection, or `RESPONSE_TIMEOUT` passes. Acknowledges SETTINGS and PING as a
    /// client must.
    pub fn read_outcome(&mut self, stream_id: u32) -> io::Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut data = Vec::new();
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left))?;
            let Some(Frame {
                kind,
                flags,
                id,
                payload,
            }) = self.read_frame()?
            else {
                outcome.closed = true;
                break;
            };
            match kind {
                FRAME_SETTINGS if flags & FLAG_ACK == 0 => {
                    self.send_frame(FRAME_SETTINGS, FLAG_ACK, 0, &[])?;
                }
                FRAME_PING if flags & FLAG_ACK == 0 => {
                    self.send_frame(FRAME_PING, FLAG_ACK, 0, &payload)?;
                }
                FRAME_GOAWAY => {
                    outcome.goaway = true;
                    break;
                }
                FRAME_RST_STREAM if id == stream_id => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
                    outcome.reset = Some(code);
                    break;
                }
                FRAME_DATA if id == stream_id => data.extend_from_slice(&payload),
                FRAME_HEADERS if id == stream_id => outcome.header_frames += 1,
                _ => {}
            }
            if id == stream_id
                && (kind == FRAME_DATA || kind == FRAME_HEADERS)
                && flags & FLAG_END_STREAM != 0
            {
                outcome.ended = true;
                break;
            }
        }
        outcome.messages = split_grpc_messages(&data);
        Ok(outcome)
    }

    /// The server's first SETTINGS frame, as (identifier, value) pairs (RFC 9113,
    /// 6.5.1), acknowledged. Waits up to `RESPONSE_TIMEOUT`.
    pub fn server_settings(&mut self) -> io::Result<Vec<(u16, u32)>> {
        self.stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
        loop {
            let Some(frame) = self.read_frame()? else {
                return Err(io::Error::other("closed before the server's SETTINGS"));
            };
            if frame.kind == FRAME_SETTINGS && frame.flags & FLAG_ACK == 0 {
                self.send_frame(FRAME_SETTINGS, FLAG_ACK, 0, &[])?;
                return Ok(frame
                    .payload
                    .chunks_exact(6)
                    .map(|c| {
                        (
                            u16::from_be_bytes([c[0], c[1]]),
                            u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                        )
                    })
                    .collect());
            }
        }
    }

    /// Reads frames for up to `timeout`, answering SETTINGS but never a PING. Returns
    /// how many PINGs the server sent and whether it then closed the connection (or
    /// sent GOAWAY) before `timeout`.
    pub fn idle_without_answering_pings(&mut self, timeout: Duration) -> io::Result<(u32, bool)> {
        let deadline = Instant::now() + timeout;
        let mut pings = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok((pings, false));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.read_frame() {
                Ok(None) => return Ok((pings, true)),
                Ok(Some(frame)) => match frame.kind {
                    FRAME_GOAWAY => return Ok((pings, true)),
                    FRAME_PING if frame.flags & FLAG_ACK == 0 => pings += 1,
                    FRAME_SETTINGS if frame.flags & FLAG_ACK == 0 => {
                        self.send_frame(FRAME_SETTINGS, FLAG_ACK, 0, &[])?;
                    }
                    _ => {}
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok((pings, false));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One frame, or None when the server closed the connection (or reset it).
    fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut header = [0u8; 9];
        match self.stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        match self.stream.read_exact(&mut payload) {
            Ok(()) => Ok(Some(Frame {
                kind: header[3],
                flags: header[4],
                id,
                payload,
            })),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A gRPC message frame: flag 0 (not compressed), 4-byte big-endian length, message.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).expect("fits").to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Splits the concatenated DATA of a response into gRPC messages (a trailing partial one
/// is kept as it is).
fn split_grpc_messages(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    while data.len() >= 5 {
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        let end = (5 + len).min(data.len());
        messages.push(data[5..end].to_vec());
        data = &data[end..];
    }
    if !data.is_empty() {
        messages.push(data.to_vec());
    }
    messages
}

/// An HPACK "literal header field without indexing, new name", strings not Huffman-coded
/// (RFC 7541, 6.2.2).
fn hpack_literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    for text in [name, value] {
        hpack_int(block, 7, 0x00, text.len());
        block.extend_from_slice(text.as_bytes());
    }
}

/// An HPACK integer with an N-bit prefix (RFC 7541, 5.1); `high` holds the bits above it.
fn hpack_int(block: &mut Vec<u8>, prefix_bits: u32, high: u8, mut value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        block.push(high | value as u8);
        return;
    }
    block.push(high | max as u8);
    value -= max;
    while value >= 128 {
        block.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    block.push(value as u8);
}

/// Protobuf encoding, just enough to write requests by hand: each function appends one
/// field to `out`.
pub mod pb {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// A varint field (int64, enum, bool).
    pub fn uint(out: &mut Vec<u8>, field: u64, value: u64) {
        varint(out, field << 3);
        varint(out, value);
    }

    /// A length-delimited field (bytes, string, nested message).
    pub fn bytes(out: &mut Vec<u8>, field: u64, value: &[u8]) {
        varint(out, (field << 3) | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}
