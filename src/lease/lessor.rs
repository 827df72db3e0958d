//! The [`Lessor`]: every granted lease, its attached keys, and (on the leader) its
//! deadline. etcd's `lease.lessor`, without the goroutine, the locks and the clock.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{LessorConfig, MAX_LEASE_TTL_SECS};
use super::error::LeaseError;
use super::record::Lease;
use crate::mvcc::{LeaseChange, LeaseLookup};

/// What a keep-alive answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    /// The lease's granted TTL in seconds: the keep-alive response's `TTL`.
    pub ttl_secs: i64,
    /// The lease had a checkpointed remaining TTL, now stale: the caller MUST propose a
    /// `LeaseCheckpoint { ID, remaining_TTL: 0 }` through Raft, or a new leader (or a
    /// restart) would give the lease only that old remaining TTL. etcd 3.5 waits for the
    /// checkpoint to apply before answering the keep-alive.
    pub clear_checkpoint: bool,
}

/// What a TimeToLive request answers about a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToLive {
    /// The TTL the lease was granted, in seconds (`grantedTTL`).
    pub granted_ttl_secs: i64,
    /// The seconds left before the lease expires, rounded down as etcd's
    /// `int64(Remaining().Seconds())`; 0 once the deadline has passed (etcd can show a
    /// negative number while the revoke is pending; we do not).
    pub remaining_ttl_secs: i64,
    /// The attached keys, in key order; empty unless asked for.
    pub keys: Vec<Vec<u8>>,
}

/// A lease's remaining TTL to record through Raft (one `etcdserverpb.LeaseCheckpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The lease id.
    pub id: i64,
    /// Its remaining TTL, in seconds, rounded up.
    pub remaining_ttl_secs: i64,
}

/// One granted lease.
#[derive(Debug, Clone)]
struct Granted {
    /// The replicated part: id, granted TTL, checkpointed remaining TTL.
    record: Lease,
    /// The keys attached to the lease.
    keys: BTreeSet<Vec<u8>>,
    /// When the lease expires, in the caller's milliseconds.
    /// Invariant: `Some` if and only if the lessor is primary.
    deadline_ms: Option<u64>,
    /// When [`Lessor::expired`] next looks at the lease: its deadline, or once offered
    /// for revoking, the time to offer it again.
    /// Invariant: `Some(t)` if and only if `(t, id)` is in `Lessor::expiry_queue`.
    expiry_check_ms: Option<u64>,
    /// When [`Lessor::checkpoints_due`] next checkpoints the lease.
    /// Invariant: `Some(t)` if and only if `(t, id)` is in `Lessor::checkpoint_queue`.
    checkpoint_at_ms: Option<u64>,
}

impl Granted {
    /// The TTL the lease restarts from on promotion: the checkpointed remaining TTL if
    /// there is one, else the full TTL (etcd's `getRemainingTTL`).
    fn restart_ttl_secs(&self) -> i64 {
        if self.record.remaining_ttl_secs > 0 {
            self.record.remaining_ttl_secs
        } else {
            self.record.ttl_secs
        }
    }
}

/// Every granted lease of one member, and on the leader their deadlines.
///
/// Two kinds of calls, which MUST NOT be mixed up:
/// - Applied operations ([`grant`](Self::grant), [`revoke`](Self::revoke),
///   [`checkpoint`](Self::checkpoint), [`attach`](Self::attach),
///   [`detach`](Self::detach), [`apply_lease_changes`](Self::apply_lease_changes)) are
///   called by the applier for committed entries, in log order, on every member. They
///   change the replicated state identically everywhere; the `now_ms` some take only
///   starts a leader's timers.
/// - Leader operations ([`promote`](Self::promote), [`demote`](Self::demote),
///   [`renew`](Self::renew), [`time_to_live`](Self::time_to_live),
///   [`expired`](Self::expired), [`checkpoints_due`](Self::checkpoints_due)) are local:
///   only the leader keeps deadlines, decides expiry and proposes revokes and
///   checkpoints through Raft. Followers never expire a lease.
///
/// Time is a count of milliseconds on a monotonic clock of the caller's choosing; it
/// MUST NOT go backwards between calls.
#[derive(Debug, Clone)]
pub struct Lessor {
    config: LessorConfig,
    leases: BTreeMap<i64, Granted>,
    /// Whether this member is the leader (etcd's "primary lessor").
    primary: bool,
    /// `(check time, id)` of every lease, leader only; see `Granted::expiry_check_ms`.
    expiry_queue: BTreeSet<(u64, i64)>,
    /// `(checkpoint time, id)`, leader only; see `Granted::checkpoint_at_ms`.
    checkpoint_queue: BTreeSet<(u64, i64)>,
}

