//! The wire format of the peer transport: raft messages as checksummed, length-prefixed
//! frames. This project's own compact binary layout; no I/O here.
//!
//! # Frames
//!
//! Every frame is a 13-byte header followed by a payload:
//!
//! ```text
//! magic "ERSP" (4) | version (u8) | payload length (u32) | crc32c(payload) (u32) | payload
//! ```
//!
//! Integers are big-endian. The payload's first byte is the frame kind:
//! - 1 hello: `cluster_id (u64) | from (u64) | to (u64)`, the first frame on a connection;
//! - 2 welcome: nothing more; the listener's answer when it accepts the hello;
//! - 3 refuse: a UTF-8 reason (at most [`MAX_REFUSE_REASON_BYTES`]); the listener's answer
//!   when it refuses the hello, after which it closes the connection;
//! - 4 message: one encoded [`Message`] (layout below);
//! - 5 chunk: `total length (u64) | offset (u64) | bytes`, a piece of one encoded message
//!   too large for a single frame;
//! - 6 members query: nothing more; sent instead of a hello by a member joining a
//!   cluster (`--initial-cluster-state existing`), which does not know its id yet;
//! - 7 members: the listener's answer to a members query, JSON (see
//!   [`crate::server::membership::ClusterInfo`]), after which it closes the connection;
//! - 8 ping: `sent at (u64)`, microseconds on the caller's own clock, written by the caller
//!   between batches of messages (never inside a chunked message);
//! - 9 pong: the listener's answer to a ping, `sent at` echoed; the only frame a listener
//!   writes after its welcome. The caller measures the round trip
//!   (`etcd_network_peer_round_trip_time_seconds`) without any clock shared with the peer.
//!
//! # Chunked transfer
//!
//! A payload is at most [`MAX_FRAME_PAYLOAD_BYTES`] (a bit over [`CHUNK_BYTES`], 1 MiB), so
//! a receiver never allocates more than that for a frame. A message whose encoding does
//! not fit (a snapshot, or a large append) is sent as consecutive chunk frames of at most
//! [`CHUNK_BYTES`] each, in order, on the same connection, with nothing in between; the
//! [`Reassembler`] puts them back together, refusing a message larger than its limit and
//! growing its buffer only as bytes actually arrive.
//!
//! # Message layout
//!
//! ```text
//! type (u8) | to (u64) | from (u64) | term (u64) | log_term (u64) | index (u64)
//! | commit (u64) | reject (u8: 0 or 1) | reject_hint (u64)
//! | context length (u32) | context
//! | entry count (u32) | per entry: type (u8) | term (u64) | index (u64) | length (u32) | data
//! | snapshot flag (u8: 0 or 1) | if 1: index (u64) | term (u64) | auto_leave (u8: 0 or 1)
//!     | voters, learners, voters_outgoing, learners_next: count (u32), ids (u64, increasing)
//!     | data length (u64) | data
//! ```
//!
//! Decoding checks every length and count against the bytes actually present before
//! allocating, refuses unknown codes, non-canonical booleans and sets, and trailing bytes.

use std::collections::BTreeSet;

use crate::raft::{
    ConfState, Entry, EntryType, LogIndex, Message, MessageType, NodeId, Snapshot,
    SnapshotMetadata, Term,
};
use crate::storage::crc32c;

/// The first bytes of every frame: "etcd-rs peer".
pub const MAGIC: [u8; 4] = *b"ERSP";

/// The protocol version this build speaks. A frame of another version is refused.
/// Version 2 added ping and pong (a version 1 listener would refuse a ping as an unknown
/// frame, so the versions do not mix).
pub const VERSION: u8 = 2;

/// Bytes of the frame header: magic, version, length, checksum.
pub const HEADER_BYTES: usize = 4 + 1 + 4 + 4;

/// The most bytes of an encoded message one chunk frame carries: 1 MiB.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Bytes of a chunk frame's payload before its data: kind, total length, offset.
const CHUNK_PREFIX_BYTES: usize = 1 + 8 + 8;

/// The largest payload a frame may declare; a longer one is refused before anything is
/// allocated for it.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = CHUNK_BYTES + CHUNK_PREFIX_BYTES;

/// The default limit on one reassembled message: etcd's default --quota-backend-bytes
/// (2 GiB), the size of the largest snapshot a default cluster produces, plus room for
/// the message around it.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = (2 << 30) + CHUNK_BYTES as u64;

