//! A reader of bbolt database files (the format [`super::bolt`] writes and describes):
//! etcd's backend file, as `etcdctl snapshot save` writes it and `etcdctl snapshot
//! restore` places it at `<data-dir>/member/snap/db`.
//!
//! Pages are read from the file one at a time (a bucket of any size is walked in the
//! memory of its largest page), and every offset, length and page number is checked
//! against the file: a damaged or hostile file is an error, never a panic, a loop or an
//! allocation beyond the file's size. The meta page with the higher transaction id among
//! the valid ones (magic, version, checksum) is the one read, as bbolt does. Free pages
//! are not looked at, so a file etcd wrote while running (with free pages and a freelist
//! that may not be synced) reads as well as a compact one.

use std::path::Path;

use super::bolt::{
    BRANCH_PAGE, BUCKET_HEADER, BUCKET_LEAF, ELEMENT, LEAF_PAGE, MAGIC, META_PAGE, PAGE_HEADER,
    VERSION,
};

/// Where the second meta page is when the first is damaged: one page in, of the size
/// bbolt uses on the machines etcd runs on (the meta page says the real one).
const DEFAULT_PAGE_SIZE: u64 = super::bolt::PAGE_SIZE as u64;
/// The deepest tree read: bbolt's trees of a few billion items are under 10 levels.
const MAX_DEPTH: usize = 64;
/// The largest page span read at once: a value of bbolt's largest size, and a page.
const MAX_SPAN_BYTES: u64 = (1 << 31) + 65_536;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        error: std::io::Error,
    },
    /// The file is not a bbolt database, or is damaged.
    #[error("{0}")]
    Damaged(String),
}

fn damaged(what: impl Into<String>) -> ReadError {
    ReadError::Damaged(what.into())
}

