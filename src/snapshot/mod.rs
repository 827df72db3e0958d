//! The store as etcd's backend file: what `Maintenance.Snapshot` streams and what
//! `Maintenance.Hash` hashes.
//!
//! etcd's snapshot is its bbolt database file, sent as is, followed by the file's
//! SHA-256; `etcdctl snapshot save` copies the stream to a file, `etcdctl snapshot
//! status` opens it with bbolt, and `etcdctl snapshot restore` checks the SHA-256 and
//! makes a data dir from it that etcd starts on. This member's store is not a bbolt
//! file, so the snapshot is *written* as one, from a point-in-time view of the store,
//! in etcd's schema: the same three commands work on it, and a cluster can move from
//! etcd-rs to etcd through a snapshot.
//!
//! - [`bolt`]: a writer of bbolt files, page by page, in two passes (no copy of the data
//!   in memory);
//! - [`schema`]: etcd's buckets over a view of the store, and etcd's `Hash` over them;
//! - [`sha256`]: the integrity trailer;
//! - [`stream`]: the file and its trailer in etcd's chunks.

pub mod bolt;
pub mod bolt_read;
pub mod import;
pub mod schema;
pub mod sha256;

use bolt::{BoltError, Layout, Source};

/// The bytes of each chunk of a snapshot stream (etcd's `snapshotSendBufferSize`).
pub const CHUNK_BYTES: usize = 32 * 1024;

/// Writes `source` as a bbolt file to `send`, in chunks of [`CHUNK_BYTES`] (the last one
/// may be shorter), each with the bytes of the file still to come, then the file's
/// SHA-256 as a last chunk with 0 to come, as etcd's `Maintenance.Snapshot` sends them.
/// Returns the file's size. `send` failing (the client went away) stops the writing.
pub fn stream(
    source: &dyn Source,
    send: &mut dyn FnMut(Vec<u8>, u64) -> Result<(), BoltError>,
) -> Result<u64, BoltError> {
    let layout = Layout::plan(source)?;
    let total = layout.file_bytes();
    let mut sent = 0u64;
    let mut digest = sha256::Sha256::new();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    layout.write(source, &mut |mut bytes| {
        digest.update(bytes);
        while !bytes.is_empty() {
            let take = (CHUNK_BYTES - chunk.len()).min(bytes.len());
            chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if chunk.len() == CHUNK_BYTES {
                sent += CHUNK_BYTES as u64;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES));
                send(full, total - sent)?;
            }
        }
        Ok(())
    })?;
    if !chunk.is_empty() {
        sent += chunk.len() as u64;
        send(chunk, total - sent)?;
    }
    assert_eq!(sent, total, "the snapshot's size as planned");
    send(digest.finish().to_vec(), 0)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_the_file_in_32k_chunks_then_its_sha256() {
        let records: Vec<crate::mvcc::Record> = (0..3000u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![7; 50]))
            .collect();
        let mut backend = crate::mvcc::MemBackend::new();
        let mut batch = crate::mvcc::WriteBatch::new();
        for (k, v) in records {
            batch.put_record(k, v);
        }
        crate::mvcc::Backend::commit(&mut backend, batch).unwrap();
        let view = crate::mvcc::Backend::view(&backend).unwrap();
        let source = schema::EtcdBuckets::new(view, &[], "3.5.0").unwrap();
        let mut chunks = Vec::new();
        let total = stream(&source, &mut |blob, remaining| {
            chunks.push((blob, remaining));
            Ok(())
        })
        .unwrap();
        assert!(total > 2 * CHUNK_BYTES as u64, "several chunks: {total}");
        let (trailer, last) = chunks.pop().unwrap();
        assert_eq!(last, 0);
        let mut file = Vec::new();
        for (blob, remaining) in &chunks {
            assert!(blob.len() == CHUNK_BYTES || *remaining == 0);
            file.extend_from_slice(blob);
            assert_eq!(*remaining, total - file.len() as u64);
        }
        assert_eq!(file.len() as u64, total);
        assert_eq!(trailer, sha256::sha256(&file).to_vec());
        // etcdctl's restore finds the trailer by the file's size: pages, plus 32 bytes.
        assert_eq!((file.len() + trailer.len()) % 512, 32);
    }
}
