//! The cluster's members as applied through Raft: who is a voter or a learner, with
//! which peer URLs, and which ids were removed for good (etcd never reuses one).
//!
//! Membership changes travel as raft conf changes whose context is a
//! [`ConfContext`] (JSON: the request id the proposer waits on, and the member in
//! etcd's `membership.Member` JSON shape). The Applier applies them in log order
//! and persists the whole [`Membership`] in the store's meta in the same batch, so
//! it survives restarts and travels with snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::raft::{ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, NodeId};

/// One member, in etcd's JSON shape (`membership.Member`, without the attributes a
/// member publishes itself).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member id.
    pub id: u64,
    /// Its peer URLs.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    /// Its name, as the initial cluster names it (empty for a member added later,
    /// until it publishes its own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Whether it is a learner.
    #[serde(rename = "isLearner", default, skip_serializing_if = "is_false")]
    pub is_learner: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a membership change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Add a voter.
    Add,
    /// Add a learner.
    AddLearner,
    /// Promote a learner to voter.
    Promote,
    /// Remove a member.
    Remove,
    /// Change a member's peer URLs.
    Update,
}

/// The context of a membership conf change: what the Applier records, and whom it
/// answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfContext {
    /// The proposer's request id.
    pub request_id: u64,
    /// The change.
    pub kind: ChangeKind,
    /// The member, after the change.
    pub member: Member,
}

impl ConfContext {
    /// The raft conf change carrying this context; None for an update, which changes
    /// no raft configuration (it travels as a normal entry, `member_update`).
    pub fn to_conf_change(&self) -> Option<ConfChange> {
        let change_type = match self.kind {
            ChangeKind::Add | ChangeKind::Promote => ConfChangeType::AddNode,
            ChangeKind::AddLearner => ConfChangeType::AddLearnerNode,
            ChangeKind::Remove => ConfChangeType::RemoveNode,
            ChangeKind::Update => return None,
        };
        Some(ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![ConfChangeSingle {
                change_type,
                node_id: NodeId(self.member.id),
            }],
            context: self.encode(),
        })
    }

    /// JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a context always serializes")
    }

    /// From JSON bytes.
    pub fn decode(bytes: &[u8]) -> Result<ConfContext, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("membership change context: {e}"))
    }
}

/// What a member tells one joining the cluster: the cluster id and the members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster id.
    pub cluster_id: u64,
    /// The members.
    pub members: Vec<Member>,
}

impl ClusterInfo {
    /// JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("cluster info always serializes")
    }

    /// From JSON bytes.
    pub fn decode(bytes: &[u8]) -> Result<ClusterInfo, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("cluster info: {e}"))
    }
}

/// The members, and the ids removed for good.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The members by id.
    pub members: BTreeMap<u64, Member>,
    /// Ids removed (never to come back).
    pub removed: BTreeSet<u64>,
}

/// The membership one member knows, shared by its actors and the API layer.
pub type SharedMembership = Arc<RwLock<Membership>>;

/// etcd's membership errors (gRPC code and message, byte for byte). A removed id is
/// "not found", as etcd's gRPC layer maps `ErrIDRemoved`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// `ErrGRPCMemberNotFound`.
    #[error("etcdserver: member not found")]
    NotFound,
    /// `ErrGRPCMemberExist`.
    #[error("etcdserver: member ID already exist")]
    IdExists,
    /// `ErrGRPCPeerURLExist`.
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    /// `ErrGRPCMemberBadURLs`.
    #[error("etcdserver: given member URLs are invalid")]
    BadUrls,
    /// `ErrGRPCMemberNotEnoughStarted`.
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStarted,
    /// `ErrGRPCUnhealthy`: the leader is not connected to the members a change needs.
    #[error("etcdserver: unhealthy cluster")]
    Unhealthy,
    /// `ErrGRPCMemberNotLearner`.
    #[error("etcdserver: can only promote a learner member")]
    NotLearner,
    /// `ErrGRPCLearnerNotReady`.
    #[error("etcdserver: can only promote a learner member which is in sync with leader")]
    LearnerNotReady,
    /// `ErrGRPCTooManyLearners`.
    #[error("etcdserver: too many learner members in cluster")]
    TooManyLearners,
}

