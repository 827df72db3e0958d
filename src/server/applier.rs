//! The Applier actor: applies committed entries, in order, to the MVCC store, and
//! answers the proposers waiting for them.
//!
//! Each batch of entries is applied and then committed to the backend in ONE atomic
//! write, together with the applied index: after a crash, the member resumes after the
//! last index that reached the backend and re-applies the rest from the raft log, so
//! every entry takes effect exactly once. The backend write is not fsynced; the raft log
//! is the durable record.

use std::sync::Arc;

use actix::prelude::*;
use prost::Message as _;
use tokio::sync::watch;

use super::convert;
use super::membership::{ChangeKind, ConfContext, Member, Membership, SharedMembership};
use super::raft_node::{Applied, Propose};
use super::wait::WaitRegistry;
use super::watch_hub::{CommittedEvents, HistoryRead, ReadHistory};
pub use crate::auth::apply::AuthAnswer;
use crate::auth::apply::TokenChange;
use crate::auth::{Auth, AuthError, AuthStore};
use crate::lease::{
    DEFAULT_CHECKPOINT_BATCH_MAX, DEFAULT_REVOKE_BATCH_MAX, EXPIRY_CHECK_INTERVAL_MS, LeaseError,
    Lessor, TimeToLive, decode_lease_entry, encode_lease, meta_key,
};
use crate::metrics::MemberMetrics;
use crate::mvcc::{self, AppliedIndex, Backend, MvccStore};
use crate::pb::etcdserverpb as pb;
use crate::raft::{ConfChange, Entry, EntryType, LogIndex};

/// What applying one request answered.
#[derive(Clone, Debug)]
pub enum AppliedResponse {
    /// A put.
    Put(mvcc::PutResponse),
    /// A delete.
    DeleteRange(mvcc::DeleteRangeResponse),
    /// A txn.
    Txn(mvcc::TxnResponse),
    /// A compaction.
    Compaction(mvcc::CompactionResponse),
    /// A lease grant: the id and the TTL granted.
    LeaseGrant {
        /// The lease.
        id: i64,
        /// Its TTL in seconds (raised to the minimum if asked for less).
        ttl: i64,
        /// The revision when it was applied.
        revision: i64,
    },
    /// A lease revoke (its keys deleted in one revision).
    LeaseRevoke {
        /// The revision after it.
        revision: i64,
    },
    /// Lease checkpoints were recorded.
    LeaseCheckpoint,
    /// A member's attributes were recorded.
    MemberAttributes,
    /// A membership change was applied.
    Membership,
    /// An alarm was raised or cleared: whether that changed anything.
    Alarm(bool),
    /// An auth request.
    Auth(AuthAnswer),
}

/// The result a proposer waits for.
pub type ApplyResult = Result<AppliedResponse, super::handle::ApiError>;

/// The applied state, published after every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppliedState {
    /// The last applied raft index.
    pub index: LogIndex,
    /// The store's current revision.
    pub revision: i64,
}

/// Committed entries to apply, in order.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyEntries {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Serve a range from the local store (the caller made it linearizable if asked).
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "Result<mvcc::RangeResponse, mvcc::Error>")]
pub struct ReadRange(pub mvcc::RangeRequest);

/// Tells the Applier where to report applied indexes and propose lease revokes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectRaft {
    /// Applied-index reports.
    pub applied: Recipient<Applied>,
    /// Proposals (lease revokes and checkpoints, from the leader).
    pub propose: Recipient<Propose>,
    /// Raft log compactions.
    pub compact: Recipient<super::raft_node::CompactLog>,
    /// --snapshot-count.
    pub snapshot_count: u64,
    /// This member's id.
    pub member_id: u64,
    /// --quota-backend-bytes (None: no quota).
    pub quota_bytes: Option<u64>,
    /// The free space under the data dir (None: the store is in memory).
    pub disk_space: Option<crate::storage::DiskSpace>,
    /// Told after each change of the membership.
    pub membership_changed: Recipient<super::raft_node::MembershipChanged>,
}

/// A keep-alive (leader only): the TTL renewed.
#[derive(Message)]
#[rtype(result = "Result<i64, LeaseError>")]
pub struct KeepAlive(pub i64);

/// TimeToLive of a lease (leader only), with its keys if asked.
#[derive(Message)]
#[rtype(result = "Result<TimeToLive, LeaseError>")]
pub struct LeaseTimeToLive {
    /// The lease.
    pub id: i64,
    /// Whether to list its keys.
    pub keys: bool,
}

/// The ids of every lease.
#[derive(Message)]
#[rtype(result = "Vec<i64>")]
pub struct LeaseList;

/// Whether a lease exists (for the API's choice of lease id).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct LeaseExists(pub i64);

