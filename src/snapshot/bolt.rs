//! A writer of bbolt database files (go.etcd.io/bbolt 1.3, the format of etcd's backend),
//! page by page, from buckets of sorted key-value pairs, without holding the data in
//! memory.
//!
//! # The file format (bbolt's `page.go`, `db.go`, `bucket.go`, `node.go`)
//!
//! The file is a sequence of pages of [`PAGE_SIZE`] bytes, numbered from 0 (`pgid`). All
//! integers are little-endian (bbolt writes its structs in the machine's order; etcd runs
//! on little-endian machines, and bbolt files are not portable otherwise).
//!
//! - Every page starts with a 16-byte header: `id u64` (its own pgid), `flags u16`
//!   (branch 0x01, leaf 0x02, meta 0x04, freelist 0x10), `count u16` (elements), and
//!   `overflow u32`: a page whose content exceeds one page spans `overflow + 1`
//!   consecutive pages.
//! - Pages 0 and 1 are meta pages: after the header, `magic u32` (0xED0CDAED),
//!   `version u32` (2), `pageSize u32`, `flags u32`, the root bucket (`root pgid u64`,
//!   `sequence u64`), `freelist pgid u64`, `pgid u64` (the high-water mark: pages in
//!   use), `txid u64` and an FNV-1a 64 checksum of the 56 bytes before it. A reader
//!   takes the valid meta page with the higher txid.
//! - A leaf page holds `count` elements of 16 bytes (`flags u32`, `pos u32`, `ksize u32`,
//!   `vsize u32`), then the keys and values; `pos` is the offset of the element's key
//!   from the element itself. Flag 0x01 marks a value that is a nested bucket.
//! - A branch page holds `count` elements of 16 bytes (`pos u32`, `ksize u32`,
//!   `pgid u64`): each child's first key and page.
//! - A bucket is a B+tree of such pages. Its value in the parent bucket is a 16-byte
//!   header (`root pgid u64`, `sequence u64`); a small bucket (a single leaf of at most a
//!   quarter page) is stored *inline*: root 0, and the leaf page's bytes follow the
//!   header inside the value.
//! - The root bucket (in the meta page) lists the top-level buckets by name.
//! - The freelist page lists free pages (`count` u64 ids).
//!
//! # This writer's layout
//!
//! `[meta 0][meta 1][freelist (empty)]`, then for each non-inline bucket in name order
//! its leaves (key order) and its branch pages (bottom level first), then the root
//! bucket's pages. Every page below the high-water mark is in use, so bbolt's `Check`
//! (run by `etcdctl snapshot status`) finds nothing unreachable, and a bbolt that opens
//! the file for writing allocates new pages past its end. Leaves are filled up to a
//! page, as a freshly defragmented etcd backend is.
//!
//! Writing takes two passes over the data: [`Layout::plan`] reads every item to decide
//! where each page goes (so the meta pages, which come first, know the tree's root and
//! the file's size), keeping only the first key of each leaf; [`Layout::write`] reads
//! the items again and emits the pages in file order. The source MUST give the same
//! items both times (a consistent snapshot); a difference is detected and is an error,
//! never a damaged file (each leaf's checksum is kept from the first pass).

use crate::storage::crc32c_update;

