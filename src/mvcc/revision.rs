//! Revisions and their sortable encoding as backend keys (etcd's `revision.go`).

use super::error::{Error, Result};

/// Length of an encoded revision: 8 bytes of `main` big-endian, `'_'`, 8 bytes of `sub`.
pub const REVISION_KEY_LEN: usize = 8 + 1 + 8;
/// Length of an encoded revision followed by a one-byte mark.
pub const MARKED_REVISION_KEY_LEN: usize = REVISION_KEY_LEN + 1;
/// The mark that makes a record key a tombstone (a deletion of the record's key).
pub const TOMBSTONE_MARK: u8 = b't';

/// A point in the history of the key space.
///
/// Every request that changes the key space gets one new `main` revision; each change
/// inside it gets an increasing `sub` revision starting at 0. Ordered by `main`, then
/// `sub`. A fresh store is at main revision 1; the first write gets main revision 2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The revision of the request that made the change.
    pub main: i64,
    /// The index of the change among the changes of that request.
    pub sub: i64,
}

impl Revision {
    /// The revision `(main, sub)`.
    pub const fn new(main: i64, sub: i64) -> Self {
        Self { main, sub }
    }

    /// The 17-byte encoding: `main` big-endian, `'_'`, `sub` big-endian. For non-negative
    /// revisions, byte order is revision order (etcd's `RevToBytes`).
    pub fn to_bytes(self) -> [u8; REVISION_KEY_LEN] {
        let mut out = [0u8; REVISION_KEY_LEN];
        out[..8].copy_from_slice(&self.main.to_be_bytes());
        out[8] = b'_';
        out[9..].copy_from_slice(&self.sub.to_be_bytes());
        out
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

/// The key of one record in the backend's key space: a revision, plus whether the record
/// is a tombstone (etcd's `BucketKey`).
///
/// Encoded as the 17 bytes of [`Revision::to_bytes`], followed by [`TOMBSTONE_MARK`] for
/// a tombstone. Since each revision has one record, byte order of record keys is
/// revision order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// The revision of the change.
    pub revision: Revision,
    /// Whether the change deleted the key.
    pub tombstone: bool,
}

impl RecordKey {
    /// The key of a record that puts a value.
    pub const fn put(revision: Revision) -> Self {
        Self {
            revision,
            tombstone: false,
        }
    }

    /// The key of a record that deletes a key.
    pub const fn tombstone(revision: Revision) -> Self {
        Self {
            revision,
            tombstone: true,
        }
    }

    /// The 17- or 18-byte encoding (etcd's `BucketKeyToBytes`).
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MARKED_REVISION_KEY_LEN);
        out.extend_from_slice(&self.revision.to_bytes());
        if self.tombstone {
            out.push(TOMBSTONE_MARK);
        }
        out
    }

    /// Decodes a record key (etcd's `BytesToBucketKey`). A wrong length, separator or a
    /// negative revision is [`Error::Corrupt`] (etcd panics).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != REVISION_KEY_LEN && bytes.len() != MARKED_REVISION_KEY_LEN {
            return Err(Error::Corrupt(format!(
                "invalid revision length: {}",
                bytes.len()
            )));
        }
        if bytes[8] != b'_' {
            return Err(Error::Corrupt(format!(
                "invalid separator in bucket key: {:?}",
                bytes[8] as char
            )));
        }
        let main = i64::from_be_bytes(be8(&bytes[..8]));
        let sub = i64::from_be_bytes(be8(&bytes[9..REVISION_KEY_LEN]));
        if main < 0 || sub < 0 {
            return Err(Error::Corrupt(format!(
                "negative revision: main={main} sub={sub}"
            )));
        }
        Ok(Self {
            revision: Revision { main, sub },
            tombstone: bytes.len() == MARKED_REVISION_KEY_LEN
                && bytes[REVISION_KEY_LEN] == TOMBSTONE_MARK,
        })
    }
}

/// The first 8 bytes of `bytes` as an array; callers pass exactly 8.
fn be8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_order_by_main_then_sub() {
        assert!(Revision::new(2, 5) < Revision::new(3, 0));
        assert!(Revision::new(3, 0) < Revision::new(3, 1));
    }

    #[test]
    fn revision_bytes_are_main_underscore_sub_big_endian() {
        let b = Revision::new(0x0102, 3).to_bytes();
        assert_eq!(b, [0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn byte_order_of_record_keys_is_revision_order() {
        let keys = [
            RecordKey::put(Revision::new(1, 0)),
            RecordKey::tombstone(Revision::new(1, 1)),
            RecordKey::put(Revision::new(1, 2)),
            RecordKey::put(Revision::new(256, 0)),
            RecordKey::tombstone(Revision::new(257, 0)),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0].to_bytes() < pair[1].to_bytes(), "{pair:?}");
        }
    }

    #[test]
    fn tombstone_key_has_eighteenth_byte_t_and_round_trips() {
        let k = RecordKey::tombstone(Revision::new(7, 2));
        let b = k.to_bytes();
        assert_eq!(b.len(), MARKED_REVISION_KEY_LEN);
        assert_eq!(b[17], b't');
        assert_eq!(RecordKey::from_bytes(&b), Ok(k));
        let p = RecordKey::put(Revision::new(7, 2));
        assert_eq!(RecordKey::from_bytes(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn malformed_record_keys_are_corrupt() {
        assert!(matches!(
            RecordKey::from_bytes(b"short"),
            Err(Error::Corrupt(_))
        ));
        let mut b = Revision::new(1, 0).to_bytes();
        b[8] = b'-';
        assert!(matches!(RecordKey::from_bytes(&b), Err(Error::Corrupt(_))));
        let neg = Revision::new(-1, 0).to_bytes();
        assert!(matches!(
            RecordKey::from_bytes(&neg),
            Err(Error::Corrupt(_))
        ));
    }
}