/// How long a member waits for its NOSPACE proposal to be applied before proposing it
/// again (a proposal may be lost with a leader change).
const NOSPACE_PROPOSE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The meta entry listing every lease id (8 bytes big-endian each); each lease's record
/// is at [`meta_key`].
pub const LEASE_IDS_META: &[u8] = b"lease_ids";

/// The meta prefix of raised alarms (+ member id 8 bytes and alarm type 4 bytes).
pub const ALARM_META: &[u8] = b"alarm/";

fn load_alarms<B: Backend>(
    store: &MvccStore<B>,
    alarms: &super::handle::Alarms,
) -> Result<(), mvcc::Error> {
    let mut set = alarms
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (key, _) in store.backend().scan_meta()? {
        if let Some(rest) = key.strip_prefix(ALARM_META)
            && rest.len() == 12
        {
            let member = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let alarm = i32::from_be_bytes(rest[8..].try_into().expect("4 bytes"));
            set.insert((member, alarm));
        }
    }
    Ok(())
}

/// The meta entry of the membership (JSON, see [`Membership::encode`]).
const MEMBERSHIP_META: &[u8] = b"membership";

/// The auth store recorded in the store's meta keyspace (an empty one if none is).
fn load_auth<B: Backend>(store: &MvccStore<B>, auth: &Auth) -> Result<(), mvcc::Error> {
    let loaded = match store.meta(crate::auth::store::AUTH_META)? {
        Some(bytes) => AuthStore::decode(&bytes)
            .map_err(|e| mvcc::Error::Corrupt(format!("the auth store's record: {e}")))?,
        None => AuthStore::default(),
    };
    *auth.write() = loaded;
    auth.tokens().clear();
    Ok(())
}

fn load_membership<B: Backend>(store: &MvccStore<B>) -> Result<Option<Membership>, mvcc::Error> {
    store
        .meta(MEMBERSHIP_META)?
        .map(|bytes| Membership::decode(&bytes).map_err(mvcc::Error::Corrupt))
        .transpose()
}

/// The meta prefix of members' published attributes (+ member id, 8 bytes big-endian).
const MEMBER_ATTRIBUTES_META: &[u8] = b"member_attributes/";

fn load_attributes<B: Backend>(
    store: &MvccStore<B>,
    attributes: &super::handle::Attributes,
) -> Result<(), mvcc::Error> {
    let mut map = attributes
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (key, value) in store.backend().scan_meta()? {
        if key.starts_with(MEMBER_ATTRIBUTES_META) {
            let member = pb::MemberAttributes::decode(value.as_slice())
                .map_err(|e| mvcc::Error::Corrupt(format!("member attributes: {e}")))?;
            map.insert(member.id, (member.name, member.client_urls));
        }
    }
    Ok(())
}

fn load_leases<B: Backend>(store: &MvccStore<B>) -> Result<Vec<crate::lease::Lease>, mvcc::Error> {
    let Some(ids) = store.meta(LEASE_IDS_META)? else {
        return Ok(Vec::new());
    };
    let mut leases = Vec::new();
    for chunk in ids.chunks(8) {
        let id = i64::from_be_bytes(
            chunk
                .try_into()
                .map_err(|_| mvcc::Error::Corrupt("lease id list".into()))?,
        );
        let key = meta_key(id);
        let record = store.meta(&key)?.ok_or_else(|| {
            mvcc::Error::Corrupt(format!("lease {id:x} is listed but not stored"))
        })?;
        leases.push(
            decode_lease_entry(&key, &record).map_err(|e| mvcc::Error::Corrupt(e.to_string()))?,
        );
    }
    Ok(leases)
}

/// Tells the Applier where to send the events of each committed batch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectWatch(pub Recipient<CommittedEvents>);

/// The whole store as a state snapshot (see [`super::state_snapshot`]).
#[derive(Message)]
#[rtype(result = "Result<Vec<u8>, mvcc::Error>")]
pub struct TakeSnapshot;

/// Replaces the whole store with a state snapshot received from the leader.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct InstallSnapshot(pub Vec<u8>);

/// etcd's HashKV at a revision (0: the current one): (hash, revision, compacted).
#[derive(Message)]
#[rtype(result = "Result<(u32, i64, i64), mvcc::Error>")]
pub struct HashKv(pub i64);

/// etcd's Defragment: reclaims the space of dead records without stopping the store.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Defragment;

/// A point-in-time view of the store's committed state (for `Maintenance.Snapshot` and
/// `Hash`, read on another thread), and the revision it shows.
#[derive(Message)]
#[rtype(result = "Result<(Box<dyn mvcc::BackendView>, i64), mvcc::Error>")]
pub struct OpenView;

/// The backend's size: (bytes on disk, bytes of records in use).
#[derive(Message)]
#[rtype(result = "(u64, u64)")]
pub struct DbSize;

