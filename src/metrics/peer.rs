//! etcd's peer network metrics, measured by the network transport
//! ([`crate::transport`]): bytes sent to and received from each peer, and the round trip
//! time of a ping on each peer connection. Dev mode's in-process network has no bytes and
//! no round trips: it exports none of these.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, exponential_buckets};

/// The peer metrics of one member's transport (cheap to clone: the clones share the
/// counters).
#[derive(Clone)]
pub struct PeerMetrics {
    /// `etcd_network_peer_round_trip_time_seconds{To}`: from writing a ping frame on the
    /// connection to the peer until its pong is read back (see
    /// [`crate::transport::codec`]); it includes the wait behind raft messages already
    /// queued on that connection, as a raft message would wait.
    pub round_trip_seconds: HistogramVec,
    /// `etcd_network_peer_sent_bytes_total{To}`: bytes written to the peer's connection
    /// (frames after the hello: messages, chunks and pings).
    pub sent_bytes: IntCounterVec,
    /// `etcd_network_peer_received_bytes_total{From}`: bytes of the frames read from the
    /// peer's connection to this member, after its hello.
    pub received_bytes: IntCounterVec,
}

impl PeerMetrics {
    /// Metrics registered nowhere yet (see [`PeerMetrics::register`]).
    pub fn new() -> PeerMetrics {
        let build = || -> prometheus::Result<PeerMetrics> {
            Ok(PeerMetrics {
                // etcd's buckets: 0.1 ms doubling to about 3.3 s.
                round_trip_seconds: HistogramVec::new(
                    HistogramOpts::new(
                        "etcd_network_peer_round_trip_time_seconds",
                        "Round-Trip-Time histogram between peers",
                    )
                    .buckets(exponential_buckets(0.0001, 2.0, 16)?),
                    &["To"],
                )?,
                sent_bytes: IntCounterVec::new(
                    Opts::new(
                        "etcd_network_peer_sent_bytes_total",
                        "The total number of bytes sent to peers.",
                    ),
                    &["To"],
                )?,
                received_bytes: IntCounterVec::new(
                    Opts::new(
                        "etcd_network_peer_received_bytes_total",
                        "The total number of bytes received from peers.",
                    ),
                    &["From"],
                )?,
            })
        };
        build().expect("constant metric options are valid")
    }

    /// Exports these metrics in `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.round_trip_seconds.clone()))?;
        registry.register(Box::new(self.sent_bytes.clone()))?;
        registry.register(Box::new(self.received_bytes.clone()))
    }
}

impl Default for PeerMetrics {
    fn default() -> PeerMetrics {
        PeerMetrics::new()
    }
}