/// The longest reason a refuse frame carries; longer ones are cut.
pub const MAX_REFUSE_REASON_BYTES: usize = 1024;

const KIND_HELLO: u8 = 1;
const KIND_WELCOME: u8 = 2;
const KIND_REFUSE: u8 = 3;
const KIND_MESSAGE: u8 = 4;
const KIND_CHUNK: u8 = 5;
const KIND_MEMBERS_QUERY: u8 = 6;
const KIND_MEMBERS: u8 = 7;
const KIND_PING: u8 = 8;
const KIND_PONG: u8 = 9;
const KIND_HASH_KV_QUERY: u8 = 10;
const KIND_HASH_KV: u8 = 11;

/// Bytes of a message's fixed fields, before context, entries and snapshot.
const MESSAGE_FIXED_BYTES: usize = 1 + 6 * 8 + 1 + 8;

/// The fewest bytes one encoded entry takes (empty data).
const ENTRY_MIN_BYTES: usize = 1 + 8 + 8 + 4;

/// Every message type, in the order of its wire code (the position in this list).
/// Codes MUST NOT be reordered: append new types at the end.
const MESSAGE_TYPES: [MessageType; 19] = [
    MessageType::Hup,
    MessageType::Beat,
    MessageType::Propose,
    MessageType::Append,
    MessageType::AppendResponse,
    MessageType::RequestVote,
    MessageType::RequestVoteResponse,
    MessageType::RequestPreVote,
    MessageType::RequestPreVoteResponse,
    MessageType::Snapshot,
    MessageType::Heartbeat,
    MessageType::HeartbeatResponse,
    MessageType::Unreachable,
    MessageType::SnapshotStatus,
    MessageType::CheckQuorum,
    MessageType::TransferLeader,
    MessageType::TimeoutNow,
    MessageType::ReadIndex,
    MessageType::ReadIndexResponse,
];

/// Why bytes from a peer could not be decoded. Any of these ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The frame does not start with [`MAGIC`]: not an etcd-rs peer speaking.
    #[error("bad frame magic {0:02x?}: the other side is not an etcd-rs peer")]
    BadMagic([u8; 4]),
    /// The frame is of a protocol version this build does not speak.
    #[error("peer protocol version {0} is not supported (this member speaks {VERSION})")]
    UnsupportedVersion(u8),
    /// The frame declares a payload longer than [`MAX_FRAME_PAYLOAD_BYTES`].
    #[error("frame payload of {0} bytes exceeds the limit of {MAX_FRAME_PAYLOAD_BYTES}")]
    FrameTooLarge(u64),
    /// The payload does not match the header's checksum.
    #[error("frame checksum mismatch")]
    ChecksumMismatch,
    /// A reassembled message would exceed the receiver's limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The size the sender announced.
        size: u64,
        /// The receiver's limit.
        limit: u64,
    },
    /// The frame is well framed but its content is impossible.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// The first frame of a connection: who is calling, for which cluster, and whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The caller's cluster; the listener refuses any other.
    pub cluster_id: u64,
    /// The calling member.
    pub from: NodeId,
    /// The member the caller means to reach; the listener refuses if it is someone else.
    pub to: NodeId,
}

/// A piece of an encoded message too large for one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The length of the whole encoded message.
    pub total_bytes: u64,
    /// Where `data` starts in the encoded message.
    pub offset: u64,
    /// At most [`CHUNK_BYTES`] of the encoded message.
    pub data: Vec<u8>,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A caller introduces itself.
    Hello(Hello),
    /// The listener accepts the hello.
    Welcome,
    /// The listener refuses the hello, and says why.
    Refuse(String),
    /// A whole message.
    Message(Box<Message>),
    /// A piece of a large message.
    Chunk(Chunk),
    /// A joining member asks for the cluster's members.
    MembersQuery,
    /// The cluster's members (JSON).
    Members(Vec<u8>),
    /// The caller asks for a pong; microseconds on its own clock.
    Ping(u64),
    /// The listener's answer to a ping, echoing it.
    Pong(u64),
    /// A member asks for the listener's HashKV at a revision (the corruption checks;
    /// etcd's `/members/hashkv` on the peer port).
    HashKvQuery(HashKvQuery),
    /// The listener's HashKV.
    HashKv(HashKvAnswer),
}

