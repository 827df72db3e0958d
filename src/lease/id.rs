//! Choosing the id of a lease whose grant request leaves it to the server (ID 0).

/// The id for a grant that asked for id 0: positive and non-zero, as etcd's
/// `int64(s.reqIDGen.Next() & ((1 << 63) - 1))` in `EtcdServer.LeaseGrant`, taken from
/// `random` (the proposer's seeded generator, or an idutil-style counter) and moved on
/// to the next free positive id while `exists` says it is taken.
///
/// Runs on the proposer before proposing, not at apply time: the id is part of the
/// proposal so that every member applies the same grant. `exists` sees only the leases
/// applied so far, so two proposals may still pick one id; the second then fails at
/// apply time with [`LeaseError::LeaseExists`](super::LeaseError::LeaseExists), as in
/// etcd (which does not look at all). With 63 random bits that is vanishingly rare.
pub fn pick_id(random: u64, exists: impl Fn(i64) -> bool) -> i64 {
    // The mask keeps 63 bits, so the cast cannot make a negative number.
    let mut id = (random & (i64::MAX as u64)) as i64;
    // Terminates: fewer than 2^63 - 1 leases exist.
    while id == 0 || exists(id) {
        id = id % i64::MAX + 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_id_is_the_random_bits_without_the_sign_bit() {
        assert_eq!(pick_id(0x1234, |_| false), 0x1234);
        assert_eq!(pick_id(u64::MAX, |_| false), i64::MAX);
        assert_eq!(pick_id(0x8000_0000_0000_0005, |_| false), 5);
    }

    #[test]
    fn picked_id_is_never_zero_nor_taken() {
        assert_eq!(pick_id(0, |_| false), 1);
        assert_eq!(pick_id(1 << 63, |_| false), 1);
        assert_eq!(pick_id(7, |id| (7..=9).contains(&id)), 10);
        // Past the largest id it wraps to 1, never to 0 or a negative id.
        assert_eq!(pick_id(u64::MAX, |id| id == i64::MAX), 1);
    }
}