/// The page size written (bbolt's default on the machines etcd runs on).
pub const PAGE_SIZE: usize = 4096;
/// bbolt's magic number.
pub(crate) const MAGIC: u32 = 0xED0C_DAED;
/// bbolt's data file format version.
pub(crate) const VERSION: u32 = 2;
/// Size of a page header.
pub(crate) const PAGE_HEADER: usize = 16;
/// Size of a leaf or branch element header.
pub(crate) const ELEMENT: usize = 16;
/// Size of a bucket header (root pgid, sequence).
pub(crate) const BUCKET_HEADER: usize = 16;
pub(crate) const BRANCH_PAGE: u16 = 0x01;
pub(crate) const LEAF_PAGE: u16 = 0x02;
pub(crate) const META_PAGE: u16 = 0x04;
const FREELIST_PAGE: u16 = 0x10;
/// A leaf element whose value is a nested bucket.
pub(crate) const BUCKET_LEAF: u32 = 0x01;
/// The largest bucket bbolt stores inline (`maxInlineBucketSize`).
const MAX_INLINE_BUCKET: usize = PAGE_SIZE / 4;
/// The most elements a page header can count.
const MAX_PAGE_ELEMENTS: usize = u16::MAX as usize - 1;
/// bbolt's largest key (`MaxKeySize`).
pub const MAX_KEY_BYTES: usize = 32_768;
/// bbolt's largest value (`MaxValueSize`).
pub const MAX_VALUE_BYTES: usize = (1 << 31) - 2;
/// The first pgid after the meta and freelist pages.
const FIRST_DATA_PAGE: u64 = 3;
/// The freelist's page.
const FREELIST_PGID: u64 = 2;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    /// The source failed to read.
    #[error("reading the data to snapshot: {0}")]
    Source(String),
    /// The sink refused the bytes (the receiver went away).
    #[error("writing the snapshot: {0}")]
    Sink(String),
    /// Keys of a bucket (or bucket names) not strictly increasing, or empty.
    #[error("bucket {bucket:?}: keys out of order or empty")]
    KeyOrder {
        /// The bucket.
        bucket: String,
    },
    /// A key or value over bbolt's limits.
    #[error("bucket {bucket:?}: a key or value is too large for bbolt")]
    TooLarge {
        /// The bucket.
        bucket: String,
    },
    /// The second pass read other items than the first.
    #[error("bucket {bucket:?} changed between the two passes of the snapshot")]
    SourceChanged {
        /// The bucket.
        bucket: String,
    },
}

/// What a [`Source`] calls with each key-value pair; an error stops the walk.
pub type ItemFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), BoltError> + 'a;

/// Where the items come from: buckets of key-value pairs, each readable twice.
pub trait Source {
    /// The number of buckets.
    fn bucket_count(&self) -> usize;

    /// The name of bucket `bucket`; names MUST be strictly increasing with the index.
    fn bucket_name(&self, bucket: usize) -> &[u8];

    /// Calls `item` with each key-value pair of bucket `bucket`, keys strictly increasing
    /// and non-empty, stopping at (and returning) the first error.
    fn for_each(&self, bucket: usize, item: &mut ItemFn<'_>) -> Result<(), BoltError>;
}

/// One leaf page of a bucket, as planned.
#[derive(Debug, Clone)]
struct LeafPlan {
    first_key: Vec<u8>,
    count: usize,
    /// Bytes of the page's content (header included).
    size: usize,
    /// A CRC-32C of the leaf's keys and values, to prove the second pass read the same.
    crc: u32,
    pgid: u64,
}

impl LeafPlan {
    fn span(&self) -> u64 {
        pages_for(self.size)
    }
}

/// How one bucket is stored.
#[derive(Debug, Clone)]
enum BucketPlan {
    /// In its parent's leaf: the whole bucket value (header and page).
    Inline(Vec<u8>),
    /// In pages of its own.
    Paged {
        leaves: Vec<LeafPlan>,
        /// The encoded branch pages, in pgid order, right after the leaves.
        branches: Vec<u8>,
        root: u64,
    },
}

/// Where every page of the file goes: the result of the first pass.
#[derive(Debug, Clone)]
pub struct Layout {
    buckets: Vec<BucketPlan>,
    /// The root bucket's pages (leaves then branches), encoded.
    root_pages: Vec<u8>,
    root: u64,
    /// The high-water mark: the file's size in pages.
    page_count: u64,
}

/// Packs items into leaves, a page at most each (an item larger than a page gets a leaf
/// of its own, spanning several pages).
#[derive(Default)]
struct LeafPacker {
    leaves: Vec<LeafPlan>,
    current: Option<LeafPlan>,
}

impl LeafPacker {
    fn push(&mut self, key: &[u8], value: &[u8]) {
        let element = ELEMENT + key.len() + value.len();
        if let Some(leaf) = &self.current
            && (leaf.size + element > PAGE_SIZE || leaf.count == MAX_PAGE_ELEMENTS)
            && let Some(full) = self.current.take()
        {
            self.leaves.push(full);
        }
        let leaf = self.current.get_or_insert_with(|| LeafPlan {
            first_key: key.to_vec(),
            count: 0,
            size: PAGE_HEADER,
            crc: 0,
            pgid: 0,
        });
        leaf.count += 1;
        leaf.size += element;
        leaf.crc = crc32c_update(crc32c_update(leaf.crc, key), value);
    }

