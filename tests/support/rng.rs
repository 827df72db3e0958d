//! A small seeded generator for the fault tests: a seed printed at the start chooses the
//! same faults again (the processes' timing still varies from run to run).

/// The raft core's seeded SplitMix64, with what the fault tests draw.
#[derive(Clone, Debug)]
pub struct Rng(etcd_rs::raft::SeededRng);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(etcd_rs::raft::SeededRng::new(seed))
    }

    /// A seed from the clock, for runs that do not ask for one.
    pub fn seed_from_clock() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `[0, n)`; `n` MUST be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.range(0, n)
    }

    /// A number in `[lo, hi]`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// Shuffles `items` (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
