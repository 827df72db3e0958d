//! Corruption checks (etcd's `corrupt.go`): members compare etcd's HashKV of their
//! stores at the same revision, and a difference raises the CORRUPT alarm, after which
//! the cluster refuses writes with `etcdserver: corrupt cluster` until an operator
//! disarms it.
//!
//! - `--experimental-corrupt-check-time` ([`monitor`]): every interval, the leader
//!   hashes its store, asks every other member for its hash at the same revision, makes
//!   sure it is up to date (a linearizable barrier) and hashes again; any member whose
//!   current revision or compacted revision is ahead of the leader's, or whose hash
//!   differs while its compacted revision is the leader's, raises CORRUPT through Raft
//!   (see [`judge`]). As etcd 3.4.23 and 3.5 do, the alarm names member 0: one hash
//!   against another cannot tell which member is damaged.
//! - `--experimental-initial-corrupt-check` ([`initial_check`]): a member that restarts
//!   on existing data compares its hash with every member's it can reach before it
//!   serves clients, and refuses to start on a difference at the same compacted revision.
//!
//! As etcd asks its peers over the peer port (`/members/hashkv`), members in other
//! processes are asked over theirs (a HashKV query of the peer transport, with the
//! peer TLS); members in this process directly. So the checks need no client
//! credentials and go on with auth enabled.
//!
//! While CORRUPT is raised, applying a put, delete, txn that writes, compaction, lease
//! grant or lease revoke fails on every member alike ([`refused_while_corrupt`]), as
//! etcd's `applierV3Corrupt` does; reads (and, here, read-only txns, which etcd serves
//! without Raft) go on.

use std::time::Duration;

use super::handle::{ApiError, MemberHandle};
use crate::pb::etcdserverpb as pb;

/// The corruption checks a member runs (etcd's flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorruptionChecks {
    /// `--experimental-initial-corrupt-check`.
    pub initial: bool,
    /// `--experimental-corrupt-check-time` (None: no periodic check).
    pub interval: Option<Duration>,
}

/// Whether applying `request` fails while the CORRUPT alarm is raised.
pub fn refused_while_corrupt(request: &pb::InternalRaftRequest) -> bool {
    request.put.is_some()
        || request.delete_range.is_some()
        || request.txn.as_ref().is_some_and(|t| !txn_is_read_only(t))
        || request.compaction.is_some()
        || request.lease_grant.is_some()
        || request.lease_revoke.is_some()
}

/// Whether a txn only reads (in both branches, nested txns included).
fn txn_is_read_only(txn: &pb::TxnRequest) -> bool {
    use pb::request_op::Request;
    txn.success
        .iter()
        .chain(&txn.failure)
        .all(|op| match &op.request {
            Some(Request::RequestRange(_)) | None => true,
            Some(Request::RequestTxn(nested)) => txn_is_read_only(nested),
            Some(Request::RequestPut(_) | Request::RequestDeleteRange(_)) => false,
        })
}

/// Whether the CORRUPT alarm is raised (for any member) in `alarms`.
pub fn corrupt_raised(alarms: &super::handle::Alarms) -> bool {
    let corrupt = pb::AlarmType::Corrupt as i32;
    alarms
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .any(|&(_, alarm)| alarm == corrupt)
}

/// One store's HashKV: (hash, current revision, compacted revision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashAt {
    /// etcd's HashKV.
    pub hash: u32,
    /// The revision the answer's header carries (the member's current revision).
    pub revision: i64,
    /// The member's compacted revision.
    pub compacted: i64,
}

/// What asking one peer gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHash {
    /// The peer.
    pub id: u64,
    /// Its hash, or why there is none (unreachable, behind, compacted past it).
    pub answer: Result<HashAt, String>,
}

/// The leader's verdict on one periodic check (etcd's `checkHashKV`): `first` and
/// `second` are its own hashes before and after the peers answered (and after a
/// linearizable barrier). Returns why the cluster is corrupt, if it is.
pub fn judge(first: HashAt, second: HashAt, peers: &[PeerHash]) -> Option<String> {
    if second.hash != first.hash
        && second.revision == first.revision
        && second.compacted == first.compacted
    {
        return Some(format!(
            "the leader's own hash changed at revision {} ({:#x} then {:#x})",
            first.revision, first.hash, second.hash
        ));
    }
    for peer in peers {
        let Ok(theirs) = &peer.answer else {
            continue;
        };
        let id = peer.id;
        if theirs.revision > second.revision {
            return Some(format!(
                "member {id:x} is at revision {}, after the leader's {}",
                theirs.revision, second.revision
            ));
        }
        if theirs.compacted > second.compacted {
            return Some(format!(
                "member {id:x} compacted at revision {}, after the leader's {}",
                theirs.compacted, second.compacted
            ));
        }
        if theirs.compacted == first.compacted && theirs.hash != first.hash {
            return Some(format!(
                "member {id:x} has hash {:#x} at revision {}, the leader {:#x}",
                theirs.hash, first.revision, first.hash
            ));
        }
    }
    None
}

