//! One test per claim of the Raft paper ("In Search of an Understandable Consensus
//! Algorithm", Ongaro and Ousterhout). Each test names the claim and cites its section.
//! Pre-vote and check-quorum are off here: the paper describes plain Raft.

use super::*;
use crate::raft::{HardState, Role};

fn role(node: &RawNode<MemStorage>) -> Role {
    node.raft().role
}

fn of_type(msgs: &[Message], t: MessageType) -> Vec<&Message> {
    msgs.iter().filter(|m| m.msg_type == t).collect()
}

/// Makes `node` (member 1 of 3) leader at its next term by campaigning and granting it
/// votes, then returns the messages of its first broadcast.
fn make_leader(node: &mut RawNode<MemStorage>) -> Vec<Message> {
    node.campaign().unwrap();
    let term = node.raft().term.0;
    take_messages(node);
    node.step(msg(MessageType::RequestVoteResponse, 2, 1, term))
        .unwrap();
    assert_eq!(role(node), Role::Leader);
    take_messages(node)
}

/// Reference: section 5.1. "If one server's current term is smaller than the other's,
/// then it updates its current term to the larger value. If a candidate or leader
/// discovers that its term is out of date, it immediately reverts to follower state."
#[test]
fn server_updates_term_and_reverts_to_follower_on_larger_term() {
    for start in [Role::Follower, Role::Candidate, Role::Leader] {
        let mut node = new_node(1, &[1, 2, 3], |_| {});
        match start {
            Role::Candidate => node.campaign().unwrap(),
            Role::Leader => {
                make_leader(&mut node);
            }
            _ => {}
        }
        node.step(msg(MessageType::Append, 2, 1, 9)).unwrap();
        assert_eq!(node.raft().term, Term(9), "from {start:?}");
        assert_eq!(role(&node), Role::Follower, "from {start:?}");
        assert_eq!(node.raft().lead, NodeId(2), "from {start:?}");
    }
}

/// Reference: section 5.1. "If a server receives a request with a stale term number, it
/// rejects the request."
#[test]
fn server_rejects_request_with_stale_term() {
    let mut node = new_node(1, &[1, 2, 3], |_| {});
    node.step(msg(MessageType::Heartbeat, 2, 1, 5)).unwrap();
    take_messages(&mut node);
    let mut stale = msg(MessageType::Append, 3, 1, 4);
    stale.entries = vec![entry(2, 4)];
    stale.index = LogIndex(1);
    stale.log_term = Term(1);
    node.step(stale).unwrap();
    assert_eq!(
        node.raft().log.last_index(),
        LogIndex(1),
        "stale append must not be applied"
    );
    assert_eq!(node.raft().lead, NodeId(2));
    assert_eq!(node.raft().term, Term(5));
}

/// Reference: section 5.2. "When servers start up, they begin as followers."
#[test]
fn servers_start_as_followers() {
    let node = new_node(1, &[1, 2, 3], |_| {});
    assert_eq!(role(&node), Role::Follower);
}

/// Reference: section 5.2. "Leaders send periodic heartbeats (AppendEntries RPCs that
/// carry no log entries) to all followers in order to maintain their authority."
#[test]
fn leader_broadcasts_heartbeat_every_heartbeat_interval() {
    let mut node = new_node(1, &[1, 2, 3], |c| c.heartbeat_ticks = 1);
    make_leader(&mut node);
    node.tick();
    let msgs = take_messages(&mut node);
    let beats = of_type(&msgs, MessageType::Heartbeat);
    let targets: BTreeSet<NodeId> = beats.iter().map(|m| m.to).collect();
    assert_eq!(targets, [NodeId(2), NodeId(3)].into_iter().collect());
    assert!(beats.iter().all(|m| m.entries.is_empty()));
}

