//! The configuration of one member's Raft core.

use super::errors::{Error, Result};
use super::types::{LogIndex, NodeId};

/// How one member's Raft core behaves. Build with [`Config::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// This member's id. MUST NOT be [`NodeId::NONE`].
    pub id: NodeId,
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout
    /// is drawn from `[election_ticks, 2 * election_ticks)` at every term change.
    pub election_ticks: u64,
    /// Ticks between a leader's heartbeats. MUST be smaller than `election_ticks`.
    pub heartbeat_ticks: u64,
    /// The index up to which the state machine has applied entries when the member
    /// (re)starts. Entries up to here are not handed out again.
    pub applied: LogIndex,
    /// The most bytes of entries sent in one `Append` message (at least one entry is
    /// always sent).
    pub max_size_per_msg_bytes: u64,
    /// The most `Append` messages in flight to one follower in the replicate state.
    pub max_inflight_msgs: usize,
    /// The most bytes of committed entries handed out in one `Ready`.
    pub max_committed_size_per_ready_bytes: u64,
    /// Ask a quorum "would you vote for me?" before campaigning, so a member that was
    /// partitioned away does not disrupt the cluster when it returns.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down,
    /// and followers that hear from a leader ignore vote requests for that long.
    pub check_quorum: bool,
    /// The seed of this member's random election timeouts.
    pub seed: u64,
}

impl Config {
    /// Defaults close to etcd's: 10 election ticks, 1 heartbeat tick, pre-vote and
    /// check-quorum on.
    pub fn new(id: NodeId) -> Config {
        Config {
            id,
            election_ticks: 10,
            heartbeat_ticks: 1,
            applied: LogIndex(0),
            max_size_per_msg_bytes: 1024 * 1024,
            max_inflight_msgs: 256,
            max_committed_size_per_ready_bytes: 16 * 1024 * 1024,
            pre_vote: true,
            check_quorum: true,
            seed: id.0,
        }
    }

    /// Checks the configuration, with a plain-English error for the first problem.
    pub fn validate(&self) -> Result<()> {
        if self.id.is_none() {
            return Err(Error::Config("cannot use none as id".into()));
        }
        if self.heartbeat_ticks == 0 {
            return Err(Error::Config(
                "heartbeat tick must be greater than 0".into(),
            ));
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(Error::Config(
                "election tick must be greater than heartbeat tick".into(),
            ));
        }
        if self.max_inflight_msgs == 0 {
            return Err(Error::Config(
                "max inflight messages must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_none_id_and_election_not_above_heartbeat() {
        assert!(Config::new(NodeId(1)).validate().is_ok());
        assert!(Config::new(NodeId::NONE).validate().is_err());
        let mut config = Config::new(NodeId(1));
        config.election_ticks = 1;
        assert!(config.validate().is_err());
    }
}