/// The number of peers whose store differs from this member's at the same compacted
/// revision (etcd's `CheckInitialHashKV`).
pub fn initial_mismatches(mine: HashAt, peers: &[PeerHash]) -> usize {
    peers
        .iter()
        .filter(|p| {
            p.answer
                .as_ref()
                .is_ok_and(|theirs| theirs.hash != mine.hash && theirs.compacted == mine.compacted)
        })
        .count()
}

/// This member's HashKV now.
async fn own_hash(member: &MemberHandle) -> Result<HashAt, ApiError> {
    let (hash, revision, compacted) = member.hash_kv(0).await?;
    Ok(HashAt {
        hash,
        revision,
        compacted,
    })
}

/// Asks every other member of the cluster for its HashKV at `rev`.
async fn peer_hashes(member: &MemberHandle, rev: i64) -> Vec<PeerHash> {
    let mut answers = Vec::new();
    for peer in member.members() {
        if peer.id == member.identity.member_id {
            continue;
        }
        let answer = tokio::time::timeout(
            member.limits.request_timeout,
            peer_hash(member, peer.id, rev),
        )
        .await
        .unwrap_or_else(|_| Err("timed out".to_string()));
        answers.push(PeerHash {
            id: peer.id,
            answer,
        });
    }
    answers
}

async fn peer_hash(member: &MemberHandle, id: u64, rev: i64) -> Result<HashAt, String> {
    if let Some(local) = member.local_member(id) {
        let (hash, _, compacted) = local.hash_kv(rev).await.map_err(|e| e.to_string())?;
        return Ok(HashAt {
            hash,
            revision: local.applied().revision,
            compacted,
        });
    }
    let urls = member
        .members()
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| m.peer_urls)
        .unwrap_or_default();
    let query = crate::transport::codec::HashKvQuery {
        cluster_id: member.identity.cluster_id,
        revision: rev,
    };
    let mut last = "no peer URL".to_string();
    for url in urls {
        let asked = crate::transport::network::query_hash_kv(
            &url,
            member.peer_tls(),
            query,
            member.limits.request_timeout,
        );
        match asked.await {
            Ok(answer) => {
                return Ok(HashAt {
                    hash: answer.hash,
                    revision: answer.revision,
                    compacted: answer.compacted,
                });
            }
            Err(why) => last = format!("{url}: {why}"),
        }
    }
    Err(last)
}

/// One periodic check, on the leader: raises CORRUPT if [`judge`] finds a difference.
pub async fn check(member: &MemberHandle) -> Result<(), ApiError> {
    let first = own_hash(member).await?;
    let peers = peer_hashes(member, first.revision).await;
    member.linearizable_barrier().await?;
    let second = own_hash(member).await?;
    for peer in &peers {
        if let Err(why) = &peer.answer {
            eprintln!(
                "etcd-rs: corruption check: no hash from member {:x}: {why}",
                peer.id
            );
        }
    }
    let Some(why) = judge(first, second, &peers) else {
        return Ok(());
    };
    if corrupt_raised(&member.alarms) {
        // Raised already (etcd proposes it again; the result is the same).
        return Ok(());
    }
    eprintln!("etcd-rs: corruption check: {why}; raising the CORRUPT alarm");
    let request = pb::InternalRaftRequest {
        alarm: Some(pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Activate as i32,
            member_id: 0,
            alarm: pb::AlarmType::Corrupt as i32,
        }),
        ..Default::default()
    };
    member.propose_internal(request).await.map(|_| ())
}

/// The periodic check: every `interval`, if this member leads, [`check`]. Runs until
/// the task is aborted (the member's shutdown).
pub async fn monitor(member: MemberHandle, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if member.status().role != crate::raft::Role::Leader {
            continue;
        }
        if let Err(e) = check(&member).await {
            eprintln!("etcd-rs: corruption check failed: {e}");
        }
    }
}