/// A HashKV query: the caller's cluster (the listener refuses any other) and the
/// revision to hash at (0: the current one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKvQuery {
    /// The caller's cluster.
    pub cluster_id: u64,
    /// The revision to hash at.
    pub revision: i64,
}

/// A member's HashKV, as its Maintenance service answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKvAnswer {
    /// etcd's HashKV of the store up to the revision asked for.
    pub hash: u32,
    /// The member's current revision.
    pub revision: i64,
    /// Its compacted revision.
    pub compacted: i64,
}

/// What a frame header says about the payload that follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes of payload that follow, at most [`MAX_FRAME_PAYLOAD_BYTES`].
    pub payload_len: usize,
    /// The payload's CRC-32C.
    pub crc: u32,
}

/// Appends one frame around the payload `write` produces.
fn push_frame(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 8]);
    let payload_start = out.len();
    write(out);
    let payload = &out[payload_start..];
    debug_assert!(payload.len() <= MAX_FRAME_PAYLOAD_BYTES, "frame too large");
    let len = (payload.len() as u32).to_be_bytes();
    let crc = crc32c(payload).to_be_bytes();
    out[start + 5..start + 9].copy_from_slice(&len);
    out[start + 9..start + 13].copy_from_slice(&crc);
}

/// Appends a hello frame.
pub fn encode_hello(hello: &Hello, out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_HELLO);
        out.extend_from_slice(&hello.cluster_id.to_be_bytes());
        out.extend_from_slice(&hello.from.0.to_be_bytes());
        out.extend_from_slice(&hello.to.0.to_be_bytes());
    });
}

/// Appends a members query frame.
pub fn encode_members_query(out: &mut Vec<u8>) {
    push_frame(out, |out| out.push(KIND_MEMBERS_QUERY));
}

/// Appends a members frame; `json` MUST fit one frame (checked by the caller).
pub fn encode_members(json: &[u8], out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_MEMBERS);
        out.extend_from_slice(json);
    });
}

/// Appends a HashKV query frame.
pub fn encode_hash_kv_query(query: &HashKvQuery, out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_HASH_KV_QUERY);
        out.extend_from_slice(&query.cluster_id.to_be_bytes());
        out.extend_from_slice(&query.revision.to_be_bytes());
    });
}

/// Appends a HashKV answer frame.
pub fn encode_hash_kv(answer: &HashKvAnswer, out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_HASH_KV);
        out.extend_from_slice(&answer.hash.to_be_bytes());
        out.extend_from_slice(&answer.revision.to_be_bytes());
        out.extend_from_slice(&answer.compacted.to_be_bytes());
    });
}

/// Appends a welcome frame.
pub fn encode_welcome(out: &mut Vec<u8>) {
    push_frame(out, |out| out.push(KIND_WELCOME));
}

/// Appends a ping frame carrying `sent_at_micros`.
pub fn encode_ping(sent_at_micros: u64, out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_PING);
        out.extend_from_slice(&sent_at_micros.to_be_bytes());
    });
}

/// Appends a pong frame echoing a ping's `sent_at_micros`.
pub fn encode_pong(sent_at_micros: u64, out: &mut Vec<u8>) {
    push_frame(out, |out| {
        out.push(KIND_PONG);
        out.extend_from_slice(&sent_at_micros.to_be_bytes());
    });
}

/// Appends a refuse frame; a reason longer than [`MAX_REFUSE_REASON_BYTES`] is cut at a
/// character boundary.
pub fn encode_refuse(reason: &str, out: &mut Vec<u8>) {
    let mut end = reason.len().min(MAX_REFUSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    push_frame(out, |out| {
        out.push(KIND_REFUSE);
        out.extend_from_slice(&reason.as_bytes()[..end]);
    });
}

/// Appends a message as one frame, or as chunk frames if it is too large for one.
pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
    let mut frames = MessageFrames::new(message);
    while frames.push_next(out) {}
}

/// A message encoded once and framed one frame at a time, so that a large snapshot is
/// never framed whole in memory: the writer flushes between frames.
pub struct MessageFrames {
    body: Vec<u8>,
    next_offset: usize,
    finished: bool,
}

impl MessageFrames {
    /// Encodes `message`.
    pub fn new(message: &Message) -> MessageFrames {
        MessageFrames {
            body: message_body(message),
            next_offset: 0,
            finished: false,
        }
    }