/// Reference: section 5.2. "To begin an election, a follower increments its current
/// term and transitions to candidate state. It then votes for itself and issues
/// RequestVote RPCs in parallel to each of the other servers." Also for a candidate
/// whose election timed out: it starts a new election.
#[test]
fn election_timeout_starts_election_with_new_term_and_self_vote() {
    for already_candidate in [false, true] {
        let mut node = new_node(1, &[1, 2, 3], |_| {});
        if already_candidate {
            node.campaign().unwrap();
            take_messages(&mut node);
        }
        let term_before = node.raft().term;
        for _ in 0..20 {
            node.tick();
        }
        assert_eq!(role(&node), Role::Candidate);
        assert!(node.raft().term > term_before);
        assert_eq!(node.raft().vote, NodeId(1));
        let msgs = take_messages(&mut node);
        let votes = of_type(&msgs, MessageType::RequestVote);
        let targets: BTreeSet<NodeId> = votes.iter().map(|m| m.to).collect();
        assert_eq!(targets, [NodeId(2), NodeId(3)].into_iter().collect());
        assert_eq!(node.store().hard_state().vote, NodeId(1), "vote persisted");
    }
}

/// Reference: section 5.2. A candidate "wins an election if it receives votes from a
/// majority of the servers in the full cluster for the same term"; it stays candidate
/// while the outcome is open and loses when a majority rejects.
#[test]
fn candidate_wins_with_majority_and_loses_with_majority_rejection() {
    // (cluster size, granting voters, rejecting voters, expected role)
    let cases: &[(u64, &[u64], &[u64], Role)] = &[
        (3, &[2], &[], Role::Leader),
        (3, &[], &[], Role::Candidate),
        (5, &[2], &[], Role::Candidate),
        (5, &[2, 3], &[], Role::Leader),
        (5, &[], &[2, 3, 4], Role::Follower),
        (5, &[2], &[3, 4], Role::Candidate),
        (5, &[2], &[3, 4, 5], Role::Follower),
    ];
    for &(size, grants, rejects, expected) in cases {
        let voters: Vec<u64> = (1..=size).collect();
        let mut node = new_node(1, &voters, |_| {});
        node.campaign().unwrap();
        let term = node.raft().term.0;
        for &id in grants {
            node.step(msg(MessageType::RequestVoteResponse, id, 1, term))
                .unwrap();
        }
        for &id in rejects {
            let mut m = msg(MessageType::RequestVoteResponse, id, 1, term);
            m.reject = true;
            node.step(m).unwrap();
        }
        assert_eq!(
            role(&node),
            expected,
            "size {size} grants {grants:?} rejects {rejects:?}"
        );
    }
}

/// Reference: section 5.2. "Each server will vote for at most one candidate in a given
/// term, on a first-come-first-served basis."
#[test]
fn voter_grants_at_most_one_vote_per_term() {
    let mut node = new_node(1, &[1, 2, 3], |_| {});
    let mut first = msg(MessageType::RequestVote, 2, 1, 2);
    first.index = LogIndex(1);
    first.log_term = Term(1);
    node.step(first.clone()).unwrap();
    let mut second = first.clone();
    second.from = NodeId(3);
    node.step(second).unwrap();
    node.step(first).unwrap();
    let msgs = take_messages(&mut node);
    let answers: Vec<(NodeId, bool)> = of_type(&msgs, MessageType::RequestVoteResponse)
        .iter()
        .map(|m| (m.to, m.reject))
        .collect();
    assert_eq!(
        answers,
        vec![(NodeId(2), false), (NodeId(3), true), (NodeId(2), false)]
    );
    assert_eq!(node.store().hard_state().vote, NodeId(2));
}

/// Reference: section 5.2. "If the leader's term is at least as large as the
/// candidate's current term, then the candidate recognizes the leader as legitimate and
/// returns to follower state."
#[test]
fn candidate_falls_back_to_follower_on_append_from_legitimate_leader() {
    for leader_term_delta in [0, 1] {
        let mut node = new_node(1, &[1, 2, 3], |_| {});
        node.campaign().unwrap();
        let term = node.raft().term.0 + leader_term_delta;
        node.step(msg(MessageType::Append, 2, 1, term)).unwrap();
        assert_eq!(role(&node), Role::Follower);
        assert_eq!(node.raft().term, Term(term));
        assert_eq!(node.raft().lead, NodeId(2));
    }
}

