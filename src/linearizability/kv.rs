//! The key-value model: each key is a register that can be read, written, deleted and
//! compare-and-swapped. Histories are checked key by key with [`check_kv`].

use super::{Model, Operation, Verdict, check_partitioned};

/// A client request on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvInput {
    /// Read the key.
    Get {
        /// The key.
        key: String,
    },
    /// Write the key.
    Put {
        /// The key.
        key: String,
        /// The value written.
        value: String,
    },
    /// Delete the key.
    Delete {
        /// The key.
        key: String,
    },
    /// Write `value` if the key's value is `expected` (`None`: the key does not exist).
    Cas {
        /// The key.
        key: String,
        /// The value it must have.
        expected: Option<String>,
        /// The value written if it does.
        value: String,
    },
}

impl KvInput {
    /// The key the request is about.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Delete { key }
            | KvInput::Cas { key, .. } => key,
        }
    }
}

/// What the store answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// The value read (`None`: no such key).
    Get(Option<String>),
    /// The write happened.
    Put,
    /// The delete happened.
    Delete,
    /// Whether the compare succeeded (and the write happened).
    Cas(bool),
}

/// The model of one key: its value, or `None` if it does not exist.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = Option<String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Option<String> {
        None
    }

    fn step(
        &self,
        state: &Option<String>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Option<String>> {
        match (input, output) {
            (KvInput::Get { .. }, None) => Some(state.clone()),
            (KvInput::Get { .. }, Some(KvOutput::Get(read))) => {
                (read == state).then(|| state.clone())
            }
            (KvInput::Put { value, .. }, None | Some(KvOutput::Put)) => Some(Some(value.clone())),
            (KvInput::Delete { .. }, None | Some(KvOutput::Delete)) => Some(None),
            (
                KvInput::Cas {
                    expected, value, ..
                },
                output,
            ) => {
                let succeeds = state == expected;
                match output {
                    None => {}
                    Some(KvOutput::Cas(answered)) if *answered == succeeds => {}
                    Some(_) => return None,
                }
                Some(if succeeds {
                    Some(value.clone())
                } else {
                    state.clone()
                })
            }
            _ => None,
        }
    }
}

