//! The raft log as the RaftNode sees it: read through [`Storage`], written (on the
//! RaftLog actor's own thread) through [`LogStore::persist`]. Two implementations: the
//! durable [`DiskRaftStorage`] on fjall, and [`SharedMemLog`] for `--ephemeral` dev mode.

use std::sync::{Arc, RwLock};

use crate::raft::{
    ConfState, Entry, LogIndex, MemStorage, RaftState, Snapshot, Storage, StorageError, Term,
};
use crate::storage::{DiskRaftStorage, LogWrite};

/// A raft log shared by the RaftNode (reads) and the RaftLog actor (writes).
pub trait LogStore: Storage + Clone + Send + Sync + Unpin + 'static {
    /// Persists a Ready's snapshot, entries and hard state, durably if `write.sync`.
    /// After an error the store MUST refuse every later write (the member stops).
    fn persist(&self, write: &LogWrite) -> Result<(), StorageError>;

    /// Drops the entries up to `index` (applied, and durable in the state machine),
    /// recording a snapshot point there with no data: the state machine's own storage
    /// is the snapshot.
    fn compact(&self, index: LogIndex, conf_state: ConfState) -> Result<(), StorageError>;
}

impl LogStore for DiskRaftStorage {
    fn persist(&self, write: &LogWrite) -> Result<(), StorageError> {
        DiskRaftStorage::persist(self, write)
    }

    fn compact(&self, index: LogIndex, conf_state: ConfState) -> Result<(), StorageError> {
        DiskRaftStorage::compact(self, index, conf_state, Vec::new())
    }
}

/// An in-memory raft log (nothing survives the process): `etcd-rs dev --ephemeral`.
#[derive(Clone, Default)]
pub struct SharedMemLog(Arc<RwLock<MemStorage>>);

impl SharedMemLog {
    /// A log holding the initial configuration of a new cluster.
    pub fn new_with_conf_state(conf_state: ConfState) -> SharedMemLog {
        SharedMemLog(Arc::new(RwLock::new(MemStorage::new_with_conf_state(
            conf_state,
        ))))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemStorage> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Storage for SharedMemLog {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        self.read().initial_state()
    }
    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read().entries(low, high, max_size_bytes)
    }
    fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        self.read().term(index)
    }
    fn first_index(&self) -> Result<LogIndex, StorageError> {
        self.read().first_index()
    }
    fn last_index(&self) -> Result<LogIndex, StorageError> {
        self.read().last_index()
    }
    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        self.read().snapshot()
    }
}

impl LogStore for SharedMemLog {
    fn compact(&self, index: LogIndex, conf_state: ConfState) -> Result<(), StorageError> {
        let mut log = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.create_snapshot(index, conf_state, Vec::new())
    }

    fn persist(&self, write: &LogWrite) -> Result<(), StorageError> {
        let mut log = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(snapshot) = &write.snapshot {
            log.apply_snapshot(snapshot.clone())?;
        }
        log.append(&write.entries)?;
        if let Some(hard_state) = write.hard_state {
            log.set_hard_state(hard_state);
        }
        Ok(())
    }
}