/// etcd's limit on learners (`maxLearners`).
pub const MAX_LEARNERS: usize = 1;

/// A learner may be promoted once it has this share of the leader's log (etcd's
/// `readyPercent`).
pub const LEARNER_READY_PERCENT: f64 = 0.9;

impl Membership {
    /// The initial cluster: every member a voter.
    pub fn bootstrap(members: impl IntoIterator<Item = Member>) -> Membership {
        Membership {
            members: members.into_iter().map(|m| (m.id, m)).collect(),
            removed: BTreeSet::new(),
        }
    }

    /// The voters' ids.
    pub fn voters(&self) -> impl Iterator<Item = u64> + '_ {
        self.members
            .values()
            .filter(|m| !m.is_learner)
            .map(|m| m.id)
    }

    /// Whether any member (other than `except`) uses one of `urls`.
    fn urls_taken(&self, urls: &[String], except: Option<u64>) -> bool {
        self.members
            .values()
            .filter(|m| Some(m.id) != except)
            .any(|m| m.peer_urls.iter().any(|u| urls.contains(u)))
    }

    /// etcd's checks before proposing an add (`ValidateConfigurationChange`).
    pub fn check_add(&self, member: &Member) -> Result<(), MembershipError> {
        if self.removed.contains(&member.id) {
            return Err(MembershipError::NotFound);
        }
        if self.members.contains_key(&member.id) {
            return Err(MembershipError::IdExists);
        }
        if self.urls_taken(&member.peer_urls, None) {
            return Err(MembershipError::PeerUrlExists);
        }
        if member.is_learner
            && self.members.values().filter(|m| m.is_learner).count() >= MAX_LEARNERS
        {
            return Err(MembershipError::TooManyLearners);
        }
        Ok(())
    }

    /// etcd's checks before proposing a removal.
    pub fn check_remove(&self, id: u64) -> Result<(), MembershipError> {
        if self.removed.contains(&id) {
            return Err(MembershipError::NotFound);
        }
        if !self.members.contains_key(&id) {
            return Err(MembershipError::NotFound);
        }
        Ok(())
    }

    /// etcd's checks before proposing a promotion (readiness is checked by the
    /// leader, against its log).
    pub fn check_promote(&self, id: u64) -> Result<(), MembershipError> {
        match self.members.get(&id) {
            None => Err(MembershipError::NotFound),
            Some(m) if !m.is_learner => Err(MembershipError::NotLearner),
            Some(_) => Ok(()),
        }
    }

    /// etcd's checks before proposing an update of peer URLs.
    pub fn check_update(&self, id: u64, urls: &[String]) -> Result<(), MembershipError> {
        if self.removed.contains(&id) {
            return Err(MembershipError::NotFound);
        }
        if !self.members.contains_key(&id) {
            return Err(MembershipError::NotFound);
        }
        if self.urls_taken(urls, Some(id)) {
            return Err(MembershipError::PeerUrlExists);
        }
        Ok(())
    }

    /// Applies a committed change. A change that no longer fits (proposed twice, or
    /// racing another) changes nothing and says why.
    pub fn apply(&mut self, context: &ConfContext) -> Result<(), MembershipError> {
        let member = &context.member;
        match context.kind {
            ChangeKind::Add | ChangeKind::AddLearner => {
                if self.removed.contains(&member.id) {
                    return Err(MembershipError::NotFound);
                }
                if self.members.contains_key(&member.id) {
                    return Err(MembershipError::IdExists);
                }
                let mut member = member.clone();
                member.is_learner = context.kind == ChangeKind::AddLearner;
                self.members.insert(member.id, member);
            }
            ChangeKind::Promote => {
                let Some(existing) = self.members.get_mut(&member.id) else {
                    return Err(MembershipError::NotFound);
                };
                existing.is_learner = false;
            }
            ChangeKind::Remove => {
                if self.members.remove(&member.id).is_none() {
                    return Err(MembershipError::NotFound);
                }
                self.removed.insert(member.id);
            }
            ChangeKind::Update => {
                let Some(existing) = self.members.get_mut(&member.id) else {
                    return Err(MembershipError::NotFound);
                };
                existing.peer_urls = member.peer_urls.clone();
            }
        }
        Ok(())
    }

    /// JSON bytes, as persisted.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a membership always serializes")
    }

    /// From persisted JSON bytes.
    pub fn decode(bytes: &[u8]) -> Result<Membership, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("membership: {e}"))
    }
}

