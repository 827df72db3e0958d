//! Latencies and errors of a run, and the summary printed from them in the shape of
//! etcd's `pkg/report`: total, slowest, fastest, average, stddev, requests/sec, a
//! response-time histogram, the latency distribution (10% .. 99.9%) and the errors.
//!
//! Every latency is kept (8 bytes each, like etcd's report) and sorted once at the end, so
//! the percentiles are exact.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

/// The percentiles etcd's report prints.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];
/// Buckets of the response-time histogram (etcd's `bc`).
const HISTOGRAM_BUCKETS: usize = 10;
/// Width of the longest histogram bar, in characters.
const HISTOGRAM_BAR_WIDTH_MAX: usize = 40;

/// Most latencies a recorder makes room for up front (8 MiB); past it the list grows as
/// needed, so that a huge `--total` does not reserve its memory before the first request.
pub const PREALLOCATED_LATENCIES_MAX: usize = 1 << 20;

/// What one client (or the whole run, once merged) saw.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    latencies: Vec<Duration>,
    /// Failed requests, counted by error text.
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// An empty recorder with room for `capacity` latencies (at most
    /// [`PREALLOCATED_LATENCIES_MAX`] reserved at once).
    pub fn with_capacity(capacity: usize) -> Recorder {
        Recorder {
            latencies: Vec::with_capacity(capacity.min(PREALLOCATED_LATENCIES_MAX)),
            errors: BTreeMap::new(),
        }
    }

    /// A request that succeeded after `latency`.
    pub fn ok(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    /// A request that failed with `error`.
    pub fn error(&mut self, error: impl Into<String>) {
        *self.errors.entry(error.into()).or_default() += 1;
    }

    /// `count` requests that failed with `error`.
    pub fn errors(&mut self, error: impl Into<String>, count: u64) {
        *self.errors.entry(error.into()).or_default() += count;
    }

    /// Adds what `other` saw.
    pub fn merge(&mut self, other: Recorder) {
        self.latencies.extend(other.latencies);
        for (error, count) in other.errors {
            *self.errors.entry(error).or_default() += count;
        }
    }

    /// The report of a run that took `elapsed`.
    pub fn finish(mut self, name: impl Into<String>, elapsed: Duration) -> Report {
        self.latencies.sort_unstable();
        Report {
            name: name.into(),
            elapsed,
            latencies: self.latencies,
            errors: self.errors,
        }
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured (`put`, `range (linearizable)`, ...).
    pub name: String,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Invariant: sorted ascending.
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

/// The figures of a report, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Requests that succeeded.
    pub count: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Wall time of the run.
    pub total: f64,
    /// Slowest request.
    pub slowest: f64,
    /// Fastest request.
    pub fastest: f64,
    /// Mean latency.
    pub average: f64,
    /// Population standard deviation of the latency (etcd's).
    pub stddev: f64,
    /// Successful requests per second of wall time.
    pub rps: f64,
    /// The latency at each of [`PERCENTILES`].
    pub percentiles: [f64; PERCENTILES.len()],
}

impl Report {
    /// How many requests succeeded.
    pub fn count(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// The figures.
    pub fn stats(&self) -> Stats {
        let secs: Vec<f64> = self.latencies.iter().map(Duration::as_secs_f64).collect();
        let n = secs.len();
        let total = self.elapsed.as_secs_f64();
        let average = if n == 0 {
            0.0
        } else {
            secs.iter().sum::<f64>() / n as f64
        };
        let variance = if n == 0 {
            0.0
        } else {
            secs.iter().map(|s| (s - average).powi(2)).sum::<f64>() / n as f64
        };
        let mut percentiles = [0.0; PERCENTILES.len()];
        for (slot, p) in percentiles.iter_mut().zip(PERCENTILES) {
            *slot = percentile(&secs, p);
        }
        Stats {
            count: n as u64,
            errors: self.errors.values().sum(),
            total,
            slowest: secs.last().copied().unwrap_or(0.0),
            fastest: secs.first().copied().unwrap_or(0.0),
            average,
            stddev: variance.sqrt(),
            rps: if total > 0.0 { n as f64 / total } else { 0.0 },
            percentiles,
        }
    }

    /// etcd's text summary. `precise` prints full precision instead of 4 decimals.
    pub fn text(&self, precise: bool) -> String {
        let stats = self.stats();
        let num = |x: f64| {
            if precise {
                format!("{x}")
            } else {
                format!("{x:.4}")
            }
        };
        let mut s = String::new();
        let _ = writeln!(s, "\nSummary:");
        let _ = writeln!(s, "  Count:\t{} ok, {} errors.", stats.count, stats.errors);
        if stats.count > 0 {
            let _ = writeln!(s, "  Total:\t{} secs.", num(stats.total));
            let _ = writeln!(s, "  Slowest:\t{} secs.", num(stats.slowest));
            let _ = writeln!(s, "  Fastest:\t{} secs.", num(stats.fastest));
            let _ = writeln!(s, "  Average:\t{} secs.", num(stats.average));
            let _ = writeln!(s, "  Stddev:\t{} secs.", num(stats.stddev));
            let _ = writeln!(s, "  Requests/sec:\t{}", num(stats.rps));
            s.push_str(&self.histogram(&stats, num));
            let _ = writeln!(s, "\nLatency distribution:");
            for (p, latency) in PERCENTILES.iter().zip(stats.percentiles) {
                let _ = writeln!(s, "  {p}% in {:.3} ms.", latency * 1000.0);
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "\nError distribution:");
            for (error, count) in &self.errors {
                let _ = writeln!(s, "  [{count}]\t{error}");
            }
        }
        s
    }

    /// Ten equal buckets from the fastest to the slowest request, as etcd draws them.
    fn histogram(&self, stats: &Stats, num: impl Fn(f64) -> String) -> String {
        let width = (stats.slowest - stats.fastest) / HISTOGRAM_BUCKETS as f64;
        let mut bounds: Vec<f64> = (0..HISTOGRAM_BUCKETS)
            .map(|i| stats.fastest + width * i as f64)
            .collect();
        bounds.push(stats.slowest);
        let mut counts = vec![0usize; bounds.len()];
        let mut bucket = 0;
        for latency in self.latencies.iter().map(Duration::as_secs_f64) {
            while latency > bounds[bucket] && bucket < bounds.len() - 1 {
                bucket += 1;
            }
            counts[bucket] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(0).max(1);
        let mut s = String::from("\nResponse time histogram:\n");
        for (bound, count) in bounds.iter().zip(&counts) {
            let bar = "∎".repeat(count * HISTOGRAM_BAR_WIDTH_MAX / most);
            let _ = writeln!(s, "  {} [{count}]\t|{bar}", num(*bound));
        }
        s
    }

    /// The figures as JSON (latencies in milliseconds), for scripts.
    pub fn json(&self) -> serde_json::Value {
        let stats = self.stats();
        let ms = |secs: f64| secs * 1000.0;
        let percentiles: serde_json::Map<String, serde_json::Value> = PERCENTILES
            .iter()
            .zip(stats.percentiles)
            .map(|(p, latency)| (format!("p{p}"), json!(ms(latency))))
            .collect();
        json!({
            "name": self.name,
            "count": stats.count,
            "errors": stats.errors,
            "error_distribution": self.errors,
            "total_secs": stats.total,
            "requests_per_sec": stats.rps,
            "slowest_ms": ms(stats.slowest),
            "fastest_ms": ms(stats.fastest),
            "average_ms": ms(stats.average),
            "stddev_ms": ms(stats.stddev),
            "percentiles_ms": percentiles,
        })
    }
}

/// etcd's percentile: the value at rank `ceil(p * (n + 1) / 100)` of the sorted latencies,
/// clamped to the first and last.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * (sorted.len() + 1) as f64 / 100.0).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_of(millis: &[u64], errors: &[&str]) -> Report {
        let mut recorder = Recorder::default();
        for ms in millis {
            recorder.ok(Duration::from_millis(*ms));
        }
        for e in errors {
            recorder.error(*e);
        }
        recorder.finish("put", Duration::from_secs(2))
    }

    #[test]
    fn stats_are_etcd_s_figures() {
        let stats = report_of(&[4, 1, 3, 2], &["boom"]).stats();
        assert_eq!((stats.count, stats.errors), (4, 1));
        assert_eq!((stats.fastest, stats.slowest), (0.001, 0.004));
        assert!((stats.average - 0.0025).abs() < 1e-12);
        assert!((stats.stddev - 0.001_118_033_988_75).abs() < 1e-9);
        assert_eq!(stats.rps, 2.0, "4 requests in 2 seconds");
        // ceil(50 * 5 / 100) = 3rd smallest; ceil(10 * 5 / 100) = 1st; 99.9 clamps to last.
        assert_eq!(stats.percentiles[2], 0.003);
        assert_eq!(stats.percentiles[0], 0.001);
        assert_eq!(stats.percentiles[7], 0.004);
    }

    #[test]
    fn text_has_etcd_s_sections_and_the_count() {
        let text = report_of(&[1, 2, 3], &["etcdserver: too many requests"]).text(false);
        for needle in [
            "Summary:",
            "Count:\t3 ok, 1 errors.",
            "Total:\t2.0000 secs.",
            "Requests/sec:\t1.5000",
            "Response time histogram:",
            "Latency distribution:",
            "99.9% in 3.000 ms.",
            "Error distribution:\n  [1]\tetcdserver: too many requests",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
    }

    #[test]
    fn histogram_counts_every_request_once() {
        let report = report_of(&[1, 1, 2, 5, 9, 10], &[]);
        let text = report.text(false);
        let counted: usize = text
            .lines()
            .filter_map(|l| l.split_once('[')?.1.split_once(']'))
            .filter_map(|(n, _)| n.parse::<usize>().ok())
            .sum();
        assert_eq!(counted, 6, "{text}");
    }

    #[test]
    fn an_empty_run_prints_only_the_count() {
        let text = report_of(&[], &["unavailable"]).text(false);
        assert!(text.contains("Count:\t0 ok, 1 errors."));
        assert!(!text.contains("Latency distribution"));
        assert_eq!(report_of(&[], &[]).stats().rps, 0.0);
    }
}