    /// The length of the encoded message, which the receiver checks against its limit.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Whether the message goes in chunk frames.
    pub fn is_chunked(&self) -> bool {
        1 + self.body.len() > MAX_FRAME_PAYLOAD_BYTES
    }

    /// Appends the next frame to `out`; false (and nothing appended) once all are out.
    pub fn push_next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.finished {
            return false;
        }
        if !self.is_chunked() {
            push_frame(out, |out| {
                out.push(KIND_MESSAGE);
                out.extend_from_slice(&self.body);
            });
            self.finished = true;
            return true;
        }
        let start = self.next_offset;
        let end = (start + CHUNK_BYTES).min(self.body.len());
        push_frame(out, |out| {
            out.push(KIND_CHUNK);
            out.extend_from_slice(&(self.body.len() as u64).to_be_bytes());
            out.extend_from_slice(&(start as u64).to_be_bytes());
            out.extend_from_slice(&self.body[start..end]);
        });
        self.next_offset = end;
        self.finished = end == self.body.len();
        true
    }
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_bytes_u32(out: &mut Vec<u8>, bytes: &[u8]) {
    // Entry data and contexts are bounded by --max-request-bytes, far below 4 GiB.
    debug_assert!(u32::try_from(bytes.len()).is_ok(), "field over 4 GiB");
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn conf_sets(cs: &ConfState) -> [&BTreeSet<NodeId>; 4] {
    [
        &cs.voters,
        &cs.learners,
        &cs.voters_outgoing,
        &cs.learners_next,
    ]
}

/// The length of [`message_body`]'s output, computed without encoding.
pub fn message_body_len(m: &Message) -> usize {
    let entries: usize = m
        .entries
        .iter()
        .map(|e| ENTRY_MIN_BYTES + e.data.len())
        .sum();
    let snapshot = m.snapshot.as_ref().map_or(0, |s| {
        let ids: usize = conf_sets(&s.metadata.conf_state)
            .iter()
            .map(|set| 4 + 8 * set.len())
            .sum();
        8 + 8 + 1 + ids + 8 + s.data.len()
    });
    MESSAGE_FIXED_BYTES + 4 + m.context.len() + 4 + entries + 1 + snapshot
}

/// The encoded message, without framing (see the module docs for the layout).
pub fn message_body(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(message_body_len(m));
    // Every type is in the table (the round-trip test covers each one).
    let code = MESSAGE_TYPES
        .iter()
        .position(|t| *t == m.msg_type)
        .unwrap_or_default();
    out.push(code as u8);
    for value in [
        m.to.0,
        m.from.0,
        m.term.0,
        m.log_term.0,
        m.index.0,
        m.commit.0,
    ] {
        put_u64(&mut out, value);
    }
    out.push(u8::from(m.reject));
    put_u64(&mut out, m.reject_hint.0);
    put_bytes_u32(&mut out, &m.context);
    out.extend_from_slice(&(m.entries.len() as u32).to_be_bytes());
    for entry in &m.entries {
        out.push(match entry.entry_type {
            EntryType::Normal => 0,
            EntryType::ConfChange => 1,
        });
        put_u64(&mut out, entry.term.0);
        put_u64(&mut out, entry.index.0);
        put_bytes_u32(&mut out, &entry.data);
    }
    match &m.snapshot {
        None => out.push(0),
        Some(snapshot) => {
            out.push(1);
            let meta = &snapshot.metadata;
            put_u64(&mut out, meta.index.0);
            put_u64(&mut out, meta.term.0);
            out.push(u8::from(meta.conf_state.auto_leave));
            for set in conf_sets(&meta.conf_state) {
                out.extend_from_slice(&(set.len() as u32).to_be_bytes());
                for id in set {
                    put_u64(&mut out, id.0);
                }
            }
            put_u64(&mut out, snapshot.data.len() as u64);
            out.extend_from_slice(&snapshot.data);
        }
    }
    debug_assert_eq!(out.len(), message_body_len(m), "message_body_len is off");
    out
}

/// A cursor over a payload; every read checks the bytes are there.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Malformed("truncated payload"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Malformed("boolean is neither 0 nor 1")),
        }
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(raw))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(raw))
    }

    /// A count of items of at least `min_item_bytes` each, checked against what is left
    /// so that a lying count cannot make the decoder allocate.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, CodecError> {
        let count = self.u32()? as usize;
        if count > self.0.len() / min_item_bytes {
            return Err(CodecError::Malformed("count exceeds the bytes present"));
        }
        Ok(count)
    }

    fn bytes_u32(&mut self) -> Result<Vec<u8>, CodecError> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn finish(self) -> Result<(), CodecError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CodecError::Malformed("trailing bytes"))
        }
    }
}