/// Moves `id`'s entry in `queue` from `*slot` to `at`.
fn requeue(queue: &mut BTreeSet<(u64, i64)>, slot: &mut Option<u64>, id: i64, at: Option<u64>) {
    if let Some(old) = slot.take() {
        queue.remove(&(old, id));
    }
    if let Some(at) = at {
        queue.insert((at, id));
    }
    *slot = at;
}

/// `now_ms` plus `secs` seconds, saturating (TTLs reach 9e9 s; clocks do not reach 2^64).
fn after_secs(now_ms: u64, secs: i64) -> u64 {
    now_ms.saturating_add(u64::try_from(secs).unwrap_or(0).saturating_mul(1000))
}

impl Lessor {
    /// A lessor with no lease, not primary.
    pub fn new(config: LessorConfig) -> Lessor {
        Lessor {
            config,
            leases: BTreeMap::new(),
            primary: false,
            expiry_queue: BTreeSet::new(),
            checkpoint_queue: BTreeSet::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LessorConfig {
        &self.config
    }

    /// Whether this lessor is primary: promoted and not demoted since.
    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// The number of granted leases.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no lease is granted.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Whether lease `id` is granted.
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// The replicated state of lease `id`, if granted.
    pub fn get(&self, id: i64) -> Option<Lease> {
        self.leases.get(&id).map(|l| l.record)
    }

    /// The keys attached to lease `id`, if granted.
    pub fn keys(&self, id: i64) -> Option<&BTreeSet<Vec<u8>>> {
        self.leases.get(&id).map(|l| &l.keys)
    }

    /// Lease `id`'s deadline: on the leader, when it expires unless renewed; `None` on a
    /// follower or for a lease not granted.
    pub fn deadline_ms(&self, id: i64) -> Option<u64> {
        self.leases.get(&id).and_then(|l| l.deadline_ms)
    }

    /// The replicated state of every lease, in id order (for snapshots and checks).
    pub fn records(&self) -> impl Iterator<Item = Lease> + '_ {
        self.leases.values().map(|l| l.record)
    }

    /// Applies a committed `LeaseGrant` (etcd's `Grant`): lease `id` with `ttl_secs`,
    /// raised to the minimum TTL. On the leader its deadline starts at `now_ms`.
    ///
    /// A TTL is never below 1 s, whatever the configured minimum (so that a stored
    /// lease always has a TTL field, see [`decode_lease`](super::decode_lease)).
    ///
    /// Returns the lease, whose `ttl_secs` is the response's `TTL` and which the applier
    /// stores (`encode_lease` at `meta_key(id)`) in the same batch. Errors, in etcd's
    /// order: id 0 is [`LeaseError::LeaseNotFound`] (the proposer MUST have replaced it,
    /// see [`pick_id`](super::pick_id)); a TTL above
    /// [`MAX_LEASE_TTL_SECS`] is [`LeaseError::TtlTooLarge`]; a granted id is
    /// [`LeaseError::LeaseExists`].
    pub fn grant(&mut self, id: i64, ttl_secs: i64, now_ms: u64) -> Result<Lease, LeaseError> {
        if id == 0 {
            return Err(LeaseError::LeaseNotFound);
        }
        if ttl_secs > MAX_LEASE_TTL_SECS {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::LeaseExists);
        }
        let record = Lease {
            id,
            ttl_secs: ttl_secs.max(self.config.min_ttl_secs).max(1),
            remaining_ttl_secs: 0,
        };
        self.leases.insert(
            id,
            Granted {
                record,
                keys: BTreeSet::new(),
                deadline_ms: None,
                expiry_check_ms: None,
                checkpoint_at_ms: None,
            },
        );
        if self.primary {
            self.start_timers(id, after_secs(now_ms, record.ttl_secs), now_ms);
        }
        Ok(record)
    }