    /// The leaves; an empty bucket has one empty leaf.
    fn finish(mut self) -> Vec<LeafPlan> {
        if let Some(leaf) = self.current.take() {
            self.leaves.push(leaf);
        }
        if self.leaves.is_empty() {
            self.leaves.push(LeafPlan {
                first_key: Vec::new(),
                count: 0,
                size: PAGE_HEADER,
                crc: 0,
                pgid: 0,
            });
        }
        self.leaves
    }
}

/// Checks that keys are non-empty and strictly increasing, keeping a copy of the last.
struct OrderCheck<'a> {
    bucket: &'a [u8],
    last: Option<Vec<u8>>,
}

impl OrderCheck<'_> {
    fn check(&mut self, key: &[u8], value: &[u8]) -> Result<(), BoltError> {
        let bucket = || String::from_utf8_lossy(self.bucket).into_owned();
        if key.is_empty() || self.last.as_deref().is_some_and(|last| last >= key) {
            return Err(BoltError::KeyOrder { bucket: bucket() });
        }
        if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(BoltError::TooLarge { bucket: bucket() });
        }
        match &mut self.last {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last = Some(key.to_vec()),
        }
        Ok(())
    }
}

impl Layout {
    /// The first pass: reads every bucket once and decides every page's place.
    pub fn plan(source: &dyn Source) -> Result<Layout, BoltError> {
        let mut names = OrderCheck {
            bucket: b"(bucket names)",
            last: None,
        };
        let mut planned = Vec::new();
        for bucket in 0..source.bucket_count() {
            let name = source.bucket_name(bucket);
            names.check(name, &[])?;
            let mut order = OrderCheck {
                bucket: name,
                last: None,
            };
            let mut packer = LeafPacker::default();
            // Items kept while the bucket may still be small enough to store inline.
            let mut small: Option<Vec<(Vec<u8>, Vec<u8>)>> = Some(Vec::new());
            let mut small_size = PAGE_HEADER;
            source.for_each(bucket, &mut |key, value| {
                order.check(key, value)?;
                packer.push(key, value);
                small_size += ELEMENT + key.len() + value.len();
                if small_size > MAX_INLINE_BUCKET {
                    small = None;
                } else if let Some(items) = &mut small {
                    items.push((key.to_vec(), value.to_vec()));
                }
                Ok(())
            })?;
            let leaves = packer.finish();
            planned.push(match small {
                Some(items) if leaves.len() == 1 => {
                    let mut value = vec![0u8; BUCKET_HEADER];
                    value.extend_from_slice(&encode_leaf(
                        0,
                        items.iter().map(|(k, v)| (k.as_slice(), v.as_slice(), 0)),
                        items.len(),
                    ));
                    BucketPlan::Inline(value)
                }
                _ => BucketPlan::Paged {
                    leaves,
                    branches: Vec::new(),
                    root: 0,
                },
            });
        }
        // Page numbers, in file order.
        let mut next = FIRST_DATA_PAGE;
        for plan in &mut planned {
            if let BucketPlan::Paged {
                leaves,
                branches,
                root,
            } = plan
            {
                *root = place_tree(leaves, &mut next, branches);
            }
        }
        let mut directory = Vec::new();
        for (bucket, plan) in planned.iter().enumerate() {
            let value = match plan {
                BucketPlan::Inline(value) => value.clone(),
                BucketPlan::Paged { root, .. } => {
                    let mut header = root.to_le_bytes().to_vec();
                    header.extend_from_slice(&0u64.to_le_bytes());
                    header
                }
            };
            directory.push((source.bucket_name(bucket).to_vec(), value));
        }
        let mut packer = LeafPacker::default();
        for (name, value) in &directory {
            packer.push(name, value);
        }
        let mut leaves = packer.finish();
        let mut root_pages = Vec::new();
        let mut items = directory.iter();
        let first_leaf = next;
        let mut branches = Vec::new();
        let root = place_tree(&mut leaves, &mut next, &mut branches);
        debug_assert_eq!(leaves.first().map(|l| l.pgid), Some(first_leaf));
        for leaf in &leaves {
            let page_items = items.by_ref().take(leaf.count);
            root_pages.extend_from_slice(&encode_leaf(
                leaf.pgid,
                page_items.map(|(k, v)| (k.as_slice(), v.as_slice(), BUCKET_LEAF)),
                leaf.count,
            ));
        }
        root_pages.extend_from_slice(&branches);
        Ok(Layout {
            buckets: planned,
            root_pages,
            root,
            page_count: next,
        })
    }

