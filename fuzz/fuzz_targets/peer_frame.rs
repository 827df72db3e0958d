//! The bytes a member reads from a peer (`transport/codec.rs`), as the peer listener and
//! the peer writer read them: frames one after another (`decode_frame`: `decode_header`,
//! then `decode_payload`, which decodes a message with `decode_message_body`), chunked
//! messages put back together (`Reassembler`, at the default limit), and the members
//! answer a joining member reads (`ClusterInfo::decode`).
//!
//! The first input byte picks how the rest is read, since a mutated frame almost never
//! matches its CRC-32C:
//! - 0: as it is;
//! - 1: a stream of frames whose checksums are put right first (lengths as they are);
//! - 2: one frame's payload, framed with its length and checksum;
//! - 3: a message body alone (`decode_message_body`) and a frame header alone.

#![no_main]

use etcd_rs::server::membership::ClusterInfo;
use etcd_rs::storage::crc32c;
use etcd_rs::transport::codec::{
    DEFAULT_MAX_MESSAGE_BYTES, Frame, HEADER_BYTES, MAGIC, MAX_FRAME_PAYLOAD_BYTES, Reassembler,
    VERSION, decode_frame, decode_header, decode_message_body,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => read_stream(rest),
        1 => {
            let mut stream = rest.to_vec();
            fix_checksums(&mut stream);
            read_stream(&stream);
        }
        2 => {
            if rest.len() > MAX_FRAME_PAYLOAD_BYTES {
                return;
            }
            let mut frame = MAGIC.to_vec();
            frame.push(VERSION);
            frame.extend_from_slice(&(rest.len() as u32).to_be_bytes());
            frame.extend_from_slice(&crc32c(rest).to_be_bytes());
            frame.extend_from_slice(rest);
            read_stream(&frame);
        }
        _ => {
            let _ = decode_message_body(rest);
            if let Some(header) = rest.first_chunk::<HEADER_BYTES>() {
                let _ = decode_header(header);
            }
        }
    }
});

/// Reads frames until the bytes run out or one is refused (the connection's end).
fn read_stream(mut buf: &[u8]) {
    let mut reassembler = Reassembler::new(DEFAULT_MAX_MESSAGE_BYTES);
    while let Ok(Some((frame, used))) = decode_frame(buf) {
        buf = &buf[used..];
        // The listener ends the connection on a bad chunk, and on a whole message in
        // the middle of a chunked one.
        let refused = match frame {
            Frame::Chunk(chunk) => reassembler.push(chunk).is_err(),
            Frame::Members(json) => ClusterInfo::decode(&json).is_err(),
            Frame::Message(_) => reassembler.in_progress(),
            _ => false,
        };
        if refused {
            return;
        }
    }
}

/// Writes each frame's checksum over its payload, walking the frames by their lengths.
fn fix_checksums(stream: &mut [u8]) {
    let mut at = 0;
    while let Some(header) = stream.get(at..at + HEADER_BYTES) {
        let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let end = at + HEADER_BYTES + len;
        let Some(payload) = stream.get(at + HEADER_BYTES..end) else {
            return;
        };
        let crc = crc32c(payload).to_be_bytes();
        stream[at + 9..at + 13].copy_from_slice(&crc);
        at = end;
    }
}
