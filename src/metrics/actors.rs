//! This project's own metrics of a member's actors: how many of their hot messages wait in
//! each mailbox (`etcdrs_actor_mailbox_depth{actor}`) and how long each handler runs
//! (`etcdrs_actor_handling_seconds{actor,message}`).
//!
//! actix does not expose a mailbox's length, so the depth is counted: every place that
//! sends one of the hot messages calls [`Mailbox::sent`] (and [`Mailbox::refused`] if the
//! mailbox refused it), and its handler starts with [`ActorMetrics::handling`], which counts it out.
//! The depth is therefore the number of hot messages queued and not yet taken, the one
//! being handled excluded. Messages not listed in [`HOT_MESSAGES`] are counted on neither
//! side. A message sent to an actor that stopped is never handled: the depth of a stopped
//! actor is meaningless.

use prometheus::{
    Histogram, HistogramOpts, HistogramTimer, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};

/// The counted messages of each actor, by actor label.
pub const HOT_MESSAGES: &[(&str, &[&str])] = &[
    ("raft_node", &["Inbound", "Propose", "ReadIndex", "Applied"]),
    ("raft_log", &["Persist"]),
    ("applier", &["ApplyEntries", "ReadRange"]),
    ("watch_hub", &["CommittedEvents"]),
];

/// The sending side of one actor's depth gauge. A default one is counted nowhere (for
/// tests and for a transport run without a member).
#[derive(Clone, Default)]
pub struct Mailbox(Option<IntGauge>);

impl Mailbox {
    /// Counts one hot message queued for the actor.
    pub fn sent(&self) {
        if let Some(depth) = &self.0 {
            depth.inc();
        }
    }

    /// Undoes [`Mailbox::sent`] for a message the mailbox refused (full or closed).
    /// Counting before the send keeps the depth from going below zero when the handler
    /// takes the message before the sender counts it.
    pub fn refused(&self) {
        if let Some(depth) = &self.0 {
            depth.dec();
        }
    }
}

/// The metrics of one actor.
#[derive(Clone)]
pub struct ActorMetrics {
    /// What senders count into.
    pub mailbox: Mailbox,
    depth: IntGauge,
    /// The handling time of each hot message, in the order of [`HOT_MESSAGES`].
    handling: Vec<(&'static str, Histogram)>,
}

impl ActorMetrics {
    /// Counts a hot message out of the mailbox and times its handling until the returned
    /// timer drops. `message` MUST be one of the actor's [`HOT_MESSAGES`].
    pub fn handling(&self, message: &'static str) -> Option<HistogramTimer> {
        self.depth.dec();
        let found = self.handling.iter().find(|(name, _)| *name == message);
        debug_assert!(found.is_some(), "{message} is not a hot message");
        found.map(|(_, histogram)| histogram.start_timer())
    }

    /// Messages queued and not yet taken.
    pub fn depth(&self) -> i64 {
        self.depth.get()
    }
}

/// The metrics of a member's four actors.
#[derive(Clone)]
pub struct Actors {
    /// The RaftNode.
    pub raft_node: ActorMetrics,
    /// The RaftLog writer.
    pub raft_log: ActorMetrics,
    /// The Applier.
    pub applier: ActorMetrics,
    /// The WatchHub.
    pub watch_hub: ActorMetrics,
}

impl Actors {
    /// Creates and registers the metrics of every actor.
    pub fn new(registry: &Registry) -> prometheus::Result<Actors> {
        let depth = IntGaugeVec::new(
            Opts::new(
                "etcdrs_actor_mailbox_depth",
                "Hot messages queued in the actor's mailbox and not yet handled.",
            ),
            &["actor"],
        )?;
        // 10 µs doubling to about 5 s.
        let handling = HistogramVec::new(
            HistogramOpts::new(
                "etcdrs_actor_handling_seconds",
                "Time the actor spends handling one message (its synchronous part).",
            )
            .buckets(exponential_buckets(0.000_01, 2.0, 20)?),
            &["actor", "message"],
        )?;
        registry.register(Box::new(depth.clone()))?;
        registry.register(Box::new(handling.clone()))?;
        let actor = |name: &str| {
            let messages = HOT_MESSAGES
                .iter()
                .find(|(actor, _)| *actor == name)
                .map_or(&[][..], |(_, messages)| *messages);
            let gauge = depth.with_label_values(&[name]);
            ActorMetrics {
                mailbox: Mailbox(Some(gauge.clone())),
                depth: gauge,
                handling: messages
                    .iter()
                    .map(|m| (*m, handling.with_label_values(&[name, m])))
                    .collect(),
            }
        };
        Ok(Actors {
            raft_node: actor("raft_node"),
            raft_log: actor("raft_log"),
            applier: actor("applier"),
            watch_hub: actor("watch_hub"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_sent_minus_taken_and_handling_is_timed() {
        let registry = Registry::new();
        let actors = Actors::new(&registry).unwrap();
        let raft = &actors.raft_node;
        raft.mailbox.sent();
        raft.mailbox.sent();
        assert_eq!(raft.depth(), 2);
        drop(raft.handling("Propose"));
        assert_eq!(raft.depth(), 1);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains(r#"etcdrs_actor_mailbox_depth{actor="raft_node"} 1"#));
        assert!(text.contains(
            r#"etcdrs_actor_handling_seconds_count{actor="raft_node",message="Propose"} 1"#
        ));
        Mailbox::default().sent();
    }
}
