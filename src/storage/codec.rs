//! The on-disk encoding of the raft log's records: this project's own compact binary
//! format, framed with a format version and a CRC-32C.
//!
//! Every value is `version (u8) | payload | crc32c(version | payload) (u32, little endian)`.
//! Integers in payloads are big-endian. Payloads:
//! - entry: `type (u8: 0 normal, 1 conf change) | term (u64) | index (u64) | data (rest)`;
//! - hard state: `term (u64) | vote (u64) | commit (u64)`;
//! - snapshot metadata: `index (u64) | term (u64) | auto_leave (u8)`, then four node-id
//!   sets (`voters`, `learners`, `voters_outgoing`, `learners_next`), each a count (u32)
//!   and that many ids (u64);
//! - snapshot data: the bytes as they are.
//!
//! Keys of the `raft_log` keyspace are the entry index as a big-endian u64, so that key
//! order is index order and range scans come out in log order.

use std::collections::BTreeSet;
use std::fmt;

use super::crc::crc32c;
use crate::raft::{
    ConfState, Entry, EntryType, HardState, LogIndex, NodeId, SnapshotMetadata, Term,
};

/// The version byte written in front of every record. A record with another version is
/// refused (a newer member's data, or garbage), never guessed at.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes of framing around a payload: the version byte and the checksum.
const FRAME_BYTES: usize = 1 + 4;

/// Why a stored record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The checksum does not match the bytes: the record was damaged after it was written.
    ChecksumMismatch,
    /// The record is shorter than its framing or than its payload requires.
    Truncated,
    /// The version byte is not one this build writes.
    UnknownVersion(u8),
    /// The payload is well framed but says something impossible.
    Malformed(&'static str),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::ChecksumMismatch => write!(f, "checksum mismatch"),
            RecordError::Truncated => write!(f, "truncated record"),
            RecordError::UnknownVersion(v) => write!(f, "unknown format version {v}"),
            RecordError::Malformed(what) => write!(f, "malformed record: {what}"),
        }
    }
}

/// The `raft_log` key of the entry at `index`.
pub fn entry_key(index: LogIndex) -> [u8; 8] {
    index.0.to_be_bytes()
}

/// The index a `raft_log` key names.
pub fn index_of_key(key: &[u8]) -> Result<LogIndex, RecordError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| RecordError::Malformed("raft log key is not 8 bytes"))?;
    Ok(LogIndex(u64::from_be_bytes(bytes)))
}

/// Frames `payload` with the version byte and the checksum.
fn seal(payload_len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_len + FRAME_BYTES);
    out.push(FORMAT_VERSION);
    write(&mut out);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the framing of a record and returns its payload. The checksum is checked
/// first: a damaged version byte is reported as damage, not as an unknown version.
fn unseal(record: &[u8]) -> Result<&[u8], RecordError> {
    if record.len() < FRAME_BYTES {
        return Err(RecordError::Truncated);
    }
    let (body, crc) = record.split_at(record.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32c(body) != stored {
        return Err(RecordError::ChecksumMismatch);
    }
    match body[0] {
        FORMAT_VERSION => Ok(&body[1..]),
        other => Err(RecordError::UnknownVersion(other)),
    }
}

/// A cursor over a payload.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(raw))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(raw))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn finish(self) -> Result<(), RecordError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Malformed("trailing bytes"))
        }
    }
}

/// Encodes a log entry.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    seal(17 + entry.data.len(), |out| {
        out.push(match entry.entry_type {
            EntryType::Normal => 0,
            EntryType::ConfChange => 1,
        });
        out.extend_from_slice(&entry.term.0.to_be_bytes());
        out.extend_from_slice(&entry.index.0.to_be_bytes());
        out.extend_from_slice(&entry.data);
    })
}

/// Decodes a log entry written by [`encode_entry`].
pub fn decode_entry(record: &[u8]) -> Result<Entry, RecordError> {
    let mut r = Reader(unseal(record)?);
    let entry_type = match r.u8()? {
        0 => EntryType::Normal,
        1 => EntryType::ConfChange,
        _ => return Err(RecordError::Malformed("unknown entry type")),
    };
    let term = Term(r.u64()?);
    let index = LogIndex(r.u64()?);
    let data = r.rest().to_vec();
    Ok(Entry {
        term,
        index,
        entry_type,
        data,
    })
}

/// Encodes a hard state.
pub fn encode_hard_state(hs: &HardState) -> Vec<u8> {
    seal(24, |out| {
        out.extend_from_slice(&hs.term.0.to_be_bytes());
        out.extend_from_slice(&hs.vote.0.to_be_bytes());
        out.extend_from_slice(&hs.commit.0.to_be_bytes());
    })
}

/// Decodes a hard state written by [`encode_hard_state`].
pub fn decode_hard_state(record: &[u8]) -> Result<HardState, RecordError> {
    let mut r = Reader(unseal(record)?);
    let hs = HardState {
        term: Term(r.u64()?),
        vote: NodeId(r.u64()?),
        commit: LogIndex(r.u64()?),
    };
    r.finish()?;
    Ok(hs)
}

