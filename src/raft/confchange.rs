//! Membership changes: entering and leaving a joint configuration, simple one-voter
//! changes, and learners. A [`Changer`] computes the next configuration and progress map
//! without touching the tracker, so an invalid change leaves everything as it was.

use std::collections::{BTreeMap, BTreeSet};

use super::errors::{Error, Result};
use super::progress::{Progress, TrackerConfig};
use super::types::{ConfChangeSingle, ConfChangeType, ConfState, LogIndex, NodeId};

/// Computes configuration changes against a copy of the current configuration.
pub struct Changer<'a> {
    /// The configuration in force.
    pub config: &'a TrackerConfig,
    /// The progress of its members.
    pub progress: &'a BTreeMap<NodeId, Progress>,
    /// The leader's last log index (new members start probing after it).
    pub last_index: LogIndex,
    /// The in-flight window of new progresses.
    pub max_inflight: usize,
}

/// A new configuration and the progress of its members.
pub type Changed = (TrackerConfig, BTreeMap<NodeId, Progress>);

impl Changer<'_> {
    /// Enters a joint configuration: the current voters become the outgoing half and the
    /// changes are applied to the incoming half.
    pub fn enter_joint(&self, auto_leave: bool, changes: &[ConfChangeSingle]) -> Result<Changed> {
        let (mut config, mut progress) = self.checked_copy()?;
        if config.voters.is_joint() {
            return Err(Error::ConfChange("config is already joint".into()));
        }
        if config.voters.incoming.is_empty() {
            return Err(Error::ConfChange(
                "can't make a zero-voter config joint".into(),
            ));
        }
        config.voters.outgoing = config.voters.incoming.clone();
        self.apply(&mut config, &mut progress, changes)?;
        config.auto_leave = auto_leave;
        check_invariants(&config, &progress)?;
        Ok((config, progress))
    }

    /// Leaves the joint configuration: outgoing-only voters are dropped and
    /// `learners_next` become learners.
    pub fn leave_joint(&self) -> Result<Changed> {
        let (mut config, mut progress) = self.checked_copy()?;
        if !config.voters.is_joint() {
            return Err(Error::ConfChange("can't leave a non-joint config".into()));
        }
        for id in std::mem::take(&mut config.learners_next) {
            config.learners.insert(id);
            if let Some(p) = progress.get_mut(&id) {
                p.is_learner = true;
            }
        }
        for id in std::mem::take(&mut config.voters.outgoing) {
            if !config.voters.incoming.contains(&id) && !config.learners.contains(&id) {
                progress.remove(&id);
            }
        }
        config.auto_leave = false;
        check_invariants(&config, &progress)?;
        Ok((config, progress))
    }

    /// Applies changes that alter at most one voter, without a joint configuration.
    pub fn simple(&self, changes: &[ConfChangeSingle]) -> Result<Changed> {
        let (mut config, mut progress) = self.checked_copy()?;
        if config.voters.is_joint() {
            return Err(Error::ConfChange(
                "can't apply simple config change in joint config".into(),
            ));
        }
        self.apply(&mut config, &mut progress, changes)?;
        let changed = self
            .config
            .voters
            .incoming
            .symmetric_difference(&config.voters.incoming)
            .count();
        if changed > 1 {
            return Err(Error::ConfChange(
                "more than one voter changed without entering joint config".into(),
            ));
        }
        check_invariants(&config, &progress)?;
        Ok((config, progress))
    }

    fn checked_copy(&self) -> Result<Changed> {
        check_invariants(self.config, self.progress)?;
        Ok((self.config.clone(), self.progress.clone()))
    }

    fn apply(
        &self,
        config: &mut TrackerConfig,
        progress: &mut BTreeMap<NodeId, Progress>,
        changes: &[ConfChangeSingle],
    ) -> Result<()> {
        for change in changes {
            if change.node_id.is_none() {
                // etcd ignores changes to node 0 (they carry no member).
                continue;
            }
            match change.change_type {
                ConfChangeType::AddNode => self.make_voter(config, progress, change.node_id),
                ConfChangeType::AddLearnerNode => {
                    self.make_learner(config, progress, change.node_id)
                }
                ConfChangeType::RemoveNode => remove(config, progress, change.node_id),
            }
        }
        if config.voters.incoming.is_empty() {
            return Err(Error::ConfChange("removed all voters".into()));
        }
        Ok(())
    }

    fn new_progress(&self, is_learner: bool) -> Progress {
        let mut progress = Progress::new(self.last_index.next(), self.max_inflight);
        progress.is_learner = is_learner;
        // A new member counts as active, or check-quorum would depose the leader before
        // the member had a chance to answer.
        progress.recent_active = true;
        progress
    }

    fn make_voter(
        &self,
        config: &mut TrackerConfig,
        progress: &mut BTreeMap<NodeId, Progress>,
        id: NodeId,
    ) {
        progress
            .entry(id)
            .or_insert_with(|| self.new_progress(false))
            .is_learner = false;
        config.learners.remove(&id);
        config.learners_next.remove(&id);
        config.voters.incoming.insert(id);
    }

    fn make_learner(
        &self,
        config: &mut TrackerConfig,
        progress: &mut BTreeMap<NodeId, Progress>,
        id: NodeId,
    ) {
        let Some(existing) = progress.get(&id).cloned() else {
            progress.insert(id, self.new_progress(true));
            config.learners.insert(id);
            return;
        };
        if existing.is_learner {
            return;
        }
        // A voter being demoted: drop it as a voter but keep its progress.
        remove(config, progress, id);
        let mut kept = existing;
        if config.voters.outgoing.contains(&id) {
            // Still an outgoing voter: it becomes a learner when the joint config is left.
            kept.is_learner = false;
            config.learners_next.insert(id);
        } else {
            kept.is_learner = true;
            config.learners.insert(id);
        }
        progress.insert(id, kept);
    }
}