/// The check before serving: `Err` (etcd's message) if a member's store differs from
/// this one's at the same compacted revision. A member with no applied entry yet (a new
/// one) has nothing to compare, as in etcd.
pub async fn initial_check(member: &MemberHandle) -> Result<(), String> {
    if member.applied().index.0 == 0 {
        return Ok(());
    }
    let mine = own_hash(member)
        .await
        .map_err(|e| format!("{:x} failed to fetch hash ({e})", member.identity.member_id))?;
    let peers = peer_hashes(member, mine.revision).await;
    for peer in &peers {
        match &peer.answer {
            Ok(theirs) if theirs.hash != mine.hash && theirs.compacted == mine.compacted => {
                eprintln!(
                    "etcd-rs: member {:x} has hash {:#x} at revision {}, this member {:#x}",
                    peer.id, theirs.hash, mine.revision, mine.hash
                );
            }
            Ok(_) => {}
            Err(why) => eprintln!(
                "etcd-rs: initial corruption check: no hash from member {:x}: {why}",
                peer.id
            ),
        }
    }
    if initial_mismatches(mine, &peers) > 0 {
        return Err(format!(
            "{:x} found data inconsistency with peers",
            member.identity.member_id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hash: u32, revision: i64, compacted: i64) -> HashAt {
        HashAt {
            hash,
            revision,
            compacted,
        }
    }

    fn peer(id: u64, answer: HashAt) -> PeerHash {
        PeerHash {
            id,
            answer: Ok(answer),
        }
    }

    #[test]
    fn equal_hashes_or_peers_that_cannot_answer_are_no_corruption() {
        let mine = at(7, 10, 2);
        assert_eq!(judge(mine, at(9, 12, 2), &[peer(2, at(7, 10, 2))]), None);
        let unreachable = PeerHash {
            id: 3,
            answer: Err("timed out".into()),
        };
        assert_eq!(judge(mine, mine, &[unreachable]), None);
        // A peer behind the leader's compaction hashes a different history: no verdict.
        assert_eq!(judge(mine, mine, &[peer(2, at(8, 10, 1))]), None);
    }

    #[test]
    fn a_different_hash_at_the_same_compaction_is_corruption() {
        let mine = at(7, 10, 2);
        let why = judge(mine, mine, &[peer(2, at(8, 10, 2))]).unwrap();
        assert!(why.contains("member 2 has hash"), "{why}");
    }

    #[test]
    fn a_peer_ahead_of_the_leader_is_corruption() {
        let mine = at(7, 10, 2);
        assert!(judge(mine, mine, &[peer(2, at(7, 11, 2))]).is_some());
        assert!(judge(mine, mine, &[peer(2, at(7, 10, 3))]).is_some());
    }

    #[test]
    fn the_leaders_own_hash_changing_at_the_same_revision_is_corruption() {
        assert!(judge(at(7, 10, 2), at(8, 10, 2), &[]).is_some());
        // The same revision after a compaction hashes less: not a change of data.
        assert_eq!(judge(at(7, 10, 2), at(8, 10, 5), &[]), None);
    }

    #[test]
    fn the_initial_check_counts_differences_at_the_same_compaction_only() {
        let mine = at(7, 10, 2);
        let peers = [
            peer(2, at(7, 10, 2)),
            peer(3, at(8, 10, 2)),
            peer(4, at(9, 10, 1)),
            PeerHash {
                id: 5,
                answer: Err("down".into()),
            },
        ];
        assert_eq!(initial_mismatches(mine, &peers), 1);
    }

    #[test]
    fn writes_are_refused_while_corrupt_and_reads_are_not() {
        let put = pb::InternalRaftRequest {
            put: Some(pb::PutRequest::default()),
            ..Default::default()
        };
        assert!(refused_while_corrupt(&put));
        let op = |request| pb::RequestOp {
            request: Some(request),
        };
        let read_only = pb::TxnRequest {
            success: vec![op(pb::request_op::Request::RequestRange(
                pb::RangeRequest::default(),
            ))],
            failure: vec![op(pb::request_op::Request::RequestTxn(pb::TxnRequest {
                success: vec![op(pb::request_op::Request::RequestRange(
                    pb::RangeRequest::default(),
                ))],
                ..Default::default()
            }))],
            ..Default::default()
        };
        let txn = |t: pb::TxnRequest| pb::InternalRaftRequest {
            txn: Some(t),
            ..Default::default()
        };
        assert!(!refused_while_corrupt(&txn(read_only.clone())));
        let mut nested_put = read_only;
        nested_put.failure = vec![op(pb::request_op::Request::RequestTxn(pb::TxnRequest {
            success: vec![op(pb::request_op::Request::RequestPut(
                pb::PutRequest::default(),
            ))],
            ..Default::default()
        }))];
        assert!(refused_while_corrupt(&txn(nested_put)));
        let alarm = pb::InternalRaftRequest {
            alarm: Some(pb::AlarmRequest::default()),
            ..Default::default()
        };
        assert!(!refused_while_corrupt(&alarm), "disarming must go through");
    }
}