/// Measures a backend's size on disk.
pub type SizeOf<B> = Box<dyn Fn(&B) -> u64 + Send>;

/// The Applier of one member.
pub struct Applier<B: Backend> {
    store: MvccStore<B>,
    lessor: Lessor,
    /// Members' published attributes, shared with the API layer.
    attributes: super::handle::Attributes,
    /// Raised alarms, shared with the API layer.
    alarms: super::handle::Alarms,
    /// The members, shared with the API layer.
    membership: SharedMembership,
    membership_changed: Option<Recipient<super::raft_node::MembershipChanged>>,
    /// This member, and its --quota-backend-bytes (None: no quota).
    quota: (u64, Option<u64>),
    /// The free space under the data dir, checked with the quota (None: in memory, or
    /// the filesystem could not tell).
    disk_space: Option<crate::storage::DiskSpace>,
    /// When this member last proposed NOSPACE (None: not since it was applied).
    nospace_proposed: Option<std::time::Instant>,
    /// The raft state, to know when this member leads (and so runs lease expiry).
    raft_status: watch::Receiver<super::raft_node::RaftStatus>,
    /// Where the leader proposes lease revokes and checkpoints.
    propose: Option<Recipient<Propose>>,
    /// Where to say the raft log may be compacted.
    compact: Option<Recipient<super::raft_node::CompactLog>>,
    /// --snapshot-count: applied entries between two compactions of the raft log.
    snapshot_count: u64,
    /// The index of the last compaction asked for.
    last_compaction: u64,
    clock: std::time::Instant,
    wait: Arc<WaitRegistry>,
    raft: Option<Recipient<Applied>>,
    watch: Option<Recipient<CommittedEvents>>,
    applied: watch::Sender<AppliedState>,
    metrics: Arc<MemberMetrics>,
    size_of: SizeOf<B>,
    failed: bool,
    /// The auth store (this actor is its only writer) and the member's tokens.
    auth: Arc<Auth>,
}

