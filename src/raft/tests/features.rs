//! The features beyond the paper's core: pre-vote, check-quorum, ReadIndex, snapshots,
//! leadership transfer, fast backtracking and the in-flight window.

use super::*;
use crate::raft::{ProgressState, Role, Storage};

#[test]
fn pre_vote_keeps_a_rejoining_partitioned_member_from_disrupting_the_leader() {
    let mut cluster = Cluster::new(3, |c| c.pre_vote = true);
    cluster.elect(1);
    let term = cluster.node(1).raft().term;
    cluster.isolated.insert(NodeId(3));
    for _ in 0..100 {
        cluster.node(3).tick();
        cluster.stabilize();
    }
    assert_eq!(
        cluster.node(3).raft().term,
        term,
        "pre-candidate must not bump its term without a quorum"
    );
    cluster.isolated.clear();
    cluster.tick_all();
    assert_eq!(cluster.leaders(), vec![NodeId(1)]);
    assert_eq!(cluster.node(1).raft().term, term);
}

#[test]
fn check_quorum_leader_steps_down_when_it_loses_the_quorum() {
    let mut cluster = Cluster::new(3, |c| c.check_quorum = true);
    cluster.elect(1);
    cluster.isolated.insert(NodeId(1));
    for _ in 0..25 {
        cluster.node(1).tick();
        cluster.stabilize();
    }
    assert_eq!(cluster.node(1).raft().role, Role::Follower);
}

#[test]
fn check_quorum_followers_ignore_votes_while_they_hear_from_a_leader() {
    let mut cluster = Cluster::new(3, |c| c.check_quorum = true);
    cluster.elect(1);
    let term = cluster.node(1).raft().term;
    // Member 3 campaigns on its own (as if its timer fired early).
    cluster.node(3).campaign().unwrap();
    let requests = take_messages(cluster.node(3));
    assert_eq!(requests.len(), 2);
    for request in requests {
        let to = request.to.0;
        cluster.node(to).step(request).unwrap();
        assert_eq!(
            cluster.node(to).raft().term,
            term,
            "member {to} was disrupted"
        );
        assert!(
            take_messages(cluster.node(to)).is_empty(),
            "member {to} answered"
        );
    }
    assert!(cluster.node(1).raft().is_leader());
}

#[test]
fn read_index_confirms_leadership_without_writing_the_log() {
    let mut cluster = Cluster::new(3, |_| {});
    cluster.elect(1);
    cluster.propose(1, b"x");
    let last = cluster.node(1).raft().log.last_index();
    // On the leader: no answer before a quorum acknowledged a heartbeat.
    cluster.node(1).read_index(b"ctx-1".to_vec()).unwrap();
    let ready = cluster.node(1).ready();
    assert!(
        ready.read_states.is_empty(),
        "must wait for a quorum of heartbeats"
    );
    let msgs = ready.messages;
    cluster.node(1).advance();
    cluster.deliver(msgs);
    let reads = &cluster.reads[&NodeId(1)];
    assert_eq!(reads.len(), 1);
    assert_eq!(
        (reads[0].index, reads[0].request_context.as_slice()),
        (last, &b"ctx-1"[..])
    );
    // On a follower: forwarded to the leader and answered with the leader's commit.
    cluster.node(2).read_index(b"ctx-2".to_vec()).unwrap();
    cluster.stabilize();
    let reads = &cluster.reads[&NodeId(2)];
    assert_eq!(reads.len(), 1);
    assert_eq!(
        (reads[0].index, reads[0].request_context.as_slice()),
        (last, &b"ctx-2"[..])
    );
    assert_eq!(
        cluster.node(1).raft().log.last_index(),
        last,
        "reads wrote nothing"
    );
}

#[test]
fn read_index_on_isolated_leader_never_answers() {
    let mut cluster = Cluster::new(3, |_| {});
    cluster.elect(1);
    cluster.isolated.insert(NodeId(1));
    cluster.node(1).read_index(b"stale?".to_vec()).unwrap();
    for _ in 0..5 {
        cluster.node(1).tick();
        let ready = cluster.node(1).ready();
        assert!(
            ready.read_states.is_empty(),
            "a leader cut off must not confirm reads"
        );
        cluster.node(1).advance();
    }
}