fn conf_sets(cs: &ConfState) -> [&BTreeSet<NodeId>; 4] {
    [
        &cs.voters,
        &cs.learners,
        &cs.voters_outgoing,
        &cs.learners_next,
    ]
}

/// Encodes a snapshot's metadata.
pub fn encode_snapshot_metadata(meta: &SnapshotMetadata) -> Vec<u8> {
    let sets = conf_sets(&meta.conf_state);
    let ids: usize = sets.iter().map(|s| s.len()).sum();
    seal(17 + 16 + ids * 8, |out| {
        out.extend_from_slice(&meta.index.0.to_be_bytes());
        out.extend_from_slice(&meta.term.0.to_be_bytes());
        out.push(u8::from(meta.conf_state.auto_leave));
        for set in sets {
            out.extend_from_slice(&(set.len() as u32).to_be_bytes());
            for id in set {
                out.extend_from_slice(&id.0.to_be_bytes());
            }
        }
    })
}

/// Decodes a snapshot's metadata written by [`encode_snapshot_metadata`].
pub fn decode_snapshot_metadata(record: &[u8]) -> Result<SnapshotMetadata, RecordError> {
    let mut r = Reader(unseal(record)?);
    let index = LogIndex(r.u64()?);
    let term = Term(r.u64()?);
    let auto_leave = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(RecordError::Malformed("auto_leave is not a boolean")),
    };
    let mut read_set = || -> Result<BTreeSet<NodeId>, RecordError> {
        let count = r.u32()? as usize;
        if count > r.0.len() / 8 {
            return Err(RecordError::Truncated);
        }
        (0..count).map(|_| r.u64().map(NodeId)).collect()
    };
    let conf_state = ConfState {
        voters: read_set()?,
        learners: read_set()?,
        voters_outgoing: read_set()?,
        learners_next: read_set()?,
        auto_leave,
    };
    r.finish()?;
    Ok(SnapshotMetadata {
        conf_state,
        index,
        term,
    })
}

/// Encodes a snapshot's data.
pub fn encode_snapshot_data(data: &[u8]) -> Vec<u8> {
    seal(data.len(), |out| out.extend_from_slice(data))
}

/// Decodes a snapshot's data written by [`encode_snapshot_data`].
pub fn decode_snapshot_data(record: &[u8]) -> Result<Vec<u8>, RecordError> {
    Ok(unseal(record)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_both_types_and_empty_data() {
        for entry in [
            Entry::default(),
            Entry {
                term: Term(7),
                index: LogIndex(u64::MAX),
                entry_type: EntryType::ConfChange,
                data: b"conf".to_vec(),
            },
        ] {
            assert_eq!(decode_entry(&encode_entry(&entry)), Ok(entry));
        }
    }

    #[test]
    fn hard_state_and_snapshot_metadata_round_trip() {
        let hs = HardState {
            term: Term(3),
            vote: NodeId(2),
            commit: LogIndex(9),
        };
        assert_eq!(decode_hard_state(&encode_hard_state(&hs)), Ok(hs));
        let meta = SnapshotMetadata {
            conf_state: ConfState {
                voters: [NodeId(1), NodeId(2)].into(),
                learners: [NodeId(3)].into(),
                voters_outgoing: [NodeId(1), NodeId(4)].into(),
                learners_next: [NodeId(4)].into(),
                auto_leave: true,
            },
            index: LogIndex(10),
            term: Term(2),
        };
        assert_eq!(
            decode_snapshot_metadata(&encode_snapshot_metadata(&meta)),
            Ok(meta)
        );
        assert_eq!(
            decode_snapshot_data(&encode_snapshot_data(b"state")),
            Ok(b"state".to_vec())
        );
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let record = encode_entry(&Entry {
            term: Term(1),
            index: LogIndex(5),
            entry_type: EntryType::Normal,
            data: b"put a=1".to_vec(),
        });
        for i in 0..record.len() {
            let mut damaged = record.clone();
            damaged[i] ^= 0x01;
            assert_eq!(
                decode_entry(&damaged),
                Err(RecordError::ChecksumMismatch),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn unknown_version_short_records_and_bad_keys_are_refused() {
        let mut record = encode_hard_state(&HardState::default());
        record[0] = 9;
        let crc = crc32c(&record[..record.len() - 4]).to_le_bytes();
        let n = record.len();
        record[n - 4..].copy_from_slice(&crc);
        assert_eq!(
            decode_hard_state(&record),
            Err(RecordError::UnknownVersion(9))
        );
        assert_eq!(decode_entry(&[1, 2, 3]), Err(RecordError::Truncated));
        assert!(index_of_key(b"short").is_err());
        assert_eq!(index_of_key(&entry_key(LogIndex(42))), Ok(LogIndex(42)));
    }
}