/// Decodes a message encoded by [`message_body`].
pub fn decode_message_body(body: &[u8]) -> Result<Message, CodecError> {
    let mut r = Reader(body);
    let msg_type = *MESSAGE_TYPES
        .get(r.u8()? as usize)
        .ok_or(CodecError::Malformed("unknown message type"))?;
    let mut m = Message::new(msg_type);
    m.to = NodeId(r.u64()?);
    m.from = NodeId(r.u64()?);
    m.term = Term(r.u64()?);
    m.log_term = Term(r.u64()?);
    m.index = LogIndex(r.u64()?);
    m.commit = LogIndex(r.u64()?);
    m.reject = r.bool()?;
    m.reject_hint = LogIndex(r.u64()?);
    m.context = r.bytes_u32()?;
    let count = r.count(ENTRY_MIN_BYTES)?;
    m.entries = Vec::with_capacity(count);
    for _ in 0..count {
        let entry_type = match r.u8()? {
            0 => EntryType::Normal,
            1 => EntryType::ConfChange,
            _ => return Err(CodecError::Malformed("unknown entry type")),
        };
        let term = Term(r.u64()?);
        let index = LogIndex(r.u64()?);
        let data = r.bytes_u32()?;
        m.entries.push(Entry {
            term,
            index,
            entry_type,
            data,
        });
    }
    if r.bool()? {
        m.snapshot = Some(decode_snapshot(&mut r)?);
    }
    r.finish()?;
    Ok(m)
}

fn decode_snapshot(r: &mut Reader<'_>) -> Result<Snapshot, CodecError> {
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let mut conf_state = ConfState {
        auto_leave: r.bool()?,
        ..ConfState::default()
    };
    for set in [
        &mut conf_state.voters,
        &mut conf_state.learners,
        &mut conf_state.voters_outgoing,
        &mut conf_state.learners_next,
    ] {
        let count = r.count(8)?;
        let mut previous = None;
        for _ in 0..count {
            let id = NodeId(r.u64()?);
            if previous.is_some_and(|p| p >= id) {
                return Err(CodecError::Malformed("node ids not in increasing order"));
            }
            previous = Some(id);
            set.insert(id);
        }
    }
    let len = r.u64()?;
    let len = usize::try_from(len).map_err(|_| CodecError::Malformed("snapshot too large"))?;
    let data = r.take(len)?.to_vec();
    Ok(Snapshot {
        data,
        metadata: SnapshotMetadata {
            conf_state,
            index,
            term,
        },
    })
}

/// Checks a frame header: magic, version, and a payload length within
/// [`MAX_FRAME_PAYLOAD_BYTES`].
pub fn decode_header(header: &[u8; HEADER_BYTES]) -> Result<FrameHeader, CodecError> {
    let magic = [header[0], header[1], header[2], header[3]];
    if magic != MAGIC {
        return Err(CodecError::BadMagic(magic));
    }
    if header[4] != VERSION {
        return Err(CodecError::UnsupportedVersion(header[4]));
    }
    let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    if len as usize > MAX_FRAME_PAYLOAD_BYTES {
        return Err(CodecError::FrameTooLarge(u64::from(len)));
    }
    if len == 0 {
        return Err(CodecError::Malformed("empty frame payload"));
    }
    let crc = u32::from_be_bytes([header[9], header[10], header[11], header[12]]);
    Ok(FrameHeader {
        payload_len: len as usize,
        crc,
    })
}

