//! The RaftNode actor: the thin shell around the pure raft core ([`RawNode`]) of one
//! member. It ticks the core, feeds it peer messages, proposals and read requests, and
//! carries out each [`crate::raft::Ready`] in the order of the contract: persist (on the
//! RaftLog actor), then send, then hand committed entries to the Applier, then advance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{oneshot, watch};

use super::applier::{ApplyEntries, InstallSnapshot, TakeSnapshot};
use super::log_store::LogStore;
use super::raft_log::{Compact, Persist, RaftLog};
use super::transport::{Inbound, Transport};
use crate::metrics::MemberMetrics;
use crate::raft::{
    ConfChange, EntryType, LogIndex, NodeId, RawNode, Ready, Role, StorageError, Term,
};
use crate::storage::LogWrite;

/// What the rest of the member knows of its raft state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// This member.
    pub id: NodeId,
    /// The current term.
    pub term: Term,
    /// The known leader, or NONE.
    pub leader: NodeId,
    /// This member's role.
    pub role: Role,
    /// The commit index.
    pub commit: LogIndex,
    /// Whether this member is a learner.
    pub is_learner: bool,
    /// False once the member stopped after a storage failure.
    pub running: bool,
}

/// Why a proposal was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// No leader is known (or leadership is moving): try again shortly.
    #[error("no leader")]
    NoLeader,
    /// The member stopped.
    #[error("member stopped")]
    Stopped,
}

/// Propose application data (an encoded `InternalRaftRequest`).
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "Result<(), ProposeError>")]
pub struct Propose(pub Vec<u8>);

/// Ask for a linearizable read point: answered with the commit index to wait for.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReadIndex(pub oneshot::Sender<LogIndex>);

/// Asks the core (if it leads) to hand leadership to a voter. Answers false if this
/// member does not lead or the target is not a voter.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TransferLeader(pub NodeId);

/// Propose a membership change (its context names the member and the waiting request).
#[derive(Message)]
#[rtype(result = "Result<(), ProposeError>")]
pub struct ProposeConfChange(pub ConfChange);

/// What the leader knows of its peers, for membership checks; None if this member
/// does not lead.
#[derive(Message)]
#[rtype(result = "Option<LeaderView>")]
pub struct GetLeaderView;

/// The leader's view of its peers.
#[derive(Clone, Debug, Default)]
pub struct LeaderView {
    /// The leader's own last index.
    pub leader_match: u64,
    /// Each peer's match index.
    pub matched: HashMap<u64, u64>,
    /// The peers heard from within an election timeout, the leader included (etcd
    /// counts the members its transport is connected to).
    pub active: Vec<u64>,
}

/// The membership changed: bring the transport's peers in line with it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MembershipChanged;

/// Entries kept after a compaction for followers that lag a little (etcd's value).
const SNAPSHOT_CATCH_UP_ENTRIES: u64 = 5000;

/// The state machine holds everything up to this index durably: the raft log may be
/// compacted up to it (and no further than every follower has, see the handler).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompactLog(pub LogIndex);

/// The Applier applied everything up to this index.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Applied(pub LogIndex);

/// Reads are confirmed in rounds: every request that arrives while a round is in flight
/// joins the next one, so a burst of reads costs one heartbeat round.
#[derive(Default)]
struct ReadRounds {
    waiting: Vec<oneshot::Sender<LogIndex>>,
    in_flight: HashMap<Vec<u8>, Vec<oneshot::Sender<LogIndex>>>,
    started: Option<Instant>,
    sequence: u64,
}

/// The RaftNode of one member.
pub struct RaftNode<S: LogStore> {
    raw: RawNode<S>,
    log: Addr<RaftLog<S>>,
    transport: Arc<dyn Transport>,
    applier: Recipient<ApplyEntries>,
    take_snapshot: Recipient<TakeSnapshot>,
    install_snapshot: Recipient<InstallSnapshot>,
    tick: Duration,
    election_timeout: Duration,
    persisting: bool,
    reads: ReadRounds,
    status: watch::Sender<RaftStatus>,
    metrics: Arc<MemberMetrics>,
    stopped: bool,
    /// What a network transport learned of its peers (None in process).
    reports: Option<crate::transport::PeerReports>,
    /// The members as applied (peer URLs for the transport).
    membership: super::membership::SharedMembership,
    /// When each peer was last heard from.
    heard: HashMap<NodeId, Instant>,
    /// The term on disk: a leader sends before persisting only in a term already there.
    durable_term: Term,
}