    /// The size of the file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.page_count * PAGE_SIZE as u64
    }

    /// The second pass: reads the buckets again and hands the file's bytes to `sink`, in
    /// order, a page (or a multi-page leaf) at a time.
    pub fn write(
        &self,
        source: &dyn Source,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), BoltError>,
    ) -> Result<(), BoltError> {
        let mut written = 0u64;
        let mut emit = |bytes: &[u8]| -> Result<(), BoltError> {
            debug_assert_eq!(bytes.len() % PAGE_SIZE, 0);
            written += (bytes.len() / PAGE_SIZE) as u64;
            sink(bytes)
        };
        // bbolt's own convention: meta page `txid % 2`.
        for txid in [0, 1] {
            emit(&encode_meta(txid, self.root, self.page_count))?;
        }
        let mut freelist = vec![0u8; PAGE_SIZE];
        write_page_header(&mut freelist, FREELIST_PGID, FREELIST_PAGE, 0, 0);
        emit(&freelist)?;
        for (bucket, plan) in self.buckets.iter().enumerate() {
            let BucketPlan::Paged {
                leaves, branches, ..
            } = plan
            else {
                continue;
            };
            let changed = || BoltError::SourceChanged {
                bucket: String::from_utf8_lossy(source.bucket_name(bucket)).into_owned(),
            };
            let mut leaf_index = 0;
            let mut items: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut crc = 0;
            source.for_each(bucket, &mut |key, value| {
                let leaf = leaves.get(leaf_index).ok_or_else(changed)?;
                crc = crc32c_update(crc32c_update(crc, key), value);
                items.push((key.to_vec(), value.to_vec()));
                if items.len() == leaf.count {
                    if crc != leaf.crc {
                        return Err(changed());
                    }
                    crc = 0;
                    let page = encode_leaf(
                        leaf.pgid,
                        items.iter().map(|(k, v)| (k.as_slice(), v.as_slice(), 0)),
                        leaf.count,
                    );
                    if page.len() as u64 != leaf.span() * PAGE_SIZE as u64 {
                        return Err(changed());
                    }
                    emit(&page)?;
                    items.clear();
                    leaf_index += 1;
                }
                Ok(())
            })?;
            // (An empty bucket is always inline: every paged leaf has items.)
            if leaf_index != leaves.len() || !items.is_empty() {
                return Err(changed());
            }
            emit(branches)?;
        }
        emit(&self.root_pages)?;
        debug_assert_eq!(written, self.page_count, "the layout's page count");
        Ok(())
    }
}

/// The pages a content of `size` bytes takes.
fn pages_for(size: usize) -> u64 {
    size.max(1).div_ceil(PAGE_SIZE) as u64
}

/// Gives `leaves` their pgids from `next` on, then builds the branch levels above them
/// (encoded into `branches`, pgids following); returns the tree's root pgid.
fn place_tree(leaves: &mut [LeafPlan], next: &mut u64, branches: &mut Vec<u8>) -> u64 {
    for leaf in leaves.iter_mut() {
        leaf.pgid = *next;
        *next += leaf.span();
    }
    let mut level: Vec<(Vec<u8>, u64)> = leaves
        .iter()
        .map(|l| (l.first_key.clone(), l.pgid))
        .collect();
    while level.len() > 1 {
        let mut parents = Vec::new();
        let mut group: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut size = PAGE_HEADER;
        let mut flush = |group: &mut Vec<(Vec<u8>, u64)>, parents: &mut Vec<(Vec<u8>, u64)>| {
            let page = encode_branch(*next, group);
            parents.push((group[0].0.clone(), *next));
            *next += (page.len() / PAGE_SIZE) as u64;
            branches.extend_from_slice(&page);
            group.clear();
        };
        for child in level {
            let element = ELEMENT + child.0.len();
            if !group.is_empty() && (size + element > PAGE_SIZE || group.len() == MAX_PAGE_ELEMENTS)
            {
                flush(&mut group, &mut parents);
                size = PAGE_HEADER;
            }
            size += element;
            group.push(child);
        }
        flush(&mut group, &mut parents);
        level = parents;
    }
    level.first().map_or(0, |(_, pgid)| *pgid)
}