/// Where the bytes come from: a file, or bytes in memory (tests, fuzzing).
pub trait Bytes {
    /// The total length.
    fn len(&self) -> u64;
    /// Whether there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; the caller has checked the range.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Bytes for Vec<u8> {
    fn len(&self) -> u64 {
        Vec::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start.saturating_add(buf.len());
        let bytes = self
            .get(start..end)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// A file on disk.
struct FileBytes {
    file: std::fs::File,
    len: u64,
}

impl Bytes for FileBytes {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// An open bbolt database.
pub struct BoltReader<B: Bytes + ?Sized> {
    bytes: Box<B>,
    path: String,
    page_size: u64,
    /// Pages that may be read (the high-water mark, bounded by the file).
    page_count: u64,
    /// The root bucket's page.
    root: u64,
}

/// Opens the bbolt file at `path`.
pub fn open(path: &Path) -> Result<BoltReader<dyn Bytes>, ReadError> {
    let io = |error| ReadError::Io {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let bytes: Box<dyn Bytes> = Box::new(FileBytes { file, len });
    BoltReader::new(bytes, path.display().to_string())
}

/// Opens a bbolt database held in memory.
pub fn from_bytes(bytes: Vec<u8>) -> Result<BoltReader<dyn Bytes>, ReadError> {
    let bytes: Box<dyn Bytes> = Box::new(bytes);
    BoltReader::new(bytes, "bbolt bytes".to_string())
}

/// What [`BoltReader::for_each`] calls with each key and value.
pub type EachFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), ReadError> + 'a;

/// One item of a page: its flags, key and value.
struct Item {
    flags: u32,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// A meta page's fields: (txid, page size, root pgid, high-water mark).
fn meta_of(page: &[u8]) -> Option<(u64, u64, u64, u64)> {
    let meta = page.get(PAGE_HEADER..PAGE_HEADER + 64)?;
    let flags = u16::from_le_bytes([page[8], page[9]]);
    let u32_at = |at: usize| u32::from_le_bytes(meta[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(meta[at..at + 8].try_into().unwrap_or_default());
    let valid = flags == META_PAGE
        && u32_at(0) == MAGIC
        && u32_at(4) == VERSION
        && u64_at(56) == super::bolt::fnv1a64(&meta[..56]);
    valid.then(|| (u64_at(48), u64::from(u32_at(8)), u64_at(16), u64_at(40)))
}

impl<B: Bytes + ?Sized> BoltReader<B> {
    fn new(bytes: Box<B>, path: String) -> Result<BoltReader<B>, ReadError> {
        let len = bytes.len();
        let read = |offset: u64| -> Option<(u64, u64, u64, u64)> {
            if offset.checked_add(PAGE_HEADER as u64 + 64)? > len {
                return None;
            }
            let mut page = vec![0u8; PAGE_HEADER + 64];
            bytes.read_at(offset, &mut page).ok()?;
            meta_of(&page)
        };
        let first = read(0);
        // The second meta page is one page in: of the size the first says, if it is valid.
        let second = read(first.map_or(DEFAULT_PAGE_SIZE, |m| m.1));
        let (_, page_size, root, high_water) = match (first, second) {
            (Some(a), Some(b)) => {
                if b.0 > a.0 {
                    b
                } else {
                    a
                }
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => {
                return Err(damaged(format!(
                    "{path} is not a bbolt database (no valid meta page)"
                )));
            }
        };
        if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(damaged(format!("{path}: page size {page_size}")));
        }
        let page_count = high_water.min(len / page_size);
        if root < 2 || root >= page_count {
            return Err(damaged(format!("{path}: root page {root} out of bounds")));
        }
        Ok(BoltReader {
            bytes,
            path,
            page_size,
            page_count,
            root,
        })
    }

    /// The page `pgid` with its overflow pages.
    fn page(&self, pgid: u64) -> Result<Vec<u8>, ReadError> {
        if pgid < 2 || pgid >= self.page_count {
            return Err(damaged(format!("{}: page {pgid} out of bounds", self.path)));
        }
        let offset = pgid * self.page_size;
        let mut header = [0u8; PAGE_HEADER];
        self.read(offset, &mut header)?;
        if u64::from_le_bytes(header[..8].try_into().unwrap_or_default()) != pgid {
            return Err(damaged(format!(
                "{}: page {pgid}'s header names another page",
                self.path
            )));
        }
        let overflow = u64::from(u32::from_le_bytes(
            header[12..16].try_into().unwrap_or_default(),
        ));
        let pages = overflow + 1;
        if pgid + overflow >= self.page_count || pages * self.page_size > MAX_SPAN_BYTES {
            return Err(damaged(format!(
                "{}: page {pgid} overflows past the file",
                self.path
            )));
        }
        let mut page = vec![0u8; (pages * self.page_size) as usize];
        self.read(offset, &mut page)?;
        Ok(page)
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.bytes
            .read_at(offset, buf)
            .map_err(|error| ReadError::Io {
                path: self.path.clone(),
                error,
            })
    }

    /// Calls `item` with each item of the tree at `pgid`, in key order. `seen` holds the
    /// pages of the tree read so far: a page reached twice (a cycle) is an error.
    fn walk(
        &self,
        pgid: u64,
        depth: usize,
        seen: &mut std::collections::HashSet<u64>,
        item: &mut dyn FnMut(Item) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        if depth > MAX_DEPTH {
            return Err(damaged(format!(
                "{}: a tree deeper than {MAX_DEPTH}",
                self.path
            )));
        }
        if !seen.insert(pgid) {
            return Err(damaged(format!(
                "{}: page {pgid} is reached twice",
                self.path
            )));
        }
        let page = self.page(pgid)?;
        match u16::from_le_bytes([page[8], page[9]]) {
            LEAF_PAGE => leaf_items(&page, &self.path)?
                .into_iter()
                .try_for_each(item),
            BRANCH_PAGE => branch_children(&page, &self.path)?
                .into_iter()
                .try_for_each(|child| self.walk(child, depth + 1, seen, item)),
            flags => Err(damaged(format!(
                "{}: page {pgid} has flags {flags:#x}, not a branch or leaf",
                self.path
            ))),
        }
    }

    /// The items of the root bucket: the top-level buckets' names and headers.
    fn directory(
        &self,
        item: &mut dyn FnMut(Item) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        self.walk(self.root, 0, &mut std::collections::HashSet::new(), item)
    }

    /// The names of the top-level buckets, in order.
    pub fn bucket_names(&self) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut names = Vec::new();
        self.directory(&mut |item| {
            if item.flags & BUCKET_LEAF != 0 {
                names.push(item.key);
            }
            Ok(())
        })?;
        Ok(names)
    }

    /// Calls `each` with every key and value of top-level bucket `name`, in key order
    /// (nested buckets skipped); `false` if there is no such bucket.
    pub fn for_each(&self, name: &[u8], each: &mut EachFn<'_>) -> Result<bool, ReadError> {
        let mut header = None;
        self.directory(&mut |item| {
            if item.flags & BUCKET_LEAF != 0 && item.key == name {
                header = Some(item.value);
            }
            Ok(())
        })?;
        let Some(header) = header else {
            return Ok(false);
        };
        if header.len() < BUCKET_HEADER {
            return Err(damaged(format!(
                "{}: bucket {:?}'s header is short",
                self.path,
                String::from_utf8_lossy(name)
            )));
        }
        let root = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
        let mut pass = |item: Item| {
            if item.flags & BUCKET_LEAF == 0 {
                each(&item.key, &item.value)?;
            }
            Ok(())
        };
        if root == 0 {
            // An inline bucket: its one leaf follows the header.
            let page = &header[BUCKET_HEADER..];
            if page.len() < PAGE_HEADER || u16::from_le_bytes([page[8], page[9]]) != LEAF_PAGE {
                return Err(damaged(format!(
                    "{}: inline bucket {:?} is not a leaf",
                    self.path,
                    String::from_utf8_lossy(name)
                )));
            }
            leaf_items(page, &self.path)?
                .into_iter()
                .try_for_each(&mut pass)?;
        } else {
            self.walk(root, 1, &mut std::collections::HashSet::new(), &mut pass)?;
        }
        Ok(true)
    }
}

fn count_of(page: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([page[10], page[11]]))
}

fn u32_in(page: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(page.get(at..at + 4)?.try_into().ok()?))
}

/// The items of a leaf page.
fn leaf_items(page: &[u8], path: &str) -> Result<Vec<Item>, ReadError> {
    let bad = || damaged(format!("{path}: a leaf element points outside its page"));
    (0..count_of(page))
        .map(|i| {
            let at = PAGE_HEADER + ELEMENT * i;
            let flags = u32_in(page, at).ok_or_else(bad)?;
            let pos = u32_in(page, at + 4).ok_or_else(bad)? as usize;
            let ksize = u32_in(page, at + 8).ok_or_else(bad)? as usize;
            let vsize = u32_in(page, at + 12).ok_or_else(bad)? as usize;
            let key_at = at.checked_add(pos).ok_or_else(bad)?;
            let value_at = key_at.checked_add(ksize).ok_or_else(bad)?;
            let end = value_at.checked_add(vsize).ok_or_else(bad)?;
            if end > page.len() {
                return Err(bad());
            }
            Ok(Item {
                flags,
                key: page[key_at..value_at].to_vec(),
                value: page[value_at..end].to_vec(),
            })
        })
        .collect()
}

/// The child pages of a branch page.
fn branch_children(page: &[u8], path: &str) -> Result<Vec<u64>, ReadError> {
    (0..count_of(page))
        .map(|i| {
            let at = PAGE_HEADER + ELEMENT * i + 8;
            page.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| damaged(format!("{path}: a branch element outside its page")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::bolt::tests::{Mem, file_of};
    use super::*;

    fn written(source: &Mem) -> Vec<u8> {
        file_of(source).unwrap()
    }

    fn read_back(reader: &BoltReader<dyn Bytes>, name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut items = Vec::new();
        let found = reader
            .for_each(name, &mut |k, v| {
                items.push((k.to_vec(), v.to_vec()));
                Ok(())
            })
            .unwrap();
        assert!(found);
        items
    }

    fn sample() -> Mem {
        let many: Vec<_> = (0..20_000u32)
            .map(|i| {
                (
                    i.to_be_bytes().to_vec(),
                    vec![(i % 251) as u8; (i % 300) as usize],
                )
            })
            .collect();
        let large = vec![(b"big".to_vec(), vec![7u8; 3 * 4096 + 5])];
        let small = vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), Vec::new())];
        Mem(vec![
            (b"empty".to_vec(), Vec::new()),
            (b"key".to_vec(), many),
            (b"large".to_vec(), large),
            (b"small".to_vec(), small),
        ])
    }

    #[test]
    fn what_the_writer_writes_reads_back() {
        let source = sample();
        let reader = from_bytes(written(&source)).unwrap();
        assert_eq!(
            reader.bucket_names().unwrap(),
            source.0.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
        );
        for (name, items) in &source.0 {
            assert_eq!(&read_back(&reader, name), items, "{name:?}");
        }
        let missing = reader.for_each(b"nope", &mut |_, _| Ok(())).unwrap();
        assert!(!missing);
    }

    #[test]
    fn damage_is_an_error_and_never_a_panic() {
        let file = written(&sample());
        assert!(from_bytes(Vec::new()).is_err());
        assert!(from_bytes(vec![0u8; 8192]).is_err());
        // Flip bytes all over the file: each read fails or gives some items, no panic.
        let mut rng = crate::raft::SeededRng::new(5);
        for _ in 0..300 {
            let mut bad = file.clone();
            for _ in 0..4 {
                let at = (rng.next_u64() % bad.len() as u64) as usize;
                bad[at] ^= 1 << (rng.next_u64() % 8);
            }
            if let Ok(reader) = from_bytes(bad) {
                if let Ok(names) = reader.bucket_names() {
                    for name in names {
                        let _ = reader.for_each(&name, &mut |_, _| Ok(()));
                    }
                }
            }
        }
        // A file cut short.
        let cut = file[..file.len() / 2].to_vec();
        if let Ok(reader) = from_bytes(cut) {
            assert!(reader.for_each(b"key", &mut |_, _| Ok(())).is_err());
        }
    }
}
