//! An etcd backend file as a member imports it on its first start on a data dir that
//! `etcdctl snapshot restore` made (`snapshot::bolt_read`, `snapshot::import`): the
//! input is opened as a bbolt file and imported into a store in memory, whose records
//! are then loaded as a member loads them (`MvccStore::open`, which rebuilds the index).
//!
//! The meta pages carry an FNV-1a checksum, which a mutated input almost never matches:
//! the input is read as it is, and again with both meta pages' checksums made valid, so
//! that the page walk sees the mutations.

#![no_main]

use etcd_rs::mvcc::{MemBackend, MvccStore};
use etcd_rs::snapshot::{bolt_read, import};
use libfuzzer_sys::fuzz_target;

/// Where the meta pages are (bbolt's default page size) and their checksummed bytes.
const PAGE: usize = 4096;
const META_AT: usize = 16;
const META_SUMMED: usize = 56;

fuzz_target!(|data: &[u8]| {
    read(data.to_vec());
    let mut sealed = data.to_vec();
    for page in [0, PAGE] {
        let at = page + META_AT;
        if sealed.len() >= at + META_SUMMED + 8 {
            let sum = fnv1a64(&sealed[at..at + META_SUMMED]);
            sealed[at + META_SUMMED..at + META_SUMMED + 8].copy_from_slice(&sum.to_le_bytes());
        }
    }
    read(sealed);
});

fn read(bytes: Vec<u8>) {
    let Ok(reader) = bolt_read::from_bytes(bytes) else {
        return;
    };
    if let Ok(names) = reader.bucket_names() {
        for name in names {
            let _ = reader.for_each(&name, &mut |_, _| Ok(()));
        }
    }
    let mut backend = MemBackend::new();
    if import::import_from(&reader, &mut backend).is_ok() {
        let _ = MvccStore::open(backend);
    }
}

/// Go's FNV-1a 64, as bbolt sums its meta pages.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