impl<B: Backend + Unpin + 'static> Applier<B> {
    /// An Applier over an opened store; `lessor` is configured for the member's raft
    /// timing and restored here from the store.
    #[expect(
        clippy::too_many_arguments,
        reason = "wiring of one member, called once"
    )]
    pub fn new(
        mut store: MvccStore<B>,
        mut lessor: Lessor,
        attributes: super::handle::Attributes,
        membership: (SharedMembership, Option<Membership>),
        raft_status: watch::Receiver<super::raft_node::RaftStatus>,
        wait: Arc<WaitRegistry>,
        applied: watch::Sender<AppliedState>,
        metrics: Arc<MemberMetrics>,
        size_of: SizeOf<B>,
        auth: Arc<Auth>,
    ) -> Result<Applier<B>, mvcc::Error> {
        let leases = load_leases(&store)?;
        load_auth(&store, &auth)?;
        let attachments = store.take_restored_lease_attachments();
        lessor.restore(leases, &attachments);
        load_attributes(&store, &attributes)?;
        let alarms = super::handle::Alarms::default();
        load_alarms(&store, &alarms)?;
        let (membership, seed) = membership;
        match load_membership(&store)? {
            Some(stored) => *write(&membership) = stored,
            None => {
                // A new member of a new cluster: the initial cluster, recorded now so it
                // travels with snapshots. One joining a cluster learns it from its
                // leader's snapshot.
                if let Some(seed) = seed {
                    store.set_meta(MEMBERSHIP_META, seed.encode());
                    store.commit()?;
                    *write(&membership) = seed;
                }
            }
        }
        Ok(Applier {
            store,
            lessor,
            attributes,
            alarms,
            membership,
            membership_changed: None,
            quota: (0, None),
            disk_space: None,
            nospace_proposed: None,
            raft_status,
            propose: None,
            compact: None,
            snapshot_count: u64::MAX,
            last_compaction: 0,
            clock: std::time::Instant::now(),
            wait,
            raft: None,
            watch: None,
            applied,
            metrics,
            size_of,
            failed: false,
            auth,
        })
    }

    /// Over --quota-backend-bytes, or short of free space under its data dir (see
    /// [`crate::storage::DiskSpace`]), this member raises NOSPACE through Raft (as etcd
    /// does over its quota); writes that grow the store are refused until an operator
    /// compacts, defragments and disarms it. Checked after every applied batch (a
    /// counter and one statvfs), so a disarm while still short raises it again at once;
    /// proposed at most once per [`NOSPACE_PROPOSE_INTERVAL`] until it is applied.
    fn check_quota(&mut self) {
        let (member, quota) = self.quota;
        let no_space = pb::AlarmType::Nospace as i32;
        let raised = self
            .alarms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&(member, no_space));
        if raised {
            self.nospace_proposed = None;
            return;
        }
        if self
            .nospace_proposed
            .is_some_and(|at| at.elapsed() < NOSPACE_PROPOSE_INTERVAL)
        {
            return;
        }
        // The size in use, not the files' size: fjall's files include a preallocated
        // journal and grow only as memtables flush.
        let over_quota = quota.is_some_and(|quota| self.store.size_in_use() > quota);
        if !over_quota && !self.short_of_disk_space() {
            return;
        }
        if let Some(propose) = &self.propose {
            self.nospace_proposed = Some(std::time::Instant::now());
            let request = pb::InternalRaftRequest {
                alarm: Some(pb::AlarmRequest {
                    action: pb::alarm_request::AlarmAction::Activate as i32,
                    member_id: member,
                    alarm: no_space,
                }),
                ..Default::default()
            };
            self.metrics.actors.raft_node.mailbox.sent();
            propose.do_send(Propose(request.encode_to_vec()));
        }
    }

    /// Whether the data dir's filesystem has less free space than the member needs.
    fn short_of_disk_space(&mut self) -> bool {
        let Some(disk_space) = &self.disk_space else {
            return false;
        };
        match disk_space.headroom() {
            Ok(headroom) if headroom.is_short() => {
                eprintln!(
                    "etcd-rs: raising NOSPACE: {} bytes free under the data dir, {} needed",
                    headroom.free_bytes, headroom.reserve_bytes
                );
                true
            }
            Ok(_) => false,
            Err(e) => {
                eprintln!("etcd-rs: free space under the data dir unknown, not checked: {e}");
                self.disk_space = None;
                false
            }
        }
    }

    /// The raised alarms, shared with the API layer.
    pub fn alarms(&self) -> super::handle::Alarms {
        self.alarms.clone()
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Stores a lease record (and the list of lease ids) with the batch being applied.
    fn store_lease(&mut self, id: i64) {
        match self.lessor.get(id) {
            Some(lease) => self.store.set_meta(&meta_key(id), encode_lease(&lease)),
            None => self.store.delete_meta(&meta_key(id)),
        }
        let ids: Vec<u8> = self
            .lessor
            .records()
            .flat_map(|l| l.id.to_be_bytes())
            .collect();
        self.store.set_meta(LEASE_IDS_META, ids);
    }

    /// The leader's duties: promote or demote the lessor as leadership changes; propose
    /// the revoke of expired leases and checkpoints of remaining TTLs.
    fn lease_duties(&mut self) {
        let leading = self.raft_status.borrow().role == crate::raft::Role::Leader;
        let now = self.now_ms();
        if leading && !self.lessor.is_primary() {
            self.lessor.promote(now, 0);
        } else if !leading && self.lessor.is_primary() {
            self.lessor.demote();
        }
        if !leading {
            return;
        }
        let Some(propose) = self.propose.clone() else {
            return;
        };
        for id in self.lessor.expired(now, DEFAULT_REVOKE_BATCH_MAX) {
            let request = pb::InternalRaftRequest {
                lease_revoke: Some(pb::LeaseRevokeRequest { id }),
                ..Default::default()
            };
            self.metrics.actors.raft_node.mailbox.sent();
            propose.do_send(Propose(request.encode_to_vec()));
        }
        let due = self
            .lessor
            .checkpoints_due(now, DEFAULT_CHECKPOINT_BATCH_MAX);
        if !due.is_empty() {
            let checkpoints = due
                .into_iter()
                .map(|c| pb::LeaseCheckpoint {
                    id: c.id,
                    remaining_ttl: c.remaining_ttl_secs,
                })
                .collect();
            let request = pb::InternalRaftRequest {
                lease_checkpoint: Some(pb::LeaseCheckpointRequest { checkpoints }),
                ..Default::default()
            };
            self.metrics.actors.raft_node.mailbox.sent();
            propose.do_send(Propose(request.encode_to_vec()));
        }
    }

    /// Applies one request; its events are added to `events`.
    fn apply(
        &mut self,
        request: &pb::InternalRaftRequest,
        events: &mut Vec<mvcc::Event>,
    ) -> ApplyResult {
        if super::corruption::refused_while_corrupt(request)
            && super::corruption::corrupt_raised(&self.alarms)
        {
            return Err(super::handle::ApiError::Corrupt);
        }
        self.check_permission(request)?;
        if let Some(answer) = self.apply_auth(request)? {
            return Ok(AppliedResponse::Auth(answer));
        }
        let lessor = &self.lessor;
        let leases = |id: i64| lessor.contains(id);
        if let Some(put) = &request.put {
            let applied = self.store.put(&convert::put_request(put), &leases)?;
            self.lessor.apply_lease_changes(&applied.lease_changes);
            events.extend(applied.events);
            return Ok(AppliedResponse::Put(applied.response));
        }
        if let Some(delete) = &request.delete_range {
            let applied = self.store.delete_range(&convert::delete_request(delete))?;
            self.lessor.apply_lease_changes(&applied.lease_changes);
            events.extend(applied.events);
            return Ok(AppliedResponse::DeleteRange(applied.response));
        }
        if let Some(txn) = &request.txn {
            let txn = convert::txn_request(txn)?;
            let applied = self.store.txn(&txn, &leases)?;
            self.lessor.apply_lease_changes(&applied.lease_changes);
            events.extend(applied.events);
            return Ok(AppliedResponse::Txn(applied.response));
        }
        if let Some(compaction) = &request.compaction {
            let response = self
                .store
                .compact(&convert::compaction_request(compaction))?;
            return Ok(AppliedResponse::Compaction(response));
        }
        if let Some(grant) = &request.lease_grant {
            let now = self.now_ms();
            let lease = self.lessor.grant(grant.id, grant.ttl, now)?;
            self.store_lease(lease.id);
            return Ok(AppliedResponse::LeaseGrant {
                id: lease.id,
                ttl: lease.ttl_secs,
                revision: self.store.current_revision(),
            });
        }
        if let Some(revoke) = &request.lease_revoke {
            let keys = self.lessor.revoke(revoke.id)?;
            self.store_lease(revoke.id);
            if !keys.is_empty() {
                // Every key of the lease goes in one revision, as in etcd.
                let txn = mvcc::TxnRequest::delete_keys(keys);
                let applied = self.store.txn(&txn, &|_| false)?;
                self.lessor.apply_lease_changes(&applied.lease_changes);
                events.extend(applied.events);
            }
            return Ok(AppliedResponse::LeaseRevoke {
                revision: self.store.current_revision(),
            });
        }
        if let Some(alarm) = &request.alarm {
            let entry = (alarm.member_id, alarm.alarm);
            let mut key = ALARM_META.to_vec();
            key.extend_from_slice(&alarm.member_id.to_be_bytes());
            key.extend_from_slice(&alarm.alarm.to_be_bytes());
            let mut alarms = self
                .alarms
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut changed = false;
            if alarm.action == pb::alarm_request::AlarmAction::Activate as i32 {
                changed = alarms.insert(entry);
                self.store.set_meta(&key, Vec::new());
            } else if alarm.action == pb::alarm_request::AlarmAction::Deactivate as i32 {
                changed = alarms.remove(&entry);
                self.store.delete_meta(&key);
            }
            return Ok(AppliedResponse::Alarm(changed));
        }
        if let Some(member) = &request.member_attributes {
            let mut key = MEMBER_ATTRIBUTES_META.to_vec();
            key.extend_from_slice(&member.id.to_be_bytes());
            self.store.set_meta(&key, member.encode_to_vec());
            self.attributes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(member.id, (member.name.clone(), member.client_urls.clone()));
            return Ok(AppliedResponse::MemberAttributes);
        }
        if let Some(update) = &request.member_peer_urls {
            let context = ConfContext {
                request_id: 0,
                kind: ChangeKind::Update,
                member: Member {
                    id: update.id,
                    peer_urls: update.peer_urls.clone(),
                    ..Member::default()
                },
            };
            return self.apply_membership(&context);
        }
        if let Some(checkpoint) = &request.lease_checkpoint {
            for c in &checkpoint.checkpoints {
                if self.lessor.checkpoint(c.id, c.remaining_ttl).is_some() {
                    self.store_lease(c.id);
                }
            }
            return Ok(AppliedResponse::LeaseCheckpoint);
        }
        Err(
            mvcc::Error::Corrupt("a committed request of a kind this member cannot apply".into())
                .into(),
        )
    }

    /// etcd's checks of a client's request as it is applied (its auth applier): admin
    /// calls need the root role; writes need write permission on their keys, on the
    /// keys of a lease they attach to or revoke, and read permission where they return
    /// previous values or compare.
    fn check_permission(&self, request: &pb::InternalRaftRequest) -> Result<(), AuthError> {
        let lease_keys = |id: i64| -> Vec<Vec<u8>> {
            self.lessor
                .keys(id)
                .into_iter()
                .flatten()
                .cloned()
                .collect()
        };
        crate::auth::apply::check_request(&self.auth.read(), request, &lease_keys)
    }

    /// Applies an auth request (None: `request` is of another kind).
    fn apply_auth(
        &mut self,
        request: &pb::InternalRaftRequest,
    ) -> Result<Option<AuthAnswer>, AuthError> {
        if crate::auth::apply::kind(request).is_none() {
            // Without taking the store's lock from the API's readers.
            return Ok(None);
        }
        let mut auth = self.auth.write();
        let before = (auth.enabled(), auth.revision());
        let Some(applied) = crate::auth::apply::apply_request(&mut auth, request) else {
            return Ok(None);
        };
        let (answer, tokens) = applied?;
        match tokens {
            TokenChange::Keep => {}
            // The member that proposed it turns this into the client's token: the
            // simple token, recorded here on every member, or a JWT it signs for this
            // user at this revision (every member can verify it).
            TokenChange::Assign { token, info } => self.auth.assign_simple(&token, info),
            TokenChange::InvalidateUser(name) => self.auth.tokens().invalidate_user(&name),
            TokenChange::Clear => self.auth.tokens().clear(),
        }
        // Every change raises the revision but enabling, which sets the flag.
        if (auth.enabled(), auth.revision()) != before {
            self.store
                .set_meta(crate::auth::store::AUTH_META, auth.encode());
        }
        Ok(Some(answer))
    }

    /// Applies a membership change and records the membership in the same batch.
    fn apply_membership(&mut self, context: &ConfContext) -> ApplyResult {
        let mut membership = write(&self.membership);
        membership.apply(context)?;
        self.store.set_meta(MEMBERSHIP_META, membership.encode());
        drop(membership);
        if let Some(changed) = &self.membership_changed {
            changed.do_send(super::raft_node::MembershipChanged);
        }
        Ok(AppliedResponse::Membership)
    }

    /// A committed conf change: (the proposer's request id, its result), or None for
    /// one that carries no membership change (leaving a joint configuration).
    fn apply_conf_change(&mut self, entry: &Entry) -> Option<(u64, ApplyResult)> {
        let change = match ConfChange::decode(&entry.data) {
            Ok(change) => change,
            Err(e) => {
                eprintln!(
                    "etcd-rs: committed conf change {} unreadable: {e}",
                    entry.index
                );
                return None;
            }
        };
        if change.context.is_empty() {
            return None;
        }
        match ConfContext::decode(&change.context) {
            Ok(context) => Some((context.request_id, self.apply_membership(&context))),
            Err(e) => {
                eprintln!("etcd-rs: committed conf change {}: {e}", entry.index);
                None
            }
        }
    }

    fn publish(&mut self, index: LogIndex) {
        let revision = self.store.current_revision();
        self.applied.send_replace(AppliedState { index, revision });
        self.metrics.current_revision.set(revision);
        self.metrics.keys_total.set(self.store.index().len() as i64);
        self.metrics
            .db_size_in_use
            .set(self.store.size_in_use() as i64);
    }
}

