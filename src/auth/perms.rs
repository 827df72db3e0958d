//! Key permissions as etcd checks them: a permission covers one key (no range end), or
//! the range [key, range_end), where a range end of `\0` means "to the end of the
//! keyspace". A request is permitted when the union of the user's permissions of the
//! right type covers the whole of its range (a single key: some permission contains it).

use crate::pb::authpb::{Permission, permission::Type};

/// What a request does with its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads them.
    Read,
    /// Writes them.
    Write,
}

impl Access {
    /// Whether a permission of type `kind` (authpb's enum value) grants this access.
    fn granted_by(self, kind: i32) -> bool {
        kind == Type::Readwrite as i32
            || match self {
                Access::Read => kind == Type::Read as i32,
                Access::Write => kind == Type::Write as i32,
            }
    }
}

/// An interval's upper end: `None` is past every key.
type End = Option<Vec<u8>>;

/// The interval a permission covers: a point is [key, key + "\0").
fn interval(key: &[u8], range_end: &[u8]) -> (Vec<u8>, End) {
    match range_end {
        [] => {
            let mut end = key.to_vec();
            end.push(0);
            (key.to_vec(), Some(end))
        }
        [0] => (key.to_vec(), None),
        end => (key.to_vec(), Some(end.to_vec())),
    }
}

/// Whether `end` lies strictly above `at`.
fn above(end: &End, at: &[u8]) -> bool {
    end.as_deref().is_none_or(|end| end > at)
}

/// Whether `perms` grant `access` to the key `key` (no `range_end`) or to the whole of
/// [key, range_end) (`\0`: to the end of the keyspace).
pub fn covers<'a>(
    perms: impl IntoIterator<Item = &'a Permission>,
    access: Access,
    key: &[u8],
    range_end: &[u8],
) -> bool {
    let mut intervals: Vec<(Vec<u8>, End)> = perms
        .into_iter()
        .filter(|p| access.granted_by(p.perm_type))
        .map(|p| interval(&p.key, &p.range_end))
        .collect();
    if range_end.is_empty() {
        return intervals
            .iter()
            .any(|(begin, end)| begin.as_slice() <= key && above(end, key));
    }
    let wanted_end: End = (range_end != [0]).then(|| range_end.to_vec());
    // An empty range touches no permission, and etcd refuses it.
    if wanted_end.as_deref().is_some_and(|end| end <= key) {
        return false;
    }
    intervals.sort();
    // Walk up from `key`, extending over every interval that starts at or below the
    // point reached so far (touching intervals join).
    let mut reached: End = Some(key.to_vec());
    for (begin, end) in intervals {
        let Some(at) = reached.as_deref() else {
            break;
        };
        if begin.as_slice() > at {
            break;
        }
        if above(&end, at) {
            reached = end;
        }
    }
    match (reached, wanted_end) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(reached), Some(wanted)) => reached >= wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(kind: Type, key: &str, range_end: &[u8]) -> Permission {
        Permission {
            perm_type: kind as i32,
            key: key.as_bytes().to_vec(),
            range_end: range_end.to_vec(),
        }
    }

    #[test]
    fn a_key_permission_covers_that_key_only() {
        let perms = [perm(Type::Read, "foo", b"")];
        assert!(covers(&perms, Access::Read, b"foo", b""));
        assert!(!covers(&perms, Access::Read, b"foo0", b""));
        assert!(!covers(&perms, Access::Read, b"fo", b""));
        assert!(!covers(&perms, Access::Write, b"foo", b""));
        // The range holding only "foo" is [foo, foo\0).
        assert!(covers(&perms, Access::Read, b"foo", b"foo\0"));
        assert!(!covers(&perms, Access::Read, b"foo", b"fop"));
    }

    #[test]
    fn a_range_permission_covers_its_sub_ranges() {
        let perms = [perm(Type::Readwrite, "a", b"m")];
        for access in [Access::Read, Access::Write] {
            assert!(covers(&perms, access, b"a", b""));
            assert!(covers(&perms, access, b"lzzz", b""));
            assert!(!covers(&perms, access, b"m", b""));
            assert!(covers(&perms, access, b"b", b"c"));
            assert!(covers(&perms, access, b"a", b"m"));
            assert!(!covers(&perms, access, b"a", b"n"));
            assert!(!covers(&perms, access, b"a", b"\0"));
            assert!(!covers(&perms, access, b"0", b"b"));
        }
    }

    #[test]
    fn touching_permissions_join_and_gaps_do_not() {
        let perms = [
            perm(Type::Read, "c", b"e"),
            perm(Type::Readwrite, "a", b"c"),
            perm(Type::Read, "g", b"\0"),
        ];
        assert!(covers(&perms, Access::Read, b"a", b"e"));
        assert!(!covers(&perms, Access::Write, b"a", b"e"));
        assert!(covers(&perms, Access::Write, b"a", b"c"));
        assert!(!covers(&perms, Access::Read, b"a", b"h"));
        assert!(covers(&perms, Access::Read, b"g", b"\0"));
        assert!(covers(&perms, Access::Read, b"zzz", b""));
        assert!(!covers(&perms, Access::Read, b"f", b""));
    }

    #[test]
    fn the_whole_keyspace_needs_a_permission_to_its_end() {
        let everything = [perm(Type::Readwrite, "\0", b"\0")];
        assert!(covers(&everything, Access::Write, b"\0", b"\0"));
        assert!(covers(&everything, Access::Read, b"anything", b""));
        let bounded = [perm(Type::Readwrite, "\0", b"\xff\xff")];
        assert!(!covers(&bounded, Access::Read, b"\0", b"\0"));
        assert!(!covers(&[], Access::Read, b"a", b""));
    }

    #[test]
    fn an_empty_range_is_refused() {
        let perms = [perm(Type::Read, "a", b"z")];
        assert!(!covers(&perms, Access::Read, b"c", b"b"));
        assert!(!covers(&perms, Access::Read, b"c", b"c"));
    }
}
