//! Proposers waiting for their request to be applied, by request id (etcd's `wait.Wait`).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::applier::ApplyResult;

/// The waiting proposers of one member.
#[derive(Default)]
pub struct WaitRegistry {
    waiting: Mutex<HashMap<u64, oneshot::Sender<ApplyResult>>>,
}

impl WaitRegistry {
    /// Registers request `id`; the receiver gets its result once applied.
    pub fn register(&self, id: u64) -> oneshot::Receiver<ApplyResult> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        rx
    }

    /// Forgets request `id` (its proposer gave up).
    pub fn cancel(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Delivers the result of request `id`, if anyone waits for it (only the member that
    /// proposed a request waits for it).
    pub fn trigger(&self, id: u64, result: ApplyResult) {
        if let Some(tx) = self.lock().remove(&id) {
            let _ = tx.send(result);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<ApplyResult>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
