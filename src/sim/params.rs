//! Everything a seed decides before the run starts: cluster size, timeouts, and how
//! hostile the network, the disks and the operators are.

use crate::raft::SeededRng;

/// The parameters of one simulated run, all drawn from its seed.
#[derive(Clone, Debug)]
pub struct Params {
    /// Voters at the start: 3, 5 or 7.
    pub members: usize,
    /// Election timeout (randomized by the core between this and twice this).
    pub election_ticks: u64,
    /// Heartbeat interval.
    pub heartbeat_ticks: u64,
    /// Whether members run pre-vote.
    pub pre_vote: bool,
    /// Whether leaders step down without a quorum.
    pub check_quorum: bool,
    /// Steps of the safety phase (faults on).
    pub safety_steps: u64,
    /// The bound of the liveness phase: the cluster must converge within it.
    pub liveness_steps_max: u64,
    /// Chance per mille that a message is lost.
    pub drop_per_mille: u64,
    /// Chance per mille that a message is delivered twice.
    pub dup_per_mille: u64,
    /// Messages take 1 to this many steps (so they overtake one another).
    pub delay_steps_max: u64,
    /// Chance per mille per step that a member crashes.
    pub crash_per_mille: u64,
    /// How long a crashed member stays down, at most. Half of all crashes are quick
    /// restarts (a few steps: a process restarted by its supervisor), which is what
    /// catches state that should have been persisted before a reply.
    pub down_steps_max: u64,
    /// The largest append message, in bytes (a message holds at least one entry, so a
    /// tiny limit sends one entry per message).
    pub max_size_per_msg_bytes: u64,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// Chance per mille per step of a partition change (cut or heal).
    pub partition_per_mille: u64,
    /// Chance per mille per step of a membership change proposal.
    pub conf_change_per_mille: u64,
    /// Chance per mille per step of a leadership transfer.
    pub transfer_per_mille: u64,
    /// A member snapshots and compacts its log every this many applied entries.
    pub snapshot_every_entries: u64,
    /// Concurrent clients.
    pub clients: u64,
    /// Keys the clients share (few, so that they contend).
    pub keys: u64,
    /// Chance per mille per step that an idle client issues an operation.
    pub client_op_per_mille: u64,
    /// A client gives up on an operation after this many steps.
    pub request_timeout_steps: u64,
}

impl Params {
    /// Draws the parameters of `seed`'s run.
    pub fn from_rng(rng: &mut SeededRng) -> Params {
        let election_ticks = rng.range(8, 21);
        Params {
            members: [3, 5, 7][rng.range(0, 3) as usize],
            election_ticks,
            heartbeat_ticks: rng.range(1, 4),
            pre_vote: rng.chance(3, 4),
            check_quorum: rng.chance(3, 4),
            safety_steps: rng.range(1500, 3000),
            liveness_steps_max: 100 * election_ticks,
            drop_per_mille: [0, 10, 50, 150][rng.range(0, 4) as usize],
            dup_per_mille: [0, 10, 50][rng.range(0, 3) as usize],
            delay_steps_max: rng.range(1, 9),
            crash_per_mille: [0, 2, 5, 10, 30][rng.range(0, 5) as usize],
            down_steps_max: rng.range(20, 300),
            max_size_per_msg_bytes: [1, 200, 4096, 1 << 20][rng.range(0, 4) as usize],
            max_inflight_msgs: [1, 2, 8, 256][rng.range(0, 4) as usize],
            partition_per_mille: [0, 3, 10][rng.range(0, 3) as usize],
            conf_change_per_mille: [0, 3, 8][rng.range(0, 3) as usize],
            transfer_per_mille: [0, 2, 5][rng.range(0, 3) as usize],
            snapshot_every_entries: rng.range(5, 80),
            clients: rng.range(2, 6),
            keys: rng.range(1, 5),
            client_op_per_mille: rng.range(100, 700),
            request_timeout_steps: rng.range(40, 200),
        }
    }
}
