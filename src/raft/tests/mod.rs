//! Tests of the Raft core through its public driver API, with a small in-memory harness.
//!
//! - `paper`: one test per claim of the Raft paper (§5.1-§5.4, §6).
//! - `features`: pre-vote, check-quorum, ReadIndex, snapshots, leadership transfer,
//!   learners and joint consensus beyond the paper's claims.

mod features;
mod paper;

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ConfChange, ConfState, Config, Entry, EntryType, LogIndex, MemStorage, Message, MessageType,
    NodeId, RawNode, ReadState, Term,
};

/// A member for tests: election 10 ticks, heartbeat 1, pre-vote and check-quorum off
/// unless `configure` says otherwise (the paper's tests are about plain Raft).
pub fn new_node(id: u64, voters: &[u64], configure: impl Fn(&mut Config)) -> RawNode<MemStorage> {
    let storage =
        MemStorage::new_with_conf_state(ConfState::with_voters(voters.iter().map(|&v| NodeId(v))));
    let mut config = Config::new(NodeId(id));
    config.pre_vote = false;
    config.check_quorum = false;
    configure(&mut config);
    RawNode::new(&config, storage).expect("valid test config")
}

/// Carries out one node's Ready (persist, apply, advance) and returns its messages.
pub fn handle_ready(node: &mut RawNode<MemStorage>, applied: &mut Vec<Entry>) -> Vec<Message> {
    handle_ready_with_reads(node, applied, &mut Vec::new())
}

/// Like [`handle_ready`], also collecting confirmed read states.
pub fn handle_ready_with_reads(
    node: &mut RawNode<MemStorage>,
    applied: &mut Vec<Entry>,
    reads: &mut Vec<ReadState>,
) -> Vec<Message> {
    let mut out = Vec::new();
    while node.has_ready() {
        let ready = node.ready();
        let store = node.store_mut();
        if let Some(snapshot) = ready.snapshot.clone() {
            store.apply_snapshot(snapshot).expect("newer snapshot");
        }
        store.append(&ready.entries).expect("contiguous entries");
        if let Some(hs) = ready.hard_state {
            store.set_hard_state(hs);
        }
        out.extend(ready.messages);
        reads.extend(ready.read_states);
        for entry in ready.committed_entries {
            if entry.entry_type == EntryType::ConfChange {
                let change = ConfChange::decode(&entry.data).expect("valid conf change");
                node.apply_conf_change(&change).expect("valid change");
            }
            let index = entry.index;
            applied.push(entry);
            node.applied_to(index);
        }
        node.advance();
    }
    out
}

/// Takes the messages a lone node wants to send (handling its Ready).
pub fn take_messages(node: &mut RawNode<MemStorage>) -> Vec<Message> {
    handle_ready(node, &mut Vec::new())
}

/// A message from `from` to `to`.
pub fn msg(msg_type: MessageType, from: u64, to: u64, term: u64) -> Message {
    let mut m = Message::new(msg_type);
    m.from = NodeId(from);
    m.to = NodeId(to);
    m.term = Term(term);
    m
}

/// An entry at `(index, term)` with some data.
pub fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index: LogIndex(index),
        term: Term(term),
        entry_type: EntryType::Normal,
        data: format!("{index}/{term}").into_bytes(),
    }
}

/// A cluster on a perfect, synchronous network whose links can be cut.
pub struct Cluster {
    /// The members.
    pub nodes: BTreeMap<NodeId, RawNode<MemStorage>>,
    /// Entries each member applied, in order.
    pub applied: BTreeMap<NodeId, Vec<Entry>>,
    /// Cut directed links (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Members whose messages are all dropped, both ways.
    pub isolated: BTreeSet<NodeId>,
    /// Read states each member received, in order.
    pub reads: BTreeMap<NodeId, Vec<ReadState>>,
}

impl Cluster {
    /// Members `1..=n`, all voters.
    pub fn new(n: u64, configure: impl Fn(&mut Config)) -> Cluster {
        let voters: Vec<u64> = (1..=n).collect();
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            applied: BTreeMap::new(),
            cut: BTreeSet::new(),
            isolated: BTreeSet::new(),
            reads: BTreeMap::new(),
        };
        for &id in &voters {
            cluster
                .nodes
                .insert(NodeId(id), new_node(id, &voters, &configure));
            cluster.applied.insert(NodeId(id), Vec::new());
        }
        cluster
    }

    /// Adds a member that starts empty (it learns everything from the leader).
    pub fn add_empty(&mut self, id: u64, configure: impl Fn(&mut Config)) {
        let mut config = Config::new(NodeId(id));
        config.pre_vote = false;
        config.check_quorum = false;
        configure(&mut config);
        let node = RawNode::new(&config, MemStorage::new()).expect("valid config");
        self.nodes.insert(NodeId(id), node);
        self.applied.insert(NodeId(id), Vec::new());
    }

    /// The member `id`.
    pub fn node(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        self.nodes.get_mut(&NodeId(id)).expect("member exists")
    }

    fn passes(&self, m: &Message) -> bool {
        !self.cut.contains(&(m.from, m.to))
            && !self.isolated.contains(&m.from)
            && !self.isolated.contains(&m.to)
            && self.nodes.contains_key(&m.to)
    }

    /// Delivers messages (and everything they cause) until the cluster is quiet.
    pub fn deliver(&mut self, mut pending: Vec<Message>) {
        let mut rounds = 0;
        loop {
            for id in self.nodes.keys().copied().collect::<Vec<_>>() {
                let node = self.nodes.get_mut(&id).expect("listed");
                let applied = self.applied.get_mut(&id).expect("listed");
                let reads = self.reads.entry(id).or_default();
                pending.extend(handle_ready_with_reads(node, applied, reads));
            }
            if pending.is_empty() {
                return;
            }
            rounds += 1;
            assert!(rounds < 10_000, "cluster did not quiesce");
            for m in std::mem::take(&mut pending) {
                if self.passes(&m) {
                    let to = m.to;
                    let _ = self.nodes.get_mut(&to).expect("checked").step(m);
                }
            }
        }
    }

    /// Processes every pending Ready and message until quiet.
    pub fn stabilize(&mut self) {
        self.deliver(Vec::new());
    }

    /// Makes `id` campaign and settles the election.
    pub fn elect(&mut self, id: u64) {
        self.node(id).campaign().expect("campaign");
        self.stabilize();
    }

    /// Ticks every member once and settles.
    pub fn tick_all(&mut self) {
        for node in self.nodes.values_mut() {
            node.tick();
        }
        self.stabilize();
    }

    /// Proposes through `id` and settles.
    pub fn propose(&mut self, id: u64, data: &[u8]) {
        self.node(id).propose(data.to_vec()).expect("accepted");
        self.stabilize();
    }

    /// The data of the normal, non-empty entries `id` applied.
    pub fn applied_data(&self, id: u64) -> Vec<Vec<u8>> {
        self.applied[&NodeId(id)]
            .iter()
            .filter(|e| e.entry_type == EntryType::Normal && !e.data.is_empty())
            .map(|e| e.data.clone())
            .collect()
    }

    /// The leaders among the members.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.raft().is_leader())
            .map(|(id, _)| *id)
            .collect()
    }
}
