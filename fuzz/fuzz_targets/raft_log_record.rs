//! The raft log's records as a member reads them at start-up (`storage/raft_log.rs`,
//! `load`): every record decoder of `storage::codec` on the input, then what the member
//! does with a record's content:
//! - an entry's data: a conf change (`raft::ConfChange::decode`, its context
//!   `ConfContext::decode`) or a request (`InternalRaftRequest`, applied to a small
//!   member as the applier applies it on replay);
//! - the snapshot's data: the state machine's snapshot (`server::state_snapshot::decode`),
//!   installed in an MVCC store in memory (`MvccStore::install`, which rebuilds the
//!   index from the records), its lease, membership and member-attribute entries
//!   decoded as the applier decodes them, and the leases restored in a Lessor.
//!
//! Each record carries a CRC-32C, which a mutated input almost never matches: the input
//! is decoded as it is, and again sealed with a valid checksum (the input then being the
//! version byte and the payload), so that the payload decoders see the mutations. The
//! same for the state snapshot's own checksum.

#![no_main]

use etcd_rs::lease::{Lessor, LessorConfig, META_PREFIX, decode_lease_entry};
use etcd_rs::mvcc::{MemBackend, MvccStore};
use etcd_rs::pb::etcdserverpb::{InternalRaftRequest, MemberAttributes};
use etcd_rs::raft::{ConfChange, EntryType};
use etcd_rs::server::membership::{ConfContext, Membership};
use etcd_rs::server::state_snapshot;
use etcd_rs::storage::{codec, crc32c};
use etcd_rs_fuzz::{Member, apply};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    read_record(data);
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&crc32c(data).to_le_bytes());
    read_record(&sealed);
});

fn read_record(record: &[u8]) {
    let _ = codec::index_of_key(record);
    let _ = codec::decode_hard_state(record);
    let _ = codec::decode_snapshot_metadata(record);
    if let Ok(entry) = codec::decode_entry(record) {
        match entry.entry_type {
            EntryType::ConfChange => {
                if let Ok(change) = ConfChange::decode(&entry.data) {
                    let _ = ConfContext::decode(&change.context);
                }
            }
            EntryType::Normal => {
                if let Ok(request) = InternalRaftRequest::decode(entry.data.as_slice()) {
                    apply(&mut Member::new(), &request);
                }
            }
        }
    }
    if let Ok(data) = codec::decode_snapshot_data(record) {
        install(&data);
        let mut sealed = data;
        let crc = crc32c(&sealed);
        sealed.extend_from_slice(&crc.to_be_bytes());
        install(&sealed);
    }
}

/// The applier's `InstallSnapshot`, on a store in memory.
fn install(data: &[u8]) {
    let Ok((records, meta)) = state_snapshot::decode(data) else {
        return;
    };
    let mut store = MvccStore::open(MemBackend::new()).expect("a fresh store opens");
    if store.install(records, meta.clone()).is_err() {
        return;
    }
    let attachments = store.take_restored_lease_attachments();
    let mut leases = Vec::new();
    for (key, value) in &meta {
        if key.starts_with(META_PREFIX) {
            leases.extend(decode_lease_entry(key, value));
        }
        if key.as_slice() == b"membership" {
            let _ = Membership::decode(value);
        }
        if key.starts_with(b"member_attributes/") {
            let _ = MemberAttributes::decode(value.as_slice());
        }
    }
    let mut lessor = Lessor::new(LessorConfig::default());
    lessor.restore(leases, &attachments);
    lessor.promote(1_000, 0);
}
