//! The state machine's snapshot: every record and meta entry of a member's MVCC store,
//! sent to a member that is behind the compacted raft log, as etcd sends its whole
//! backend database. The raft snapshot it rides on names an index at or below the
//! store's applied index; the receiver skips the entries the store already holds.
//!
//! Layout: `ERSNAP01`, then records and meta entries as (count u64, then per entry key
//! length u32, key, value length u32, value), then a CRC-32C of everything before it.
//! All integers big-endian.

use crate::mvcc::{Backend, BackendError, Record};
use crate::storage::crc32c;

const MAGIC: &[u8; 8] = b"ERSNAP01";

/// Encodes the whole store.
pub fn encode<B: Backend>(backend: &B) -> Result<Vec<u8>, BackendError> {
    let records = backend.scan_records(&[], None, usize::MAX)?;
    let meta = backend.scan_meta()?;
    let mut out = MAGIC.to_vec();
    for table in [&records, &meta] {
        out.extend_from_slice(&(table.len() as u64).to_be_bytes());
        for (key, value) in table {
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
    }
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Decodes a snapshot into (records, meta entries); a damaged one is an error.
pub fn decode(data: &[u8]) -> Result<(Vec<Record>, Vec<Record>), String> {
    let body_len = data
        .len()
        .checked_sub(4)
        .filter(|&n| n >= MAGIC.len())
        .ok_or("state snapshot too short")?;
    let (body, crc) = data.split_at(body_len);
    if crc32c(body).to_be_bytes() != crc {
        return Err("state snapshot checksum mismatch".into());
    }
    let mut rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a state snapshot")?;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("state snapshot truncated".into());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let mut tables = Vec::new();
    for _ in 0..2 {
        let count = u64::from_be_bytes(take(8)?.try_into().map_err(|_| "count")?);
        let mut table = Vec::new();
        for _ in 0..count {
            let klen = u32::from_be_bytes(take(4)?.try_into().map_err(|_| "length")?);
            let key = take(klen as usize)?.to_vec();
            let vlen = u32::from_be_bytes(take(4)?.try_into().map_err(|_| "length")?);
            let value = take(vlen as usize)?.to_vec();
            table.push((key, value));
        }
        tables.push(table);
    }
    let meta = tables.pop().unwrap_or_default();
    let records = tables.pop().unwrap_or_default();
    Ok((records, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::{MemBackend, WriteBatch};

    #[test]
    fn a_snapshot_round_trips_and_damage_is_detected() {
        let mut backend = MemBackend::new();
        let mut batch = WriteBatch::new();
        batch.put_record(b"r1".to_vec(), b"v1".to_vec());
        batch.put_record(b"r2".to_vec(), Vec::new());
        batch.set_meta(b"m", b"x".to_vec());
        backend.commit(batch).unwrap();
        let data = encode(&backend).unwrap();
        let (records, meta) = decode(&data).unwrap();
        assert_eq!(
            records,
            vec![(b"r1".to_vec(), b"v1".to_vec()), (b"r2".to_vec(), vec![])]
        );
        assert_eq!(meta, vec![(b"m".to_vec(), b"x".to_vec())]);
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flipped byte {i} went unnoticed");
        }
        assert!(decode(&data[..data.len() - 1]).is_err());
    }
}