impl<S: LogStore> RaftNode<S> {
    /// A RaftNode over a started core. `tick` is etcd's --heartbeat-interval divided by
    /// the core's heartbeat ticks.
    #[expect(
        clippy::too_many_arguments,
        reason = "wiring of one member, called once"
    )]
    pub fn new(
        raw: RawNode<S>,
        log: Addr<RaftLog<S>>,
        transport: Arc<dyn Transport>,
        applier: Recipient<ApplyEntries>,
        snapshots: (Recipient<TakeSnapshot>, Recipient<InstallSnapshot>),
        tick: Duration,
        election_timeout: Duration,
        status: watch::Sender<RaftStatus>,
        metrics: Arc<MemberMetrics>,
        reports: Option<crate::transport::PeerReports>,
        membership: super::membership::SharedMembership,
    ) -> RaftNode<S> {
        let durable_term = raw.raft().term;
        RaftNode {
            raw,
            log,
            transport,
            applier,
            take_snapshot: snapshots.0,
            install_snapshot: snapshots.1,
            tick,
            election_timeout,
            persisting: false,
            reads: ReadRounds::default(),
            status,
            metrics,
            stopped: false,
            reports,
            membership,
            heard: HashMap::new(),
            durable_term,
        }
    }

    fn publish_status(&mut self) {
        let raft = self.raw.raft();
        let status = RaftStatus {
            id: raft.id,
            term: raft.term,
            leader: raft.lead,
            role: raft.role,
            commit: raft.log.committed,
            is_learner: raft.is_learner,
            running: !self.stopped,
        };
        let previous = *self.status.borrow();
        if previous.leader != status.leader && !status.leader.is_none() {
            self.metrics.leader_changes.inc();
        }
        self.metrics
            .has_leader
            .set(i64::from(!status.leader.is_none()));
        self.metrics
            .is_leader
            .set(i64::from(status.role == Role::Leader));
        if previous != status {
            self.status.send_replace(status);
        }
    }

    /// Takes the next Ready, if any and if none is being persisted.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        if self.stopped || self.persisting || !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        if self.raw.raft().role == Role::Leader && self.raw.raft().term == self.durable_term {
            // A leader sends its appends while its own write is under way (Raft thesis
            // 10.2.1): it counts its own copy toward commit only once persisted
            // (`advance`), and its term is on disk already. Snapshots are filled in later.
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut ready.messages)
                .into_iter()
                .partition(|m| m.msg_type != crate::raft::MessageType::Snapshot);
            self.transport.send(now);
            ready.messages = later;
        }
        let persisted_term = ready.hard_state.map(|h| h.term);
        let mut write = LogWrite {
            snapshot: ready.snapshot.clone(),
            entries: ready.entries.clone(),
            hard_state: ready.hard_state,
            sync: ready.must_sync,
        };
        self.persisting = true;
        if write.is_empty() {
            self.after_persist(ready, ctx);
            return;
        }
        self.metrics
            .proposals_batch
            .observe(write.entries.len() as f64);
        // A snapshot from the leader carries the state machine: install it (durably)
        // before the raft log records the snapshot point, so that a crash in between
        // leaves a log the store can still be rebuilt from.
        let state = write
            .snapshot
            .as_mut()
            .map(|s| std::mem::take(&mut s.data))
            .filter(|data| !data.is_empty());
        let install = self.install_snapshot.clone();
        let persist = self.log.clone();
        let persist_queued = self.metrics.actors.raft_log.mailbox.clone();
        async move {
            if let Some(data) = state {
                match install.send(InstallSnapshot(data)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(StorageError::Other(format!("installing a snapshot: {e}")));
                    }
                    Err(e) => return Err(StorageError::Other(e.to_string())),
                }
            }
            persist_queued.sent();
            match persist.send(Persist(write)).await {
                Ok(result) => result,
                Err(e) => Err(StorageError::Other(e.to_string())),
            }
        }
        .into_actor(self)
        .then(move |result, act, ctx| {
            match result {
                Ok(()) => {
                    if let Some(term) = persisted_term {
                        act.durable_term = term;
                    }
                    act.after_persist(ready, ctx);
                }
                Err(e) => act.fail(&e, ctx),
            }
            fut::ready(())
        })
        .spawn(ctx);
    }

    fn after_persist(&mut self, ready: Ready, ctx: &mut Context<Self>) {
        let mut messages = ready.messages;
        // The snapshots this log records carry no data: the state machine's storage is
        // the snapshot. A follower behind the compacted log gets it filled in here with
        // the whole store (at an applied index at or past the snapshot's; the follower
        // skips the entries its store already holds).
        let mut to_fill = Vec::new();
        messages.retain(|m| {
            let empty_snapshot = m.msg_type == crate::raft::MessageType::Snapshot
                && m.snapshot.as_ref().is_some_and(|s| s.data.is_empty());
            if empty_snapshot {
                to_fill.push(m.clone());
            }
            !empty_snapshot
        });
        for message in to_fill {
            let to = message.to;
            self.take_snapshot
                .send(TakeSnapshot)
                .into_actor(self)
                .then(move |result, act, _| {
                    match result {
                        Ok(Ok(data)) => {
                            let mut message = message;
                            if let Some(snapshot) = message.snapshot.as_mut() {
                                snapshot.data = data;
                            }
                            act.transport.send(vec![message]);
                            if act.reports.is_none() {
                                // In process, sent is delivered; a network transport
                                // reports once the snapshot is written (or lost).
                                act.raw.report_snapshot(to, true);
                            }
                        }
                        _ => {
                            eprintln!("etcd-rs: could not take a snapshot for member {to}");
                            act.raw.report_snapshot(to, false);
                        }
                    }
                    fut::ready(())
                })
                .spawn(ctx);
        }
        self.transport.send(messages);
        for entry in &ready.committed_entries {
            if entry.entry_type == EntryType::ConfChange {
                match ConfChange::decode(&entry.data) {
                    Ok(change) => {
                        if let Err(e) = self.raw.apply_conf_change(&change) {
                            eprintln!("etcd-rs: committed conf change refused: {e}");
                        }
                    }
                    Err(e) => eprintln!("etcd-rs: committed conf change unreadable: {e}"),
                }
            }
        }
        if !ready.committed_entries.is_empty() {
            self.metrics.actors.applier.mailbox.sent();
            self.applier.do_send(ApplyEntries {
                entries: ready.committed_entries,
            });
        }
        for read in ready.read_states {
            if let Some(waiters) = self.reads.in_flight.remove(&read.request_context) {
                for waiter in waiters {
                    let _ = waiter.send(read.index);
                }
                self.reads.started = None;
            }
        }
        self.raw.advance();
        self.persisting = false;
        self.publish_status();
        self.start_read_round();
        self.drive(ctx);
    }

    /// A storage failure: stop, never acknowledging what may not be on disk.
    fn fail(&mut self, error: &StorageError, ctx: &mut Context<Self>) {
        eprintln!(
            "etcd-rs: member {} stops: persisting the raft log failed: {error}",
            self.raw.raft().id
        );
        self.stopped = true;
        self.publish_status();
        ctx.stop();
    }

    /// Starts a read round for the requests waiting, unless one is in flight.
    fn start_read_round(&mut self) {
        let stale = self
            .reads
            .started
            .is_some_and(|t| t.elapsed() > 2 * self.election_timeout);
        if stale {
            // The round was lost (leadership changed): its requests join the next one.
            let lost: Vec<_> = self.reads.in_flight.drain().flat_map(|(_, w)| w).collect();
            self.reads.waiting.extend(lost);
            self.reads.started = None;
        }
        if self.reads.started.is_some() || self.reads.waiting.is_empty() {
            return;
        }
        self.reads.waiting.retain(|w| !w.is_closed());
        if self.reads.waiting.is_empty() {
            return;
        }
        self.reads.sequence += 1;
        let context = self.reads.sequence.to_be_bytes().to_vec();
        if self.raw.read_index(context.clone()).is_ok() {
            let waiters = std::mem::take(&mut self.reads.waiting);
            self.reads.in_flight.insert(context, waiters);
            self.reads.started = Some(Instant::now());
        }
    }
}

