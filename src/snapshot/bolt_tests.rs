//! The writer checked by a reader that follows bbolt's reading code and its `Check`, and
//! against a page written by etcd 3.4.23's bbolt.

use std::collections::BTreeMap;

use super::*;

pub(crate) type Items = Vec<(Vec<u8>, Vec<u8>)>;

/// Buckets in memory, as a [`Source`] (also for the reader's and the import's tests).
#[derive(Default, Clone)]
pub(crate) struct Mem(pub(crate) Vec<(Vec<u8>, Items)>);

impl Source for Mem {
    fn bucket_count(&self) -> usize {
        self.0.len()
    }

    fn bucket_name(&self, bucket: usize) -> &[u8] {
        &self.0[bucket].0
    }

    fn for_each(&self, bucket: usize, item: &mut ItemFn<'_>) -> Result<(), BoltError> {
        for (k, v) in &self.0[bucket].1 {
            item(k, v)?;
        }
        Ok(())
    }
}

/// The file the writer makes of `source`.
pub(crate) fn file_of(source: &dyn Source) -> Result<Vec<u8>, BoltError> {
    let layout = Layout::plan(source)?;
    let mut file = Vec::new();
    layout.write(source, &mut |bytes| {
        file.extend_from_slice(bytes);
        Ok(())
    })?;
    assert_eq!(file.len() as u64, layout.file_bytes());
    Ok(file)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

type Buckets = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// Reads a bbolt file as bbolt does, and runs the checks of bbolt's `Tx.Check`: every
/// page below the high-water mark reachable once or free, page headers naming their
/// own page, keys in order. Panics on any violation.
struct Reader<'a> {
    file: &'a [u8],
    page_count: u64,
    reachable: BTreeMap<u64, ()>,
}

impl<'a> Reader<'a> {
    fn open(file: &'a [u8]) -> (Reader<'a>, u64) {
        assert_eq!(file.len() % PAGE_SIZE, 0);
        let mut metas = Vec::new();
        for pgid in 0..2usize {
            let page = &file[pgid * PAGE_SIZE..];
            assert_eq!(u16_at(page, 8), META_PAGE);
            let meta = &page[PAGE_HEADER..PAGE_HEADER + 64];
            assert_eq!(u32_at(meta, 0), MAGIC);
            assert_eq!(u32_at(meta, 4), VERSION);
            assert_eq!(u32_at(meta, 8) as usize, PAGE_SIZE);
            assert_eq!(u64_at(meta, 56), fnv1a64(&meta[..56]), "meta checksum");
            metas.push((
                u64_at(meta, 48),
                u64_at(meta, 16),
                u64_at(meta, 32),
                u64_at(meta, 40),
            ));
        }
        metas.sort();
        let (_, root, freelist, page_count) = metas[1];
        assert_eq!(
            page_count as usize * PAGE_SIZE,
            file.len(),
            "high-water mark"
        );
        let mut reader = Reader {
            file,
            page_count,
            reachable: BTreeMap::new(),
        };
        reader.mark(0, 0);
        reader.mark(1, 0);
        let free = reader.page(freelist);
        assert_eq!(u16_at(free, 8), FREELIST_PAGE);
        assert_eq!(u16_at(free, 10), 0, "nothing free");
        reader.mark(freelist, 0);
        (reader, root)
    }

    fn page(&self, pgid: u64) -> &'a [u8] {
        assert!(pgid < self.page_count, "page {pgid} out of bounds");
        let page = &self.file[pgid as usize * PAGE_SIZE..];
        assert_eq!(u64_at(page, 0), pgid, "page header names its page");
        page
    }

    fn mark(&mut self, pgid: u64, overflow: u32) {
        for id in pgid..=pgid + u64::from(overflow) {
            assert!(self.reachable.insert(id, ()).is_none(), "page {id} twice");
        }
    }

    /// The items (key, value, flags) of the tree at `pgid`, marking its pages.
    fn tree(&mut self, pgid: u64, out: &mut Vec<(Vec<u8>, Vec<u8>, u32)>) {
        let page = self.page(pgid);
        self.mark(pgid, u32_at(page, 12));
        let flags = u16_at(page, 8);
        let count = usize::from(u16_at(page, 10));
        if flags == LEAF_PAGE {
            out.extend(leaf_items(page, count));
        } else {
            assert_eq!(flags, BRANCH_PAGE);
            for i in 0..count {
                let e = PAGE_HEADER + ELEMENT * i;
                let (pos, ksize) = (u32_at(page, e) as usize, u32_at(page, e + 4) as usize);
                let key = page[e + pos..e + pos + ksize].to_vec();
                let before = out.len();
                self.tree(u64_at(page, e + 8), out);
                assert_eq!(out[before].0, key, "a branch key is its child's first key");
            }
        }
    }

    fn read_all(file: &[u8]) -> Buckets {
        let (mut reader, root) = Reader::open(file);
        let mut directory = Vec::new();
        reader.tree(root, &mut directory);
        let mut buckets = Buckets::new();
        for (name, value, flags) in directory {
            assert_eq!(flags, BUCKET_LEAF);
            let bucket_root = u64_at(&value, 0);
            let items = if bucket_root == 0 {
                let page = &value[BUCKET_HEADER..];
                assert_eq!(u16_at(page, 8), LEAF_PAGE);
                leaf_items(page, usize::from(u16_at(page, 10)))
            } else {
                let mut items = Vec::new();
                reader.tree(bucket_root, &mut items);
                items
            };
            let items: Vec<_> = items.into_iter().map(|(k, v, _)| (k, v)).collect();
            assert!(items.windows(2).all(|w| w[0].0 < w[1].0), "keys in order");
            buckets.insert(name, items);
        }
        for pgid in 0..reader.page_count {
            assert!(
                reader.reachable.contains_key(&pgid),
                "page {pgid} unreachable"
            );
        }
        buckets
    }
}

