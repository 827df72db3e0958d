use super::*;
use crate::raft::SeededRng;

fn random_bytes(rng: &mut SeededRng, max_len: u64) -> Vec<u8> {
    let len = rng.range(0, max_len + 1);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn random_ids(rng: &mut SeededRng) -> BTreeSet<NodeId> {
    (0..rng.range(0, 5))
        .map(|_| NodeId(rng.next_u64()))
        .collect()
}

/// A message of the given type with every field random, a snapshot half the time.
fn random_message(rng: &mut SeededRng, msg_type: MessageType) -> Message {
    let mut m = Message::new(msg_type);
    m.to = NodeId(rng.next_u64());
    m.from = NodeId(rng.next_u64());
    m.term = Term(rng.next_u64());
    m.log_term = Term(rng.next_u64());
    m.index = LogIndex(rng.next_u64());
    m.commit = LogIndex(rng.next_u64());
    m.reject = rng.chance(1, 2);
    m.reject_hint = LogIndex(rng.next_u64());
    m.context = random_bytes(rng, 16);
    m.entries = (0..rng.range(0, 6))
        .map(|_| Entry {
            term: Term(rng.next_u64()),
            index: LogIndex(rng.next_u64()),
            entry_type: if rng.chance(1, 2) {
                EntryType::Normal
            } else {
                EntryType::ConfChange
            },
            data: random_bytes(rng, 64),
        })
        .collect();
    if rng.chance(1, 2) {
        m.snapshot = Some(Snapshot {
            data: random_bytes(rng, 256),
            metadata: SnapshotMetadata {
                conf_state: ConfState {
                    voters: random_ids(rng),
                    learners: random_ids(rng),
                    voters_outgoing: random_ids(rng),
                    learners_next: random_ids(rng),
                    auto_leave: rng.chance(1, 2),
                },
                index: LogIndex(rng.next_u64()),
                term: Term(rng.next_u64()),
            },
        });
    }
    m
}

/// Decodes every frame of `bytes`, reassembling chunks, and returns the messages.
fn decode_all(mut bytes: &[u8]) -> Result<Vec<Message>, CodecError> {
    let mut out = Vec::new();
    let mut reassembler = Reassembler::new(DEFAULT_MAX_MESSAGE_BYTES);
    while !bytes.is_empty() {
        let (frame, used) = decode_frame(bytes)?.ok_or(CodecError::Malformed("incomplete"))?;
        bytes = &bytes[used..];
        match frame {
            Frame::Message(m) => out.push(*m),
            Frame::Chunk(chunk) => out.extend(reassembler.push(chunk)?),
            _ => return Err(CodecError::Malformed("not a message frame")),
        }
    }
    Ok(out)
}

#[test]
fn every_message_type_round_trips_with_random_content() {
    let mut rng = SeededRng::new(5);
    for round in 0..50 {
        for msg_type in MESSAGE_TYPES {
            let message = random_message(&mut rng, msg_type);
            let mut bytes = Vec::new();
            encode_message(&message, &mut bytes);
            let decoded = decode_all(&bytes)
                .unwrap_or_else(|e| panic!("round {round}: {msg_type:?} did not decode: {e}"));
            assert_eq!(
                decoded,
                vec![message],
                "round {round}: {msg_type:?} changed"
            );
        }
    }
}

#[test]
fn empty_message_and_extreme_values_round_trip() {
    let mut m = Message::new(MessageType::Heartbeat);
    let mut bytes = Vec::new();
    encode_message(&m, &mut bytes);
    assert_eq!(decode_all(&bytes), Ok(vec![m.clone()]));
    m.term = Term(u64::MAX);
    m.snapshot = Some(Snapshot::default());
    bytes.clear();
    encode_message(&m, &mut bytes);
    assert_eq!(decode_all(&bytes), Ok(vec![m]));
}

#[test]
fn control_frames_round_trip() {
    let hello = Hello {
        cluster_id: 0xdead_beef,
        from: NodeId(1),
        to: NodeId(u64::MAX),
    };
    let mut bytes = Vec::new();
    encode_hello(&hello, &mut bytes);
    encode_welcome(&mut bytes);
    encode_refuse("cluster ID mismatch", &mut bytes);
    encode_ping(u64::MAX - 1, &mut bytes);
    encode_pong(7, &mut bytes);
    let query = HashKvQuery {
        cluster_id: 3,
        revision: -1,
    };
    let answer = HashKvAnswer {
        hash: u32::MAX,
        revision: i64::MAX,
        compacted: 0,
    };
    encode_hash_kv_query(&query, &mut bytes);
    encode_hash_kv(&answer, &mut bytes);
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while let Some((frame, used)) = decode_frame(rest).unwrap() {
        frames.push(frame);
        rest = &rest[used..];
    }
    assert_eq!(
        frames,
        [
            Frame::Hello(hello),
            Frame::Welcome,
            Frame::Refuse("cluster ID mismatch".into()),
            Frame::Ping(u64::MAX - 1),
            Frame::Pong(7),
            Frame::HashKvQuery(query),
            Frame::HashKv(answer),
        ]
    );
}

#[test]
fn a_long_refuse_reason_is_cut_at_a_character_boundary() {
    let reason = "é".repeat(MAX_REFUSE_REASON_BYTES);
    let mut bytes = Vec::new();
    encode_refuse(&reason, &mut bytes);
    let Some((Frame::Refuse(got), _)) = decode_frame(&bytes).unwrap() else {
        panic!("not a refuse frame");
    };
    assert!(got.len() <= MAX_REFUSE_REASON_BYTES && reason.starts_with(&got));
}

#[test]
fn a_message_larger_than_one_chunk_is_chunked_and_reassembled() {
    let mut rng = SeededRng::new(9);
    let mut m = random_message(&mut rng, MessageType::Snapshot);
    let mut snapshot = m.snapshot.take().unwrap_or_default();
    snapshot.data = (0..(2 * CHUNK_BYTES + 12345))
        .map(|_| rng.next_u64() as u8)
        .collect();
    m.snapshot = Some(snapshot);
    let frames = MessageFrames::new(&m);
    assert!(frames.is_chunked());
    let mut bytes = Vec::new();
    encode_message(&m, &mut bytes);
    let mut count = 0;
    let mut rest = &bytes[..];
    while let Some((frame, used)) = decode_frame(rest).unwrap() {
        assert!(
            matches!(frame, Frame::Chunk(_)),
            "frame {count} not a chunk"
        );
        assert!(used <= HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES);
        rest = &rest[used..];
        count += 1;
    }
    assert_eq!(count, 3, "a message of 2 MiB and a bit takes 3 chunks");
    assert_eq!(decode_all(&bytes), Ok(vec![m]));
}

#[test]
fn every_truncation_of_a_frame_is_incomplete_never_an_error_or_a_frame() {
    let mut rng = SeededRng::new(11);
    let m = random_message(&mut rng, MessageType::Append);
    let mut bytes = Vec::new();
    encode_message(&m, &mut bytes);
    for len in 0..bytes.len() {
        assert_eq!(
            decode_frame(&bytes[..len]),
            Ok(None),
            "prefix of {len} bytes"
        );
    }
}

#[test]
fn garbled_frames_are_rejected_with_the_reason() {
    let mut rng = SeededRng::new(12);
    let m = random_message(&mut rng, MessageType::Append);
    let mut good = Vec::new();
    encode_message(&m, &mut good);

    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(decode_frame(&bad), Err(CodecError::BadMagic(_))));

    let mut bad = good.clone();
    bad[4] = VERSION + 1;
    assert_eq!(
        decode_frame(&bad),
        Err(CodecError::UnsupportedVersion(VERSION + 1))
    );

    let mut bad = good.clone();
    bad[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        decode_frame(&bad),
        Err(CodecError::FrameTooLarge(u64::from(u32::MAX)))
    );

    for position in HEADER_BYTES..good.len() {
        let mut bad = good.clone();
        bad[position] ^= 0x40;
        assert_eq!(
            decode_frame(&bad),
            Err(CodecError::ChecksumMismatch),
            "flipped bit at {position}"
        );
    }
}

