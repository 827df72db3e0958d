//! Repairs the `:authority` of gRPC requests from etcd 3.4's Go clients.
//!
//! etcd 3.4's clientv3 dials some endpoints with gRPC's passthrough resolver, which
//! sends the endpoint as written, URL scheme included, as the HTTP/2 `:authority`
//! (`http://127.0.0.1:2379`); `etcdctl --endpoints http://... endpoint status` does. Go's
//! gRPC server takes it; the h2 crate under tonic refuses it as a malformed header and
//! resets the stream (PROTOCOL_ERROR). So the client port reads each gRPC connection
//! through [`AuthorityFix`]: it decodes the connection's first header block; if the
//! authority is a URL, it rewrites every header block of the connection (decoded with the
//! client's HPACK state, re-encoded with its own) with the authority reduced to
//! `host:port`. Otherwise it steps aside and the connection is read directly.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use super::tls::{ClientConnectInfo, ClientStream};

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// The frame size every HTTP/2 peer accepts (SETTINGS_MAX_FRAME_SIZE's default).
const FRAME_SIZE_MIN: usize = 16_384;
/// A header block larger than this is refused (h2's own default limit is 16 KiB of
/// decoded headers; a gRPC request's are a few hundred bytes).
const HEADER_BLOCK_MAX: usize = 1 << 20;
/// How much is read from the socket at a time while frames are parsed.
const READ_CHUNK: usize = 16 * 1024;

enum Mode {
    /// Parsing frames until the first header block shows whether to rewrite.
    Inspect,
    /// Rewriting every header block.
    Rewrite,
    /// Reading the socket directly.
    Passthrough,
}

/// A gRPC connection whose URL-shaped `:authority` is repaired on the way in.
pub struct AuthorityFix {
    inner: ClientStream,
    /// The connection's addresses and client certificate identity, read once.
    info: ClientConnectInfo,
    /// The connection's place among the process's client connections, given back when
    /// the connection is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
    mode: Mode,
    /// Bytes read but not yet parsed.
    raw: Vec<u8>,
    /// Bytes ready for the reader.
    out: Vec<u8>,
    out_pos: usize,
    preface_seen: bool,
    /// A header block being collected: its stream, END_STREAM flag and fragments.
    block: Option<(u32, u8, Vec<u8>)>,
    /// The original frames of that block, sent as they are if no repair is needed.
    held: Vec<u8>,
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
    eof: bool,
    /// Resolves when the member's client port stops: the connection fails from then on.
    stopped: super::Stopped,
}