fn write_page_header(page: &mut [u8], pgid: u64, flags: u16, count: usize, overflow: u64) {
    page[0..8].copy_from_slice(&pgid.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
    // Callers keep counts within MAX_PAGE_ELEMENTS and pages within u32 pages.
    page[10..12].copy_from_slice(&(count as u16).to_le_bytes());
    page[12..16].copy_from_slice(&(overflow as u32).to_le_bytes());
}

/// A leaf page (or, with pgid 0 and no padding needed, an inline bucket's page) of
/// `count` items (key, value, flags). A page on disk is padded to whole pages; an
/// inline one is exactly its content.
fn encode_leaf<'a>(
    pgid: u64,
    items: impl Iterator<Item = (&'a [u8], &'a [u8], u32)>,
    count: usize,
) -> Vec<u8> {
    let header_end = PAGE_HEADER + ELEMENT * count;
    let mut page = vec![0u8; header_end];
    write_page_header(&mut page, pgid, LEAF_PAGE, count, 0);
    let mut n = 0;
    for (i, (key, value, flags)) in items.enumerate() {
        let element = PAGE_HEADER + ELEMENT * i;
        let pos = page.len() - element;
        page[element..element + 4].copy_from_slice(&flags.to_le_bytes());
        page[element + 4..element + 8].copy_from_slice(&(pos as u32).to_le_bytes());
        page[element + 8..element + 12].copy_from_slice(&(key.len() as u32).to_le_bytes());
        page[element + 12..element + 16].copy_from_slice(&(value.len() as u32).to_le_bytes());
        page.extend_from_slice(key);
        page.extend_from_slice(value);
        n += 1;
    }
    assert_eq!(n, count, "a leaf's items and its count");
    if pgid != 0 {
        pad_to_pages(&mut page);
    }
    page
}

/// A branch page over `children` (first key, pgid).
fn encode_branch(pgid: u64, children: &[(Vec<u8>, u64)]) -> Vec<u8> {
    let count = children.len();
    let mut page = vec![0u8; PAGE_HEADER + ELEMENT * count];
    write_page_header(&mut page, pgid, BRANCH_PAGE, count, 0);
    for (i, (key, child)) in children.iter().enumerate() {
        let element = PAGE_HEADER + ELEMENT * i;
        let pos = page.len() - element;
        page[element..element + 4].copy_from_slice(&(pos as u32).to_le_bytes());
        page[element + 4..element + 8].copy_from_slice(&(key.len() as u32).to_le_bytes());
        page[element + 8..element + 16].copy_from_slice(&child.to_le_bytes());
        page.extend_from_slice(key);
    }
    pad_to_pages(&mut page);
    page
}

/// Pads a page's content to whole pages and records the extra pages in its header.
fn pad_to_pages(page: &mut Vec<u8>) {
    let pages = pages_for(page.len());
    page.resize(pages as usize * PAGE_SIZE, 0);
    page[12..16].copy_from_slice(&((pages - 1) as u32).to_le_bytes());
}

/// Meta page `txid % 2` for a tree rooted at `root` in a file of `page_count` pages.
fn encode_meta(txid: u64, root: u64, page_count: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    write_page_header(&mut page, txid % 2, META_PAGE, 0, 0);
    let mut meta = Vec::with_capacity(64);
    meta.extend_from_slice(&MAGIC.to_le_bytes());
    meta.extend_from_slice(&VERSION.to_le_bytes());
    meta.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes());
    meta.extend_from_slice(&root.to_le_bytes());
    meta.extend_from_slice(&0u64.to_le_bytes());
    meta.extend_from_slice(&FREELIST_PGID.to_le_bytes());
    meta.extend_from_slice(&page_count.to_le_bytes());
    meta.extend_from_slice(&txid.to_le_bytes());
    let checksum = fnv1a64(&meta);
    meta.extend_from_slice(&checksum.to_le_bytes());
    page[PAGE_HEADER..PAGE_HEADER + meta.len()].copy_from_slice(&meta);
    page
}

/// FNV-1a, 64 bits (Go's `hash/fnv.New64a`), the meta page's checksum.
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
#[path = "bolt_tests.rs"]
pub(crate) mod tests;
