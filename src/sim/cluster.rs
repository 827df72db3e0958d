//! The simulation driver: members, clients, faults and the two phases of a run.

use std::collections::BTreeMap;

use super::app::{App, Command, Outcome};
use super::checks::{MemberView, SafetyChecker};
use super::network::Network;
use super::params::Params;
use super::{Failure, FailureKind, SeedReport};
use crate::linearizability::kv::{KvInput, KvOutput, check_kv};
use crate::linearizability::{Operation, Verdict};
use crate::raft::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Config,
    EntryType, LogIndex, MemStorage, MessageType, NodeId, RawNode, Role, SeededRng, Storage, Term,
};

/// Search steps the linearizability checker may spend on one key.
const CHECK_BUDGET_STEPS: u64 = 2_000_000;
/// Members (including those added later) a run may have at most.
const MEMBERS_MAX: usize = 12;
/// Voters a membership change keeps at least and at most.
const VOTERS_MIN: usize = 3;
const VOTERS_MAX: usize = 7;

/// One simulated member: a running Raft node, or the disk it left behind when it crashed.
struct Member {
    raw: Option<RawNode<MemStorage>>,
    disk: Option<MemStorage>,
    app: App,
    /// Bumped at every restart: answers from an older life are not delivered.
    incarnation: u64,
    /// When down: the step it restarts at (`None`: stays down until told).
    restart_at: Option<u64>,
    /// Read points confirmed by Raft, waiting for the state machine to catch up.
    reads: Vec<(LogIndex, Vec<u8>)>,
}

enum Pending {
    Write { request: u64 },
    Read { context: Vec<u8> },
}

struct Outstanding {
    op: usize,
    pending: Pending,
    member: NodeId,
    incarnation: u64,
    deadline: u64,
}

#[derive(Default)]
struct Client {
    next_request: u64,
    outstanding: Option<Outstanding>,
    /// Liveness phase: whether this client's final write was acknowledged.
    final_write_done: bool,
}

/// An answer a member produced for a client.
enum Answer {
    Write {
        client: u64,
        request: u64,
        outcome: Outcome,
    },
    Read {
        context: Vec<u8>,
        value: Option<u64>,
    },
}

/// One run of one seed.
pub struct Simulation {
    seed: u64,
    trace: bool,
    params: Params,
    rng: SeededRng,
    now: u64,
    members: BTreeMap<NodeId, Member>,
    next_member_id: u64,
    network: Network,
    checker: SafetyChecker,
    clients: Vec<Client>,
    history: Vec<Operation<KvInput, KvOutput>>,
    /// Reads that were abandoned: they have no effect, so they leave the history.
    abandoned: Vec<bool>,
    answers: Vec<(NodeId, u64, Answer)>,
    /// Values recently written or read, per key: what compare-and-swaps expect.
    recent_values: BTreeMap<u64, u64>,
    faults: u64,
}

type Step<T> = Result<T, (FailureKind, String)>;

impl Simulation {
    /// Sets up `seed`'s cluster.
    pub fn new(seed: u64, trace: bool) -> Simulation {
        let mut rng = SeededRng::new(seed);
        let params = Params::from_rng(&mut rng);
        let network = Network::new(
            params.drop_per_mille,
            params.dup_per_mille,
            params.delay_steps_max,
        );
        let mut sim = Simulation {
            seed,
            trace,
            rng,
            now: 0,
            members: BTreeMap::new(),
            next_member_id: 1,
            network,
            checker: SafetyChecker::default(),
            clients: (0..params.clients).map(|_| Client::default()).collect(),
            history: Vec::new(),
            abandoned: Vec::new(),
            answers: Vec::new(),
            recent_values: BTreeMap::new(),
            faults: 0,
            params,
        };
        let voters: Vec<NodeId> = (1..=sim.params.members as u64).map(NodeId).collect();
        sim.next_member_id = voters.len() as u64 + 1;
        for &id in &voters {
            let disk = MemStorage::new_with_conf_state(ConfState::with_voters(voters.clone()));
            sim.start_member(id, disk);
        }
        sim.log(format_args!("{:?}", sim.params));
        sim
    }

