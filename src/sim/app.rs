//! The replicated state machine of the simulation: a map of small integer keys to
//! values, with compare-and-swap, and a per-client table that applies each request at
//! most once (a forwarded proposal duplicated by the network must not write twice).

use std::collections::BTreeMap;

use crate::raft::{ConfState, LogIndex};

/// A client's request, as carried in a log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The client.
    pub client: u64,
    /// The client's request number (increasing).
    pub request: u64,
    /// The key.
    pub key: u64,
    /// Write this value...
    pub value: u64,
    /// ...if `Some(expected)`, only when the key holds `expected` (0: absent).
    pub expected: Option<u64>,
}

/// What applying a command answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A put was applied.
    Put,
    /// A compare-and-swap was applied: whether it wrote.
    Cas(bool),
}

impl Command {
    /// Encodes the command as entry data: five little-endian u64 and a flag.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        for field in [
            self.client,
            self.request,
            self.key,
            self.value,
            self.expected.unwrap_or(0),
        ] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.push(u8::from(self.expected.is_some()));
        out
    }

    /// Decodes entry data; `None` for anything else (e.g. a leader's empty entry).
    pub fn decode(data: &[u8]) -> Option<Command> {
        if data.len() != 41 {
            return None;
        }
        let field = |i: usize| {
            let bytes: [u8; 8] = data[i * 8..i * 8 + 8].try_into().expect("8 bytes");
            u64::from_le_bytes(bytes)
        };
        Some(Command {
            client: field(0),
            request: field(1),
            key: field(2),
            value: field(3),
            expected: (data[40] == 1).then(|| field(4)),
        })
    }
}

/// The state machine of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct App {
    /// Key → value; absent keys are not stored.
    pub kv: BTreeMap<u64, u64>,
    /// Client → the highest request applied.
    pub last_request: BTreeMap<u64, u64>,
    /// The index of the last entry applied.
    pub applied: LogIndex,
    /// The configuration as of `applied`.
    pub conf_state: ConfState,
}

impl App {
    /// Applies a command; `None` if it was a duplicate or an older request of a client
    /// that has moved on (skipped identically on every member).
    pub fn apply(&mut self, command: &Command) -> Option<Outcome> {
        let last = self.last_request.entry(command.client).or_insert(0);
        if command.request <= *last {
            return None;
        }
        *last = command.request;
        let current = self.kv.get(&command.key).copied().unwrap_or(0);
        match command.expected {
            None => {
                self.kv.insert(command.key, command.value);
                Some(Outcome::Put)
            }
            Some(expected) if expected == current => {
                self.kv.insert(command.key, command.value);
                Some(Outcome::Cas(true))
            }
            Some(_) => Some(Outcome::Cas(false)),
        }
    }

    /// Serializes the data part of a snapshot (kv and the request table).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for table in [&self.kv, &self.last_request] {
            out.extend_from_slice(&(table.len() as u64).to_le_bytes());
            for (k, v) in table {
                out.extend_from_slice(&k.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Rebuilds the state machine from a snapshot (empty data: the empty state).
    pub fn restore(data: &[u8], applied: LogIndex, conf_state: ConfState) -> App {
        let mut words = data
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
        let mut table = || {
            let len = words.next().unwrap_or(0);
            (0..len)
                .map(|_| (words.next().expect("key"), words.next().expect("value")))
                .collect::<BTreeMap<u64, u64>>()
        };
        let kv = table();
        let last_request = table();
        App {
            kv,
            last_request,
            applied,
            conf_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_snapshots_survive_encoding() {
        let command = Command {
            client: 3,
            request: 9,
            key: 1,
            value: 42,
            expected: Some(0),
        };
        assert_eq!(Command::decode(&command.encode()), Some(command.clone()));
        assert_eq!(Command::decode(b""), None);
        let mut app = App::default();
        assert_eq!(app.apply(&command), Some(Outcome::Cas(true)));
        assert_eq!(
            app.apply(&command),
            None,
            "a duplicate must not apply twice"
        );
        let restored = App::restore(&app.encode(), LogIndex(7), ConfState::default());
        assert_eq!(restored.kv, app.kv);
        assert_eq!(restored.last_request, app.last_request);
    }
}
