//! Automatic compaction, as etcd's `v3compactor` does it (`--auto-compaction-mode`,
//! `--auto-compaction-retention`). Every member runs the schedule; only the leader
//! proposes (etcd pauses the compactor of a member that does not lead). A compaction
//! is an ordinary raft request, applied on every member alike.
//!
//! - **periodic** (retention a duration, or whole hours): keep that much history. The
//!   current revision is recorded every tenth of the period (of an hour at most); once a
//!   period has passed since the start, the member compacts to the revision recorded a
//!   period ago, and then again every period (every hour at most).
//! - **revision** (retention a number of revisions): every 5 minutes, compact to the
//!   current revision minus the retention, if that moved.
//!
//! A compaction that finds the revision compacted already counts as done, as in etcd.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::handle::{ApiError, MemberHandle};
use crate::config::AutoCompaction;
use crate::pb::etcdserverpb as pb;

/// The longest wait between two periodic compactions (etcd's `getCompactInterval`).
const MAX_COMPACT_INTERVAL: Duration = Duration::from_secs(3600);
/// Revisions are recorded this many times per compaction interval.
const RETRY_DIVISOR: u32 = 10;
/// How often the revision mode looks (etcd's `revInterval`).
pub const REVISION_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The periodic schedule: which revision to compact to, and when.
#[derive(Debug)]
pub struct Periodic {
    period: Duration,
    /// The revisions recorded, oldest first: the first is the one a period ago.
    revisions: VecDeque<i64>,
    retentions: usize,
    /// How long to wait after the last success (the period at first, then the
    /// compaction interval).
    wait: Duration,
    last_success: Instant,
    last_revision: i64,
}

impl Periodic {
    /// The schedule of `period`, started at `now`.
    pub fn new(period: Duration, now: Instant) -> Periodic {
        let mut schedule = Periodic {
            period,
            revisions: VecDeque::new(),
            retentions: 0,
            wait: period,
            last_success: now,
            last_revision: 0,
        };
        schedule.retentions = (period.as_nanos() / schedule.step().as_nanos().max(1)) as usize + 1;
        schedule
    }

    /// How often the revision is recorded and compaction considered: a tenth of the
    /// period, of an hour at most.
    pub fn step(&self) -> Duration {
        self.period.min(MAX_COMPACT_INTERVAL) / RETRY_DIVISOR
    }

    /// Records the current revision (once per [`Periodic::step`]).
    pub fn record(&mut self, revision: i64) {
        self.revisions.push_back(revision);
        if self.revisions.len() > self.retentions {
            self.revisions.pop_front();
        }
    }

    /// The revision to compact to now, if one is due.
    pub fn due(&mut self, now: Instant) -> Option<i64> {
        let revision = *self.revisions.front()?;
        if now.duration_since(self.last_success) < self.wait
            || revision == self.last_revision
            || revision <= 0
        {
            return None;
        }
        self.wait = self.period.min(MAX_COMPACT_INTERVAL);
        Some(revision)
    }

    /// Records that the compaction to `revision` is done (or was already).
    pub fn compacted(&mut self, revision: i64, now: Instant) {
        self.last_revision = revision;
        self.last_success = now;
    }
}

/// The revision mode: the revision to compact to, given the current one, if it moved
/// since `previous` (the last compaction's).
pub fn revision_due(current: i64, retention: u64, previous: i64) -> Option<i64> {
    let target = current.saturating_sub(i64::try_from(retention).unwrap_or(i64::MAX));
    (target > 0 && target != previous).then_some(target)
}

/// Runs `mode` for `member` until the task is aborted (the member's shutdown).
pub async fn run(member: MemberHandle, mode: AutoCompaction) {
    match mode {
        AutoCompaction::Disabled => {}
        AutoCompaction::Periodic(period) => {
            let mut schedule = Periodic::new(period, Instant::now());
            loop {
                schedule.record(member.applied().revision);
                tokio::time::sleep(schedule.step()).await;
                if !leads(&member) {
                    continue;
                }
                let Some(revision) = schedule.due(Instant::now()) else {
                    continue;
                };
                if compact(&member, revision, "periodic").await {
                    schedule.compacted(revision, Instant::now());
                }
            }
        }
        AutoCompaction::Revision(retention) => {
            let mut previous = 0;
            loop {
                tokio::time::sleep(REVISION_INTERVAL).await;
                if !leads(&member) {
                    continue;
                }
                let current = member.applied().revision;
                let Some(revision) = revision_due(current, retention, previous) else {
                    continue;
                };
                if compact(&member, revision, "revision").await {
                    previous = revision;
                }
            }
        }
    }
}

fn leads(member: &MemberHandle) -> bool {
    member.status().role == crate::raft::Role::Leader
}

/// Proposes the compaction to `revision`: whether it is done (or was already).
async fn compact(member: &MemberHandle, revision: i64, mode: &str) -> bool {
    let request = pb::InternalRaftRequest {
        compaction: Some(pb::CompactionRequest {
            revision,
            physical: false,
        }),
        ..Default::default()
    };
    match member.propose_internal(request).await {
        Ok(_) => {
            eprintln!("etcd-rs: auto {mode} compaction at revision {revision}");
            true
        }
        Err(ApiError::Mvcc(crate::mvcc::Error::Compacted)) => true,
        Err(e) => {
            eprintln!("etcd-rs: auto {mode} compaction at revision {revision} failed: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps a schedule of `period` through `steps` steps, the revision growing by 10 a
    /// step, and returns (step, revision) of each compaction.
    fn run_steps(period: Duration, steps: u32) -> Vec<(u32, i64)> {
        let start = Instant::now();
        let mut schedule = Periodic::new(period, start);
        let mut done = Vec::new();
        for i in 0..steps {
            schedule.record(i64::from(i) * 10 + 1);
            let now = start + schedule.step() * (i + 1);
            if let Some(revision) = schedule.due(now) {
                schedule.compacted(revision, now);
                done.push((i, revision));
            }
        }
        done
    }

    #[test]
    fn a_short_period_compacts_every_period_to_the_revision_a_period_ago() {
        // 10 s: a step of 1 s, 11 revisions kept. The first compaction waits a period.
        let done = run_steps(Duration::from_secs(10), 31);
        assert_eq!(done, [(9, 1), (19, 91), (29, 191)]);
    }

    #[test]
    fn a_long_period_compacts_every_hour_keeping_the_whole_period() {
        // 2 h: a step of 6 min, 21 revisions kept; after the first 2 h, every hour to
        // the revision of 2 h before.
        let done = run_steps(Duration::from_secs(7200), 61);
        assert_eq!(done, [(19, 1), (29, 91), (39, 191), (49, 291), (59, 391)]);
    }

    #[test]
    fn an_unchanged_revision_is_not_compacted_twice() {
        let start = Instant::now();
        let mut schedule = Periodic::new(Duration::from_secs(10), start);
        let mut compactions = 0;
        for i in 0..40u32 {
            schedule.record(5);
            let now = start + schedule.step() * (i + 1);
            if let Some(revision) = schedule.due(now) {
                schedule.compacted(revision, now);
                compactions += 1;
            }
        }
        assert_eq!(compactions, 1);
    }

    #[test]
    fn the_revision_mode_keeps_the_retention_and_skips_what_did_not_move() {
        assert_eq!(revision_due(100, 10, 0), Some(90));
        assert_eq!(revision_due(100, 10, 90), None);
        assert_eq!(revision_due(5, 10, 0), None);
        assert_eq!(revision_due(10, 10, 0), None);
        assert_eq!(revision_due(11, 10, 0), Some(1));
    }
}
