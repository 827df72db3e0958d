//! The search: Wing & Gong's algorithm with Lowe's cache, over a doubly linked list of
//! call and return events.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Debug, Write as _};

use super::Model;

/// One client operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued it (for explanations only).
    pub client: u64,
    /// What was asked.
    pub input: I,
    /// When it was called.
    pub call: u64,
    /// What the client was told; `None` if it never learned the outcome.
    pub output: Option<O>,
    /// When the answer came back; `None` if it never did. MUST be `None` exactly when
    /// `output` is `None`, and otherwise at least `call`.
    pub return_time: Option<u64>,
}

impl<I: Debug, O: Debug> fmt::Display for Operation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} {:?} -> ", self.client, self.input)?;
        match (&self.output, self.return_time) {
            (Some(output), Some(ret)) => write!(f, "{output:?} [call {}, return {ret}]", self.call),
            _ => write!(f, "(no answer) [call {}, never returned]", self.call),
        }
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An order exists.
    Linearizable,
    /// No order exists. `partition` names the key (or "history" when unpartitioned);
    /// `explanation` shows the longest linearizable prefix the search found and the
    /// operations that could not follow it.
    NotLinearizable {
        /// The partition that failed.
        partition: String,
        /// Why, in words.
        explanation: String,
    },
    /// The search ran out of its step budget in `partition` before deciding.
    Unknown {
        /// The partition that was too large.
        partition: String,
        /// The steps spent.
        steps: u64,
    },
}

impl Verdict {
    /// Whether the history was proven linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Checks a whole history as one object, spending at most `budget_steps` search steps.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget_steps: u64,
) -> Verdict {
    let ops: Vec<&Operation<M::Input, M::Output>> = history.iter().collect();
    verdict(model, &ops, "history".to_string(), budget_steps)
}

/// Checks each partition (e.g. each key) of a history on its own, stopping at the first
/// that is not linearizable. `budget_steps` applies to each partition. A partition that
/// runs out of budget makes the verdict `Unknown` unless another one fails.
pub fn check_partitioned<M, K, F>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition_of: F,
    budget_steps: u64,
) -> Verdict
where
    M: Model,
    K: Ord + Debug,
    F: Fn(&M::Input) -> K,
{
    type Ops<'h, M> = Vec<&'h Operation<<M as Model>::Input, <M as Model>::Output>>;
    let mut partitions: BTreeMap<K, Ops<'_, M>> = BTreeMap::new();
    for op in history {
        partitions
            .entry(partition_of(&op.input))
            .or_default()
            .push(op);
    }
    let mut unknown = None;
    for (key, ops) in partitions {
        match verdict(model, &ops, format!("{key:?}"), budget_steps) {
            Verdict::Linearizable => {}
            v @ Verdict::NotLinearizable { .. } => return v,
            v @ Verdict::Unknown { .. } => unknown = unknown.or(Some(v)),
        }
    }
    unknown.unwrap_or(Verdict::Linearizable)
}

fn verdict<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    partition: String,
    budget_steps: u64,
) -> Verdict {
    match search(model, ops, budget_steps) {
        Search::Found => Verdict::Linearizable,
        Search::OutOfBudget(steps) => Verdict::Unknown { partition, steps },
        Search::Impossible { longest } => Verdict::NotLinearizable {
            partition,
            explanation: explain(ops, &longest),
        },
    }
}

enum Search {
    Found,
    OutOfBudget(u64),
    /// The longest sequence of operations (indices into `ops`) that was linearizable.
    Impossible {
        longest: Vec<usize>,
    },
}

const NIL: usize = usize::MAX;

/// The events of a history as a doubly linked list: node `2i` is the call of operation
/// `i`, node `2i + 1` its return, node `2n` the head sentinel. Lifting an operation
/// unlinks both of its nodes; they keep their own links, so unlifting in reverse order
/// puts them back exactly.
struct EventList {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl EventList {
    fn new<I, O>(ops: &[&Operation<I, O>]) -> EventList {
        let n = ops.len();
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, 0, 2 * i));
            events.push((op.return_time.unwrap_or(u64::MAX), 1, 2 * i + 1));
        }
        // At equal times calls come first: operations that touch at one instant overlap.
        events.sort_unstable();
        let head = 2 * n;
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = head;
        for &(_, _, node) in &events {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        EventList { next, prev, head }
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(2 * op);
        self.unlink(2 * op + 1);
    }

    fn unlift(&mut self, op: usize) {
        self.relink(2 * op + 1);
        self.relink(2 * op);
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(bits: usize) -> Bitset {
        Bitset(vec![0; bits.div_ceil(64)])
    }
    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }
    fn clear(&mut self, bit: usize) {
        self.0[bit / 64] &= !(1 << (bit % 64));
    }
}

fn search<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    budget_steps: u64,
) -> Search {
    let mut list = EventList::new(ops);
    let mut state = model.init();
    let mut linearized = Bitset::new(ops.len());
    let mut cache: HashSet<(Bitset, M::State)> = HashSet::new();
    // The operations placed so far, each with the state before it.
    let mut placed: Vec<(usize, M::State)> = Vec::new();
    let mut longest: Vec<usize> = Vec::new();
    let mut steps = 0u64;
    let mut entry = list.next[list.head];
    while list.next[list.head] != NIL {
        steps += 1;
        if steps > budget_steps {
            return Search::OutOfBudget(steps);
        }
        if entry % 2 == 0 {
            let op = entry / 2;
            let next_state = model.step(&state, &ops[op].input, ops[op].output.as_ref());
            if let Some(next_state) = next_state {
                let mut bits = linearized.clone();
                bits.set(op);
                if cache.insert((bits.clone(), next_state.clone())) {
                    placed.push((op, std::mem::replace(&mut state, next_state)));
                    linearized = bits;
                    list.lift(op);
                    if placed.len() > longest.len() {
                        longest = placed.iter().map(|(op, _)| *op).collect();
                    }
                    entry = list.next[list.head];
                    continue;
                }
            }
            entry = list.next[entry];
        } else {
            // A return whose operation is not placed yet: nothing after it can go first,
            // so undo the last placement and try the next candidate.
            let Some((op, before)) = placed.pop() else {
                return Search::Impossible { longest };
            };
            state = before;
            linearized.clear(op);
            list.unlift(op);
            entry = list.next[2 * op];
        }
    }
    Search::Found
}

/// Lines of explanation at most, so a huge history stays readable.
const EXPLANATION_LINES_MAX: usize = 40;

fn explain<I: Debug, O: Debug>(ops: &[&Operation<I, O>], longest: &[usize]) -> String {
    let mut text = format!(
        "no order of these {} operations is legal; the longest legal prefix found has {}:\n",
        ops.len(),
        longest.len()
    );
    let mut lines = 0;
    for &i in longest.iter().rev().take(EXPLANATION_LINES_MAX / 2).rev() {
        let _ = writeln!(text, "  ok   {}", ops[i]);
        lines += 1;
    }
    let mut rest: Vec<usize> = (0..ops.len()).filter(|i| !longest.contains(i)).collect();
    rest.sort_by_key(|&i| ops[i].call);
    let _ = writeln!(text, "and none of the following could come next:");
    for i in rest {
        if lines >= EXPLANATION_LINES_MAX {
            let _ = writeln!(text, "  ...");
            break;
        }
        let _ = writeln!(text, "  next {}", ops[i]);
        lines += 1;
    }
    text
}