/// Checks a payload against its header's checksum and decodes it.
pub fn decode_payload(header: &FrameHeader, payload: &[u8]) -> Result<Frame, CodecError> {
    if payload.len() != header.payload_len {
        return Err(CodecError::Malformed(
            "payload length differs from the header",
        ));
    }
    if crc32c(payload) != header.crc {
        return Err(CodecError::ChecksumMismatch);
    }
    let mut r = Reader(payload);
    let frame = match r.u8()? {
        KIND_HELLO => Frame::Hello(Hello {
            cluster_id: r.u64()?,
            from: NodeId(r.u64()?),
            to: NodeId(r.u64()?),
        }),
        KIND_WELCOME => Frame::Welcome,
        KIND_MEMBERS_QUERY => Frame::MembersQuery,
        KIND_MEMBERS => Frame::Members(r.rest().to_vec()),
        KIND_PING => Frame::Ping(r.u64()?),
        KIND_PONG => Frame::Pong(r.u64()?),
        KIND_HASH_KV_QUERY => Frame::HashKvQuery(HashKvQuery {
            cluster_id: r.u64()?,
            revision: r.u64()? as i64,
        }),
        KIND_HASH_KV => Frame::HashKv(HashKvAnswer {
            hash: r.u32()?,
            revision: r.u64()? as i64,
            compacted: r.u64()? as i64,
        }),
        KIND_REFUSE => {
            let reason = r.rest();
            if reason.len() > MAX_REFUSE_REASON_BYTES {
                return Err(CodecError::Malformed("refuse reason too long"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| CodecError::Malformed("refuse reason is not UTF-8"))?;
            Frame::Refuse(reason.to_owned())
        }
        KIND_MESSAGE => Frame::Message(Box::new(decode_message_body(r.rest())?)),
        KIND_CHUNK => {
            let total_bytes = r.u64()?;
            let offset = r.u64()?;
            let data = r.rest().to_vec();
            if data.is_empty() {
                return Err(CodecError::Malformed("empty chunk"));
            }
            Frame::Chunk(Chunk {
                total_bytes,
                offset,
                data,
            })
        }
        _ => return Err(CodecError::Malformed("unknown frame kind")),
    };
    r.finish()?;
    Ok(frame)
}

/// Decodes the first frame of `buf`: `Ok(None)` if `buf` holds only part of it, else the
/// frame and the bytes it took.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, CodecError> {
    let Some(header) = buf.first_chunk::<HEADER_BYTES>() else {
        return Ok(None);
    };
    let header = decode_header(header)?;
    let end = HEADER_BYTES + header.payload_len;
    let Some(payload) = buf.get(HEADER_BYTES..end) else {
        return Ok(None);
    };
    Ok(Some((decode_payload(&header, payload)?, end)))
}

/// Puts chunked messages back together, one at a time.
///
/// Invariant: `buf.len() < total_bytes` while a message is in progress; `buf` grows only
/// by the chunks received, never by what a sender announces.
#[derive(Debug)]
pub struct Reassembler {
    max_message_bytes: u64,
    total_bytes: Option<u64>,
    buf: Vec<u8>,
}

impl Reassembler {
    /// A reassembler that refuses messages over `max_message_bytes`.
    pub fn new(max_message_bytes: u64) -> Reassembler {
        Reassembler {
            max_message_bytes,
            total_bytes: None,
            buf: Vec::new(),
        }
    }

    /// Whether a chunked message is partly received.
    pub fn in_progress(&self) -> bool {
        self.total_bytes.is_some()
    }

    /// Takes the next chunk; returns the message once its last chunk arrived. Chunks MUST
    /// come in order, without gaps; anything else is an error.
    pub fn push(&mut self, chunk: Chunk) -> Result<Option<Message>, CodecError> {
        let Chunk {
            total_bytes,
            offset,
            data,
        } = chunk;
        match self.total_bytes {
            None => {
                if total_bytes > self.max_message_bytes {
                    return Err(CodecError::MessageTooLarge {
                        size: total_bytes,
                        limit: self.max_message_bytes,
                    });
                }
                if offset != 0 {
                    return Err(CodecError::Malformed("chunked message does not start at 0"));
                }
                self.total_bytes = Some(total_bytes);
            }
            Some(expected) => {
                if total_bytes != expected {
                    return Err(CodecError::Malformed("chunk of another message"));
                }
                if offset != self.buf.len() as u64 {
                    return Err(CodecError::Malformed("chunk out of order"));
                }
            }
        }
        if offset + data.len() as u64 > total_bytes {
            return Err(CodecError::Malformed("chunk beyond the message's end"));
        }
        self.buf.extend_from_slice(&data);
        if (self.buf.len() as u64) < total_bytes {
            return Ok(None);
        }
        self.total_bytes = None;
        let body = std::mem::take(&mut self.buf);
        decode_message_body(&body).map(Some)
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
