//! The Lessor against a simple model, over random operations from a seeded generator.
//! A failure names its seed and step; rerunning the seed replays it exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::mvcc::{LeaseChange, LeaseLookup};
use crate::raft::SeededRng;

const SEEDS: u64 = 40;
const STEPS: usize = 1500;
const RETRY_MS: u64 = 7000;
const MIN_TTL_SECS: i64 = 2;

/// What the model knows of one lease.
#[derive(Debug, Clone)]
struct ModelLease {
    ttl_secs: i64,
    remaining_secs: i64,
    deadline_ms: Option<u64>,
    offered_ms: Option<u64>,
}

/// The obvious implementation: scan everything every time.
#[derive(Debug, Default)]
struct Model {
    leases: BTreeMap<i64, ModelLease>,
    /// key → lease, as the KV store's records say.
    key_lease: BTreeMap<Vec<u8>, i64>,
    primary: bool,
}

impl Model {
    fn keys_of(&self, id: i64) -> BTreeSet<Vec<u8>> {
        self.key_lease
            .iter()
            .filter(|&(_, &l)| l == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn expired(&mut self, now_ms: u64) -> Vec<i64> {
        let mut due: Vec<(u64, i64)> = self
            .leases
            .iter()
            .filter_map(|(&id, l)| {
                let deadline = l.deadline_ms?;
                let check = l.offered_ms.map_or(deadline, |o| o + RETRY_MS);
                (deadline <= now_ms && check <= now_ms).then_some((check, id))
            })
            .collect();
        due.sort_unstable();
        for &(_, id) in &due {
            if let Some(lease) = self.leases.get_mut(&id) {
                lease.offered_ms = Some(now_ms);
            }
        }
        due.into_iter().map(|(_, id)| id).collect()
    }
}

/// How often the interesting outcomes happened, so the test cannot pass by testing
/// nothing.
#[derive(Debug, Default)]
struct Stats {
    granted: usize,
    renewed: usize,
    renewed_too_late: usize,
    expired: usize,
    reoffered: usize,
    checkpointed: usize,
    revoked_with_keys: usize,
}

struct Run {
    stats: Stats,
    rng: SeededRng,
    lessor: Lessor,
    model: Model,
    now_ms: u64,
    context: String,
}

fn config() -> LessorConfig {
    LessorConfig {
        min_ttl_secs: MIN_TTL_SECS,
        checkpointing: true,
        checkpoint_interval_ms: 20_000,
        expired_retry_interval_ms: RETRY_MS,
        revoke_rate_per_sec: 1000,
    }
}

impl Run {
    fn pick(&mut self, n: u64) -> u64 {
        self.rng.range(0, n)
    }

    fn id(&mut self) -> i64 {
        // A small id space, so that grants collide and revokes find leases.
        self.pick(12) as i64 - 1
    }

    fn key(&mut self) -> Vec<u8> {
        format!("key{}", self.pick(20)).into_bytes()
    }

    fn step(&mut self) {
        self.now_ms += self.pick(3000);
        match self.pick(100) {
            0..=14 => self.grant(),
            15..=22 => self.revoke(),
            23..=47 => self.put(),
            48..=54 => self.delete(),
            55..=69 => self.renew(),
            70..=74 => self.time_to_live(),
            75..=84 => self.expire(),
            85..=90 => self.checkpoint(),
            91..=94 => self.promote(),
            95..=96 => self.demote(),
            97 => self.restart(),
            _ => self.list(),
        }
        self.check_state();
    }

    fn grant(&mut self) {
        let id = self.id();
        let ttl = match self.pick(10) {
            0 => MAX_LEASE_TTL_SECS + 1,
            1 => 0,
            _ => self.pick(40) as i64,
        };
        let got = self.lessor.grant(id, ttl, self.now_ms);
        let want = if id == 0 {
            Err(LeaseError::LeaseNotFound)
        } else if ttl > MAX_LEASE_TTL_SECS {
            Err(LeaseError::TtlTooLarge)
        } else if self.model.leases.contains_key(&id) {
            Err(LeaseError::LeaseExists)
        } else {
            self.stats.granted += 1;
            let ttl_secs = ttl.max(MIN_TTL_SECS);
            let deadline_ms = self
                .model
                .primary
                .then(|| self.now_ms + ttl_secs as u64 * 1000);
            self.model.leases.insert(
                id,
                ModelLease {
                    ttl_secs,
                    remaining_secs: 0,
                    deadline_ms,
                    offered_ms: None,
                },
            );
            Ok(Lease {
                id,
                ttl_secs,
                remaining_ttl_secs: 0,
            })
        };
        assert_eq!(got, want, "{}: grant({id}, {ttl})", self.context);
    }

    /// Deletes `keys` as the applier does after a revoke or a delete: mvcc reports
    /// detaches from each key's lease.
    fn delete_keys(&mut self, keys: &[Vec<u8>]) {
        let mut changes = Vec::new();
        for key in keys {
            if let Some(lease) = self.model.key_lease.remove(key) {
                changes.push(LeaseChange::Detach {
                    lease,
                    key: key.clone(),
                });
            }
        }
        let unknown = self.lessor.apply_lease_changes(&changes);
        assert!(unknown.is_empty(), "{}: {unknown:?}", self.context);
    }

    fn revoke(&mut self) {
        let id = self.id();
        let got = self.lessor.revoke(id);
        let want = match self.model.leases.remove(&id) {
            Some(_) => Ok(self.model.keys_of(id).into_iter().collect::<Vec<_>>()),
            None => Err(LeaseError::LeaseNotFound),
        };
        assert_eq!(got, want, "{}: revoke({id})", self.context);
        if let Ok(keys) = got {
            self.stats.revoked_with_keys += usize::from(!keys.is_empty());
            self.delete_keys(&keys);
        }
    }

    /// A put of a key with a lease (or none), as mvcc reports it to the Lessor.
    fn put(&mut self) {
        let key = self.key();
        let lease = if self.pick(5) == 0 { 0 } else { self.id() };
        if lease != 0 && !self.lessor.lease_exists(lease) {
            assert!(
                !self.model.leases.contains_key(&lease),
                "{}: lease {lease} should exist",
                self.context
            );
            return; // mvcc refuses the put: lease not found.
        }
        let old = self.model.key_lease.get(&key).copied().unwrap_or(0);
        let mut changes = Vec::new();
        if old != lease {
            if old != 0 {
                changes.push(LeaseChange::Detach {
                    lease: old,
                    key: key.clone(),
                });
            }
            if lease != 0 {
                changes.push(LeaseChange::Attach {
                    lease,
                    key: key.clone(),
                });
            }
        }
        if lease == 0 {
            self.model.key_lease.remove(&key);
        } else {
            self.model.key_lease.insert(key, lease);
        }
        let unknown = self.lessor.apply_lease_changes(&changes);
        assert!(unknown.is_empty(), "{}: {unknown:?}", self.context);
    }

    fn delete(&mut self) {
        let key = self.key();
        self.delete_keys(&[key]);
    }

    fn renew(&mut self) {
        let id = self.id();
        let now = self.now_ms;
        let got = self.lessor.renew(id, now);
        let want = if !self.model.primary {
            Err(LeaseError::NotPrimary)
        } else {
            match self.model.leases.get_mut(&id) {
                None => Err(LeaseError::LeaseNotFound),
                Some(l) if l.deadline_ms.is_some_and(|d| d <= now) => Err(LeaseError::Expired),
                Some(l) => {
                    l.deadline_ms = Some(now + l.ttl_secs as u64 * 1000);
                    l.offered_ms = None;
                    Ok(Renewal {
                        ttl_secs: l.ttl_secs,
                        clear_checkpoint: l.remaining_secs > 0,
                    })
                }
            }
        };
        assert_eq!(got, want, "{}: renew({id})", self.context);
        match got {
            Ok(_) => self.stats.renewed += 1,
            Err(LeaseError::Expired) => self.stats.renewed_too_late += 1,
            Err(_) => {}
        }
        // The leader proposes the clearing checkpoint; let it apply at once.
        if got.is_ok_and(|r| r.clear_checkpoint) {
            self.apply_checkpoint(id, 0);
        }
    }

    fn time_to_live(&mut self) {
        let id = self.id();
        let now = self.now_ms;
        let got = self.lessor.time_to_live(id, now, true);
        let want = if !self.model.primary {
            Err(LeaseError::NotPrimary)
        } else {
            match self.model.leases.get(&id) {
                None => Err(LeaseError::LeaseNotFound),
                Some(l) => Ok(TimeToLive {
                    granted_ttl_secs: l.ttl_secs,
                    remaining_ttl_secs: (l.deadline_ms.unwrap_or(0).saturating_sub(now) / 1000)
                        as i64,
                    keys: self.model.keys_of(id).into_iter().collect(),
                }),
            }
        };
        assert_eq!(got, want, "{}: time_to_live({id})", self.context);
    }

    fn expire(&mut self) {
        let got = self.lessor.expired(self.now_ms, usize::MAX);
        let reoffers = got
            .iter()
            .filter(|id| self.model.leases[id].offered_ms.is_some())
            .count();
        let want = self.model.expired(self.now_ms);
        assert_eq!(got, want, "{}: expired", self.context);
        self.stats.expired += got.len();
        self.stats.reoffered += reoffers;
        // The leader proposes revokes; most commit, some are lost to the network.
        for id in got {
            if self.pick(4) != 0 {
                let keys = self.lessor.revoke(id).expect("an expired lease is granted");
                self.model.leases.remove(&id);
                self.delete_keys(&keys);
            }
        }
    }

    fn apply_checkpoint(&mut self, id: i64, remaining: i64) {
        let got = self.lessor.checkpoint(id, remaining);
        let want = self.model.leases.get_mut(&id).map(|l| {
            l.remaining_secs = remaining;
            Lease {
                id,
                ttl_secs: l.ttl_secs,
                remaining_ttl_secs: remaining,
            }
        });
        assert_eq!(got, want, "{}: checkpoint({id}, {remaining})", self.context);
    }

    fn checkpoint(&mut self) {
        let now = self.now_ms;
        let due = self.lessor.checkpoints_due(now, usize::MAX);
        for cp in &due {
            let lease = &self.model.leases[&cp.id];
            let deadline = lease.deadline_ms.expect("checkpoints come from the leader");
            assert!(
                deadline > now,
                "{}: {cp:?} of an expired lease",
                self.context
            );
            assert_eq!(
                cp.remaining_ttl_secs,
                (deadline - now).div_ceil(1000) as i64,
                "{}: {cp:?}",
                self.context
            );
            assert!(cp.remaining_ttl_secs < lease.ttl_secs, "{}", self.context);
        }
        // Proposed through Raft: usually applied, sometimes lost.
        for cp in due {
            if self.pick(5) != 0 {
                self.stats.checkpointed += 1;
                self.apply_checkpoint(cp.id, cp.remaining_ttl_secs);
            }
        }
        // A checkpoint from an old leader may also apply late.
        if self.pick(10) == 0 {
            let id = self.id();
            let remaining = self.pick(30) as i64;
            self.apply_checkpoint(id, remaining);
        }
    }

    fn promote(&mut self) {
        let extend = self.pick(2000);
        let now = self.now_ms;
        self.lessor.promote(now, extend);
        self.model.primary = true;
        for l in self.model.leases.values_mut() {
            let secs = if l.remaining_secs > 0 {
                l.remaining_secs
            } else {
                l.ttl_secs
            };
            l.deadline_ms = Some(now + extend + secs as u64 * 1000);
            l.offered_ms = None;
        }
    }

    fn demote(&mut self) {
        self.lessor.demote();
        self.model.primary = false;
        for l in self.model.leases.values_mut() {
            l.deadline_ms = None;
            l.offered_ms = None;
        }
    }

    /// A crash and restart: leases come back from their stored records, keys from the
    /// KV records' lease fields.
    fn restart(&mut self) {
        let stored: Vec<(Vec<u8>, Vec<u8>)> = self
            .lessor
            .records()
            .map(|l| (meta_key(l.id), encode_lease(&l)))
            .collect();
        let leases = stored
            .iter()
            .map(|(k, v)| decode_lease_entry(k, v))
            .collect::<Result<Vec<_>, _>>()
            .expect("stored leases decode");
        let attachments: Vec<LeaseChange> = self
            .model
            .key_lease
            .iter()
            .map(|(key, &lease)| LeaseChange::Attach {
                lease,
                key: key.clone(),
            })
            .collect();
        let mut fresh = Lessor::new(config());
        let orphans = fresh.restore(leases, &attachments);
        assert!(orphans.is_empty(), "{}: {orphans:?}", self.context);
        self.lessor = fresh;
        self.demote();
    }

    fn list(&mut self) {
        let mut want: Vec<(u64, i64)> = self
            .model
            .leases
            .iter()
            .map(|(&id, l)| (l.deadline_ms.unwrap_or(u64::MAX), id))
            .collect();
        want.sort_unstable();
        let want: Vec<i64> = want.into_iter().map(|(_, id)| id).collect();
        assert_eq!(self.lessor.leases(), want, "{}: leases", self.context);
    }

    fn check_state(&self) {
        let ctx = &self.context;
        assert_eq!(self.lessor.is_primary(), self.model.primary, "{ctx}");
        assert_eq!(self.lessor.len(), self.model.leases.len(), "{ctx}");
        for (&id, l) in &self.model.leases {
            assert_eq!(
                self.lessor.get(id),
                Some(Lease {
                    id,
                    ttl_secs: l.ttl_secs,
                    remaining_ttl_secs: l.remaining_secs
                }),
                "{ctx}: lease {id}"
            );
            assert_eq!(self.lessor.deadline_ms(id), l.deadline_ms, "{ctx}: {id}");
            assert_eq!(
                self.lessor.keys(id),
                Some(&self.model.keys_of(id)),
                "{ctx}: keys of {id}"
            );
        }
        if !self.model.primary {
            assert_eq!(self.lessor.next_wakeup_ms(), None, "{ctx}");
        }
    }
}

#[test]
fn lessor_matches_a_simple_model_over_random_operations() {
    let mut total = Stats::default();
    for seed in 0..SEEDS {
        let mut run = Run {
            stats: Stats::default(),
            rng: SeededRng::new(seed),
            lessor: Lessor::new(config()),
            model: Model::default(),
            now_ms: 0,
            context: String::new(),
        };
        for step in 0..STEPS {
            run.context = format!("seed {seed} step {step} at {} ms", run.now_ms);
            run.step();
        }
        total.granted += run.stats.granted;
        total.renewed += run.stats.renewed;
        total.renewed_too_late += run.stats.renewed_too_late;
        total.expired += run.stats.expired;
        total.reoffered += run.stats.reoffered;
        total.checkpointed += run.stats.checkpointed;
        total.revoked_with_keys += run.stats.revoked_with_keys;
    }
    let least = [
        total.granted,
        total.renewed,
        total.renewed_too_late,
        total.expired,
        total.reoffered,
        total.checkpointed,
        total.revoked_with_keys,
    ]
    .into_iter()
    .min();
    assert!(
        least >= Some(100),
        "the random operations rarely reached some outcome: {total:?}"
    );
}