impl AuthorityFix {
    /// Wraps an accepted connection that opened with the HTTP/2 preface.
    pub fn new(
        inner: ClientStream,
        stopped: super::Stopped,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> AuthorityFix {
        AuthorityFix {
            stopped,
            info: inner.connect_info(),
            inner,
            _permit: permit,
            mode: Mode::Inspect,
            raw: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            preface_seen: false,
            block: None,
            held: Vec::new(),
            decoder: loona_hpack::Decoder::new(),
            encoder: loona_hpack::Encoder::new(),
            eof: false,
        }
    }

    /// Parses the complete frames in `raw` into `out`.
    fn process(&mut self) -> io::Result<()> {
        if !self.preface_seen {
            if self.raw.len() < PREFACE_LEN {
                return Ok(());
            }
            self.out.extend(self.raw.drain(..PREFACE_LEN));
            self.preface_seen = true;
        }
        loop {
            if matches!(self.mode, Mode::Passthrough) {
                self.out.append(&mut self.raw);
                return Ok(());
            }
            if self.raw.len() < FRAME_HEADER_LEN {
                return Ok(());
            }
            let len = usize::from(self.raw[0]) << 16
                | usize::from(self.raw[1]) << 8
                | usize::from(self.raw[2]);
            if self.raw.len() < FRAME_HEADER_LEN + len {
                return Ok(());
            }
            let frame: Vec<u8> = self.raw.drain(..FRAME_HEADER_LEN + len).collect();
            let (kind, flags) = (frame[3], frame[4]);
            let stream = u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff;
            let payload = &frame[FRAME_HEADER_LEN..];
            match kind {
                FRAME_HEADERS => {
                    let fragment = strip_headers_payload(flags, payload)?.to_vec();
                    self.block = Some((stream, flags & FLAG_END_STREAM, fragment));
                    self.end_of_frame(flags, &frame)?;
                }
                FRAME_CONTINUATION if self.block.is_some() => {
                    if let Some((_, _, fragment)) = self.block.as_mut() {
                        fragment.extend_from_slice(payload);
                        if fragment.len() > HEADER_BLOCK_MAX {
                            return Err(io::Error::other("header block too large"));
                        }
                    }
                    self.end_of_frame(flags, &frame)?;
                }
                _ => self.out.extend_from_slice(&frame),
            }
        }
    }

    /// After a frame of a header block: at the block's end, decide or rewrite.
    fn end_of_frame(&mut self, flags: u8, frame: &[u8]) -> io::Result<()> {
        self.held.extend_from_slice(frame);
        if flags & FLAG_END_HEADERS == 0 {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let Some((stream, end_stream, fragment)) = self.block.take() else {
            return Ok(());
        };
        let headers = self
            .decoder
            .decode(&fragment)
            .map_err(|e| io::Error::other(format!("malformed header block: {e:?}")))?;
        if matches!(self.mode, Mode::Inspect) {
            if headers.iter().any(|(n, v)| needs_repair(n, v)) {
                self.mode = Mode::Rewrite;
            } else {
                self.mode = Mode::Passthrough;
                self.out.extend_from_slice(&held);
                return Ok(());
            }
        }
        let repaired: Vec<(Vec<u8>, Vec<u8>)> = headers
            .into_iter()
            .map(|(name, value)| {
                let value = if needs_repair(&name, &value) {
                    repair(&value)
                } else {
                    value
                };
                (name, value)
            })
            .collect();
        let block = self
            .encoder
            .encode(repaired.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let chunks: Vec<&[u8]> = if block.is_empty() {
            vec![&[][..]]
        } else {
            block.chunks(FRAME_SIZE_MIN).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let (kind, mut flags) = if i == 0 {
                (FRAME_HEADERS, end_stream)
            } else {
                (FRAME_CONTINUATION, 0)
            };
            if last {
                flags |= FLAG_END_HEADERS;
            }
            let len = chunk.len();
            self.out.extend_from_slice(&[
                (len >> 16) as u8,
                (len >> 8) as u8,
                len as u8,
                kind,
                flags,
            ]);
            self.out.extend_from_slice(&stream.to_be_bytes());
            self.out.extend_from_slice(chunk);
        }
        Ok(())
    }
}

/// The header block fragment of a HEADERS payload, without padding and priority.
fn strip_headers_payload(flags: u8, payload: &[u8]) -> io::Result<&[u8]> {
    let malformed = || io::Error::other("malformed HEADERS frame");
    let (pad, mut rest) = if flags & FLAG_PADDED != 0 {
        let (&pad, rest) = payload.split_first().ok_or_else(malformed)?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    if flags & FLAG_PRIORITY != 0 {
        rest = rest.get(5..).ok_or_else(malformed)?;
    }
    let end = rest.len().checked_sub(pad).ok_or_else(malformed)?;
    Ok(&rest[..end])
}

fn needs_repair(name: &[u8], value: &[u8]) -> bool {
    name == b":authority" && (value.windows(3).any(|w| w == b"://") || value.contains(&b'/'))
}

/// `http://host:port/path` → `host:port`.
fn repair(value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let after_scheme = text.rsplit("://").next().unwrap_or_default();
    let host = after_scheme.split('/').next().unwrap_or_default();
    if host.is_empty() {
        b"localhost".to_vec()
    } else {
        host.as_bytes().to_vec()
    }
}

impl AsyncRead for AuthorityFix {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(super::port_stopped()));
        }
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if matches!(this.mode, Mode::Passthrough) && this.raw.is_empty() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut chunk_buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk_buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = chunk_buf.filled();
                    if filled.is_empty() {
                        // The peer closed: hand over what is left as it is.
                        this.eof = true;
                        this.out.append(&mut this.raw);
                        continue;
                    }
                    this.raw.extend_from_slice(filled);
                    this.process()?;
                }
            }
        }
    }
}

impl AsyncWrite for AuthorityFix {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(super::port_stopped()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for AuthorityFix {
    type ConnectInfo = ClientConnectInfo;

    fn connect_info(&self) -> ClientConnectInfo {
        self.info.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_authorities_are_reduced_to_host_and_port() {
        assert!(needs_repair(b":authority", b"http://127.0.0.1:2379"));
        assert!(!needs_repair(b":authority", b"127.0.0.1:2379"));
        assert!(!needs_repair(b":path", b"/etcdserverpb.KV/Range"));
        assert_eq!(repair(b"http://127.0.0.1:2379"), b"127.0.0.1:2379");
        assert_eq!(repair(b"passthrough:///http://h:1/x"), b"h:1");
        assert_eq!(repair(b"unix:///"), b"localhost");
    }

    #[test]
    fn padding_and_priority_are_stripped_from_headers_payloads() {
        let payload = [2u8, 0, 0, 0, 1, 9, 0xaa, 0xbb, 0, 0];
        let fragment = strip_headers_payload(FLAG_PADDED | FLAG_PRIORITY, &payload).unwrap();
        assert_eq!(fragment, &[0xaa, 0xbb]);
        assert!(strip_headers_payload(FLAG_PADDED, &[9, 1]).is_err());
    }
}
