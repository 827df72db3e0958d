//! The Lessor's configuration and etcd's lease constants.

/// The largest TTL a grant may ask for, in seconds (etcd's `lease.MaxLeaseTTL`).
pub const MAX_LEASE_TTL_SECS: i64 = 9_000_000_000;

/// How many leases the leader may revoke per second (etcd's `defaultLeaseRevokeRate`,
/// 1000 in 3.4 and 3.5).
pub const DEFAULT_REVOKE_RATE_PER_SEC: usize = 1000;

/// How often etcd's lessor looks for expired leases and due checkpoints (the 500 ms
/// `time.After` of `lessor.runLoop`). The Lessor actor SHOULD tick at this interval.
pub const EXPIRY_CHECK_INTERVAL_MS: u64 = 500;

/// How many expired leases one check hands out: etcd's `revokeLimit = leaseRevokeRate /
/// 2` per 500 ms check, so at most [`DEFAULT_REVOKE_RATE_PER_SEC`] revokes a second.
pub const DEFAULT_REVOKE_BATCH_MAX: usize = DEFAULT_REVOKE_RATE_PER_SEC / 2;

/// How many checkpoints one `LeaseCheckpointRequest` carries (etcd's
/// `maxLeaseCheckpointBatchSize`).
pub const DEFAULT_CHECKPOINT_BATCH_MAX: usize = 1000;

/// How often the leader checkpoints a lease's remaining TTL through Raft (etcd's
/// `defaultLeaseCheckpointInterval`, 5 minutes; flag
/// `--experimental-lease-checkpoint-interval`).
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 5 * 60 * 1000;

/// etcd's default `--heartbeat-interval`, in milliseconds.
pub const DEFAULT_HEARTBEAT_MS: u64 = 100;

/// etcd's default election timeout in ticks (`--election-timeout` 1000 ms divided by
/// the heartbeat interval).
pub const DEFAULT_ELECTION_TICKS: u64 = 10;

/// The minimum TTL a lease is granted, in seconds, as etcd computes it in
/// `NewServer` (`etcdserver/server.go`):
/// `minTTL := time.Duration((3*cfg.ElectionTicks)/2) * heartbeat` then
/// `int64(math.Ceil(minTTL.Seconds()))`. Note the integer division of the ticks: with
/// etcd's defaults (10 ticks of 100 ms) it is ceil(1.5 s) = 2 s.
pub fn min_lease_ttl_secs(election_ticks: u64, heartbeat_ms: u64) -> i64 {
    let min_ttl_ms = (3 * election_ticks / 2).saturating_mul(heartbeat_ms);
    i64::try_from(min_ttl_ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// How long after offering an expired lease the leader offers it again if it is still
/// there (its revoke was lost), as etcd sets `ExpiredLeasesRetryInterval` to
/// `ServerConfig.ReqTimeout()`: 5 s plus two election timeouts.
pub fn expired_retry_interval_ms(election_ticks: u64, heartbeat_ms: u64) -> u64 {
    5000 + 2 * election_ticks.saturating_mul(heartbeat_ms)
}

/// etcd-rs's checkpoint interval (etcd's is [`DEFAULT_CHECKPOINT_INTERVAL_MS`]): etcd
/// checkpoints every 5 minutes, so a shorter lease restarts at its full TTL on a new
/// leader; every 5 seconds, a lease keeps its remaining TTL (to within 5 s) across a
/// leader change, for one proposal per 5 s per 1,000 leases.
pub const ETCD_RS_CHECKPOINT_INTERVAL_MS: u64 = 5_000;

/// The Lessor's configuration. [`Default`] is etcd's with default flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessorConfig {
    /// A grant asking for less is raised to this, in seconds; so are restored leases.
    /// Never below 1 in effect: a lease of 0 s would be revoked before its grant answers.
    pub min_ttl_secs: i64,
    /// Whether the leader checkpoints remaining TTLs so they survive a leader change and
    /// a restart (etcd's `--experimental-enable-lease-checkpoint` plus
    /// `--experimental-enable-lease-checkpoint-persist`). On by default in etcd-rs
    /// (issue 4); off, a new leader restarts every lease at its full TTL, as etcd 3.4
    /// does by default.
    pub checkpointing: bool,
    /// How often the leader checkpoints a lease's remaining TTL, in milliseconds. Only
    /// leases whose TTL is longer than this are checkpointed (a shorter one expires or
    /// is renewed before its checkpoint would be due).
    pub checkpoint_interval_ms: u64,
    /// How long after offering an expired lease to revoke it is offered again if it is
    /// still granted, in milliseconds.
    pub expired_retry_interval_ms: u64,
    /// How many leases the leader revokes per second at most; a promotion spreads the
    /// deadlines of piled-up leases so that at most 3/4 of this expire in any second.
    pub revoke_rate_per_sec: usize,
}

impl LessorConfig {
    /// etcd's configuration for the given Raft timing (`--election-timeout` divided by
    /// `--heartbeat-interval` ticks, and the heartbeat interval).
    pub fn for_raft_timing(election_ticks: u64, heartbeat_ms: u64) -> LessorConfig {
        LessorConfig {
            min_ttl_secs: min_lease_ttl_secs(election_ticks, heartbeat_ms),
            checkpointing: true,
            checkpoint_interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
            expired_retry_interval_ms: expired_retry_interval_ms(election_ticks, heartbeat_ms),
            revoke_rate_per_sec: DEFAULT_REVOKE_RATE_PER_SEC,
        }
    }
}

impl Default for LessorConfig {
    fn default() -> LessorConfig {
        LessorConfig::for_raft_timing(DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ttl_is_ceil_of_one_and_a_half_election_timeouts_in_whole_ticks() {
        // etcd defaults: 10 ticks of 100 ms: (3*10)/2 = 15 ticks = 1.5 s, ceil 2 s.
        assert_eq!(min_lease_ttl_secs(10, 100), 2);
        // 5 ticks: (3*5)/2 = 7 (integer division), 7 * 100 ms = 0.7 s, ceil 1 s.
        assert_eq!(min_lease_ttl_secs(5, 100), 1);
        // 10 ticks of 200 ms: 15 * 0.2 = 3 s exactly.
        assert_eq!(min_lease_ttl_secs(10, 200), 3);
        // 50 ticks of 100 ms (a 5 s election timeout): 7.5 s, ceil 8 s.
        assert_eq!(min_lease_ttl_secs(50, 100), 8);
    }

    #[test]
    fn default_config_is_etcds_with_default_flags() {
        let config = LessorConfig::default();
        assert_eq!(config.min_ttl_secs, 2);
        assert_eq!(config.expired_retry_interval_ms, 7000);
        assert_eq!(config.checkpoint_interval_ms, 300_000);
        assert_eq!(config.revoke_rate_per_sec, 1000);
        assert!(config.checkpointing);
        assert_eq!(DEFAULT_REVOKE_BATCH_MAX, 500);
    }
}