impl<B: Backend + Unpin + 'static> Actor for Applier<B> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        let index = self.store.applied_index().map_or(0, |a| a.index);
        self.publish(LogIndex(index));
        ctx.run_interval(
            std::time::Duration::from_millis(EXPIRY_CHECK_INTERVAL_MS),
            |act, _| act.lease_duties(),
        );
    }
}

impl<B: Backend + Unpin + 'static> Handler<ApplyEntries> for Applier<B> {
    type Result = ();

    fn handle(&mut self, batch: ApplyEntries, ctx: &mut Context<Self>) {
        let _handling = self.metrics.actors.applier.handling("ApplyEntries");
        if self.failed {
            return;
        }
        let already = self.store.applied_index().map_or(0, |a| a.index);
        let mut results = Vec::new();
        let mut events = Vec::new();
        let mut last = LogIndex(already);
        let handed = batch.entries.last().map(|e| e.index);
        for entry in batch.entries {
            if entry.index.0 <= already {
                // Applied before a restart: its effects are in the store already.
                continue;
            }
            if entry.entry_type == EntryType::ConfChange {
                results.extend(self.apply_conf_change(&entry));
            } else if entry.entry_type == EntryType::Normal && !entry.data.is_empty() {
                match pb::InternalRaftRequest::decode(entry.data.as_slice()) {
                    Ok(request) => {
                        let result = self.apply(&request, &mut events);
                        let id = request.header.as_ref().map_or(request.id, |h| h.id);
                        results.push((id, result));
                    }
                    Err(e) => {
                        eprintln!(
                            "etcd-rs: committed entry {} is not a request: {e}",
                            entry.index
                        );
                    }
                }
            }
            self.store.set_applied_index(AppliedIndex {
                index: entry.index.0,
                term: entry.term.0,
            });
            last = entry.index;
        }
        if last.0 == already {
            // Every entry was in the store already (re-delivered after a restart or a
            // snapshot): they count as applied.
            if let (Some(raft), Some(handed)) = (&self.raft, handed) {
                self.metrics.actors.raft_node.mailbox.sent();
                raft.do_send(Applied(handed));
            }
            return;
        }
        let started = std::time::Instant::now();
        if let Err(e) = self.store.commit() {
            eprintln!("etcd-rs: the applier stops: committing to the backend failed: {e}");
            self.failed = true;
            ctx.stop();
            return;
        }
        self.metrics
            .backend_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Some(watch) = &self.watch {
            self.metrics.actors.watch_hub.mailbox.sent();
            watch.do_send(CommittedEvents {
                events,
                revision: self.store.current_revision(),
                compacted: self.store.compacted_revision(),
                restored: false,
            });
        }
        // Publish the new applied state before answering, so that a client that reads
        // a header right after its write sees at least the revision of that write.
        self.publish(last);
        for (id, result) in results {
            self.wait.trigger(id, result);
        }
        if let Some(raft) = &self.raft {
            self.metrics.actors.raft_node.mailbox.sent();
            raft.do_send(Applied(last));
        }
        self.check_quota();
        if last.0 >= self.last_compaction.saturating_add(self.snapshot_count) {
            // The raft log may drop what the backend holds durably: fsync it first.
            match self.store.backend().sync() {
                Ok(()) => {
                    self.last_compaction = last.0;
                    if let Some(compact) = &self.compact {
                        compact.do_send(super::raft_node::CompactLog(last));
                    }
                }
                Err(e) => eprintln!("etcd-rs: syncing the backend failed, no compaction: {e}"),
            }
        }
    }
}