/// Frames a payload with a correct checksum, to reach the payload checks.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_frame(&mut out, |out| out.extend_from_slice(payload));
    out
}

#[test]
fn well_framed_but_malformed_payloads_are_rejected() {
    let malformed = |payload: &[u8]| {
        matches!(
            decode_frame(&framed(payload)),
            Err(CodecError::Malformed(_))
        )
    };
    assert!(malformed(&[99]), "unknown kind");
    assert!(malformed(&[KIND_HELLO, 1, 2]), "short hello");
    assert!(malformed(&[KIND_WELCOME, 0]), "trailing bytes");
    assert!(malformed(&[KIND_REFUSE, 0xff, 0xfe]), "reason not UTF-8");
    assert!(malformed(&[KIND_CHUNK, 0, 0]), "short chunk");
    assert!(malformed(&[KIND_PING, 0, 0]), "short ping");
    assert!(
        malformed(&[KIND_PONG, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        "long pong"
    );

    let mut body = message_body(&Message::new(MessageType::Append));
    body[0] = MESSAGE_TYPES.len() as u8;
    assert!(
        malformed(&[&[KIND_MESSAGE][..], &body].concat()),
        "unknown type"
    );

    let mut body = message_body(&Message::new(MessageType::Append));
    body[MESSAGE_FIXED_BYTES - 9] = 2;
    assert!(malformed(&[&[KIND_MESSAGE][..], &body].concat()), "bool 2");

    // An entry count of 2^32 - 1 with no entries present: refused, not allocated.
    let mut body = message_body(&Message::new(MessageType::Append));
    let count_at = MESSAGE_FIXED_BYTES + 4;
    body[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(
        malformed(&[&[KIND_MESSAGE][..], &body].concat()),
        "huge count"
    );

    let mut body = message_body(&Message::new(MessageType::Append));
    body.push(0);
    assert!(
        malformed(&[&[KIND_MESSAGE][..], &body].concat()),
        "trailing"
    );

    // Voters listed out of order.
    let mut m = Message::new(MessageType::Snapshot);
    m.snapshot = Some(Snapshot::default());
    let mut body = message_body(&m);
    let sets_at = body.len() - 8 - 4 * 4;
    let mut patched = body[..sets_at].to_vec();
    patched.extend_from_slice(&2u32.to_be_bytes());
    patched.extend_from_slice(&5u64.to_be_bytes());
    patched.extend_from_slice(&3u64.to_be_bytes());
    patched.extend_from_slice(&body[sets_at + 4..]);
    body = patched;
    assert!(
        malformed(&[&[KIND_MESSAGE][..], &body].concat()),
        "unordered ids"
    );
}

#[test]
fn reassembler_refuses_oversized_out_of_order_and_overlong_chunks() {
    let chunk = |total_bytes, offset, data: &[u8]| Chunk {
        total_bytes,
        offset,
        data: data.to_vec(),
    };
    let mut r = Reassembler::new(100);
    assert_eq!(
        r.push(chunk(101, 0, b"x")),
        Err(CodecError::MessageTooLarge {
            size: 101,
            limit: 100
        })
    );
    let mut r = Reassembler::new(100);
    assert!(r.push(chunk(10, 3, b"x")).is_err(), "first chunk not at 0");
    let mut r = Reassembler::new(100);
    assert_eq!(r.push(chunk(10, 0, b"abc")), Ok(None));
    assert!(r.in_progress());
    assert!(r.push(chunk(10, 4, b"x")).is_err(), "gap");
    let mut r = Reassembler::new(100);
    assert_eq!(r.push(chunk(10, 0, b"abc")), Ok(None));
    assert!(r.push(chunk(11, 3, b"x")).is_err(), "another total");
    let mut r = Reassembler::new(100);
    assert!(r.push(chunk(2, 0, b"abc")).is_err(), "past the end");
}

#[test]
fn random_bytes_never_panic_and_never_decode_to_a_frame_by_accident() {
    let mut rng = SeededRng::new(13);
    let mut reassembler = Reassembler::new(1 << 20);
    for _ in 0..20_000 {
        let bytes = random_bytes(&mut rng, 200);
        assert!(!matches!(decode_frame(&bytes), Ok(Some(_))));
        // Payload decoding behind a valid header and checksum: errors, never panics.
        if let Ok(Some((Frame::Chunk(chunk), _))) = decode_frame(&framed(&bytes)) {
            let _ = reassembler.push(chunk);
        }
        let _ = decode_message_body(&bytes);
    }
}

#[test]
fn mutated_valid_messages_never_panic() {
    let mut rng = SeededRng::new(14);
    for _ in 0..5_000 {
        let msg_type = MESSAGE_TYPES[rng.range(0, MESSAGE_TYPES.len() as u64) as usize];
        let mut body = message_body(&random_message(&mut rng, msg_type));
        for _ in 0..rng.range(1, 4) {
            let at = rng.range(0, body.len() as u64) as usize;
            body[at] = rng.next_u64() as u8;
        }
        let cut = rng.range(0, body.len() as u64 + 1) as usize;
        let _ = decode_message_body(&body[..cut]);
        let _ = decode_frame(&framed(&[&[KIND_MESSAGE][..], &body].concat()));
    }
}