/// Reference: section 5.2. "Raft uses randomized election timeouts ... chosen randomly
/// from a fixed interval": followers and candidates time out after between one and two
/// election timeouts, and the timeouts spread over that interval.
#[test]
fn election_timeouts_are_randomized_over_one_to_two_timeouts() {
    let election = 10;
    let mut seen = BTreeSet::new();
    for seed in 0..200 {
        let mut node = new_node(1, &[1, 2, 3], |c| {
            c.election_ticks = election;
            c.seed = seed;
        });
        let mut ticks = 0;
        while role(&node) == Role::Follower {
            node.tick();
            ticks += 1;
        }
        assert!(
            (election..2 * election).contains(&ticks),
            "timed out after {ticks} ticks"
        );
        seen.insert(ticks);
    }
    assert!(
        seen.len() as u64 >= election - 1,
        "timeouts not spread: {seen:?}"
    );
}

/// Reference: section 5.2. "In most cases only a single server will time out" first:
/// with randomized timeouts, split first timeouts are rare.
#[test]
fn randomized_timeouts_rarely_conflict() {
    let mut conflicts = 0;
    let rounds = 500;
    for round in 0..rounds {
        let mut first_timeout = Vec::new();
        for id in 1..=5u64 {
            let mut node = new_node(id, &[1, 2, 3, 4, 5], |c| c.seed = round * 10 + id);
            let mut ticks = 0;
            while role(&node) == Role::Follower {
                node.tick();
                ticks += 1;
            }
            first_timeout.push(ticks);
        }
        let min = *first_timeout.iter().min().unwrap();
        if first_timeout.iter().filter(|&&t| t == min).count() > 1 {
            conflicts += 1;
        }
    }
    assert!(
        conflicts * 100 / rounds < 40,
        "{conflicts} of {rounds} rounds conflicted"
    );
}

/// Reference: section 5.3. "The leader appends the command to its log as a new entry,
/// then issues AppendEntries RPCs in parallel to each of the other servers to replicate
/// the entry."
#[test]
fn leader_appends_proposal_and_replicates_it() {
    let mut node = new_node(1, &[1, 2, 3], |_| {});
    make_leader(&mut node);
    // Followers acknowledge the leader's empty entry so they move to replicate state.
    let last = node.raft().log.last_index();
    for id in [2, 3] {
        let mut ack = msg(MessageType::AppendResponse, id, 1, node.raft().term.0);
        ack.index = last;
        node.step(ack).unwrap();
    }
    take_messages(&mut node);
    node.propose(b"x".to_vec()).unwrap();
    assert_eq!(node.raft().log.last_index(), last + 1);
    let msgs = take_messages(&mut node);
    let appends = of_type(&msgs, MessageType::Append);
    assert_eq!(appends.len(), 2);
    for m in appends {
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].data, b"x");
        assert_eq!(m.index, last);
    }
}

/// Reference: section 5.3. "A log entry is committed once the leader that created the
/// entry has replicated it on a majority of the servers", and the leader then tells the
/// followers the new commit index.
#[test]
fn leader_commits_entry_replicated_on_majority_and_announces_commit() {
    for (size, acks, committed) in [(3, 1, true), (5, 1, false), (5, 2, true), (7, 2, false)] {
        let voters: Vec<u64> = (1..=size).collect();
        let mut node = new_node(1, &voters, |_| {});
        node.campaign().unwrap();
        let term = node.raft().term.0;
        for id in 2..=size / 2 + 1 {
            node.step(msg(MessageType::RequestVoteResponse, id, 1, term))
                .unwrap();
        }
        take_messages(&mut node);
        node.propose(b"x".to_vec()).unwrap();
        take_messages(&mut node);
        let last = node.raft().log.last_index();
        for id in 2..2 + acks {
            let mut ack = msg(MessageType::AppendResponse, id, 1, term);
            ack.index = last;
            node.step(ack).unwrap();
        }
        assert_eq!(
            node.raft().log.committed == last,
            committed,
            "size {size} acks {acks}"
        );
        if committed {
            let msgs = take_messages(&mut node);
            assert!(
                of_type(&msgs, MessageType::Append)
                    .iter()
                    .any(|m| m.commit == last),
                "commit index not announced"
            );
        }
    }
}

