//! The stored form of a lease: protobuf `leasepb.Lease` (byte for byte what etcd stores
//! in its `lease` bucket) under the meta key `lease/` + the big-endian id.
//!
//! Attached keys are not stored: at start-up they are rebuilt from the `lease` field of
//! the key-value records (`MvccStore::take_restored_lease_attachments`), as etcd does.

use super::config::MAX_LEASE_TTL_SECS;
use super::error::LeaseError;

/// The prefix of the meta keys that hold leases.
pub const META_PREFIX: &[u8] = b"lease/";

/// The replicated, persisted state of one lease (etcd's `leasepb.Lease`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The lease id; never 0 in a granted lease.
    pub id: i64,
    /// The granted TTL in seconds, after raising it to the minimum.
    pub ttl_secs: i64,
    /// The remaining TTL in seconds last checkpointed through Raft; 0 means "none: use
    /// the full TTL" (etcd's `remainingTTL`).
    pub remaining_ttl_secs: i64,
}

/// Protobuf field numbers of `leasepb.Lease`.
mod field {
    pub const ID: u64 = 1;
    pub const TTL: u64 = 2;
    pub const REMAINING_TTL: u64 = 3;
}

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

/// The meta key lease `id` is stored under: `lease/` + 8 bytes big-endian, so a prefix
/// scan returns leases in id order (negative ids last).
pub fn meta_key(id: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(META_PREFIX.len() + 8);
    key.extend_from_slice(META_PREFIX);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// The lease id of a meta key made by [`meta_key`]; `None` if `key` is not one.
pub fn id_of_meta_key(key: &[u8]) -> Option<i64> {
    let id = key.strip_prefix(META_PREFIX)?;
    Some(i64::from_be_bytes(id.try_into().ok()?))
}

/// The protobuf encoding of `lease`, as gogoproto marshals `leasepb.Lease`: fields in
/// number order, zero fields left out.
pub fn encode_lease(lease: &Lease) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    put_int(&mut out, field::ID, lease.id);
    put_int(&mut out, field::TTL, lease.ttl_secs);
    put_int(&mut out, field::REMAINING_TTL, lease.remaining_ttl_secs);
    out
}

/// Decodes a stored `leasepb.Lease`, skipping unknown fields.
///
/// Fails with [`LeaseError::Corrupt`] if the bytes are not protobuf, or the lease has
/// id 0 or a TTL that no grant could have given (every granted TTL is 1 s or more, so a
/// record cut short before its TTL field is caught too). Protobuf has no checksum: a
/// record cut exactly before its remaining-TTL field still decodes, as a lease with no
/// checkpoint, which is harmless; the storage engine's own checksums catch the rest.
pub fn decode_lease(mut buf: &[u8]) -> Result<Lease, LeaseError> {
    let mut lease = Lease::default();
    while !buf.is_empty() {
        let tag = get_varint(&mut buf)?;
        match (tag >> 3, tag & 7) {
            (field::ID, WIRE_VARINT) => lease.id = get_varint(&mut buf)? as i64,
            (field::TTL, WIRE_VARINT) => lease.ttl_secs = get_varint(&mut buf)? as i64,
            (field::REMAINING_TTL, WIRE_VARINT) => {
                lease.remaining_ttl_secs = get_varint(&mut buf)? as i64;
            }
            (0, _) => return Err(corrupt("field number 0".to_string())),
            (_, WIRE_VARINT) => {
                get_varint(&mut buf)?;
            }
            (_, WIRE_FIXED64) => {
                take(&mut buf, 8)?;
            }
            (_, WIRE_LEN) => {
                let len = usize::try_from(get_varint(&mut buf)?)
                    .map_err(|_| corrupt("length overflow".to_string()))?;
                take(&mut buf, len)?;
            }
            (_, WIRE_FIXED32) => {
                take(&mut buf, 4)?;
            }
            (f, w) => return Err(corrupt(format!("field {f} has unknown wire type {w}"))),
        }
    }
    if lease.id == 0 {
        return Err(corrupt("lease id 0".to_string()));
    }
    if !(1..=MAX_LEASE_TTL_SECS).contains(&lease.ttl_secs) {
        return Err(corrupt(format!(
            "lease {:x} has TTL {} s",
            lease.id, lease.ttl_secs
        )));
    }
    Ok(lease)
}

/// Decodes the lease stored at meta `key`, checking that the key names the same lease.
pub fn decode_lease_entry(key: &[u8], value: &[u8]) -> Result<Lease, LeaseError> {
    let Some(id) = id_of_meta_key(key) else {
        return Err(corrupt(format!("{key:?} is not a lease key")));
    };
    let lease = decode_lease(value)?;
    if lease.id != id {
        return Err(corrupt(format!(
            "key of lease {id:x} holds lease {:x}",
            lease.id
        )));
    }
    Ok(lease)
}