fn remove(config: &mut TrackerConfig, progress: &mut BTreeMap<NodeId, Progress>, id: NodeId) {
    config.voters.incoming.remove(&id);
    config.learners.remove(&id);
    config.learners_next.remove(&id);
    // An outgoing voter keeps its progress until the joint configuration is left.
    if !config.voters.outgoing.contains(&id) {
        progress.remove(&id);
    }
}

/// Checks that every member has a progress with the right learner flag and that voters
/// and learners do not overlap.
pub fn check_invariants(
    config: &TrackerConfig,
    progress: &BTreeMap<NodeId, Progress>,
) -> Result<()> {
    let fail = |what: String| Err(Error::ConfChange(what));
    let members: BTreeSet<NodeId> = config
        .voters
        .ids()
        .into_iter()
        .chain(config.learners.iter().copied())
        .chain(config.learners_next.iter().copied())
        .collect();
    for id in &members {
        if !progress.contains_key(id) {
            return fail(format!("no progress for {id}"));
        }
    }
    for id in &config.learners_next {
        if !config.voters.outgoing.contains(id) {
            return fail(format!(
                "{id} is in learners_next but not in outgoing voters"
            ));
        }
        if progress[id].is_learner {
            return fail(format!("{id} is in learners_next but is already a learner"));
        }
    }
    for id in &config.learners {
        if config.voters.contains(*id) {
            return fail(format!("{id} is both a learner and a voter"));
        }
        if !progress[id].is_learner {
            return fail(format!("{id} is a learner but its progress says voter"));
        }
    }
    if !config.voters.is_joint() {
        if !config.learners_next.is_empty() {
            return fail("learners_next must be empty outside a joint config".into());
        }
        if config.auto_leave {
            return fail("auto_leave must be false outside a joint config".into());
        }
    }
    Ok(())
}

/// Rebuilds the configuration and fresh progresses from a persisted [`ConfState`].
pub fn restore(
    conf_state: &ConfState,
    last_index: LogIndex,
    max_inflight: usize,
) -> Result<Changed> {
    let mut config = TrackerConfig {
        voters: super::quorum::JointConfig {
            incoming: conf_state.voters.clone(),
            outgoing: conf_state.voters_outgoing.clone(),
        },
        learners: conf_state.learners.clone(),
        learners_next: conf_state.learners_next.clone(),
        auto_leave: conf_state.auto_leave && !conf_state.voters_outgoing.is_empty(),
    };
    if !config.voters.is_joint() {
        config.learners_next.clear();
    }
    let mut progress = BTreeMap::new();
    for id in config.voters.ids().iter().chain(&config.learners_next) {
        let mut p = Progress::new(last_index.next(), max_inflight);
        p.recent_active = true;
        progress.insert(*id, p);
    }
    for id in &config.learners {
        let mut p = Progress::new(last_index.next(), max_inflight);
        p.recent_active = true;
        p.is_learner = true;
        progress.insert(*id, p);
    }
    check_invariants(&config, &progress)?;
    Ok((config, progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(change_type: ConfChangeType, id: u64) -> ConfChangeSingle {
        ConfChangeSingle {
            change_type,
            node_id: NodeId(id),
        }
    }

    fn start(voters: &[u64]) -> Changed {
        restore(
            &ConfState::with_voters(voters.iter().map(|&i| NodeId(i))),
            LogIndex(10),
            8,
        )
        .unwrap()
    }

    #[test]
    fn joint_change_keeps_outgoing_voters_until_left() {
        let (config, progress) = start(&[1, 2, 3]);
        let changer = Changer {
            config: &config,
            progress: &progress,
            last_index: LogIndex(10),
            max_inflight: 8,
        };
        let (joint, joint_progress) = changer
            .enter_joint(
                true,
                &[
                    change(ConfChangeType::RemoveNode, 3),
                    change(ConfChangeType::AddNode, 4),
                    change(ConfChangeType::AddLearnerNode, 2),
                ],
            )
            .unwrap();
        assert!(joint.voters.is_joint());
        assert!(joint.learners_next.contains(&NodeId(2)));
        assert!(joint_progress.contains_key(&NodeId(3)));
        let changer = Changer {
            config: &joint,
            progress: &joint_progress,
            last_index: LogIndex(10),
            max_inflight: 8,
        };
        let (left, left_progress) = changer.leave_joint().unwrap();
        assert!(!left.voters.is_joint());
        assert_eq!(
            left.voters.incoming,
            [NodeId(1), NodeId(4)].into_iter().collect()
        );
        assert!(left.learners.contains(&NodeId(2)));
        assert!(left_progress[&NodeId(2)].is_learner);
        assert!(!left_progress.contains_key(&NodeId(3)));
    }

    #[test]
    fn simple_change_refuses_two_voters_and_removing_everyone() {
        let (config, progress) = start(&[1, 2, 3]);
        let changer = Changer {
            config: &config,
            progress: &progress,
            last_index: LogIndex(10),
            max_inflight: 8,
        };
        assert!(
            changer
                .simple(&[
                    change(ConfChangeType::AddNode, 4),
                    change(ConfChangeType::AddNode, 5)
                ])
                .is_err()
        );
        assert!(
            changer
                .simple(&[change(ConfChangeType::AddNode, 4)])
                .is_ok()
        );
        let (single, single_progress) = start(&[1]);
        let changer = Changer {
            config: &single,
            progress: &single_progress,
            last_index: LogIndex(10),
            max_inflight: 8,
        };
        assert!(
            changer
                .simple(&[change(ConfChangeType::RemoveNode, 1)])
                .is_err()
        );
        assert!(changer.leave_joint().is_err());
    }
}
