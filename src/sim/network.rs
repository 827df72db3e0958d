//! The simulated network: every message is delayed by a random number of steps (so
//! messages overtake one another), may be lost or duplicated, and is lost if its link is
//! cut when it arrives. Cuts are directed: a symmetric partition cuts both directions.

use std::collections::{BTreeMap, BTreeSet};

use crate::raft::{Message, NodeId, SeededRng};

/// Counts of what the network did to messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetworkStats {
    /// Messages sent.
    pub sent: u64,
    /// Lost at random.
    pub dropped: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Lost to a cut link or a crashed receiver.
    pub cut: u64,
}

/// Messages in flight and the state of every link.
#[derive(Debug, Default)]
pub struct Network {
    /// In flight, by (arrival step, sequence number): ties arrive in send order. The flag
    /// is false for a snapshot already lost, which arrives only so its sender is told.
    in_flight: BTreeMap<(u64, u64), (Message, bool)>,
    sequence: u64,
    /// Directed links that lose everything: (from, to).
    cut_links: BTreeSet<(NodeId, NodeId)>,
    /// Chance per mille of a random loss.
    pub drop_per_mille: u64,
    /// Chance per mille of a duplicate.
    pub dup_per_mille: u64,
    /// The largest delay, in steps (at least 1).
    pub delay_steps_max: u64,
    /// What happened so far.
    pub stats: NetworkStats,
}

/// A message that reached the end of its flight.
pub struct Arrival {
    /// The message.
    pub message: Message,
    /// Whether the link was open (else it was lost on arrival).
    pub delivered: bool,
}

impl Network {
    /// A network with every link open.
    pub fn new(drop_per_mille: u64, dup_per_mille: u64, delay_steps_max: u64) -> Network {
        Network {
            drop_per_mille,
            dup_per_mille,
            delay_steps_max: delay_steps_max.max(1),
            ..Network::default()
        }
    }

    /// Sends `message` at step `now`.
    pub fn send(&mut self, message: Message, now: u64, rng: &mut SeededRng) {
        self.stats.sent += 1;
        if rng.chance(self.drop_per_mille, 1000) {
            self.stats.dropped += 1;
            // A lost snapshot must still be reported: let it arrive "lost".
            if message.snapshot.is_some() {
                self.enqueue(message, now + 1, false);
            }
            return;
        }
        if rng.chance(self.dup_per_mille, 1000) {
            self.stats.duplicated += 1;
            let delay = rng.range(1, self.delay_steps_max + 1);
            self.enqueue(message.clone(), now + delay, true);
        }
        let delay = rng.range(1, self.delay_steps_max + 1);
        self.enqueue(message, now + delay, true);
    }

    fn enqueue(&mut self, message: Message, at: u64, deliverable: bool) {
        self.sequence += 1;
        self.in_flight
            .insert((at, self.sequence), (message, deliverable));
    }

    /// Takes every message due at or before `now`, in arrival order.
    pub fn arrivals(&mut self, now: u64) -> Vec<Arrival> {
        let later = self.in_flight.split_off(&(now + 1, 0));
        let due = std::mem::replace(&mut self.in_flight, later);
        due.into_values()
            .map(|(message, deliverable)| {
                let cut = self.cut_links.contains(&(message.from, message.to));
                if cut {
                    self.stats.cut += 1;
                }
                Arrival {
                    delivered: deliverable && !cut,
                    message,
                }
            })
            .collect()
    }

    /// Cuts the directed link `from` → `to`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut_links.insert((from, to));
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for &x in a {
            for &y in b {
                self.cut(x, y);
                self.cut(y, x);
            }
        }
    }

    /// Reopens every link.
    pub fn heal(&mut self) {
        self.cut_links.clear();
    }
}