fn corrupt(what: String) -> LeaseError {
    LeaseError::Corrupt(what)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Truncation is the point: the low 7 bits, with the continuation bit.
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_int(out: &mut Vec<u8>, field: u64, v: i64) {
    if v != 0 {
        put_varint(out, field << 3 | WIRE_VARINT);
        // Protobuf int64: negative numbers as their 64-bit two's complement.
        put_varint(out, v as u64);
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], LeaseError> {
    if buf.len() < n {
        return Err(corrupt(format!(
            "truncated: {n} bytes wanted, {} left",
            buf.len()
        )));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn get_varint(buf: &mut &[u8]) -> Result<u64, LeaseError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(corrupt("truncated varint".to_string()));
        };
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(corrupt("varint longer than 10 bytes".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lease {
        Lease {
            id: 0x694d_7a4c_5b3e_2a01,
            ttl_secs: 600,
            remaining_ttl_secs: 300,
        }
    }

    #[test]
    fn encoding_is_gogoproto_marshal_of_leasepb_lease() {
        let lease = Lease {
            id: 5,
            ttl_secs: 300,
            remaining_ttl_secs: 0,
        };
        // 08 05 | 10 ac 02
        assert_eq!(encode_lease(&lease), [0x08, 5, 0x10, 0xac, 0x02]);
    }

    #[test]
    fn decode_inverts_encode_including_negative_ids_and_largest_ttl() {
        for lease in [
            sample(),
            Lease {
                id: -7,
                ttl_secs: MAX_LEASE_TTL_SECS,
                remaining_ttl_secs: 1,
            },
            Lease {
                id: i64::MAX,
                ttl_secs: 1,
                remaining_ttl_secs: 0,
            },
        ] {
            assert_eq!(decode_lease(&encode_lease(&lease)), Ok(lease));
        }
    }

    #[test]
    fn decode_skips_unknown_fields() {
        let mut bytes = encode_lease(&sample());
        bytes.extend_from_slice(&[0x20, 0x05]); // field 4, varint 5
        bytes.extend_from_slice(&[0x2a, 0x02, 0xaa, 0xbb]); // field 5, 2 bytes
        assert_eq!(decode_lease(&bytes), Ok(sample()));
    }

    #[test]
    fn decode_of_truncated_record_is_a_corrupt_error() {
        let lease = sample();
        let bytes = encode_lease(&lease);
        // Where the remaining-TTL field starts: tag 0x18, then 300 as a 2-byte varint.
        let last_field = bytes.len() - 3;
        assert_eq!(bytes[last_field], 0x18);
        for cut in 0..bytes.len() {
            let decoded = decode_lease(&bytes[..cut]);
            if cut == last_field {
                // Undetectable, and harmless: the lease without its checkpoint.
                let unchecked = Lease {
                    remaining_ttl_secs: 0,
                    ..lease
                };
                assert_eq!(decoded, Ok(unchecked));
            } else {
                let err = decoded.expect_err("a truncated record decoded");
                assert!(matches!(err, LeaseError::Corrupt(_)), "cut {cut}: {err:?}");
            }
        }
    }

    #[test]
    fn decode_of_garbage_says_the_record_is_corrupt() {
        let err = decode_lease(&[0xff; 12]).expect_err("garbage decoded");
        assert_eq!(
            err.to_string(),
            "etcdserver: lease: corrupt lease record: varint longer than 10 bytes"
        );
        assert!(matches!(decode_lease(&[0x0f]), Err(LeaseError::Corrupt(_))));
    }

    #[test]
    fn decode_refuses_id_zero_and_impossible_ttls() {
        let zero_id = encode_lease(&Lease {
            id: 0,
            ttl_secs: 10,
            remaining_ttl_secs: 0,
        });
        assert!(matches!(
            decode_lease(&zero_id),
            Err(LeaseError::Corrupt(_))
        ));
        assert!(matches!(decode_lease(&[]), Err(LeaseError::Corrupt(_))));
        for ttl_secs in [-1, 0, MAX_LEASE_TTL_SECS + 1] {
            let bytes = encode_lease(&Lease {
                id: 1,
                ttl_secs,
                remaining_ttl_secs: 0,
            });
            assert!(
                matches!(decode_lease(&bytes), Err(LeaseError::Corrupt(_))),
                "{ttl_secs}"
            );
        }
    }

    #[test]
    fn meta_key_is_prefix_and_big_endian_id_and_sorts_by_id() {
        assert_eq!(meta_key(0x0102), b"lease/\0\0\0\0\0\0\x01\x02");
        assert!(meta_key(1) < meta_key(2) && meta_key(255) < meta_key(256));
        for id in [1, -1, i64::MAX, i64::MIN] {
            assert_eq!(id_of_meta_key(&meta_key(id)), Some(id));
        }
        assert_eq!(id_of_meta_key(b"lease/short"), None);
        assert_eq!(id_of_meta_key(b"other/\0\0\0\0\0\0\0\x01"), None);
    }

    #[test]
    fn an_entry_under_another_leases_key_is_corrupt() {
        let lease = sample();
        let value = encode_lease(&lease);
        assert_eq!(decode_lease_entry(&meta_key(lease.id), &value), Ok(lease));
        let err = decode_lease_entry(&meta_key(lease.id + 1), &value).expect_err("accepted");
        assert!(matches!(err, LeaseError::Corrupt(_)), "{err:?}");
        let err = decode_lease_entry(b"consistent_index", &value).expect_err("accepted");
        assert!(matches!(err, LeaseError::Corrupt(_)), "{err:?}");
    }
}
