//! Keys, values and the small random number generator of the load.

use std::time::{SystemTime, UNIX_EPOCH};

use super::flags::KeyFlags;

/// The load's random numbers: the raft core's seeded SplitMix64 (not for anything secret).
#[derive(Debug, Clone)]
pub struct Rng(crate::raft::SeededRng);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(crate::raft::SeededRng::new(seed))
    }

    /// A generator seeded from the clock and `stream` (e.g. a client's number), so that
    /// clients of one run and successive runs draw different keys.
    pub fn from_clock(stream: u64) -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::new(nanos ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// A number in `[0, n)`; `n` MUST be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.range(0, n)
    }
}

/// `len` random letters and digits (values and watch-latency's key).
pub fn printable(rng: &mut Rng, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

/// The keys of `put` and `txn-put`: `size` keys, key `i` being `i` in decimal,
/// zero-padded to `key_size` bytes.
#[derive(Debug, Clone)]
pub struct KeySpace {
    /// Invariant: positive, and `size - 1` has at most `key_size` decimal digits
    /// (checked by the flags).
    size: u64,
    key_size: usize,
    sequential: bool,
}

impl KeySpace {
    /// The key space the flags describe (already validated).
    pub fn new(flags: &KeyFlags) -> KeySpace {
        KeySpace {
            size: flags.key_space_size.max(1),
            key_size: flags.key_size,
            sequential: flags.sequential_keys,
        }
    }

    /// How many keys.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The key index of request `n`: `n` modulo the size with `--sequential-keys`, else
    /// uniformly random.
    pub fn index(&self, n: u64, rng: &mut Rng) -> u64 {
        if self.sequential {
            n % self.size
        } else {
            rng.below(self.size)
        }
    }

    /// Key number `index`.
    pub fn key(&self, index: u64) -> Vec<u8> {
        format!("{index:0width$}", width = self.key_size).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_decimal_indices() {
        let keys = KeySpace::new(&KeyFlags {
            key_size: 8,
            key_space_size: 100,
            sequential_keys: true,
            ..KeyFlags::default()
        });
        assert_eq!(keys.key(7), b"00000007");
        let mut rng = Rng::new(1);
        assert_eq!(keys.index(123, &mut rng), 23, "sequential wraps around");
    }

    #[test]
    fn random_indices_stay_in_the_key_space_and_cover_it() {
        let keys = KeySpace::new(&KeyFlags {
            key_space_size: 10,
            ..KeyFlags::default()
        });
        let mut rng = Rng::new(42);
        let mut seen = [false; 10];
        for n in 0..1000 {
            seen[keys.index(n, &mut rng) as usize] = true;
        }
        assert!(
            seen.iter().all(|s| *s),
            "1000 draws missed a key of 10: {seen:?}"
        );
    }

    #[test]
    fn printable_values_have_the_asked_size() {
        let value = printable(&mut Rng::new(3), 256);
        assert_eq!(value.len(), 256);
        assert!(value.iter().all(u8::is_ascii_alphanumeric));
    }
}