/// Reference: section 5.3. "This also commits all preceding entries in the leader's
/// log, including entries created by previous leaders."
#[test]
fn committing_an_entry_commits_all_preceding_entries() {
    let mut storage =
        MemStorage::new_with_conf_state(ConfState::with_voters([NodeId(1), NodeId(2), NodeId(3)]));
    storage
        .append(&[entry(2, 1), entry(3, 2), entry(4, 2)])
        .unwrap();
    storage.set_hard_state(HardState {
        term: Term(2),
        vote: NodeId::NONE,
        commit: LogIndex(1),
    });
    let mut config = Config::new(NodeId(1));
    config.pre_vote = false;
    config.check_quorum = false;
    let mut node = RawNode::new(&config, storage).unwrap();
    make_leader(&mut node);
    let last = node.raft().log.last_index();
    let mut ack = msg(MessageType::AppendResponse, 2, 1, node.raft().term.0);
    ack.index = last;
    node.step(ack).unwrap();
    let mut applied = Vec::new();
    handle_ready(&mut node, &mut applied);
    let indexes: Vec<u64> = applied.iter().map(|e| e.index.0).collect();
    assert_eq!(indexes, vec![2, 3, 4, 5]);
}

/// Reference: section 5.3. "Once a follower learns that a log entry is committed, it
/// applies the entry to its local state machine (in log order)."
#[test]
fn follower_applies_entries_the_leader_says_are_committed() {
    let mut node = new_node(2, &[1, 2, 3], |_| {});
    let mut append = msg(MessageType::Append, 1, 2, 2);
    append.index = LogIndex(1);
    append.log_term = Term(1);
    append.entries = vec![entry(2, 2), entry(3, 2), entry(4, 2)];
    append.commit = LogIndex(3);
    node.step(append).unwrap();
    let mut applied = Vec::new();
    handle_ready(&mut node, &mut applied);
    let indexes: Vec<u64> = applied.iter().map(|e| e.index.0).collect();
    assert_eq!(indexes, vec![2, 3]);
}

/// Reference: section 5.3. "If the follower does not find an entry in its log with the
/// same index and term, then it refuses the new entries" (the consistency check).
#[test]
fn follower_refuses_append_without_matching_previous_entry() {
    // Follower log: 1/1 (snapshot), 2/1, 3/2.
    let cases = [
        (1, 1, false),
        (2, 1, false),
        (3, 2, false),
        (3, 3, true),
        (4, 2, true),
        (2, 2, true),
    ];
    for (index, log_term, rejected) in cases {
        let mut node = new_node(2, &[1, 2, 3], |_| {});
        node.store_mut()
            .append(&[entry(2, 1), entry(3, 2)])
            .unwrap();
        node = RawNode::new(&Config::new(NodeId(2)), node.into_store()).unwrap();
        let mut append = msg(MessageType::Append, 1, 2, 3);
        append.index = LogIndex(index);
        append.log_term = Term(log_term);
        append.entries = vec![entry(index + 1, 3)];
        node.step(append).unwrap();
        let msgs = take_messages(&mut node);
        let answer = of_type(&msgs, MessageType::AppendResponse)[0];
        assert_eq!(answer.reject, rejected, "prev ({index}, {log_term})");
        if rejected {
            assert_eq!(node.raft().log.last_index(), LogIndex(3));
        } else {
            assert_eq!(node.raft().log.last_index(), LogIndex(index + 1));
        }
    }
}

/// Reference: section 5.3. "If an existing entry conflicts with a new one (same index
/// but different terms), delete the existing entry and all that follow it; append any
/// new entries not already in the log."
#[test]
fn follower_deletes_conflicting_entries_and_appends_new_ones() {
    let mut node = new_node(2, &[1, 2, 3], |_| {});
    node.store_mut()
        .append(&[entry(2, 1), entry(3, 2), entry(4, 2)])
        .unwrap();
    node = RawNode::new(&Config::new(NodeId(2)), node.into_store()).unwrap();
    let mut append = msg(MessageType::Append, 1, 2, 3);
    append.index = LogIndex(2);
    append.log_term = Term(1);
    append.entries = vec![entry(3, 3)];
    node.step(append).unwrap();
    take_messages(&mut node);
    let terms: Vec<u64> = node
        .store()
        .all_entries()
        .iter()
        .map(|e| e.term.0)
        .collect();
    assert_eq!(
        terms,
        vec![1, 3],
        "entry 3/2 and its follower 4/2 replaced by 3/3"
    );
}

