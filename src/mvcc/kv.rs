//! Key-value records, watch events and lease changes, and the stored encoding of a
//! record: protobuf `mvccpb.KeyValue`, byte for byte what etcd stores.

use super::error::{Error, Result};

/// A key's value at one revision (etcd's `mvccpb.KeyValue`, field for field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyValue {
    /// The key. Never empty in a stored record.
    pub key: Vec<u8>,
    /// The revision of the put that created this life of the key.
    pub create_revision: i64,
    /// The revision of the last change to the key.
    pub mod_revision: i64,
    /// The number of puts since the key was (re)created; 1 after the creating put.
    pub version: i64,
    /// The value.
    pub value: Vec<u8>,
    /// The lease the key is attached to; 0 for none.
    pub lease: i64,
}

/// Protobuf field numbers of `mvccpb.KeyValue`.
mod field {
    pub const KEY: u64 = 1;
    pub const CREATE_REVISION: u64 = 2;
    pub const MOD_REVISION: u64 = 3;
    pub const VERSION: u64 = 4;
    pub const VALUE: u64 = 5;
    pub const LEASE: u64 = 6;
}

const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

impl KeyValue {
    /// The protobuf encoding, as gogoproto marshals it: fields in number order, fields
    /// with the default value left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.key.len() + self.value.len() + 40);
        put_bytes(&mut out, field::KEY, &self.key);
        put_int(&mut out, field::CREATE_REVISION, self.create_revision);
        put_int(&mut out, field::MOD_REVISION, self.mod_revision);
        put_int(&mut out, field::VERSION, self.version);
        put_bytes(&mut out, field::VALUE, &self.value);
        put_int(&mut out, field::LEASE, self.lease);
        out
    }

    /// Decodes a protobuf `mvccpb.KeyValue`, skipping unknown fields.
    pub fn decode(mut buf: &[u8]) -> Result<Self> {
        let mut kv = KeyValue::default();
        while !buf.is_empty() {
            let tag = get_varint(&mut buf)?;
            match (tag >> 3, tag & 7) {
                (field::KEY, WIRE_LEN) => kv.key = get_bytes(&mut buf)?.to_vec(),
                (field::CREATE_REVISION, WIRE_VARINT) => kv.create_revision = get_int(&mut buf)?,
                (field::MOD_REVISION, WIRE_VARINT) => kv.mod_revision = get_int(&mut buf)?,
                (field::VERSION, WIRE_VARINT) => kv.version = get_int(&mut buf)?,
                (field::VALUE, WIRE_LEN) => kv.value = get_bytes(&mut buf)?.to_vec(),
                (field::LEASE, WIRE_VARINT) => kv.lease = get_int(&mut buf)?,
                (_, WIRE_VARINT) => {
                    get_varint(&mut buf)?;
                }
                (_, WIRE_FIXED64) => {
                    take(&mut buf, 8)?;
                }
                (_, WIRE_LEN) => {
                    get_bytes(&mut buf)?;
                }
                (_, WIRE_FIXED32) => {
                    take(&mut buf, 4)?;
                }
                (f, w) => return Err(corrupt(format!("field {f} has unknown wire type {w}"))),
            }
        }
        Ok(kv)
    }
}

fn corrupt(what: String) -> Error {
    Error::Corrupt(format!("undecodable key-value record: {what}"))
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

fn put_bytes(out: &mut Vec<u8>, field: u64, v: &[u8]) {
    if !v.is_empty() {
        put_varint(out, field << 3 | WIRE_LEN);
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
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

fn get_varint(buf: &mut &[u8]) -> Result<u64> {
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

fn get_int(buf: &mut &[u8]) -> Result<i64> {
    // Protobuf int64: the 64 bits reinterpreted, so negative numbers come back.
    Ok(get_varint(buf)? as i64)
}

fn get_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8]> {
    let len = usize::try_from(get_varint(buf)?).map_err(|_| corrupt("length overflow".into()))?;
    take(buf, len)
}

/// The kind of change an [`Event`] reports (etcd's `mvccpb.Event.EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The key was put (`PUT` = 0).
    Put = 0,
    /// The key was deleted (`DELETE` = 1).
    Delete = 1,
}

/// One change to one key, for watchers (etcd's `mvccpb.Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventType,
    /// For a put, the new key-value; for a delete, only `key` and `mod_revision` (the
    /// revision of the deletion) are set, as in etcd.
    pub kv: KeyValue,
    /// The key-value before the change, if the key existed. Filled for events of writes;
    /// `None` in events read back from history (see `MvccStore::history`).
    pub prev_kv: Option<KeyValue>,
}

/// A change of which lease a key is attached to, for the Lessor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeaseChange {
    /// `key` is now attached to `lease`.
    Attach {
        /// The lease id.
        lease: i64,
        /// The key.
        key: Vec<u8>,
    },
    /// `key` is no longer attached to `lease` (it was deleted or put with another lease).
    Detach {
        /// The lease id.
        lease: i64,
        /// The key.
        key: Vec<u8>,
    },
}

/// Whether a lease exists, asked of the Lessor (leases live in another actor).
pub trait LeaseLookup {
    /// Whether lease `id` (never 0) is currently granted.
    fn lease_exists(&self, id: i64) -> bool;
}

impl<F: Fn(i64) -> bool> LeaseLookup for F {
    fn lease_exists(&self, id: i64) -> bool {
        self(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeyValue {
        KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 300,
            version: 5,
            value: b"bar".to_vec(),
            lease: 0x7fff_0000_0000_0001,
        }
    }

    #[test]
    fn encoding_is_gogoproto_marshal_of_mvccpb_key_value() {
        let kv = KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 300,
            version: 1,
            value: b"bar".to_vec(),
            lease: 0,
        };
        // 0a 03 "foo" | 10 02 | 18 ac 02 | 20 01 | 2a 03 "bar"
        let want = [
            0x0a, 3, b'f', b'o', b'o', 0x10, 2, 0x18, 0xac, 0x02, 0x20, 1, 0x2a, 3, b'b', b'a',
            b'r',
        ];
        assert_eq!(kv.encode(), want);
    }

    #[test]
    fn tombstone_record_encodes_only_the_key() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            ..KeyValue::default()
        };
        assert_eq!(kv.encode(), [0x0a, 1, b'k']);
    }

    #[test]
    fn decode_inverts_encode_including_negative_numbers() {
        let mut kv = sample();
        assert_eq!(KeyValue::decode(&kv.encode()), Ok(kv.clone()));
        kv.lease = -1;
        let bytes = kv.encode();
        assert_eq!(KeyValue::decode(&bytes), Ok(kv));
    }

    #[test]
    fn decode_skips_unknown_fields() {
        let mut bytes = sample().encode();
        bytes.extend_from_slice(&[0x38, 0x05]); // field 7, varint 5
        bytes.extend_from_slice(&[0x42, 0x02, 0xaa, 0xbb]); // field 8, 2 bytes
        assert_eq!(KeyValue::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn decode_of_truncated_bytes_is_corrupt() {
        let bytes = sample().encode();
        for cut in [1, 4, bytes.len() - 1] {
            assert!(
                matches!(KeyValue::decode(&bytes[..cut]), Err(Error::Corrupt(_))),
                "{cut}"
            );
        }
    }
}