    /// Applies a committed `LeaseRevoke` (etcd's `Revoke`), whether a client asked or
    /// the leader found the lease expired: forgets lease `id` and returns its keys, in
    /// key order. The applier MUST delete them all in one revision and remove the
    /// lease's meta entry in the same batch. The mvcc detaches that deletion reports
    /// then name an unknown lease, which [`apply_lease_changes`](Self::apply_lease_changes)
    /// ignores.
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let mut lease = self.leases.remove(&id).ok_or(LeaseError::LeaseNotFound)?;
        requeue(&mut self.expiry_queue, &mut lease.expiry_check_ms, id, None);
        requeue(
            &mut self.checkpoint_queue,
            &mut lease.checkpoint_at_ms,
            id,
            None,
        );
        Ok(lease.keys.into_iter().collect())
    }

    /// Applies one checkpoint of a committed `LeaseCheckpointRequest` (etcd's
    /// `Checkpoint`): lease `id` has `remaining_ttl_secs` left (0: the full TTL again).
    /// Returns the updated lease for the applier to store, or `None` if the lease is no
    /// longer granted (not an error, as in etcd). Deadlines do not change: the remaining
    /// TTL is used by the next promotion.
    pub fn checkpoint(&mut self, id: i64, remaining_ttl_secs: i64) -> Option<Lease> {
        let lease = self.leases.get_mut(&id)?;
        lease.record.remaining_ttl_secs = remaining_ttl_secs;
        Some(lease.record)
    }

    /// Attaches `key` to lease `id` (a put with that lease applied).
    /// [`LeaseError::LeaseNotFound`] if the lease is not granted.
    pub fn attach(&mut self, id: i64, key: Vec<u8>) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::LeaseNotFound)?;
        lease.keys.insert(key);
        Ok(())
    }

    /// Detaches `key` from lease `id` (the key was deleted, or put with another lease).
    /// [`LeaseError::LeaseNotFound`] if the lease is not granted.
    pub fn detach(&mut self, id: i64, key: &[u8]) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::LeaseNotFound)?;
        lease.keys.remove(key);
        Ok(())
    }

    /// Applies the lease changes of one applied request, in order. Returns the attaches
    /// that named a lease that is not granted: mvcc checks the lease before a put, so
    /// any is a bug worth logging. Detaches from a lease that is gone are expected (the
    /// deletions of a revoke report them) and ignored.
    pub fn apply_lease_changes(&mut self, changes: &[LeaseChange]) -> Vec<LeaseChange> {
        let mut unknown = Vec::new();
        for change in changes {
            match change {
                LeaseChange::Attach { lease, key } => {
                    if self.attach(*lease, key.clone()).is_err() {
                        unknown.push(change.clone());
                    }
                }
                LeaseChange::Detach { lease, key } => {
                    // Err only for a lease already revoked: nothing to detach from.
                    let _ = self.detach(*lease, key);
                }
            }
        }
        unknown
    }

    /// Replaces all state with `leases` (read back from the meta entries) and their
    /// `attachments` (from `MvccStore::take_restored_lease_attachments`), as etcd's
    /// `Recover`, at start-up or after installing a snapshot. TTLs below the minimum are
    /// raised to it. The lessor is left a follower: a leader MUST call
    /// [`promote`](Self::promote) again. Returns the attachments naming a lease that is
    /// not among `leases` (etcd logs them and leaves the keys alone).
    pub fn restore(
        &mut self,
        leases: impl IntoIterator<Item = Lease>,
        attachments: &[LeaseChange],
    ) -> Vec<LeaseChange> {
        self.demote();
        self.leases.clear();
        for mut record in leases {
            record.ttl_secs = record.ttl_secs.max(self.config.min_ttl_secs).max(1);
            self.leases.insert(
                record.id,
                Granted {
                    record,
                    keys: BTreeSet::new(),
                    deadline_ms: None,
                    expiry_check_ms: None,
                    checkpoint_at_ms: None,
                },
            );
        }
        self.apply_lease_changes(attachments)
    }

    /// Makes this lessor primary, when its member has become leader and applied every
    /// entry of earlier terms (etcd promotes on applying the leader's empty entry of its
    /// term). Every lease gets the deadline `now_ms + extend_ms +` its checkpointed
    /// remaining TTL, or its full TTL if none (etcd's `Promote(extend)`; etcd passes the
    /// election timeout as `extend`). If as many leases as the revoke rate allows per
    /// second would pile up, their deadlines are spread as etcd spreads them.
    pub fn promote(&mut self, now_ms: u64, extend_ms: u64) {
        self.primary = true;
        let start_ms = now_ms.saturating_add(extend_ms);
        let ids: Vec<i64> = self.leases.keys().copied().collect();
        for id in ids {
            let restart_secs = self.leases[&id].restart_ttl_secs();
            self.start_timers(id, after_secs(start_ms, restart_secs), now_ms);
        }
        self.spread_piled_up_deadlines(now_ms);
    }

    /// Makes this lessor a follower (etcd's `Demote`): no lease has a deadline any more,
    /// so none expires here, and nothing is due for checkpointing.
    pub fn demote(&mut self) {
        self.primary = false;
        for lease in self.leases.values_mut() {
            lease.deadline_ms = None;
            lease.expiry_check_ms = None;
            lease.checkpoint_at_ms = None;
        }
        self.expiry_queue.clear();
        self.checkpoint_queue.clear();
    }

    /// A keep-alive of lease `id` on the leader (etcd's `Renew`): its deadline becomes
    /// `now_ms` plus its full TTL. Errors: [`LeaseError::NotPrimary`] on a follower (the
    /// API forwards to the leader), [`LeaseError::LeaseNotFound`] for an unknown lease
    /// (the keep-alive answers TTL 0), [`LeaseError::Expired`] if the deadline has
    /// passed (a revoke is pending; the lease is not renewed).
    pub fn renew(&mut self, id: i64, now_ms: u64) -> Result<Renewal, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::LeaseNotFound)?;
        if lease.deadline_ms.is_some_and(|d| d <= now_ms) {
            return Err(LeaseError::Expired);
        }
        let deadline = after_secs(now_ms, lease.record.ttl_secs);
        lease.deadline_ms = Some(deadline);
        requeue(
            &mut self.expiry_queue,
            &mut lease.expiry_check_ms,
            id,
            Some(deadline),
        );
        Ok(Renewal {
            ttl_secs: lease.record.ttl_secs,
            clear_checkpoint: self.config.checkpointing && lease.record.remaining_ttl_secs > 0,
        })
    }

    /// A TimeToLive of lease `id` on the leader, with its keys if `with_keys`.
    /// [`LeaseError::NotPrimary`] on a follower (the API forwards to the leader, which
    /// alone knows deadlines), [`LeaseError::LeaseNotFound`] for an unknown lease (the
    /// API answers TTL -1).
    pub fn time_to_live(
        &self,
        id: i64,
        now_ms: u64,
        with_keys: bool,
    ) -> Result<TimeToLive, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let lease = self.leases.get(&id).ok_or(LeaseError::LeaseNotFound)?;
        let left_ms = lease.deadline_ms.map_or(0, |d| d.saturating_sub(now_ms));
        Ok(TimeToLive {
            granted_ttl_secs: lease.record.ttl_secs,
            remaining_ttl_secs: i64::try_from(left_ms / 1000).unwrap_or(i64::MAX),
            keys: if with_keys {
                lease.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
    }

    /// The ids of all granted leases (etcd's `Leases`, served by any member): soonest
    /// deadline first as etcd sorts them, ties (and all leases on a follower) by id.
    pub fn leases(&self) -> Vec<i64> {
        let mut ids: Vec<(u64, i64)> = self
            .leases
            .iter()
            .map(|(&id, l)| (l.deadline_ms.unwrap_or(u64::MAX), id))
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// The leases whose deadline has passed by `now_ms`, for the leader to propose
    /// their revokes: at most `limit` (etcd hands out `leaseRevokeRate / 2` per 500 ms
    /// check: [`DEFAULT_REVOKE_BATCH_MAX`](super::DEFAULT_REVOKE_BATCH_MAX)), those
    /// waiting longest first. A lease handed out is not handed out again until
    /// `expired_retry_interval_ms` later, and then only if it is still granted (its
    /// revoke was lost, e.g. to a leader change) and not renewed meanwhile. Empty on a
    /// follower.
    pub fn expired(&mut self, now_ms: u64, limit: usize) -> Vec<i64> {
        let retry_ms = now_ms.saturating_add(self.config.expired_retry_interval_ms.max(1));
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(&(at, id)) = self.expiry_queue.first() else {
                break;
            };
            if at > now_ms {
                break;
            }
            let Some(lease) = self.leases.get_mut(&id) else {
                debug_assert!(false, "lease {id:x} queued for expiry but not granted");
                self.expiry_queue.pop_first();
                continue;
            };
            let deadline = lease.deadline_ms.unwrap_or(u64::MAX);
            let next = if deadline <= now_ms {
                out.push(id);
                retry_ms
            } else {
                deadline
            };
            requeue(
                &mut self.expiry_queue,
                &mut lease.expiry_check_ms,
                id,
                Some(next),
            );
        }
        out
    }

    /// The checkpoints due by `now_ms`, for the leader to propose in one
    /// `LeaseCheckpointRequest`: at most `limit` (etcd's `maxLeaseCheckpointBatchSize`,
    /// [`DEFAULT_CHECKPOINT_BATCH_MAX`](super::DEFAULT_CHECKPOINT_BATCH_MAX)). A lease
    /// longer than the checkpoint interval is looked at every interval while this
    /// member leads; it yields a checkpoint if it has less than its full TTL left (etcd's
    /// `findDueScheduledCheckpoints`). Empty on a follower or with checkpointing off.
    pub fn checkpoints_due(&mut self, now_ms: u64, limit: usize) -> Vec<Checkpoint> {
        let next_ms = now_ms.saturating_add(self.config.checkpoint_interval_ms.max(1));
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(&(at, id)) = self.checkpoint_queue.first() else {
                break;
            };
            if at > now_ms {
                break;
            }
            let Some(lease) = self.leases.get_mut(&id) else {
                debug_assert!(false, "lease {id:x} queued for checkpoint but not granted");
                self.checkpoint_queue.pop_first();
                continue;
            };
            let deadline = lease.deadline_ms.unwrap_or(u64::MAX);
            if deadline <= now_ms {
                // Expired: its revoke is pending; a renewal cannot save it.
                requeue(
                    &mut self.checkpoint_queue,
                    &mut lease.checkpoint_at_ms,
                    id,
                    None,
                );
                continue;
            }
            requeue(
                &mut self.checkpoint_queue,
                &mut lease.checkpoint_at_ms,
                id,
                Some(next_ms),
            );
            let remaining_secs =
                i64::try_from((deadline - now_ms).div_ceil(1000)).unwrap_or(i64::MAX);
            if remaining_secs < lease.record.ttl_secs {
                out.push(Checkpoint {
                    id,
                    remaining_ttl_secs: remaining_secs,
                });
            }
        }
        out
    }

    /// The earliest time at which [`expired`](Self::expired) or
    /// [`checkpoints_due`](Self::checkpoints_due) may have something to hand out, for
    /// the actor to sleep until; `None` on a follower or with no lease.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let expiry = self.expiry_queue.first().map(|&(at, _)| at);
        let checkpoint = self.checkpoint_queue.first().map(|&(at, _)| at);
        match (expiry, checkpoint) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sets lease `id`'s deadline and (re)starts its expiry check and its checkpoints.
    /// Leader only.
    fn start_timers(&mut self, id: i64, deadline_ms: u64, now_ms: u64) {
        let checkpoint_interval_ms = self.config.checkpoint_interval_ms;
        let checkpointing = self.config.checkpointing;
        let Some(lease) = self.leases.get_mut(&id) else {
            return;
        };
        lease.deadline_ms = Some(deadline_ms);
        requeue(
            &mut self.expiry_queue,
            &mut lease.expiry_check_ms,
            id,
            Some(deadline_ms),
        );
        let ttl_ms = u64::try_from(lease.record.ttl_secs)
            .unwrap_or(0)
            .saturating_mul(1000);
        let checkpoint_at = (checkpointing && ttl_ms > checkpoint_interval_ms)
            .then(|| now_ms.saturating_add(checkpoint_interval_ms.max(1)));
        requeue(
            &mut self.checkpoint_queue,
            &mut lease.checkpoint_at_ms,
            id,
            checkpoint_at,
        );
    }

    /// After a promotion, pushes back deadlines so that at most 3/4 of the revoke rate
    /// expire in any one-second window, as etcd's `Promote` does once at least
    /// `revoke_rate_per_sec` leases exist: within a window starting at a lease's
    /// deadline, the n-th lease beyond the target gets `n / target` seconds more, minus
    /// how far after the window's start it already was.
    fn spread_piled_up_deadlines(&mut self, now_ms: u64) {
        let rate = self.config.revoke_rate_per_sec;
        if rate == 0 || self.leases.len() < rate {
            return;
        }
        let target = i64::try_from((3 * rate / 4).max(1)).unwrap_or(i64::MAX);
        let mut by_deadline: Vec<(u64, i64)> = self
            .leases
            .iter()
            .map(|(&id, l)| (l.deadline_ms.unwrap_or(u64::MAX), id))
            .collect();
        by_deadline.sort_unstable();
        let remaining_of = |deadline: u64| i64::try_from(deadline - now_ms).unwrap_or(i64::MAX);
        let mut base = remaining_of(by_deadline[0].0);
        let mut next_window = base.saturating_add(1000);
        let mut expires: i64 = 0;
        for (deadline, id) in by_deadline {
            let remaining = remaining_of(deadline);
            if remaining > next_window {
                base = remaining;
                next_window = base.saturating_add(1000);
                expires = 1;
                continue;
            }
            expires += 1;
            if expires <= target {
                continue;
            }
            let delay_ms = 1000 * expires / target - (remaining - base);
            next_window = base.saturating_add(delay_ms);
            let pushed = deadline.saturating_add_signed(delay_ms).max(now_ms);
            self.start_timers(id, pushed, now_ms);
        }
    }
}

impl LeaseLookup for Lessor {
    fn lease_exists(&self, id: i64) -> bool {
        self.contains(id)
    }
}