impl<B: Backend + Unpin + 'static> Handler<ReadRange> for Applier<B> {
    type Result = Result<mvcc::RangeResponse, mvcc::Error>;

    fn handle(&mut self, ReadRange(request): ReadRange, _: &mut Context<Self>) -> Self::Result {
        let _handling = self.metrics.actors.applier.handling("ReadRange");
        self.store.range(&request)
    }
}

impl<B: Backend + Unpin + 'static> Handler<ConnectRaft> for Applier<B> {
    type Result = ();

    fn handle(&mut self, connect: ConnectRaft, _: &mut Context<Self>) {
        self.raft = Some(connect.applied);
        self.propose = Some(connect.propose);
        self.compact = Some(connect.compact);
        self.snapshot_count = connect.snapshot_count.max(1);
        self.quota = (connect.member_id, connect.quota_bytes);
        self.disk_space = connect.disk_space;
        connect
            .membership_changed
            .do_send(super::raft_node::MembershipChanged);
        self.membership_changed = Some(connect.membership_changed);
        self.last_compaction = self.store.applied_index().map_or(0, |a| a.index);
    }
}

impl<B: Backend + Unpin + 'static> Handler<ConnectWatch> for Applier<B> {
    type Result = ();

    fn handle(&mut self, ConnectWatch(watch): ConnectWatch, _: &mut Context<Self>) {
        self.watch = Some(watch);
    }
}

