//! [`MemberHandle`]: what the API layer holds of a member. It proposes requests and
//! waits for their results, makes reads linearizable, and builds response headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use prost::Message as _;
use tokio::sync::{oneshot, watch};

use super::applier::{AppliedResponse, AppliedState, DbSize, ReadRange};
use super::raft_node::{Propose, ProposeError, RaftStatus, ReadIndex};
use super::wait::WaitRegistry;
use crate::metrics::MemberMetrics;
use crate::mvcc;
use crate::pb::etcdserverpb as pb;

/// Who a member is.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The member id.
    pub member_id: u64,
    /// The cluster id.
    pub cluster_id: u64,
    /// --name.
    pub name: String,
    /// --initial-advertise-peer-urls.
    pub peer_urls: Vec<String>,
    /// --advertise-client-urls.
    pub client_urls: Vec<String>,
}

/// A member of the cluster, as MemberList shows it.
#[derive(Clone, Debug, Default)]
pub struct MemberInfo {
    /// The member id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its peer URLs.
    pub peer_urls: Vec<String>,
    /// Its client URLs.
    pub client_urls: Vec<String>,
    /// Whether it is a learner.
    pub is_learner: bool,
}

/// Request limits and checks (etcd's flags).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// --max-request-bytes.
    pub max_request_bytes: usize,
    /// --max-txn-ops.
    pub max_txn_ops: usize,
    /// How long a request may wait for its result: etcd's 5 s + 2 × election timeout.
    pub request_timeout: Duration,
    /// --max-concurrent-streams: streams one client connection may have open at once
    /// (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// --grpc-keepalive-interval: how long a connection may be idle before the server
    /// pings the client.
    pub grpc_keepalive_interval: Duration,
    /// --grpc-keepalive-timeout: how long the server waits for that ping's answer
    /// before closing the connection.
    pub grpc_keepalive_timeout: Duration,
    /// --strict-reconfig-check: refuse membership changes while too few members are
    /// started or connected to keep a quorum (etcd's default); false skips those checks,
    /// as etcd does.
    pub strict_reconfig_check: bool,
}