    /// Runs both phases and checks the history.
    pub fn run(mut self) -> Result<SeedReport, Failure> {
        let outcome = self.run_phases();
        let unchecked = match outcome {
            Ok(()) => self.check_history(),
            Err(e) => Err(e),
        };
        match unchecked {
            Ok(unchecked) => Ok(SeedReport {
                steps: self.now,
                faults: self.faults
                    + self.network.stats.dropped
                    + self.network.stats.duplicated
                    + self.network.stats.cut,
                operations: self.history.len() as u64,
                committed_entries: self.checker.committed_entries() as u64,
                unchecked,
            }),
            Err((kind, message)) => Err(Failure {
                seed: self.seed,
                step: self.now,
                kind,
                message,
            }),
        }
    }

    fn run_phases(&mut self) -> Step<()> {
        while self.now < self.params.safety_steps {
            self.inject_faults();
            self.run_clients(false);
            self.step()?;
            self.now += 1;
        }
        self.log(format_args!("liveness phase: healing every fault"));
        self.network.heal();
        self.network.drop_per_mille = 0;
        self.network.dup_per_mille = 0;
        // A healthy network: delays well under the election timeout (a network whose
        // delay rivals the election timeout never keeps a leader, in etcd as here).
        self.network.delay_steps_max = 1;
        for client in &mut self.clients {
            client.final_write_done = false;
        }
        let deadline = self.now + self.params.liveness_steps_max;
        while self.now < deadline {
            self.keep_configuration_running();
            self.finish_joint_configuration();
            self.run_clients(true);
            self.step()?;
            self.now += 1;
            if self.converged() {
                self.log(format_args!("converged"));
                return Ok(());
            }
        }
        Err((FailureKind::Liveness, self.describe_stall()))
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("[seed {} step {}] {what}", self.seed, self.now);
        }
    }

    // ----- members -----

    fn config(&mut self, id: NodeId, applied: LogIndex) -> Config {
        let mut config = Config::new(id);
        config.election_ticks = self.params.election_ticks;
        config.heartbeat_ticks = self.params.heartbeat_ticks;
        config.pre_vote = self.params.pre_vote;
        config.check_quorum = self.params.check_quorum;
        config.applied = applied;
        config.max_size_per_msg_bytes = self.params.max_size_per_msg_bytes;
        config.max_inflight_msgs = self.params.max_inflight_msgs;
        config.seed = self.rng.next_u64();
        config
    }

    /// Starts (or restarts) `id` on `disk`: the state machine comes back from the
    /// snapshot, and Raft re-delivers the committed entries after it.
    fn start_member(&mut self, id: NodeId, disk: MemStorage) {
        let snapshot = disk
            .snapshot()
            .expect("memory storage always has a snapshot");
        let index = snapshot.metadata.index;
        let config = self.config(id, index);
        let raw = RawNode::new(&config, disk).expect("valid simulated config");
        self.checker.restarted(id, index);
        let app = App::restore(&snapshot.data, index, snapshot.metadata.conf_state);
        let incarnation = self.members.get(&id).map_or(0, |m| m.incarnation + 1);
        self.members.insert(
            id,
            Member {
                raw: Some(raw),
                disk: None,
                app,
                incarnation,
                restart_at: None,
                reads: Vec::new(),
            },
        );
    }

    fn crash(&mut self, id: NodeId, restart_at: Option<u64>) {
        let member = self.members.get_mut(&id).expect("member exists");
        if let Some(raw) = member.raw.take() {
            member.disk = Some(raw.into_store());
            member.reads.clear();
            member.restart_at = restart_at;
        }
    }

    fn restart(&mut self, id: NodeId) {
        let disk = self.members.get_mut(&id).and_then(|m| m.disk.take());
        if let Some(disk) = disk {
            self.start_member(id, disk);
        }
    }

    fn up_members(&self) -> Vec<NodeId> {
        self.members
            .iter()
            .filter(|(_, m)| m.raw.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The running leader of the highest term, if any.
    fn leader(&self) -> Option<NodeId> {
        self.members
            .iter()
            .filter_map(|(id, m)| m.raw.as_ref().map(|r| (*id, r.raft())))
            .filter(|(_, r)| r.role == Role::Leader)
            .max_by_key(|(_, r)| r.term)
            .map(|(id, _)| id)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.range(0, items.len() as u64) as usize])
    }

    // ----- one step -----

    /// Delivers due messages, ticks every running member, carries out every Ready,
    /// answers clients and checks safety.
    fn step(&mut self) -> Step<()> {
        for arrival in self.network.arrivals(self.now) {
            let message = arrival.message;
            let (from, to) = (message.from, message.to);
            let receiver_up = self.members.get(&to).is_some_and(|m| m.raw.is_some());
            if message.snapshot.is_some()
                && let Some(raw) = self.members.get_mut(&from).and_then(|m| m.raw.as_mut())
            {
                raw.report_snapshot(to, arrival.delivered && receiver_up);
            }
            if arrival.delivered
                && let Some(raw) = self.members.get_mut(&to).and_then(|m| m.raw.as_mut())
            {
                // Errors (a response from a member we no longer track) are Raft's to ignore.
                let _ = raw.step(message);
            }
        }
        for member in self.members.values_mut() {
            if let Some(raw) = member.raw.as_mut() {
                raw.tick();
            }
        }
        for id in self.up_members() {
            self.handle_ready(id)?;
        }
        self.deliver_answers();
        for id in self.up_members() {
            self.check_member(id)?;
        }
        Ok(())
    }

    fn handle_ready(&mut self, id: NodeId) -> Step<()> {
        let safety = |message: String| (FailureKind::Safety, message);
        let member = self.members.get_mut(&id).expect("member exists");
        let raw = member.raw.as_mut().expect("member is up");
        let mut crash_after_early_send = false;
        while raw.has_ready() {
            let mut ready = raw.ready();
            // A leader whose term is on disk sends its messages before its own entries
            // are persisted (as the member's RaftNode does; it counts its own copy only
            // after `advance`). Sometimes it crashes right then, losing what it sent.
            let durable_term = raw
                .store()
                .initial_state()
                .map_or(Term(0), |state| state.hard_state.term);
            if raw.raft().role == Role::Leader && raw.raft().term == durable_term {
                for message in std::mem::take(&mut ready.messages) {
                    self.network.send(message, self.now, &mut self.rng);
                }
                if self.params.crash_per_mille > 0
                    && !ready.entries.is_empty()
                    && self.rng.chance(self.params.crash_per_mille, 1000)
                {
                    crash_after_early_send = true;
                    break;
                }
            }
            if let Some(leader) = ready.soft_state.map(|s| s.leader)
                && self.trace
                && leader == id
            {
                eprintln!(
                    "[seed {} step {}] {id} leads term {}",
                    self.seed,
                    self.now,
                    raw.raft().term
                );
            }
            if let Some(snapshot) = ready.snapshot.clone() {
                let index = snapshot.metadata.index;
                raw.store_mut()
                    .apply_snapshot(snapshot.clone())
                    .map_err(|e| safety(format!("{id} could not install snapshot {index}: {e}")))?;
                member.app = App::restore(&snapshot.data, index, snapshot.metadata.conf_state);
                self.checker.installed_snapshot(id, index).map_err(safety)?;
            }
            let store = raw.store_mut();
            store
                .append(&ready.entries)
                .map_err(|e| safety(format!("{id} could not persist entries: {e}")))?;
            if let Some(hard_state) = ready.hard_state {
                store.set_hard_state(hard_state);
            }
            for message in ready.messages {
                if message.msg_type == MessageType::RequestVoteResponse && !message.reject {
                    self.checker
                        .vote_granted(message.from, message.term, message.to)
                        .map_err(safety)?;
                }
                if self.trace {
                    eprintln!(
                        "[seed {} step {}] msg {:?} {} -> {} term {} index {} log_term {} commit {} reject {} entries {}",
                        self.seed,
                        self.now,
                        message.msg_type,
                        message.from,
                        message.to,
                        message.term,
                        message.index,
                        message.log_term,
                        message.commit,
                        message.reject,
                        message.entries.len()
                    );
                }
                self.network.send(message, self.now, &mut self.rng);
            }
            let term = raw.raft().term;
            for entry in &ready.committed_entries {
                self.checker.applied(id, term, entry).map_err(safety)?;
                match entry.entry_type {
                    EntryType::ConfChange => {
                        let change = ConfChange::decode(&entry.data).map_err(|e| {
                            safety(format!("{id}: committed conf change unreadable: {e}"))
                        })?;
                        member.app.conf_state = raw.apply_conf_change(&change).map_err(|e| {
                            safety(format!("{id}: committed conf change refused: {e}"))
                        })?;
                    }
                    EntryType::Normal => {
                        if let Some(command) = Command::decode(&entry.data)
                            && let Some(outcome) = member.app.apply(&command)
                        {
                            self.answers.push((
                                id,
                                member.incarnation,
                                Answer::Write {
                                    client: command.client,
                                    request: command.request,
                                    outcome,
                                },
                            ));
                        }
                    }
                }
                member.app.applied = entry.index;
                raw.applied_to(entry.index);
            }
            for read in ready.read_states {
                member.reads.push((read.index, read.request_context));
            }
            raw.advance();
            let applied = member.app.applied;
            let (ready_reads, waiting) = std::mem::take(&mut member.reads)
                .into_iter()
                .partition(|(index, _)| *index <= applied);
            member.reads = waiting;
            for (_, context) in ready_reads {
                let key = u64::from_le_bytes(context[16..24].try_into().expect("key"));
                let value = member.app.kv.get(&key).copied();
                self.answers
                    .push((id, member.incarnation, Answer::Read { context, value }));
            }
            let snapshot_index = raw
                .store()
                .snapshot()
                .map_or(LogIndex(0), |s| s.metadata.index);
            if applied > snapshot_index
                && applied - snapshot_index >= self.params.snapshot_every_entries
            {
                let data = member.app.encode();
                let conf_state = member.app.conf_state.clone();
                raw.store_mut()
                    .create_snapshot(applied, conf_state, data)
                    .map_err(|e| safety(format!("{id} could not snapshot at {applied}: {e}")))?;
            }
        }
        if crash_after_early_send {
            let down_steps = self.rng.range(1, 6);
            self.log(format_args!(
                "crash {id} (leader, after sending entries it had not persisted) for {down_steps} steps"
            ));
            self.crash(id, Some(self.now + down_steps));
            self.faults += 1;
        }
        Ok(())
    }

    fn check_member(&mut self, id: NodeId) -> Step<()> {
        let raw = self.members[&id].raw.as_ref().expect("member is up");
        let raft = raw.raft();
        let first = raft.log.first_index();
        let last = raft.log.last_index();
        let log = raft
            .log
            .slice(first, last.next(), u64::MAX)
            .map_err(|e| (FailureKind::Safety, format!("{id}: log unreadable: {e}")))?;
        let base_term = raft.log.term(first.prev()).unwrap_or(Term(0));
        let view = MemberView {
            id,
            role: raft.role,
            term: raft.term,
            commit: raft.log.committed,
            log_base: (first.prev(), base_term),
            log: &log,
        };
        self.checker
            .check_member(&view)
            .map_err(|message| (FailureKind::Safety, message))
    }

    // ----- clients -----

    fn run_clients(&mut self, final_writes: bool) {
        for client in 0..self.clients.len() {
            let expired = self.clients[client]
                .outstanding
                .as_ref()
                .is_some_and(|o| self.now >= o.deadline);
            if expired {
                let outstanding = self.clients[client].outstanding.take().expect("expired");
                // A write that timed out may still take effect: it stays in the history
                // without an answer. A read that timed out had no effect: drop it.
                if let Pending::Read { .. } = outstanding.pending {
                    self.abandoned[outstanding.op] = true;
                }
            }
            if self.clients[client].outstanding.is_some() {
                continue;
            }
            if final_writes {
                if !self.clients[client].final_write_done {
                    let target = self.leader().or_else(|| {
                        let up = self.up_members();
                        self.pick(&up)
                    });
                    if let Some(target) = target {
                        self.issue(client as u64, target, 5);
                    }
                }
            } else if self.rng.chance(self.params.client_op_per_mille, 1000) {
                let up = self.up_members();
                if let Some(target) = self.pick(&up) {
                    let kind = self.rng.range(0, 10);
                    self.issue(client as u64, target, kind);
                }
            }
        }
    }

    /// Issues an operation: `kind` 0..4 a read, 4..7 a put, 7..10 a compare-and-swap.
    fn issue(&mut self, client: u64, target: NodeId, kind: u64) {
        let key = self.rng.range(0, self.params.keys);
        let state = &mut self.clients[client as usize];
        state.next_request += 1;
        let request = state.next_request;
        let key_name = format!("k{key}");
        let Some(member) = self.members.get_mut(&target) else {
            return;
        };
        let incarnation = member.incarnation;
        let Some(raw) = member.raw.as_mut() else {
            return;
        };
        let (input, pending, accepted) = if kind < 4 {
            let mut context = Vec::with_capacity(24);
            for word in [client, request, key] {
                context.extend_from_slice(&word.to_le_bytes());
            }
            let accepted = raw.read_index(context.clone()).is_ok();
            (
                KvInput::Get { key: key_name },
                Pending::Read { context },
                accepted,
            )
        } else {
            let value = (client + 1) * 1_000_000 + request;
            let expected = (kind >= 7).then(|| {
                let recent = self.recent_values.get(&key).copied().unwrap_or(0);
                match self.rng.range(0, 4) {
                    0 => 0,
                    1 => recent + 1,
                    _ => recent,
                }
            });
            let command = Command {
                client,
                request,
                key,
                value,
                expected,
            };
            let accepted = raw.propose(command.encode()).is_ok();
            let input = match expected {
                None => KvInput::Put {
                    key: key_name,
                    value: value.to_string(),
                },
                Some(expected) => KvInput::Cas {
                    key: key_name,
                    expected: (expected != 0).then(|| expected.to_string()),
                    value: value.to_string(),
                },
            };
            (input, Pending::Write { request }, accepted)
        };
        if !accepted {
            // Refused outright (no leader known): it never entered the log.
            return;
        }
        self.history.push(Operation {
            client,
            input,
            call: self.now,
            output: None,
            return_time: None,
        });
        self.abandoned.push(false);
        self.clients[client as usize].outstanding = Some(Outstanding {
            op: self.history.len() - 1,
            pending,
            member: target,
            incarnation,
            deadline: self.now + self.params.request_timeout_steps,
        });
    }

    fn deliver_answers(&mut self) {
        for (member, incarnation, answer) in std::mem::take(&mut self.answers) {
            let (client, output) = match &answer {
                Answer::Write {
                    client,
                    request,
                    outcome,
                } => {
                    let waiting = self.clients[*client as usize].outstanding.as_ref();
                    let matches = waiting.is_some_and(
                        |o| matches!(o.pending, Pending::Write { request: r } if r == *request),
                    );
                    if !matches {
                        continue;
                    }
                    let output = match outcome {
                        Outcome::Put => KvOutput::Put,
                        Outcome::Cas(ok) => KvOutput::Cas(*ok),
                    };
                    (*client, output)
                }
                Answer::Read { context, value } => {
                    let client = u64::from_le_bytes(context[0..8].try_into().expect("client"));
                    let waiting = self.clients[client as usize].outstanding.as_ref();
                    let matches = waiting.is_some_and(
                        |o| matches!(&o.pending, Pending::Read { context: c } if c == context),
                    );
                    if !matches {
                        continue;
                    }
                    (client, KvOutput::Get(value.map(|v| v.to_string())))
                }
            };
            let state = &mut self.clients[client as usize];
            let outstanding = state.outstanding.as_ref().expect("matched above");
            if outstanding.member != member || outstanding.incarnation != incarnation {
                // Applied elsewhere, or by an earlier life of the member: the client is
                // still waiting on the member it asked.
                continue;
            }
            let outstanding = state.outstanding.take().expect("matched above");
            if matches!(outstanding.pending, Pending::Write { .. }) {
                state.final_write_done = true;
            }
            let op = &mut self.history[outstanding.op];
            // Remember the value the key now holds, for later compare-and-swaps.
            let seen = match (&op.input, &output) {
                (_, KvOutput::Get(Some(v))) => Some(v.clone()),
                (KvInput::Cas { value, .. }, KvOutput::Cas(true))
                | (KvInput::Put { value, .. }, KvOutput::Put) => Some(value.clone()),
                _ => None,
            };
            if let Some(value) = seen {
                let key: u64 = op.input.key()[1..].parse().expect("key name");
                self.recent_values
                    .insert(key, value.parse().expect("numeric value"));
            }
            op.output = Some(output);
            op.return_time = Some(self.now);
        }
    }

    fn check_history(&self) -> Step<bool> {
        let history: Vec<_> = self
            .history
            .iter()
            .zip(&self.abandoned)
            .filter(|(_, abandoned)| !**abandoned)
            .map(|(op, _)| op.clone())
            .collect();
        match check_kv(&history, CHECK_BUDGET_STEPS) {
            Verdict::Linearizable => Ok(false),
            Verdict::Unknown { .. } => Ok(true),
            Verdict::NotLinearizable {
                partition,
                explanation,
            } => Err((
                FailureKind::Linearizability,
                format!("key {partition}: {explanation}"),
            )),
        }
    }

    // ----- faults -----

    fn inject_faults(&mut self) {
        let restarting: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, m)| m.restart_at.is_some_and(|at| at <= self.now))
            .map(|(id, _)| *id)
            .collect();
        for id in restarting {
            self.log(format_args!("restart {id}"));
            self.restart(id);
        }
        if self.rng.chance(self.params.crash_per_mille, 1000) {
            // Half the crashes hit the leader: failover is where Raft's hard cases live.
            let up = self.up_members();
            let victim = match self.leader() {
                Some(leader) if self.rng.chance(1, 2) => Some(leader),
                _ => self.pick(&up),
            };
            if let Some(id) = victim {
                let down_steps = if self.rng.chance(1, 2) {
                    self.rng.range(1, 6)
                } else {
                    self.rng.range(1, self.params.down_steps_max)
                };
                self.log(format_args!("crash {id} for {down_steps} steps"));
                self.crash(id, Some(self.now + down_steps));
                self.faults += 1;
            }
        }
        if self.rng.chance(self.params.partition_per_mille, 1000) {
            self.change_partition();
            self.faults += 1;
        }
        if self.rng.chance(self.params.conf_change_per_mille, 1000) {
            self.change_membership();
        }
        if self.rng.chance(self.params.transfer_per_mille, 1000)
            && let Some(leader) = self.leader()
        {
            let voters: Vec<NodeId> = self.members[&leader]
                .raw
                .as_ref()
                .expect("leader is up")
                .raft()
                .tracker
                .conf_state()
                .voters
                .into_iter()
                .filter(|v| *v != leader)
                .collect();
            if let Some(to) = self.pick(&voters) {
                self.log(format_args!("transfer leadership {leader} -> {to}"));
                let raw = self.members.get_mut(&leader).and_then(|m| m.raw.as_mut());
                raw.expect("leader is up").transfer_leader(to);
                self.faults += 1;
            }
        }
    }

    fn change_partition(&mut self) {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        match self.rng.range(0, 4) {
            0 => {
                self.log(format_args!("heal the network"));
                self.network.heal();
            }
            1 => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for &id in &ids {
                    if self.rng.chance(1, 2) {
                        a.push(id);
                    } else {
                        b.push(id);
                    }
                }
                self.log(format_args!("partition {a:?} | {b:?}"));
                self.network.partition(&a, &b);
            }
            2 => {
                if let (Some(from), Some(to)) = (self.pick(&ids), self.pick(&ids))
                    && from != to
                {
                    self.log(format_args!("cut link {from} -> {to} (one way)"));
                    self.network.cut(from, to);
                }
            }
            _ => {
                if let Some(leader) = self.leader() {
                    let rest: Vec<NodeId> = ids.into_iter().filter(|i| *i != leader).collect();
                    self.log(format_args!("isolate leader {leader}"));
                    self.network.partition(&[leader], &rest);
                }
            }
        }
    }

    /// Proposes a membership change at the leader: add a learner, promote one, add or
    /// remove a voter (the leader too), or replace a voter through a joint configuration.
    fn change_membership(&mut self) {
        let Some(leader) = self.leader() else {
            return;
        };
        let raft = self.members[&leader]
            .raw
            .as_ref()
            .expect("leader is up")
            .raft();
        if raft.pending_conf_index > raft.log.applied {
            return;
        }
        let conf = raft.tracker.conf_state();
        let change = if conf.is_joint() {
            if conf.auto_leave {
                return;
            }
            ConfChange::leave_joint()
        } else {
            let voters: Vec<NodeId> = conf.voters.iter().copied().collect();
            let learners: Vec<NodeId> = conf.learners.iter().copied().collect();
            let single = |change_type, node_id| ConfChangeSingle {
                change_type,
                node_id,
            };
            let can_add = self.members.len() < MEMBERS_MAX;
            let mut changes = Vec::new();
            match self.rng.range(0, 5) {
                0 if can_add => {
                    let id = self.new_member();
                    changes.push(single(ConfChangeType::AddLearnerNode, id));
                }
                1 if voters.len() < VOTERS_MAX => {
                    if let Some(id) = self.pick(&learners) {
                        changes.push(single(ConfChangeType::AddNode, id));
                    }
                }
                2 if voters.len() > VOTERS_MIN => {
                    let id = if self.rng.chance(1, 3) {
                        Some(leader)
                    } else {
                        self.pick(&voters)
                    };
                    changes.extend(id.map(|id| single(ConfChangeType::RemoveNode, id)));
                }
                3 => {
                    let incoming = match self.pick(&learners) {
                        Some(id) => id,
                        None if can_add => self.new_member(),
                        None => return,
                    };
                    let outgoing = self.pick(&voters).expect("a leader has voters");
                    changes.push(single(ConfChangeType::AddNode, incoming));
                    changes.push(single(ConfChangeType::RemoveNode, outgoing));
                }
                4 if can_add && voters.len() < VOTERS_MAX => {
                    let id = self.new_member();
                    changes.push(single(ConfChangeType::AddNode, id));
                }
                _ => {}
            }
            if changes.is_empty() {
                return;
            }
            let transition = [
                ConfChangeTransition::Auto,
                ConfChangeTransition::JointImplicit,
                ConfChangeTransition::JointExplicit,
            ][self.rng.range(0, 3) as usize];
            ConfChange {
                transition,
                changes,
                context: Vec::new(),
            }
        };
        self.log(format_args!("propose at {leader}: {change:?}"));
        let raw = self.members.get_mut(&leader).and_then(|m| m.raw.as_mut());
        if raw
            .expect("leader is up")
            .propose_conf_change(&change)
            .is_ok()
        {
            self.faults += 1;
        }
    }

    /// Starts a member that belongs to no configuration yet: it waits, empty, for the
    /// leader to send it a snapshot once it is added.
    fn new_member(&mut self) -> NodeId {
        let id = NodeId(self.next_member_id);
        self.next_member_id += 1;
        self.start_member(id, MemStorage::new());
        id
    }

    // ----- liveness -----

    /// The configuration of the member that has applied the most (running or not: what a
    /// crashed member applied was committed all the same).
    fn latest_configuration(&self) -> ConfState {
        self.members
            .values()
            .max_by_key(|m| m.app.applied)
            .map(|m| m.app.conf_state.clone())
            .unwrap_or_default()
    }

    /// Liveness phase: every member of the configuration runs; the others (removed, or
    /// added by a change that never committed) are shut down, as etcd shuts down a member
    /// that learns it was removed.
    fn keep_configuration_running(&mut self) {
        let conf = self.latest_configuration();
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for id in ids {
            let wanted = conf.voters.contains(&id)
                || conf.learners.contains(&id)
                || conf.voters_outgoing.contains(&id)
                || conf.learners_next.contains(&id);
            let up = self.members[&id].raw.is_some();
            if wanted && !up {
                self.log(format_args!("liveness: start {id}"));
                self.restart(id);
            } else if !wanted && up {
                self.log(format_args!(
                    "liveness: stop {id} (not in the configuration)"
                ));
                self.crash(id, None);
            }
        }
    }

    fn finish_joint_configuration(&mut self) {
        let Some(leader) = self.leader() else {
            return;
        };
        let raw = self.members.get_mut(&leader).and_then(|m| m.raw.as_mut());
        let raw = raw.expect("leader is up");
        let raft = raw.raft();
        let conf = raft.tracker.conf_state();
        if conf.is_joint() && !conf.auto_leave && raft.pending_conf_index <= raft.log.applied {
            let _ = raw.propose_conf_change(&ConfChange::leave_joint());
        }
    }

    fn converged(&self) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        if !self.clients.iter().all(|c| c.final_write_done) {
            return false;
        }
        let raft = self.members[&leader]
            .raw
            .as_ref()
            .expect("leader is up")
            .raft();
        let conf = raft.tracker.conf_state();
        let last = raft.log.last_index();
        !conf.is_joint()
            && raft.log.committed == last
            && conf.voters.iter().chain(&conf.learners).all(|id| {
                self.members.get(id).is_some_and(|m| {
                    m.raw
                        .as_ref()
                        .is_some_and(|r| r.raft().term == raft.term && m.app.applied == last)
                })
            })
    }

    fn describe_stall(&self) -> String {
        let mut text = format!(
            "no convergence within {} steps of healing; leader {:?}; clients done {}/{}; members:",
            self.params.liveness_steps_max,
            self.leader(),
            self.clients.iter().filter(|c| c.final_write_done).count(),
            self.clients.len()
        );
        for (id, member) in &self.members {
            match &member.raw {
                Some(raw) => {
                    let r = raw.raft();
                    text.push_str(&format!(
                        "\n  {id}: {:?} term {} lead {} commit {} applied {} last {} conf {:?}",
                        r.role,
                        r.term,
                        r.lead,
                        r.log.committed,
                        member.app.applied,
                        r.log.last_index(),
                        r.tracker.conf_state()
                    ));
                }
                None => text.push_str(&format!("\n  {id}: down")),
            }
        }
        if let Some(leader) = self.leader() {
            let raft = self.members[&leader]
                .raw
                .as_ref()
                .expect("leader is up")
                .raft();
            for (id, p) in &raft.tracker.progress {
                text.push_str(&format!(
                    "\n  leader's view of {id}: {:?} match {} next {} paused {} probe_sent {} inflight {} active {}",
                    p.state,
                    p.matched,
                    p.next,
                    p.is_paused(),
                    p.probe_sent,
                    p.inflights.count(),
                    p.recent_active
                ));
            }
        }
        text
    }
}