impl<B: Backend + Unpin + 'static> Handler<ReadHistory> for Applier<B> {
    type Result = Result<HistoryRead, mvcc::Error>;

    fn handle(&mut self, read: ReadHistory, _: &mut Context<Self>) -> Self::Result {
        let mut events = self.store.history(read.start, read.end, read.limit)?;
        if read.prev_kv {
            for event in &mut events {
                let before = mvcc::RangeRequest {
                    key: event.kv.key.clone(),
                    revision: event.kv.mod_revision - 1,
                    ..Default::default()
                };
                // Below the compaction the previous value is gone: none, as in etcd.
                event.prev_kv = self
                    .store
                    .range(&before)
                    .ok()
                    .and_then(|r| r.kvs.into_iter().next());
            }
        }
        Ok(HistoryRead {
            events,
            compacted: self.store.compacted_revision(),
        })
    }
}

impl<B: Backend + Unpin + 'static> Handler<KeepAlive> for Applier<B> {
    type Result = Result<i64, LeaseError>;

    fn handle(&mut self, KeepAlive(id): KeepAlive, _: &mut Context<Self>) -> Self::Result {
        self.lease_duties();
        let now = self.now_ms();
        let renewal = self.lessor.renew(id, now)?;
        if renewal.clear_checkpoint
            && let Some(propose) = &self.propose
        {
            // A renewed lease restarts from its full TTL: forget its checkpoint
            // everywhere, or a leader change would restart it from the stale one.
            let request = pb::InternalRaftRequest {
                lease_checkpoint: Some(pb::LeaseCheckpointRequest {
                    checkpoints: vec![pb::LeaseCheckpoint {
                        id,
                        remaining_ttl: 0,
                    }],
                }),
                ..Default::default()
            };
            self.metrics.actors.raft_node.mailbox.sent();
            propose.do_send(Propose(request.encode_to_vec()));
        }
        Ok(renewal.ttl_secs)
    }
}