/// Why a request failed, before conversion to a gRPC status or an HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The store refused it (etcd's message, byte for byte).
    #[error(transparent)]
    Mvcc(#[from] mvcc::Error),
    /// The lessor refused it (etcd's message, byte for byte).
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
    /// Over --max-request-bytes.
    #[error("etcdserver: request is too large")]
    TooLarge,
    /// No result within the request timeout.
    #[error("etcdserver: request timed out")]
    Timeout,
    /// The member stopped (after a storage failure).
    #[error("etcdserver: server stopped")]
    Stopped,
    /// A NOSPACE alarm is raised (etcd's `ErrGRPCNoSpace`).
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// A call only the leader answers, made to another member.
    #[error("etcdserver: not leader")]
    NotLeader,
    /// MoveLeader to a member that is not a voter.
    #[error("etcdserver: bad leader transferee")]
    BadLeaderTransferee,
    /// MoveLeader did not complete in time.
    #[error("etcdserver: request timed out, leader transfer took too long")]
    LeaderTransferTimeout,
    /// A membership change refused (etcd's message, byte for byte).
    #[error(transparent)]
    Membership(#[from] super::membership::MembershipError),
    /// A write while the CORRUPT alarm is raised (etcd's `ErrGRPCCorrupt`).
    #[error("etcdserver: corrupt cluster")]
    Corrupt,
    /// Auth refused it (etcd's message, byte for byte).
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

/// Where a call only the leader serves goes.
pub enum LeaderRoute {
    /// The leader runs in this process (this member, or another in dev mode).
    Local(MemberHandle),
    /// The leader is another process: its client port.
    Remote(tonic::transport::Channel),
}

/// The actors a handle talks to.
pub struct Endpoints {
    /// The RaftNode's proposals.
    pub propose: Recipient<Propose>,
    /// The RaftNode's read points.
    pub read_index: Recipient<ReadIndex>,
    /// The Applier's reads.
    pub reads: Recipient<ReadRange>,
    /// The Applier's size reports.
    pub db_size: Recipient<DbSize>,
    /// The WatchHub.
    pub watch: actix::Addr<super::watch_hub::WatchHub>,
    /// Leadership transfers.
    pub transfer: Recipient<super::raft_node::TransferLeader>,
    /// Membership changes.
    pub conf_change: Recipient<super::raft_node::ProposeConfChange>,
    /// The leader's view of its peers.
    pub leader_view: Recipient<super::raft_node::GetLeaderView>,
    /// Keep-alives (the Applier's lessor).
    pub keep_alive: Recipient<super::applier::KeepAlive>,
    /// Lease TimeToLive.
    pub time_to_live: Recipient<super::applier::LeaseTimeToLive>,
    /// Lease lists.
    pub lease_list: Recipient<super::applier::LeaseList>,
    /// Lease existence.
    pub lease_exists: Recipient<super::applier::LeaseExists>,
    /// HashKV.
    pub hash_kv: Recipient<super::applier::HashKv>,
    /// Defragment.
    pub defragment: Recipient<super::applier::Defragment>,
    /// Point-in-time views of the store (Snapshot, Hash).
    pub open_view: Recipient<super::applier::OpenView>,
}

/// The raised alarms (member id, alarm type), as applied through Raft.
pub type Alarms = Arc<std::sync::RwLock<std::collections::BTreeSet<(u64, i32)>>>;

/// The attributes members published through Raft: member id → (name, client URLs).
pub type Attributes =
    Arc<std::sync::RwLock<std::collections::BTreeMap<u64, (String, Vec<String>)>>>;

/// The members of this process, by id: where a follower forwards what only the leader
/// answers (lease keep-alives and TimeToLive). Between processes this becomes the peer
/// transport's job.
pub type Directory = Arc<std::sync::RwLock<std::collections::HashMap<u64, MemberHandle>>>;

/// The API layer's view of one member. Cheap to clone.
#[derive(Clone)]
pub struct MemberHandle {
    /// Who the member is.
    pub identity: Arc<Identity>,
    /// The cluster's members, as applied.
    pub membership: super::membership::SharedMembership,
    /// Request limits.
    pub limits: Limits,
    /// The member's metrics.
    pub metrics: Arc<MemberMetrics>,
    endpoints: Arc<Endpoints>,
    status: watch::Receiver<RaftStatus>,
    applied: watch::Receiver<AppliedState>,
    wait: Arc<WaitRegistry>,
    next_id: Arc<AtomicU64>,
    directory: Directory,
    attributes: Attributes,
    /// The raised alarms.
    pub alarms: Alarms,
    /// The auth store and this member's tokens.
    pub auth: Arc<crate::auth::Auth>,
    /// The user [`MemberHandle::propose`] and [`MemberHandle::range`] act for (see
    /// [`MemberHandle::acting_as`]).
    acting_as: Option<crate::auth::AuthInfo>,
    /// The token of the client this handle acts for: sent along when a call is
    /// forwarded to the leader's client port.
    token: Option<String>,
    /// gRPC channels to other members' client URLs (for forwarding to the leader).
    channels: Arc<ClientChannels>,
}

/// How this member dials other members besides Raft's messages: gRPC channels to their
/// client URLs, each dialed once and then shared, and the TLS of both kinds of URL.
#[derive(Default)]
struct ClientChannels {
    /// How `https://` client URLs are dialed; unset, they are not (see
    /// [`MemberHandle::dial_client_urls_with`]).
    tls: std::sync::OnceLock<tokio_rustls::TlsConnector>,
    /// How `https://` peer URLs are dialed (see [`MemberHandle::peer_tls`]).
    peer_tls: std::sync::OnceLock<tokio_rustls::TlsConnector>,
    open: std::sync::Mutex<std::collections::HashMap<String, tonic::transport::Channel>>,
}

/// A majority of `n` voters.
fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// How long one attempt to publish a member's attributes may take.
const PUBLISH_ATTEMPT: Duration = Duration::from_secs(1);

/// How long to wait before proposing again when no leader is known.
const NO_LEADER_RETRY: Duration = Duration::from_millis(20);

impl MemberHandle {
    /// A handle over a started member.
    #[expect(
        clippy::too_many_arguments,
        reason = "wiring of one member, called once"
    )]
    pub fn new(
        identity: Identity,
        limits: Limits,
        metrics: Arc<MemberMetrics>,
        endpoints: Endpoints,
        status: watch::Receiver<RaftStatus>,
        applied: watch::Receiver<AppliedState>,
        wait: Arc<WaitRegistry>,
        attributes: Attributes,
        alarms: Alarms,
        membership: super::membership::SharedMembership,
        auth: Arc<crate::auth::Auth>,
    ) -> MemberHandle {
        // etcd's request ids: the member id's low 16 bits, then milliseconds and a
        // counter, so ids stay unique across restarts.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let first = ((identity.member_id & 0xffff) << 48) | ((millis << 8) & ((1 << 48) - 1));
        MemberHandle {
            identity: Arc::new(identity),
            membership,
            limits,
            metrics,
            endpoints: Arc::new(endpoints),
            status,
            applied,
            wait,
            next_id: Arc::new(AtomicU64::new(first)),
            directory: Directory::default(),
            attributes,
            alarms,
            auth,
            acting_as: None,
            token: None,
            channels: Arc::default(),
        }
    }

    /// etcd's answer while a NOSPACE alarm is raised: writes that grow the store fail.
    pub fn check_space(&self) -> Result<(), ApiError> {
        let alarms = self
            .alarms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let no_space = crate::pb::etcdserverpb::AlarmType::Nospace as i32;
        if alarms.iter().any(|(_, alarm)| *alarm == no_space) {
            return Err(ApiError::NoSpace);
        }
        Ok(())
    }

    /// The client URLs member `id` published (empty until it did).
    pub fn published_client_urls(&self, id: u64) -> Option<Vec<String>> {
        self.attributes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .map(|(_, urls)| urls.clone())
    }

    /// Whether this member's name and client URLs are published (applied here), as
    /// etcd's members are before they serve clients.
    pub fn is_published(&self) -> bool {
        let mine = (
            self.identity.name.clone(),
            self.identity.client_urls.clone(),
        );
        self.attributes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&self.identity.member_id)
            == Some(&mine)
    }

    /// Publishes this member's name and client URLs through Raft (once a leader exists),
    /// unless they are published already.
    pub async fn publish_attributes(&self) {
        loop {
            if self.is_published() {
                return;
            }
            if !self.status().leader.is_none() {
                let request = pb::InternalRaftRequest {
                    member_attributes: Some(pb::MemberAttributes {
                        id: self.identity.member_id,
                        name: self.identity.name.clone(),
                        client_urls: self.identity.client_urls.clone(),
                    }),
                    ..Default::default()
                };
                // A proposal forwarded before the connection to the leader is up is
                // lost: try again soon (publishing twice is harmless).
                let attempt = tokio::time::timeout(PUBLISH_ATTEMPT, self.propose_internal(request));
                if attempt.await.is_ok_and(|r| r.is_ok()) {
                    continue;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A channel to the leader's client port, when the leader is another process.
    async fn remote_leader(&self) -> Option<tonic::transport::Channel> {
        let leader = self.status().leader.0;
        let url = self.published_client_urls(leader)?.into_iter().next()?;
        self.client_channel(&url).await
    }

    /// The members as applied: (id, peer URLs, learner?), in id order.
    pub fn members(&self) -> Vec<super::membership::Member> {
        self.read_membership().members.values().cloned().collect()
    }

    /// Where the leader serves calls only it answers; waits (up to the request timeout)
    /// for a leader to be known and reachable.
    pub async fn leader_route(&self) -> Result<LeaderRoute, ApiError> {
        let deadline = Instant::now() + self.limits.request_timeout;
        loop {
            if let Some(leader) = self.leader_handle() {
                return Ok(LeaderRoute::Local(leader));
            }
            if let Some(channel) = self.remote_leader().await {
                return Ok(LeaderRoute::Remote(channel));
            }
            if Instant::now() >= deadline {
                return Err(ApiError::Timeout);
            }
            tokio::time::sleep(NO_LEADER_RETRY).await;
        }
    }

    /// The members as MemberList shows them: names and client URLs as each member
    /// published them (a member added but not started yet has neither).
    pub fn member_list(&self) -> Vec<pb::Member> {
        let membership = self
            .membership
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attributes = self
            .attributes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        membership
            .members
            .values()
            .map(|m| {
                let (name, client_urls) = attributes
                    .get(&m.id)
                    .cloned()
                    .unwrap_or_else(|| (m.name.clone(), Vec::new()));
                pb::Member {
                    id: m.id,
                    name,
                    peer_ur_ls: m.peer_urls.clone(),
                    client_ur_ls: client_urls,
                    is_learner: m.is_learner,
                }
            })
            .collect()
    }

    /// Whether this member was removed from the cluster.
    pub fn is_removed(&self) -> bool {
        self.membership
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .removed
            .contains(&self.identity.member_id)
    }

    /// The applied state, to wait on.
    pub fn applied_changes(&self) -> watch::Receiver<AppliedState> {
        self.applied.clone()
    }

    /// The leader's view of its peers (None: this member does not lead).
    async fn leader_view(&self) -> Result<super::raft_node::LeaderView, ApiError> {
        self.endpoints
            .leader_view
            .send(super::raft_node::GetLeaderView)
            .await
            .map_err(|_| ApiError::Stopped)?
            .ok_or(ApiError::NotLeader)
    }

    /// etcd's MemberAdd, on the leader: the new member.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<super::membership::Member, ApiError> {
        use super::membership::{ChangeKind, Member, MembershipError, new_member_id};
        if peer_urls.is_empty()
            || !peer_urls
                .iter()
                .all(|u| super::membership::valid_peer_url(u))
        {
            return Err(MembershipError::BadUrls.into());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let member = Member {
            id: new_member_id(&peer_urls, now),
            peer_urls,
            name: String::new(),
            is_learner,
        };
        self.read_membership().check_add(&member)?;
        self.may_add_member(is_learner).await?;
        let kind = if is_learner {
            ChangeKind::AddLearner
        } else {
            ChangeKind::Add
        };
        self.change_membership(kind, member.clone()).await?;
        Ok(member)
    }

    /// etcd's MemberRemove, on the leader.
    pub async fn member_remove(&self, id: u64) -> Result<(), ApiError> {
        use super::membership::ChangeKind;
        let member = {
            let membership = self.read_membership();
            membership.check_remove(id)?;
            membership.members[&id].clone()
        };
        if !member.is_learner {
            self.may_remove_voter(id).await?;
        }
        self.change_membership(ChangeKind::Remove, member).await
    }

    /// etcd's MemberPromote, on the leader: only a learner that has most of the log.
    pub async fn member_promote(&self, id: u64) -> Result<(), ApiError> {
        use super::membership::{ChangeKind, LEARNER_READY_PERCENT, MembershipError};
        let member = {
            let membership = self.read_membership();
            membership.check_promote(id)?;
            membership.members[&id].clone()
        };
        let view = self.leader_view().await?;
        let learner = view.matched.get(&id).copied().unwrap_or(0);
        if (learner as f64) < view.leader_match as f64 * LEARNER_READY_PERCENT {
            return Err(MembershipError::LearnerNotReady.into());
        }
        if self.limits.strict_reconfig_check && !self.ready_to_add_voter() {
            return Err(MembershipError::NotEnoughStarted.into());
        }
        self.change_membership(ChangeKind::Promote, member).await
    }

    /// etcd's MemberUpdate: new peer URLs for a member.
    pub async fn member_update(&self, id: u64, peer_urls: Vec<String>) -> Result<(), ApiError> {
        use super::membership::MembershipError;
        if peer_urls.is_empty()
            || !peer_urls
                .iter()
                .all(|u| super::membership::valid_peer_url(u))
        {
            return Err(MembershipError::BadUrls.into());
        }
        self.read_membership().check_update(id, &peer_urls)?;
        let request = pb::InternalRaftRequest {
            member_peer_urls: Some(pb::MemberPeerUrls { id, peer_urls }),
            ..Default::default()
        };
        self.propose(request).await.map(|_| ())
    }

    /// Whether member `id` started, as etcd counts it: it has a name (from the initial
    /// cluster, or published once it started).
    fn started(&self, id: u64) -> bool {
        let named = self
            .read_membership()
            .members
            .get(&id)
            .is_some_and(|m| !m.name.is_empty());
        named
            || self
                .attributes
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains_key(&id)
    }

    /// etcd's `IsReadyToAddVotingMember`: with one more voter, the started voters are
    /// still a quorum (a lone member may take a second).
    fn ready_to_add_voter(&self) -> bool {
        let voters: Vec<u64> = self.read_membership().voters().collect();
        let started = voters.iter().filter(|v| self.started(**v)).count();
        let members = voters.len() + 1;
        (started == 1 && members == 2) || started >= quorum(members)
    }

    /// etcd 3.4's `mayAddMember` (--strict-reconfig-check): a voter needs enough
    /// started members, and any member the leader connected to every voter.
    async fn may_add_member(&self, is_learner: bool) -> Result<(), ApiError> {
        use super::membership::MembershipError;
        if !self.limits.strict_reconfig_check {
            return Ok(());
        }
        if !is_learner && !self.ready_to_add_voter() {
            return Err(MembershipError::NotEnoughStarted.into());
        }
        let view = self.leader_view().await?;
        if !self
            .read_membership()
            .voters()
            .all(|v| view.active.contains(&v))
        {
            return Err(MembershipError::Unhealthy.into());
        }
        Ok(())
    }

    /// etcd 3.4's `mayRemoveMember` for a voter: the started voters left are a quorum,
    /// and unless the voter is down already, the connected ones without it too.
    async fn may_remove_voter(&self, id: u64) -> Result<(), ApiError> {
        use super::membership::MembershipError;
        if !self.limits.strict_reconfig_check {
            return Ok(());
        }
        let voters: Vec<u64> = self.read_membership().voters().collect();
        let left: Vec<u64> = voters.iter().copied().filter(|v| *v != id).collect();
        let started = left.iter().filter(|v| self.started(**v)).count();
        if started < quorum(left.len()) {
            return Err(MembershipError::NotEnoughStarted.into());
        }
        let view = self.leader_view().await?;
        if id != self.identity.member_id && !view.active.contains(&id) {
            return Ok(());
        }
        let active = voters.iter().filter(|v| view.active.contains(v)).count();
        if active.saturating_sub(1) < quorum(voters.len() - 1) {
            return Err(MembershipError::Unhealthy.into());
        }
        Ok(())
    }

    fn read_membership(&self) -> std::sync::RwLockReadGuard<'_, super::membership::Membership> {
        self.membership
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Proposes a membership conf change and waits until it is applied here.
    async fn change_membership(
        &self,
        kind: super::membership::ChangeKind,
        member: super::membership::Member,
    ) -> Result<(), ApiError> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let context = super::membership::ConfContext {
            request_id,
            kind,
            member,
        };
        let change = context
            .to_conf_change()
            .expect("every change but an update is a conf change");
        let deadline = Instant::now() + self.limits.request_timeout;
        let result = self.wait.register(request_id);
        loop {
            let sent = self
                .endpoints
                .conf_change
                .send(super::raft_node::ProposeConfChange(change.clone()))
                .await;
            match sent {
                Ok(Ok(())) => break,
                Ok(Err(ProposeError::NoLeader)) if Instant::now() < deadline => {
                    tokio::time::sleep(NO_LEADER_RETRY).await;
                }
                Ok(Err(ProposeError::NoLeader)) => {
                    self.wait.cancel(request_id);
                    return Err(ApiError::Timeout);
                }
                Ok(Err(ProposeError::Stopped)) | Err(_) => {
                    self.wait.cancel(request_id);
                    return Err(ApiError::Stopped);
                }
            }
        }
        let outcome = match tokio::time::timeout_at(deadline.into(), result).await {
            Ok(Ok(result)) => result.map(|_| ()),
            Ok(Err(_)) => Err(ApiError::Stopped),
            Err(_) => Err(ApiError::Timeout),
        };
        if outcome.is_err() {
            self.wait.cancel(request_id);
        }
        outcome
    }

    /// Joins the process's directory of members (and shares it).
    pub fn join_directory(&mut self, directory: &Directory) {
        self.directory = directory.clone();
        directory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.identity.member_id, self.clone());
    }

    /// The member that leads, if it runs in this process (this member included).
    fn leader_handle(&self) -> Option<MemberHandle> {
        let leader = self.status().leader.0;
        if leader == self.identity.member_id {
            return Some(self.clone());
        }
        self.directory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&leader)
            .cloned()
    }

    /// A fresh request id (also what a lease id is drawn from, as in etcd).
    pub fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether lease `id` exists on this member.
    pub async fn lease_exists(&self, id: i64) -> bool {
        self.endpoints
            .lease_exists
            .send(super::applier::LeaseExists(id))
            .await
            .unwrap_or(false)
    }

    /// Waits until this member has applied everything it knew committed when called
    /// (etcd's `waitAppliedIndex` before a lease renewal on the leader): a lease granted
    /// through another member is known here before it is renewed.
    async fn wait_applied_commit(&self, deadline: Instant) -> Result<(), ApiError> {
        self.wait_applied(self.status().commit, deadline).await
    }

    /// Waits (until `deadline`) for this member to apply `index`.
    async fn wait_applied(
        &self,
        index: crate::raft::LogIndex,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let mut applied = self.applied.clone();
        match tokio::time::timeout_at(deadline.into(), applied.wait_for(|a| a.index >= index)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::Stopped),
            Err(_) => Err(ApiError::Timeout),
        }
    }

    /// Renews a lease on the leader: its TTL.
    pub async fn keep_alive(&self, id: i64) -> Result<i64, ApiError> {
        let deadline = Instant::now() + self.limits.request_timeout;
        loop {
            if let Some(leader) = self.leader_handle() {
                leader.wait_applied_commit(deadline).await?;
                match leader
                    .endpoints
                    .keep_alive
                    .send(super::applier::KeepAlive(id))
                    .await
                {
                    Ok(Err(crate::lease::LeaseError::NotPrimary)) => {}
                    Ok(result) => return result.map_err(ApiError::Lease),
                    Err(_) => return Err(ApiError::Stopped),
                }
            } else if let Some(channel) = self.remote_leader().await {
                // The leader is another process: forward, as etcd does.
                let mut client = pb::lease_client::LeaseClient::new(channel);
                let request = self.forwarded(tokio_stream::once(pb::LeaseKeepAliveRequest { id }));
                if let Ok(response) = client.lease_keep_alive(request).await
                    && let Ok(Some(answer)) = response.into_inner().message().await
                {
                    return Ok(answer.ttl);
                }
            }
            if Instant::now() >= deadline {
                return Err(ApiError::Timeout);
            }
            tokio::time::sleep(NO_LEADER_RETRY).await;
        }
    }

    /// A lease's TimeToLive, from the leader.
    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<crate::lease::TimeToLive, ApiError> {
        let deadline = Instant::now() + self.limits.request_timeout;
        loop {
            if let Some(leader) = self.leader_handle() {
                leader.wait_applied_commit(deadline).await?;
                let request = super::applier::LeaseTimeToLive { id, keys };
                match leader.endpoints.time_to_live.send(request).await {
                    Ok(Err(crate::lease::LeaseError::NotPrimary)) => {}
                    Ok(result) => return result.map_err(ApiError::Lease),
                    Err(_) => return Err(ApiError::Stopped),
                }
            } else if let Some(channel) = self.remote_leader().await {
                let mut client = pb::lease_client::LeaseClient::new(channel);
                let request = self.forwarded(pb::LeaseTimeToLiveRequest { id, keys });
                if let Ok(response) = client.lease_time_to_live(request).await {
                    let answer = response.into_inner();
                    if answer.ttl == -1 {
                        return Err(ApiError::Lease(crate::lease::LeaseError::LeaseNotFound));
                    }
                    return Ok(crate::lease::TimeToLive {
                        granted_ttl_secs: answer.granted_ttl,
                        remaining_ttl_secs: answer.ttl,
                        keys: answer.keys,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(ApiError::Timeout);
            }
            tokio::time::sleep(NO_LEADER_RETRY).await;
        }
    }

    /// Every lease id (made linearizable first, as etcd 3.4's LeaseLeases is).
    pub async fn leases(&self) -> Result<Vec<i64>, ApiError> {
        self.linearizable_barrier().await?;
        self.endpoints
            .lease_list
            .send(super::applier::LeaseList)
            .await
            .map_err(|_| ApiError::Stopped)
    }

    /// The raft state, to wait on (`running` turns false when the member stops after a
    /// storage failure).
    pub fn status_changes(&self) -> watch::Receiver<RaftStatus> {
        self.status.clone()
    }

    /// The raft state now.
    pub fn status(&self) -> RaftStatus {
        *self.status.borrow()
    }

    /// The applied state now.
    pub fn applied(&self) -> AppliedState {
        *self.applied.borrow()
    }

    /// A response header at `revision`.
    pub fn header(&self, revision: i64) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.identity.cluster_id,
            member_id: self.identity.member_id,
            revision,
            raft_term: self.status().term.0,
        }
    }

    /// Proposes a client's request through Raft and waits for its result; `user` is who
    /// it is from (None: nobody, or auth is disabled). Applying it checks the user's
    /// permissions against the auth store as of its place in the log.
    pub async fn propose_as(
        &self,
        request: pb::InternalRaftRequest,
        user: Option<&crate::auth::AuthInfo>,
    ) -> Result<AppliedResponse, ApiError> {
        let header = pb::RequestHeader {
            username: user.map(|u| u.username.clone()).unwrap_or_default(),
            auth_revision: user.map_or(0, |u| u.revision),
            ..pb::RequestHeader::default()
        };
        self.propose_with(request, header).await
    }

    /// This handle, acting for `user`: its proposals and reads are that user's (for the
    /// Lock and Election services, which call the KV for their client, as etcd's do).
    pub fn acting_as(&self, user: Option<crate::auth::AuthInfo>) -> MemberHandle {
        MemberHandle {
            acting_as: user,
            ..self.clone()
        }
    }

    /// This handle, forwarding `token` with the calls it sends to the leader's client
    /// port (valid on every member: tokens are issued through Raft).
    pub fn with_token(&self, token: Option<String>) -> MemberHandle {
        MemberHandle {
            token,
            ..self.clone()
        }
    }

    /// `message` as a request to another member's client port, with this handle's
    /// token.
    fn forwarded<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(token) = self.token.as_deref().and_then(|t| t.parse().ok()) {
            request.metadata_mut().insert("token", token);
        }
        request
    }

    /// Proposes a client's request as the user this handle acts for (nobody, unless
    /// [`MemberHandle::acting_as`]): with auth enabled, nobody may do only what anyone
    /// may (see [`MemberHandle::propose_as`]).
    pub async fn propose(
        &self,
        request: pb::InternalRaftRequest,
    ) -> Result<AppliedResponse, ApiError> {
        self.propose_as(request, self.acting_as.as_ref()).await
    }

    /// Proposes the member's own request (its attributes, an alarm it raises): applied
    /// without permission checks.
    pub async fn propose_internal(
        &self,
        request: pb::InternalRaftRequest,
    ) -> Result<AppliedResponse, ApiError> {
        let header = pb::RequestHeader {
            internal: true,
            ..pb::RequestHeader::default()
        };
        self.propose_with(request, header).await
    }

    async fn propose_with(
        &self,
        mut request: pb::InternalRaftRequest,
        mut header: pb::RequestHeader,
    ) -> Result<AppliedResponse, ApiError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        header.id = id;
        request.header = Some(header);
        let data = request.encode_to_vec();
        if data.len() > self.limits.max_request_bytes {
            self.metrics.proposals_failed.inc();
            return Err(ApiError::TooLarge);
        }
        let deadline = Instant::now() + self.limits.request_timeout;
        let result = self.wait.register(id);
        self.metrics.proposals_pending.inc();
        let outcome = self.propose_and_wait(data, deadline, result).await;
        self.metrics.proposals_pending.dec();
        if outcome.is_err() {
            self.wait.cancel(id);
            self.metrics.proposals_failed.inc();
        }
        outcome
    }

    async fn propose_and_wait(
        &self,
        data: Vec<u8>,
        deadline: Instant,
        result: oneshot::Receiver<super::applier::ApplyResult>,
    ) -> Result<AppliedResponse, ApiError> {
        loop {
            self.metrics.actors.raft_node.mailbox.sent();
            match self.endpoints.propose.send(Propose(data.clone())).await {
                Ok(Ok(())) => break,
                Ok(Err(ProposeError::NoLeader)) if Instant::now() < deadline => {
                    tokio::time::sleep(NO_LEADER_RETRY).await;
                }
                Ok(Err(ProposeError::NoLeader)) => return Err(ApiError::Timeout),
                Ok(Err(ProposeError::Stopped)) | Err(_) => return Err(ApiError::Stopped),
            }
        }
        match tokio::time::timeout_at(deadline.into(), result).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::Stopped),
            Err(_) => Err(ApiError::Timeout),
        }
    }

    /// Waits until this member has applied everything committed when the call began, as
    /// confirmed by the leader with a quorum (ReadIndex): a read after this is
    /// linearizable.
    pub async fn linearizable_barrier(&self) -> Result<(), ApiError> {
        let deadline = Instant::now() + self.limits.request_timeout;
        let (tx, rx) = oneshot::channel();
        self.metrics.actors.raft_node.mailbox.sent();
        self.endpoints
            .read_index
            .send(ReadIndex(tx))
            .await
            .map_err(|_| ApiError::Stopped)?;
        let index = match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(index)) => index,
            Ok(Err(_)) => return Err(ApiError::Stopped),
            Err(_) => return Err(ApiError::Timeout),
        };
        self.wait_applied(index, deadline).await
    }

    /// Serves a range for the user this handle acts for: linearizable unless
    /// `serializable` is set.
    pub async fn range(
        &self,
        request: mvcc::RangeRequest,
    ) -> Result<mvcc::RangeResponse, ApiError> {
        self.range_as(request, self.acting_as.as_ref()).await
    }

    /// Serves a client's range, if `user` may read it: linearizable unless
    /// `serializable` is set. A linearizable read is checked after the barrier, against
    /// an auth store at least as recent as the read.
    pub async fn range_as(
        &self,
        request: mvcc::RangeRequest,
        user: Option<&crate::auth::AuthInfo>,
    ) -> Result<mvcc::RangeResponse, ApiError> {
        if !request.serializable {
            self.linearizable_barrier().await?;
        }
        self.auth.read().check(
            user,
            crate::auth::Access::Read,
            &request.key,
            &request.range_end,
        )?;
        self.metrics.actors.applier.mailbox.sent();
        self.endpoints
            .reads
            .send(ReadRange(request))
            .await
            .map_err(|_| ApiError::Stopped)?
            .map_err(ApiError::Mvcc)
    }

    /// etcd's MoveLeader: hands leadership to `target` and waits until it leads.
    pub async fn move_leader(&self, target: u64) -> Result<(), ApiError> {
        let status = self.status();
        if status.role != crate::raft::Role::Leader {
            return Err(ApiError::NotLeader);
        }
        let accepted = self
            .endpoints
            .transfer
            .send(super::raft_node::TransferLeader(crate::raft::NodeId(
                target,
            )))
            .await
            .map_err(|_| ApiError::Stopped)?;
        if !accepted {
            return Err(ApiError::BadLeaderTransferee);
        }
        let mut changes = self.status.clone();
        let waited = tokio::time::timeout(
            self.limits.request_timeout,
            changes.wait_for(|s| s.leader.0 == target),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::Stopped),
            Err(_) => Err(ApiError::LeaderTransferTimeout),
        }
    }

    /// etcd's HashKV of this member's store at `rev` (0: now): (hash, revision, compacted).
    pub async fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64), ApiError> {
        self.endpoints
            .hash_kv
            .send(super::applier::HashKv(rev))
            .await
            .map_err(|_| ApiError::Stopped)?
            .map_err(ApiError::Mvcc)
    }

    /// etcd's Defragment of this member's backend.
    pub async fn defragment(&self) -> Result<(), ApiError> {
        match self
            .endpoints
            .defragment
            .send(super::applier::Defragment)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::Mvcc(crate::mvcc::Error::Backend(
                crate::mvcc::BackendError::new(e),
            ))),
            Err(_) => Err(ApiError::Stopped),
        }
    }

    /// A point-in-time view of this member's store, and the revision it shows.
    pub async fn open_view(&self) -> Result<(Box<dyn mvcc::BackendView>, i64), ApiError> {
        self.endpoints
            .open_view
            .send(super::applier::OpenView)
            .await
            .map_err(|_| ApiError::Stopped)?
            .map_err(ApiError::Mvcc)
    }

    /// The handle of member `id` if it runs in this process (this member included).
    pub fn local_member(&self, id: u64) -> Option<MemberHandle> {
        if id == self.identity.member_id {
            return Some(self.clone());
        }
        self.directory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Dials other members' `https://` client URLs with `tls` from now on (see
    /// [`crate::tls::client_dialer`]).
    pub fn dial_client_urls_with(&self, tls: tokio_rustls::TlsConnector) {
        let _ = self.channels.tls.set(tls);
    }

    /// Dials other members' `https://` peer URLs with `tls` from now on, for the queries
    /// outside Raft's messages (see [`crate::transport::network::query_hash_kv`]).
    pub fn dial_peer_urls_with(&self, tls: tokio_rustls::TlsConnector) {
        let _ = self.channels.peer_tls.set(tls);
    }

    /// How this member dials `https://` peer URLs, if it can.
    pub fn peer_tls(&self) -> Option<&tokio_rustls::TlsConnector> {
        self.channels.peer_tls.get()
    }

    /// A gRPC channel to a member's client URL (connected once, then shared); `None`
    /// if it cannot be reached, or is `https://` and this member has no client TLS.
    pub async fn client_channel(&self, url: &str) -> Option<tonic::transport::Channel> {
        let cached = self
            .channels
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
            .cloned();
        if let Some(channel) = cached {
            return Some(channel);
        }
        let channel = match url.strip_prefix("https://") {
            Some(rest) => {
                let tls = self.channels.tls.get()?.clone();
                // Dialed as http:// with a connector that adds TLS, whatever TLS
                // features tonic happens to be built with.
                tonic::transport::Endpoint::from_shared(format!("http://{rest}"))
                    .ok()?
                    .connect_with_connector(crate::tls::grpc_dialer(tls))
                    .await
                    .ok()?
            }
            None => tonic::transport::Endpoint::from_shared(url.to_string())
                .ok()?
                .connect()
                .await
                .ok()?,
        };
        self.channels
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(url.to_string(), channel.clone());
        Some(channel)
    }

    /// The member's WatchHub.
    pub fn watch_hub(&self) -> &actix::Addr<super::watch_hub::WatchHub> {
        &self.endpoints.watch
    }

    /// The backend's size: (bytes on disk, bytes of records in use).
    pub async fn db_size(&self) -> (u64, u64) {
        self.endpoints.db_size.send(DbSize).await.unwrap_or((0, 0))
    }
}