impl<S: LogStore> Actor for RaftNode<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        self.metrics
            .raft_log_first_index
            .set(self.raw.raft().log.first_index().0 as i64);
        self.publish_status();
        // etcd's `adjustTicks`: the only voter of a cluster campaigns one tick after it
        // starts (give or take the randomized part), not a whole election timeout later.
        let raft = self.raw.raft();
        if raft.tracker.is_singleton() && raft.promotable() && raft.role != Role::Leader {
            for _ in 1..raft.election_timeout_ticks() {
                self.raw.tick();
            }
            self.drive(ctx);
        }
        ctx.run_interval(self.tick, |act, ctx| {
            if let Some(reports) = &act.reports {
                for id in reports.unreachable() {
                    act.raw.report_unreachable(id);
                }
                for (id, ok) in reports.take_snapshot_reports() {
                    act.raw.report_snapshot(id, ok);
                }
            }
            act.raw.tick();
            act.start_read_round();
            act.drive(ctx);
        });
    }
}

impl<S: LogStore> Handler<Inbound> for RaftNode<S> {
    type Result = ();

    fn handle(&mut self, Inbound(message): Inbound, ctx: &mut Context<Self>) {
        let _handling = self.metrics.actors.raft_node.handling("Inbound");
        self.heard.insert(message.from, Instant::now());
        // A message the core refuses (from an unknown peer) is dropped, as etcd does.
        let _ = self.raw.step(message);
        self.drive(ctx);
    }
}

