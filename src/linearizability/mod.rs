//! A porcupine-style linearizability checker.
//!
//! A history is a set of client [`Operation`]s, each with the time it was called and the
//! time its answer came back (or none, when the client never learned the outcome: a
//! timed-out write may or may not have taken effect). The history is linearizable if
//! every operation can be given one instant between its call and its return at which it
//! took effect, such that the operations in that order are a legal run of a sequential
//! [`Model`] and every answer equals the model's.
//!
//! [`check`] searches for such an order with the algorithm of Wing & Gong as improved by
//! Lowe (and used by porcupine): a depth-first search over the operations that may go
//! next, with a cache of (set of operations linearized, model state) pairs already seen,
//! so that equivalent orders are explored once. The search is exponential in the worst
//! case; a step budget turns a search that is too long into [`Verdict::Unknown`] instead
//! of a hang.
//!
//! Operations on different keys of a key-value store commute, so [`check_partitioned`]
//! checks each key on its own (what porcupine calls partitioning), which keeps the search
//! small. [`kv`] is the key-value model used by the simulation and the fault tests.
//!
//! Ambiguous operations (no return) are treated as porcupine does: they return at
//! "infinity", so the search may place them anywhere after their call, including after
//! every other operation, where they affect nothing (the write that never happened).

mod checker;
pub mod kv;

pub use checker::{Operation, Verdict, check, check_partitioned};

/// A sequential specification: the object the history claims to be.
pub trait Model {
    /// The state of the object. Equal states are interchangeable for the rest of the
    /// search, so the state MUST capture everything later answers depend on.
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug;
    /// What a client asked.
    type Input: std::fmt::Debug;
    /// What it was told. `None` in [`Operation::output`] means it was never told.
    type Output: std::fmt::Debug;

    /// The initial state.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`. Returns the next state if `output` is what the object
    /// would have answered (any answer is legal when `output` is `None`), or `None` if
    /// the answer is impossible from this state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}