fn leaf_items(page: &[u8], count: usize) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
    (0..count)
        .map(|i| {
            let e = PAGE_HEADER + ELEMENT * i;
            let pos = u32_at(page, e + 4) as usize;
            let (ks, vs) = (u32_at(page, e + 8) as usize, u32_at(page, e + 12) as usize);
            let key = page[e + pos..e + pos + ks].to_vec();
            let value = page[e + pos + ks..e + pos + ks + vs].to_vec();
            (key, value, u32_at(page, e))
        })
        .collect()
}

fn items(n: usize, value_bytes: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n as u64)
        .map(|i| {
            let mut key = i.to_be_bytes().to_vec();
            key.push(b'_');
            let value = (0..value_bytes).map(|j| (i as usize + j) as u8).collect();
            (key, value)
        })
        .collect()
}

#[test]
fn every_shape_of_bucket_reads_back_and_passes_bbolts_check() {
    let source = Mem(vec![
        (b"empty".to_vec(), Vec::new()),
        (b"inline".to_vec(), items(3, 10)),
        (b"one_branch".to_vec(), items(300, 100)),
        (b"one_page".to_vec(), items(20, 100)),
        // More leaves than one branch page holds: two levels of branches.
        (b"two_branches".to_vec(), items(6000, 100)),
        // Values larger than a page: leaves that overflow onto the next pages.
        (b"z_big".to_vec(), items(5, 3 * PAGE_SIZE + 100)),
    ]);
    let file = file_of(&source).unwrap();
    let read = Reader::read_all(&file);
    let expected: Buckets = source.0.iter().cloned().collect();
    assert_eq!(read, expected);
    // The small buckets are inline, as bbolt stores them: 3 fixed pages plus the
    // others' pages.
    let layout = Layout::plan(&source).unwrap();
    assert!(matches!(layout.buckets[0], BucketPlan::Inline(_)));
    assert!(matches!(layout.buckets[1], BucketPlan::Inline(_)));
    assert!(matches!(layout.buckets[3], BucketPlan::Paged { .. }));
}

#[test]
fn an_empty_database_is_four_pages() {
    let file = file_of(&Mem::default()).unwrap();
    assert_eq!(file.len(), 4 * PAGE_SIZE);
    assert!(Reader::read_all(&file).is_empty());
}