impl<S: LogStore> Handler<Propose> for RaftNode<S> {
    type Result = Result<(), ProposeError>;

    fn handle(&mut self, Propose(data): Propose, ctx: &mut Context<Self>) -> Self::Result {
        let _handling = self.metrics.actors.raft_node.handling("Propose");
        if self.stopped {
            return Err(ProposeError::Stopped);
        }
        let result = self.raw.propose(data).map_err(|_| ProposeError::NoLeader);
        self.drive(ctx);
        result
    }
}

impl<S: LogStore> Handler<ProposeConfChange> for RaftNode<S> {
    type Result = Result<(), ProposeError>;

    fn handle(
        &mut self,
        ProposeConfChange(change): ProposeConfChange,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        if self.stopped {
            return Err(ProposeError::Stopped);
        }
        let result = self
            .raw
            .propose_conf_change(&change)
            .map_err(|_| ProposeError::NoLeader);
        self.drive(ctx);
        result
    }
}

impl<S: LogStore> Handler<GetLeaderView> for RaftNode<S> {
    type Result = Option<LeaderView>;

    fn handle(&mut self, _: GetLeaderView, _: &mut Context<Self>) -> Self::Result {
        let raft = self.raw.raft();
        if raft.role != Role::Leader {
            return None;
        }
        let mut active: Vec<u64> = self
            .heard
            .iter()
            .filter(|(_, at)| at.elapsed() < self.election_timeout)
            .map(|(id, _)| id.0)
            .collect();
        active.push(raft.id.0);
        Some(LeaderView {
            leader_match: raft.tracker.progress.get(&raft.id)?.matched.0,
            matched: raft
                .tracker
                .progress
                .iter()
                .map(|(id, p)| (id.0, p.matched.0))
                .collect(),
            active,
        })
    }
}

impl<S: LogStore> Handler<MembershipChanged> for RaftNode<S> {
    type Result = ();

    fn handle(&mut self, _: MembershipChanged, _: &mut Context<Self>) {
        let peers: Vec<(NodeId, Vec<String>)> = self
            .membership
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .members
            .values()
            .map(|m| (NodeId(m.id), m.peer_urls.clone()))
            .collect();
        // A member that has not learned the membership yet (joining, before its first
        // snapshot) keeps the peers it was started with.
        if !peers.is_empty() {
            self.transport.set_peers(&peers);
        }
    }
}

impl<S: LogStore> Handler<ReadIndex> for RaftNode<S> {
    type Result = ();

    fn handle(&mut self, ReadIndex(waiter): ReadIndex, ctx: &mut Context<Self>) {
        let _handling = self.metrics.actors.raft_node.handling("ReadIndex");
        self.reads.waiting.push(waiter);
        self.start_read_round();
        self.drive(ctx);
    }
}

impl<S: LogStore> Handler<Applied> for RaftNode<S> {
    type Result = ();

    fn handle(&mut self, Applied(index): Applied, ctx: &mut Context<Self>) {
        let _handling = self.metrics.actors.raft_node.handling("Applied");
        self.raw.applied_to(index);
        self.drive(ctx);
    }
}

impl<S: LogStore> Handler<TransferLeader> for RaftNode<S> {
    type Result = bool;

    fn handle(&mut self, TransferLeader(target): TransferLeader, ctx: &mut Context<Self>) -> bool {
        let raft = self.raw.raft();
        if raft.role != Role::Leader || !raft.tracker.is_voter(target) {
            return false;
        }
        if target != raft.id {
            self.raw.transfer_leader(target);
            self.drive(ctx);
        }
        true
    }
}

impl<S: LogStore> Handler<CompactLog> for RaftNode<S> {
    type Result = ();

    fn handle(&mut self, CompactLog(applied): CompactLog, ctx: &mut Context<Self>) {
        let raft = self.raw.raft();
        // Keep etcd's margin of recent entries for slow followers (etcd's
        // SnapshotCatchUpEntries); one further behind gets the state machine's snapshot.
        let index = LogIndex(
            applied
                .min(raft.log.committed)
                .0
                .saturating_sub(SNAPSHOT_CATCH_UP_ENTRIES),
        );
        if index <= raft.log.first_index() {
            return;
        }
        let compact = Compact {
            index,
            conf_state: raft.tracker.conf_state(),
        };
        self.log
            .send(compact)
            .into_actor(self)
            .then(move |result, act, _| {
                match result {
                    Ok(Ok(())) => act.metrics.raft_log_first_index.set(index.0 as i64 + 1),
                    Ok(Err(e)) => eprintln!("etcd-rs: compacting the raft log failed: {e}"),
                    Err(e) => eprintln!("etcd-rs: compacting the raft log failed: {e}"),
                }
                fut::ready(())
            })
            .spawn(ctx);
    }
}