impl<B: Backend + Unpin + 'static> Handler<LeaseTimeToLive> for Applier<B> {
    type Result = Result<TimeToLive, LeaseError>;

    fn handle(&mut self, request: LeaseTimeToLive, _: &mut Context<Self>) -> Self::Result {
        self.lease_duties();
        let now = self.now_ms();
        self.lessor.time_to_live(request.id, now, request.keys)
    }
}

impl<B: Backend + Unpin + 'static> Handler<LeaseList> for Applier<B> {
    type Result = Vec<i64>;

    fn handle(&mut self, _: LeaseList, _: &mut Context<Self>) -> Vec<i64> {
        self.lessor.leases()
    }
}

impl<B: Backend + Unpin + 'static> Handler<LeaseExists> for Applier<B> {
    type Result = bool;

    fn handle(&mut self, LeaseExists(id): LeaseExists, _: &mut Context<Self>) -> bool {
        self.lessor.contains(id)
    }
}

impl<B: Backend + Unpin + 'static> Handler<TakeSnapshot> for Applier<B> {
    type Result = Result<Vec<u8>, mvcc::Error>;

    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        super::state_snapshot::encode(self.store.backend()).map_err(mvcc::Error::from)
    }
}

impl<B: Backend + Unpin + 'static> Handler<InstallSnapshot> for Applier<B> {
    type Result = Result<(), String>;

    fn handle(
        &mut self,
        InstallSnapshot(data): InstallSnapshot,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let (records, meta) = super::state_snapshot::decode(&data)?;
        if let Err(e) = self.store.install(records, meta) {
            eprintln!("etcd-rs: the applier stops: installing a snapshot failed: {e}");
            self.failed = true;
            ctx.stop();
            return Err(e.to_string());
        }
        let leases = load_leases(&self.store).map_err(|e| e.to_string())?;
        load_attributes(&self.store, &self.attributes).map_err(|e| e.to_string())?;
        write(&self.alarms).clear();
        load_alarms(&self.store, &self.alarms).map_err(|e| e.to_string())?;
        load_auth(&self.store, &self.auth).map_err(|e| e.to_string())?;
        if let Some(membership) = load_membership(&self.store).map_err(|e| e.to_string())? {
            *write(&self.membership) = membership;
            if let Some(changed) = &self.membership_changed {
                changed.do_send(super::raft_node::MembershipChanged);
            }
        }
        let attachments = self.store.take_restored_lease_attachments();
        self.lessor.restore(leases, &attachments);
        let index = self.store.applied_index().map_or(0, |a| a.index);
        self.last_compaction = index;
        self.publish(LogIndex(index));
        if let Some(watch) = &self.watch {
            // Watchers resume from the new store: their next revision, read back from it.
            self.metrics.actors.watch_hub.mailbox.sent();
            watch.do_send(CommittedEvents {
                events: Vec::new(),
                revision: self.store.current_revision(),
                compacted: self.store.compacted_revision(),
                restored: true,
            });
        }
        Ok(())
    }
}

impl<B: Backend + Unpin + 'static> Handler<HashKv> for Applier<B> {
    type Result = Result<(u32, i64, i64), mvcc::Error>;

    fn handle(&mut self, HashKv(rev): HashKv, _: &mut Context<Self>) -> Self::Result {
        self.store.hash_kv(rev)
    }
}

impl<B: Backend + Unpin + 'static> Handler<Defragment> for Applier<B> {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _: Defragment, _: &mut Context<Self>) -> Self::Result {
        let job = self.store.backend().defragmenter();
        Box::pin(async move {
            match job {
                None => Ok(()),
                Some(job) => tokio::task::spawn_blocking(job)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string()),
            }
        })
    }
}

impl<B: Backend + Unpin + 'static> Handler<DbSize> for Applier<B> {
    type Result = MessageResult<DbSize>;

    fn handle(&mut self, _: DbSize, _: &mut Context<Self>) -> Self::Result {
        MessageResult((
            (self.size_of)(self.store.backend()),
            self.store.size_in_use(),
        ))
    }
}

/// A write lock that survives a panicked writer (the data is replaced whole).
fn write<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<B: Backend + Unpin + 'static> Handler<OpenView> for Applier<B> {
    type Result = Result<(Box<dyn mvcc::BackendView>, i64), mvcc::Error>;

    fn handle(&mut self, _: OpenView, _: &mut Context<Self>) -> Self::Result {
        // Between two batches everything applied is committed: the view shows whole
        // requests, at one revision.
        if self.failed || self.store.has_uncommitted() {
            return Err(mvcc::Error::Backend(mvcc::BackendError::new(
                "the store has changes that did not reach the backend",
            )));
        }
        let view = self.store.backend().view()?;
        Ok((view, self.store.current_revision()))
    }
}