/// etcd 3.4.23's snapshot after `put foo bar; put foo baz; del foo; lease grant 100;
/// put k1 v1 --lease; compact 3`: its root page (page 3, every bucket inline), byte for
/// byte, rebuilt from the same content.
#[test]
fn the_root_page_equals_the_one_etcd_wrote() {
    let golden: String = [
        "030000000000000002000a000000000001000000a0000000050000002000000001000000b50000000400000044000000",
        "01000000ed000000090000002000000001000000060100000900000020000000010000001f0100000700000043000000",
        "010000005901000003000000b100000001000000fd0100000500000044000000010000003602000007000000b3000000",
        "01000000e00200000f0000002000000001000000ff02000004000000af000000616c61726d0000000000000000000000",
        "000000000000000000000000000200000000000000617574680000000000000000000000000000000000000000000000",
        "00020001000000000000000000100000000c00000008000000617574685265766973696f6e0000000000000001617574",
        "68526f6c6573000000000000000000000000000000000000000000000000020000000000000061757468557365727300",
        "00000000000000000000000000000000000000000000000200000000000000636c757374657200000000000000000000",
        "0000000000000000000000000000020001000000000000000000100000000e00000005000000636c7573746572566572",
        "73696f6e332e342e306b6579000000000000000000000000000000000000000000000000020003000000000000000000",
        "300000001100000010000000000000004100000012000000050000000000000048000000110000001800000000000000",
        "000000035f00000000000000000a03666f6f1002180320022a0362617a00000000000000045f0000000000000000740a",
        "03666f6f00000000000000055f00000000000000000a026b311005180520012a02763130888c97d9e6c2a8a0206c6561",
        "736500000000000000000000000000000000000000000000000002000100000000000000000010000000080000000c00",
        "00002040a2166b25c60808888c97d9e6c2a8a02010646d656d6265727300000000000000000000000000000000000000",
        "0000000000020001000000000000000000100000001000000073000000326531323539643431356632613034307b2269",
        "64223a333331393831343634323736313633373935322c227065657255524c73223a5b22687474703a2f2f3132372e30",
        "2e302e313a3233383030225d2c226e616d65223a2265222c22636c69656e7455524c73223a5b22687474703a2f2f3132",
        "372e302e302e313a3233373930225d7d6d656d626572735f72656d6f7665640000000000000000000000000000000000",
        "0000000000000002000000000000006d6574610000000000000000000000000000000000000000000000000200030000",
        "0000000000000030000000100000000800000000000000380000001200000011000000000000004b0000001300000011",
        "000000636f6e73697374656e745f696e646578000000000000000966696e6973686564436f6d70616374526576000000",
        "00000000035f00000000000000007363686564756c6564436f6d7061637452657600000000000000035f",
    ]
    .concat();
    let golden: Vec<u8> = (0..golden.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&golden[i..i + 2], 16).unwrap())
        .collect();
    let b = |s: &str| s.as_bytes().to_vec();
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let rev = |main: u64, tombstone: bool| {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0u64.to_be_bytes());
        if tombstone {
            k.push(b't');
        }
        k
    };
    let source = Mem(vec![
        (b("alarm"), vec![]),
        (
            b("auth"),
            vec![(b("authRevision"), 1u64.to_be_bytes().to_vec())],
        ),
        (b("authRoles"), vec![]),
        (b("authUsers"), vec![]),
        (b("cluster"), vec![(b("clusterVersion"), b("3.4.0"))]),
        (
            b("key"),
            vec![
                (rev(3, false), hex("0a03666f6f1002180320022a0362617a")),
                (rev(4, true), hex("0a03666f6f")),
                (
                    rev(5, false),
                    hex("0a026b311005180520012a02763130888c97d9e6c2a8a020"),
                ),
            ],
        ),
        (
            b("lease"),
            vec![(hex("2040a2166b25c608"), hex("08888c97d9e6c2a8a0201064"))],
        ),
        (
            b("members"),
            vec![(
                b("2e1259d415f2a040"),
                b(concat!(
                    r#"{"id":3319814642761637952,"peerURLs":["http://127.0.0.1:23800"],"#,
                    r#""name":"e","clientURLs":["http://127.0.0.1:23790"]}"#
                )),
            )],
        ),
        (b("members_removed"), vec![]),
        (
            b("meta"),
            vec![
                (b("consistent_index"), 9u64.to_be_bytes().to_vec()),
                (b("finishedCompactRev"), rev(3, false)),
                (b("scheduledCompactRev"), rev(3, false)),
            ],
        ),
    ]);
    let file = file_of(&source).unwrap();
    assert_eq!(file.len(), 4 * PAGE_SIZE, "meta, meta, freelist, root");
    let root = &file[3 * PAGE_SIZE..4 * PAGE_SIZE];
    assert_eq!(&root[..golden.len()], golden.as_slice());
    assert!(root[golden.len()..].iter().all(|&b| b == 0));
}

#[test]
fn a_source_that_changes_between_the_passes_is_an_error_not_a_file() {
    let before = Mem(vec![(b"key".to_vec(), items(500, 100))]);
    let layout = Layout::plan(&before).unwrap();
    let mut after = before.clone();
    after.0[0].1[250].1[0] ^= 1;
    let result = layout.write(&after, &mut |_| Ok(()));
    assert!(
        matches!(result, Err(BoltError::SourceChanged { .. })),
        "{result:?}"
    );
    after.0[0].1[250].1[0] ^= 1;
    after.0[0].1[250].1.push(0);
    let result = layout.write(&after, &mut |_| Ok(()));
    assert!(
        matches!(result, Err(BoltError::SourceChanged { .. })),
        "{result:?}"
    );
    after.0[0].1.pop();
    after.0[0].1[250].1.pop();
    let result = layout.write(&after, &mut |_| Ok(()));
    assert!(
        matches!(result, Err(BoltError::SourceChanged { .. })),
        "{result:?}"
    );
}

#[test]
fn keys_out_of_order_or_empty_are_refused() {
    let unordered = Mem(vec![(
        b"b".to_vec(),
        vec![(b"2".to_vec(), vec![]), (b"1".to_vec(), vec![])],
    )]);
    assert!(matches!(
        Layout::plan(&unordered),
        Err(BoltError::KeyOrder { .. })
    ));
    let empty = Mem(vec![(b"b".to_vec(), vec![(Vec::new(), vec![])])]);
    assert!(matches!(
        Layout::plan(&empty),
        Err(BoltError::KeyOrder { .. })
    ));
    let names = Mem(vec![(b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])]);
    assert!(matches!(
        Layout::plan(&names),
        Err(BoltError::KeyOrder { .. })
    ));
}

#[test]
fn fnv1a64_is_gos() {
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
}