#[test]
fn leader_sends_snapshot_to_follower_behind_the_compacted_log() {
    let mut cluster = Cluster::new(3, |_| {});
    cluster.elect(1);
    cluster.isolated.insert(NodeId(3));
    for i in 0..10 {
        cluster.propose(1, format!("v{i}").as_bytes());
    }
    let applied = cluster.node(1).raft().log.applied;
    let conf = cluster.node(1).status().conf_state;
    cluster
        .node(1)
        .store_mut()
        .create_snapshot(applied, conf, b"state".to_vec())
        .unwrap();
    cluster.isolated.clear();
    for _ in 0..3 {
        cluster.tick_all();
    }
    let follower = cluster.node(3);
    assert_eq!(follower.store().snapshot().unwrap().metadata.index, applied);
    assert_eq!(follower.store().snapshot().unwrap().data, b"state");
    assert_eq!(follower.raft().log.applied, applied);
    cluster.propose(1, b"after");
    assert!(cluster.applied_data(3).contains(&b"after".to_vec()));
}

#[test]
fn leadership_transfer_hands_over_to_an_up_to_date_follower() {
    let mut cluster = Cluster::new(3, |c| c.pre_vote = true);
    cluster.elect(1);
    cluster.propose(1, b"x");
    cluster.node(1).transfer_leader(NodeId(2));
    cluster.stabilize();
    assert_eq!(cluster.leaders(), vec![NodeId(2)]);
    cluster.propose(2, b"y");
    assert!(cluster.applied_data(3).contains(&b"y".to_vec()));
}

#[test]
fn leadership_transfer_catches_the_transferee_up_first_and_blocks_proposals() {
    let mut cluster = Cluster::new(3, |_| {});
    cluster.elect(1);
    cluster.isolated.insert(NodeId(3));
    cluster.propose(1, b"x");
    cluster.node(1).transfer_leader(NodeId(3));
    cluster.stabilize();
    assert!(cluster.node(1).raft().is_leader());
    assert_eq!(
        cluster.node(1).propose(b"blocked".to_vec()),
        Err(crate::raft::Error::ProposalDropped)
    );
    cluster.isolated.clear();
    cluster.tick_all();
    assert_eq!(cluster.leaders(), vec![NodeId(3)]);
}

#[test]
fn rejection_hint_skips_a_whole_conflicting_term_in_one_round_trip() {
    // Follower has many entries of term 2 the leader (term 3) does not.
    let mut follower = new_node(2, &[1, 2, 3], |_| {});
    let entries: Vec<Entry> = (2..50).map(|i| entry(i, 2)).collect();
    follower.store_mut().append(&entries).unwrap();
    let mut follower = RawNode::new(&Config::new(NodeId(2)), follower.into_store()).unwrap();
    let mut append = msg(MessageType::Append, 1, 2, 3);
    append.index = LogIndex(60);
    append.log_term = Term(3);
    follower.step(append).unwrap();
    let msgs = take_messages(&mut follower);
    let answer = msgs
        .iter()
        .find(|m| m.msg_type == MessageType::AppendResponse)
        .unwrap();
    assert!(answer.reject);
    assert_eq!(answer.reject_hint, LogIndex(49));
    assert_eq!(answer.log_term, Term(2));
}

#[test]
fn replicate_state_stops_at_the_inflight_window() {
    let mut node = new_node(1, &[1, 2], |c| c.max_inflight_msgs = 3);
    node.campaign().unwrap();
    let term = node.raft().term.0;
    take_messages(&mut node);
    node.step(msg(MessageType::RequestVoteResponse, 2, 1, term))
        .unwrap();
    take_messages(&mut node);
    let mut ack = msg(MessageType::AppendResponse, 2, 1, term);
    ack.index = node.raft().log.last_index();
    node.step(ack).unwrap();
    take_messages(&mut node);
    assert_eq!(
        node.raft().tracker.progress[&NodeId(2)].state,
        ProgressState::Replicate
    );
    let mut appends = 0;
    for i in 0..10 {
        node.propose(vec![i]).unwrap();
        appends += take_messages(&mut node)
            .iter()
            .filter(|m| m.msg_type == MessageType::Append)
            .count();
    }
    assert_eq!(
        appends, 3,
        "only the window's worth of appends may be in flight"
    );
}

#[test]
fn entries_are_committed_only_after_the_leader_persists_them() {
    let mut node = new_node(1, &[1], |_| {});
    node.campaign().unwrap();
    take_messages(&mut node);
    node.propose(b"x".to_vec()).unwrap();
    let ready = node.ready();
    assert_eq!(ready.entries.len(), 1);
    assert!(
        ready.committed_entries.is_empty(),
        "a single member must not commit what it has not persisted"
    );
    node.store_mut().append(&ready.entries).unwrap();
    node.advance();
    let ready = node.ready();
    assert_eq!(ready.committed_entries.len(), 1);
    node.advance();
}