/// Reference: section 5.3 and figure 7. "The leader handles inconsistencies by forcing
/// the followers' logs to duplicate its own": followers missing entries, with extra
/// uncommitted entries, or both, end up with the leader's log.
#[test]
fn leader_forces_diverging_follower_logs_to_match_its_own() {
    let leader_log: Vec<Entry> = [1, 1, 4, 4, 5, 5, 6, 6, 6]
        .iter()
        .enumerate()
        .map(|(i, &t)| entry(i as u64 + 2, t))
        .collect();
    let follower_logs: Vec<Vec<u64>> = vec![
        vec![1, 1, 4, 4, 5, 5, 6, 6],
        vec![1, 1, 4],
        vec![1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        vec![1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        vec![1, 1, 4, 4, 4, 4],
        vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for follower_terms in follower_logs {
        let follower_log: Vec<Entry> = follower_terms
            .iter()
            .enumerate()
            .map(|(i, &t)| entry(i as u64 + 2, t))
            .collect();
        let mut cluster = Cluster::new(3, |_| {});
        cluster.node(1).store_mut().append(&leader_log).unwrap();
        cluster.node(1).store_mut().set_hard_state(HardState {
            term: Term(8),
            vote: NodeId::NONE,
            commit: LogIndex(1),
        });
        cluster.node(2).store_mut().append(&follower_log).unwrap();
        cluster.node(2).store_mut().set_hard_state(HardState {
            term: Term(8),
            vote: NodeId::NONE,
            commit: LogIndex(1),
        });
        for id in [1, 2] {
            let store = cluster.nodes.remove(&NodeId(id)).unwrap().into_store();
            let mut config = Config::new(NodeId(id));
            config.pre_vote = false;
            config.check_quorum = false;
            cluster
                .nodes
                .insert(NodeId(id), RawNode::new(&config, store).unwrap());
        }
        // Member 3 votes for 1 (its log is empty) and 2 is outvoted.
        cluster.elect(1);
        assert_eq!(cluster.leaders(), vec![NodeId(1)]);
        cluster.propose(1, b"sync");
        let leader: Vec<(u64, u64)> = cluster.nodes[&NodeId(1)]
            .store()
            .all_entries()
            .iter()
            .map(|e| (e.index.0, e.term.0))
            .collect();
        let follower: Vec<(u64, u64)> = cluster.nodes[&NodeId(2)]
            .store()
            .all_entries()
            .iter()
            .map(|e| (e.index.0, e.term.0))
            .collect();
        assert_eq!(follower, leader, "follower log {follower_terms:?}");
    }
}

/// Reference: section 5.4.1. "The voter denies its vote if its own log is more
/// up-to-date than that of the candidate": later last term wins; with equal last terms
/// the longer log wins.
#[test]
fn voter_denies_vote_to_candidate_with_less_up_to_date_log() {
    // Voter log: 1/1 (snapshot), 2/2, 3/2.
    let cases = [
        (3, 2, false),
        (4, 2, false),
        (2, 2, true),
        (9, 1, true),
        (1, 3, false),
    ];
    for (last_index, last_term, rejected) in cases {
        let mut node = new_node(1, &[1, 2, 3], |_| {});
        node.store_mut()
            .append(&[entry(2, 2), entry(3, 2)])
            .unwrap();
        let mut config = Config::new(NodeId(1));
        config.pre_vote = false;
        config.check_quorum = false;
        node = RawNode::new(&config, node.into_store()).unwrap();
        let mut request = msg(MessageType::RequestVote, 2, 1, 5);
        request.index = LogIndex(last_index);
        request.log_term = Term(last_term);
        node.step(request).unwrap();
        let msgs = take_messages(&mut node);
        let answer = of_type(&msgs, MessageType::RequestVoteResponse)[0];
        assert_eq!(
            answer.reject, rejected,
            "candidate last ({last_index}, {last_term})"
        );
    }
}

/// Reference: section 5.4.2 and figure 8. "Raft never commits log entries from previous
/// terms by counting replicas. Only log entries from the leader's current term are
/// committed by counting replicas."
#[test]
fn leader_commits_only_entries_of_its_own_term_by_counting_replicas() {
    let mut storage =
        MemStorage::new_with_conf_state(ConfState::with_voters([NodeId(1), NodeId(2), NodeId(3)]));
    storage.append(&[entry(2, 1), entry(3, 2)]).unwrap();
    storage.set_hard_state(HardState {
        term: Term(2),
        vote: NodeId::NONE,
        commit: LogIndex(1),
    });
    let mut config = Config::new(NodeId(1));
    config.pre_vote = false;
    config.check_quorum = false;
    let mut node = RawNode::new(&config, storage).unwrap();
    make_leader(&mut node);
    let term = node.raft().term.0;
    // A follower acknowledges the old-term entry 3 but not the new leader's entry 4.
    let mut ack = msg(MessageType::AppendResponse, 2, 1, term);
    ack.index = LogIndex(3);
    node.step(ack).unwrap();
    assert_eq!(
        node.raft().log.committed,
        LogIndex(1),
        "entry 3 of term 2 is on a majority but must not commit by counting"
    );
    let mut ack = msg(MessageType::AppendResponse, 2, 1, term);
    ack.index = LogIndex(4);
    node.step(ack).unwrap();
    assert_eq!(node.raft().log.committed, LogIndex(4));
}

/// Reference: section 5.4.3 (safety argument), by simulation of figure 8's scenario: a
/// leader of an older term that replicated an entry to a majority but crashed before
/// committing it cannot have that entry overwrite committed ones later. Concretely: once
/// an entry is applied anywhere, every later leader has it.
#[test]
fn later_leaders_contain_every_applied_entry() {
    let mut cluster = Cluster::new(5, |_| {});
    cluster.elect(1);
    cluster.propose(1, b"a");
    // Leader 1 appends b but reaches only member 2 before being cut off.
    for to in [3, 4, 5] {
        cluster.cut.insert((NodeId(1), NodeId(to)));
    }
    cluster.propose(1, b"b");
    cluster.isolated.insert(NodeId(1));
    cluster.cut.clear();
    // Member 5 (missing b) becomes leader with 3 and 4 and commits c.
    cluster.elect(5);
    assert!(cluster.nodes[&NodeId(5)].raft().is_leader());
    cluster.propose(5, b"c");
    cluster.isolated.clear();
    // Member 2 campaigns later; whoever leads now, c must be in its log and applied
    // sequences must agree.
    cluster.elect(2);
    cluster.propose(cluster.leaders()[0].0, b"d");
    let reference = cluster.applied_data(5);
    for id in 1..=5 {
        let applied = cluster.applied_data(id);
        let n = applied.len().min(reference.len());
        assert_eq!(applied[..n], reference[..n], "member {id}");
        assert!(
            applied.contains(&b"c".to_vec()),
            "member {id} lost committed c"
        );
    }
}

/// Reference: section 6. "In Raft the cluster first switches to a transitional
/// configuration we call joint consensus ... Agreement (for elections and entry
/// commitment) requires separate majorities from both the old and new configurations."
#[test]
fn joint_consensus_requires_majorities_of_both_configurations() {
    use crate::raft::{ConfChangeSingle, ConfChangeTransition, ConfChangeType};
    let mut cluster = Cluster::new(3, |_| {});
    for id in [4, 5] {
        cluster.add_empty(id, |_| {});
    }
    cluster.elect(1);
    let change = ConfChange {
        transition: ConfChangeTransition::JointExplicit,
        changes: [4, 5]
            .into_iter()
            .map(|id| ConfChangeSingle {
                change_type: ConfChangeType::AddNode,
                node_id: NodeId(id),
            })
            .chain([2, 3].into_iter().map(|id| ConfChangeSingle {
                change_type: ConfChangeType::RemoveNode,
                node_id: NodeId(id),
            }))
            .collect(),
        context: Vec::new(),
    };
    cluster.node(1).propose_conf_change(&change).unwrap();
    cluster.stabilize();
    let conf = cluster.node(1).status().conf_state;
    assert!(
        conf.is_joint(),
        "explicit joint config must not be left by itself"
    );
    // Old majority {1,2,3} without the new one {1,4,5}: nothing commits.
    cluster.isolated.insert(NodeId(4));
    cluster.isolated.insert(NodeId(5));
    let before = cluster.node(1).raft().log.committed;
    cluster.node(1).propose(b"x".to_vec()).unwrap();
    cluster.stabilize();
    assert_eq!(
        cluster.node(1).raft().log.committed,
        before,
        "old majority alone committed"
    );
    // With the new majority back, it commits.
    cluster.isolated.clear();
    for _ in 0..3 {
        cluster.tick_all();
    }
    assert!(cluster.node(1).raft().log.committed > before);
    // Leave the joint configuration: now {1,4,5} alone suffices.
    cluster
        .node(1)
        .propose_conf_change(&ConfChange::leave_joint())
        .unwrap();
    cluster.stabilize();
    let conf = cluster.node(1).status().conf_state;
    assert!(!conf.is_joint());
    assert_eq!(
        conf.voters,
        [NodeId(1), NodeId(4), NodeId(5)].into_iter().collect()
    );
    cluster.isolated.insert(NodeId(2));
    cluster.isolated.insert(NodeId(3));
    let before = cluster.node(1).raft().log.committed;
    cluster.propose(1, b"y");
    assert!(cluster.node(1).raft().log.committed > before);
}

/// Reference: section 6. "The new servers join the cluster as non-voting members (the
/// leader replicates log entries to them, but they are not considered for majorities)."
#[test]
fn new_servers_catch_up_as_non_voting_members() {
    use crate::raft::{ConfChangeSingle, ConfChangeTransition, ConfChangeType};
    let mut cluster = Cluster::new(3, |_| {});
    cluster.add_empty(4, |_| {});
    cluster.elect(1);
    let add_learner = ConfChange {
        transition: ConfChangeTransition::Auto,
        changes: vec![ConfChangeSingle {
            change_type: ConfChangeType::AddLearnerNode,
            node_id: NodeId(4),
        }],
        context: Vec::new(),
    };
    cluster.node(1).propose_conf_change(&add_learner).unwrap();
    cluster.stabilize();
    cluster.propose(1, b"x");
    assert!(
        cluster.applied_data(4).contains(&b"x".to_vec()),
        "learner receives the log"
    );
    // Learner acknowledgements do not count: with 2 and 3 away nothing commits.
    cluster.isolated.insert(NodeId(2));
    cluster.isolated.insert(NodeId(3));
    let before = cluster.node(1).raft().log.committed;
    cluster.node(1).propose(b"y".to_vec()).unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).raft().log.committed, before);
    // And a learner never campaigns.
    for _ in 0..50 {
        cluster.node(4).tick();
    }
    assert_eq!(cluster.node(4).raft().role, Role::Follower);
}

/// Reference: section 6. "The leader steps down (returns to follower state) once it has
/// committed the log entry" of a configuration that does not include it.
#[test]
fn leader_removed_from_configuration_steps_down() {
    use crate::raft::{ConfChangeSingle, ConfChangeTransition, ConfChangeType};
    let mut cluster = Cluster::new(3, |_| {});
    cluster.elect(1);
    let remove_self = ConfChange {
        transition: ConfChangeTransition::Auto,
        changes: vec![ConfChangeSingle {
            change_type: ConfChangeType::RemoveNode,
            node_id: NodeId(1),
        }],
        context: Vec::new(),
    };
    cluster.node(1).propose_conf_change(&remove_self).unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).raft().role, Role::Follower);
    cluster.nodes.remove(&NodeId(1));
    for _ in 0..30 {
        cluster.tick_all();
    }
    assert_eq!(
        cluster.leaders().len(),
        1,
        "the remaining two elect a leader"
    );
    let leader = cluster.leaders()[0].0;
    cluster.propose(leader, b"after");
    assert!(cluster.applied_data(2).contains(&b"after".to_vec()));
}
