//! etcd's `os_fd_used` and `os_fd_limit`, read from `/proc` at each scrape as etcd reads
//! them (the entries of `/proc/self/fd`; the soft `RLIMIT_NOFILE`, here from
//! `/proc/self/limits` since this crate has no `unsafe` for `getrlimit`). Where `/proc`
//! is missing (not Linux) they are not exported.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, Opts};

/// A collector of the two file descriptor gauges.
pub struct FdCollector {
    used: IntGauge,
    limit: IntGauge,
}

impl FdCollector {
    /// The collector; register it in a registry.
    pub fn new() -> prometheus::Result<FdCollector> {
        Ok(FdCollector {
            used: IntGauge::with_opts(Opts::new(
                "os_fd_used",
                "The number of used file descriptors.",
            ))?,
            limit: IntGauge::with_opts(Opts::new("os_fd_limit", "The file descriptor limit."))?,
        })
    }
}

/// Open file descriptors of this process (the directory's own included, as etcd counts).
pub fn fds_used() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The soft limit on open file descriptors.
pub fn fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_fd_limit(&limits)
}

/// The soft limit of the "Max open files" line of `/proc/self/limits` (`None` if absent;
/// "unlimited" as `u64::MAX`).
fn parse_fd_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .strip_prefix("Max open files")?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

impl Collector for FdCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.used.desc();
        descs.extend(self.limit.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (Some(used), Some(limit)) = (fds_used(), fd_limit()) else {
            return Vec::new();
        };
        self.used.set(i64::try_from(used).unwrap_or(i64::MAX));
        self.limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
        let mut families = self.used.collect();
        families.extend(self.limit.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63304                63304                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_fd_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_fd_limit(unlimited), Some(u64::MAX));
        assert_eq!(parse_fd_limit("nothing"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_descriptors_and_a_limit() {
        let used = fds_used().unwrap();
        assert!(used >= 3 && used <= fd_limit().unwrap());
    }
}