/// Checks a key-value history key by key.
pub fn check_kv(history: &[Operation<KvInput, KvOutput>], budget_steps: u64) -> Verdict {
    check_partitioned(
        &KvModel,
        history,
        |input| input.key().to_string(),
        budget_steps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::check;
    use crate::raft::SeededRng;

    const BUDGET: u64 = 1_000_000;

    fn get(key: &str) -> KvInput {
        KvInput::Get { key: key.into() }
    }
    fn put(key: &str, value: &str) -> KvInput {
        KvInput::Put {
            key: key.into(),
            value: value.into(),
        }
    }
    fn cas(key: &str, expected: Option<&str>, value: &str) -> KvInput {
        KvInput::Cas {
            key: key.into(),
            expected: expected.map(Into::into),
            value: value.into(),
        }
    }
    fn read(value: Option<&str>) -> KvOutput {
        KvOutput::Get(value.map(Into::into))
    }
    fn op(
        client: u64,
        input: KvInput,
        call: u64,
        output: KvOutput,
        ret: u64,
    ) -> Operation<KvInput, KvOutput> {
        Operation {
            client,
            input,
            call,
            output: Some(output),
            return_time: Some(ret),
        }
    }
    fn pending(client: u64, input: KvInput, call: u64) -> Operation<KvInput, KvOutput> {
        Operation {
            client,
            input,
            call,
            output: None,
            return_time: None,
        }
    }

    #[test]
    fn a_sequential_history_that_follows_the_model_is_linearizable() {
        let history = vec![
            op(1, put("x", "1"), 0, KvOutput::Put, 1),
            op(1, get("x"), 2, read(Some("1")), 3),
            op(2, cas("x", Some("1"), "2"), 4, KvOutput::Cas(true), 5),
            op(2, cas("x", Some("1"), "3"), 6, KvOutput::Cas(false), 7),
            op(
                1,
                KvInput::Delete { key: "x".into() },
                8,
                KvOutput::Delete,
                9,
            ),
            op(1, get("x"), 10, read(None), 11),
        ];
        assert_eq!(check_kv(&history, BUDGET), Verdict::Linearizable);
    }

    #[test]
    fn a_read_that_misses_a_completed_write_is_not_linearizable() {
        let history = vec![
            op(1, put("x", "1"), 0, KvOutput::Put, 1),
            op(2, get("x"), 2, read(None), 3),
        ];
        let verdict = check_kv(&history, BUDGET);
        let Verdict::NotLinearizable {
            partition,
            explanation,
        } = verdict
        else {
            panic!("a stale read was accepted: {verdict:?}");
        };
        assert_eq!(partition, "\"x\"");
        assert!(explanation.contains("Get"), "{explanation}");
    }

    #[test]
    fn reads_concurrent_with_a_write_may_see_either_value_but_never_go_back() {
        // put x=1 spans [0, 10]; reads inside it may see nothing or 1...
        let ok = vec![
            op(1, put("x", "1"), 0, KvOutput::Put, 10),
            op(2, get("x"), 1, read(None), 2),
            op(2, get("x"), 3, read(Some("1")), 4),
        ];
        assert!(check_kv(&ok, BUDGET).is_linearizable());
        // ...but once one read saw 1, a later read cannot see nothing.
        let mut bad = ok.clone();
        bad.push(op(3, get("x"), 5, read(None), 6));
        assert!(!check_kv(&bad, BUDGET).is_linearizable());
    }

    #[test]
    fn a_write_without_an_answer_may_or_may_not_have_happened_but_not_both() {
        let took_effect = vec![
            pending(1, put("x", "1"), 0),
            op(2, get("x"), 5, read(Some("1")), 6),
        ];
        assert!(check_kv(&took_effect, BUDGET).is_linearizable());
        let never_happened = vec![
            pending(1, put("x", "1"), 0),
            op(2, get("x"), 5, read(None), 6),
        ];
        assert!(check_kv(&never_happened, BUDGET).is_linearizable());
        let flickers = vec![
            pending(1, put("x", "1"), 0),
            op(2, get("x"), 5, read(Some("1")), 6),
            op(2, get("x"), 7, read(None), 8),
        ];
        assert!(!check_kv(&flickers, BUDGET).is_linearizable());
    }

    #[test]
    fn two_concurrent_compare_and_swaps_from_the_same_value_cannot_both_succeed() {
        let history = vec![
            op(1, cas("x", None, "a"), 0, KvOutput::Cas(true), 10),
            op(2, cas("x", None, "b"), 1, KvOutput::Cas(true), 9),
        ];
        assert!(!check_kv(&history, BUDGET).is_linearizable());
        let one_wins = vec![
            op(1, cas("x", None, "a"), 0, KvOutput::Cas(true), 10),
            op(2, cas("x", None, "b"), 1, KvOutput::Cas(false), 9),
            op(3, get("x"), 11, read(Some("a")), 12),
        ];
        assert!(check_kv(&one_wins, BUDGET).is_linearizable());
    }

    #[test]
    fn an_answer_of_the_wrong_kind_is_never_legal() {
        let history = vec![op(1, put("x", "1"), 0, KvOutput::Cas(true), 1)];
        assert!(!check_kv(&history, BUDGET).is_linearizable());
    }

    #[test]
    fn keys_are_checked_apart_and_the_failing_key_is_named() {
        let history = vec![
            op(1, put("a", "1"), 0, KvOutput::Put, 1),
            op(1, put("b", "1"), 0, KvOutput::Put, 1),
            op(2, get("a"), 2, read(Some("1")), 3),
            op(2, get("b"), 4, read(Some("2")), 5),
        ];
        match check_kv(&history, BUDGET) {
            Verdict::NotLinearizable { partition, .. } => assert_eq!(partition, "\"b\""),
            other => panic!("expected key b to fail, got {other:?}"),
        }
        // Unpartitioned, the same history fails too: partitioning only speeds it up.
        assert!(!check(&KvModel, &history, BUDGET).is_linearizable());
    }

    #[test]
    fn a_search_over_its_budget_is_unknown_not_a_verdict() {
        let history: Vec<_> = (0..12)
            .map(|i| op(i, put("x", &i.to_string()), 0, KvOutput::Put, 100))
            .chain([op(99, get("x"), 101, read(Some("nobody wrote this")), 102)])
            .collect();
        assert!(matches!(check_kv(&history, 5), Verdict::Unknown { .. }));
        assert!(!check_kv(&history, BUDGET).is_linearizable());
    }

    /// Runs a random sequential execution on a map, gives every operation a random
    /// interval around its real instant, and checks the result is accepted; then breaks
    /// one read and checks it is refused.
    #[test]
    fn random_histories_from_a_real_execution_pass_and_a_corrupted_read_fails() {
        for seed in 0..200 {
            let mut rng = SeededRng::new(seed);
            let (history, reads) = random_history(&mut rng);
            let verdict = check_kv(&history, BUDGET);
            assert!(verdict.is_linearizable(), "seed {seed}: {verdict:?}");
            if let Some(&victim) = reads.get(rng.range(0, reads.len().max(1) as u64) as usize) {
                let mut broken = history.clone();
                broken[victim].output = Some(read(Some("never written")));
                assert!(
                    !check_kv(&broken, BUDGET).is_linearizable(),
                    "seed {seed}: a read of a value never written was accepted"
                );
            }
        }
    }

    fn random_history(rng: &mut SeededRng) -> (Vec<Operation<KvInput, KvOutput>>, Vec<usize>) {
        let keys = ["a", "b", "c"];
        let mut state: std::collections::BTreeMap<&str, String> = Default::default();
        let mut history = Vec::new();
        let mut reads = Vec::new();
        let mut instant = 10u64;
        for n in 0..rng.range(5, 40) {
            instant += rng.range(1, 4);
            let key = keys[rng.range(0, 3) as usize];
            let current = state.get(key).cloned();
            let (input, output) = match rng.range(0, 4) {
                0 => {
                    reads.push(history.len());
                    (get(key), KvOutput::Get(current))
                }
                1 => {
                    let value = format!("v{n}");
                    state.insert(key, value.clone());
                    (put(key, &value), KvOutput::Put)
                }
                2 => {
                    state.remove(key);
                    (KvInput::Delete { key: key.into() }, KvOutput::Delete)
                }
                _ => {
                    let expected = if rng.chance(1, 2) {
                        current.clone()
                    } else {
                        Some("other".to_string())
                    };
                    let value = format!("c{n}");
                    let succeeds = expected == current;
                    if succeeds {
                        state.insert(key, value.clone());
                    }
                    let input = KvInput::Cas {
                        key: key.into(),
                        expected,
                        value,
                    };
                    (input, KvOutput::Cas(succeeds))
                }
            };
            let call = instant - rng.range(0, 10);
            let unanswered = !matches!(output, KvOutput::Get(_)) && rng.chance(1, 10);
            history.push(Operation {
                client: n,
                input,
                call,
                output: (!unanswered).then_some(output),
                return_time: (!unanswered).then(|| instant + rng.range(0, 10)),
            });
        }
        (history, reads)
    }
}