/// etcd's id for a member added at `unix_secs` (`membership.NewMember` with the time
/// and no cluster name): re-adding the same URLs later gives a new id.
pub fn new_member_id(peer_urls: &[String], unix_secs: u64) -> u64 {
    crate::config::member_id(peer_urls, &unix_secs.to_string()).0
}

/// Whether `url` is a peer URL etcd accepts (`types.NewURLs`: a scheme, a host and a
/// port, no path).
pub fn valid_peer_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return false;
    };
    !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, url: &str) -> Member {
        Member {
            id,
            peer_urls: vec![url.to_string()],
            name: format!("m{id}"),
            is_learner: false,
        }
    }

    fn change(kind: ChangeKind, member: Member) -> ConfContext {
        ConfContext {
            request_id: 7,
            kind,
            member,
        }
    }

    #[test]
    fn add_promote_update_remove() {
        let mut m = Membership::bootstrap([member(1, "http://a:1"), member(2, "http://b:1")]);
        let learner = member(3, "http://c:1");
        assert_eq!(
            m.check_add(&member(4, "http://a:1")),
            Err(MembershipError::PeerUrlExists)
        );
        assert_eq!(
            m.check_add(&member(1, "http://z:1")),
            Err(MembershipError::IdExists)
        );
        m.apply(&change(ChangeKind::AddLearner, learner.clone()))
            .unwrap();
        assert!(m.members[&3].is_learner);
        let mut second = member(4, "http://d:1");
        second.is_learner = true;
        assert_eq!(m.check_add(&second), Err(MembershipError::TooManyLearners));
        assert_eq!(m.check_promote(1), Err(MembershipError::NotLearner));
        assert_eq!(m.check_promote(9), Err(MembershipError::NotFound));
        m.apply(&change(ChangeKind::Promote, learner)).unwrap();
        assert_eq!(m.voters().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(
            m.check_update(3, &["http://a:1".to_string()]),
            Err(MembershipError::PeerUrlExists)
        );
        m.apply(&change(ChangeKind::Update, member(3, "http://e:1")))
            .unwrap();
        assert_eq!(m.members[&3].peer_urls, vec!["http://e:1".to_string()]);
        m.apply(&change(ChangeKind::Remove, member(2, ""))).unwrap();
        assert_eq!(m.check_remove(2), Err(MembershipError::NotFound));
        assert_eq!(
            m.check_add(&member(2, "http://f:1")),
            Err(MembershipError::NotFound)
        );
        assert_eq!(
            m.apply(&change(ChangeKind::Remove, member(2, ""))),
            Err(MembershipError::NotFound)
        );
        assert_eq!(Membership::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn context_round_trips_in_etcds_member_shape() {
        let context = change(ChangeKind::AddLearner, member(5, "http://x:2380"));
        let json = String::from_utf8(context.encode()).unwrap();
        assert!(json.contains(r#""peerURLs":["http://x:2380"]"#), "{json}");
        assert_eq!(ConfContext::decode(json.as_bytes()).unwrap(), context);
        let conf = context.to_conf_change().unwrap();
        assert_eq!(conf.changes[0].change_type, ConfChangeType::AddLearnerNode);
        assert_eq!(ConfContext::decode(&conf.context).unwrap(), context);
    }

    #[test]
    fn new_ids_depend_on_time_and_urls() {
        let urls = vec!["http://127.0.0.1:2380".to_string()];
        assert_ne!(new_member_id(&urls, 1), new_member_id(&urls, 2));
        assert_eq!(new_member_id(&urls, 1), new_member_id(&urls, 1));
    }

    #[test]
    fn peer_urls_are_checked_as_etcd_does() {
        assert!(valid_peer_url("http://127.0.0.1:2380"));
        assert!(valid_peer_url("https://host:1"));
        assert!(!valid_peer_url("127.0.0.1:2380"));
        assert!(!valid_peer_url("http://host"));
        assert!(!valid_peer_url("http://host:port"));
        assert!(!valid_peer_url("http://:2380"));
    }
}
