//! The row counter against real pg_dump 15 archives (testdata/, made from
//! one database with `pg_dump -Fc` and `pg_dump -Fc -Z0`) and against
//! crafted, truncated and mutated bytes: a hostile archive gives up, it never
//! panics and never makes the counter hold more than its bounds.

use std::io::Write as _;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use super::*;

const ZLIB: &[u8] = include_bytes!("testdata/pg15-zlib.dump");
const PLAIN: &[u8] = include_bytes!("testdata/pg15-plain.dump");

/// What the fixture database holds (psql's count(*) per table), minus the
/// extension's configuration table `mf_cfg`, whose data the extension's
/// script also writes, and the materialized view.
fn expected() -> RowCounts {
    [
        ("\"My Schema\".\"t\"\"q\"", 2),
        ("public.\"User\"", 4),
        ("public.\"select\"", 1),
        ("public.blanks", 4),
        ("public.empty", 0),
        ("public.part1", 3),
        ("public.people", 5000),
        ("public.ul", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn counted_in(bytes: &[u8], chunk: usize) -> Parse<RowCounts> {
    let chunks: Vec<Bytes> = bytes
        .chunks(chunk.max(1))
        .map(Bytes::copy_from_slice)
        .collect();
    count(chunks.into_iter(), &AtomicBool::new(false))
}

#[test]
fn real_archives_count_exactly_however_they_are_split() {
    for (name, archive) in [("zlib", ZLIB), ("plain", PLAIN)] {
        for chunk in [1, 7, 4096, 65536, archive.len()] {
            assert_eq!(
                counted_in(archive, chunk).as_ref(),
                Ok(&expected()),
                "{name} in chunks of {chunk}"
            );
        }
    }
}

#[test]
fn every_truncation_gives_up() {
    for archive in [ZLIB, PLAIN] {
        // Every prefix through the header and first entries, then a sample.
        let cuts = (0..2048).chain((2048..archive.len()).step_by(257));
        for cut in cuts {
            let r = counted_in(&archive[..cut], 4096);
            assert!(
                r.is_err(),
                "a cut at {cut} of {} counted {r:?}",
                archive.len()
            );
        }
    }
}

#[test]
fn mutated_archives_never_panic() {
    // A fixed-seed xorshift: the same mutations every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..200 {
        let mut bytes = if round % 2 == 0 { ZLIB } else { PLAIN }.to_vec();
        for _ in 0..=(next() % 4) {
            let i = usize::try_from(next() % bytes.len() as u64).unwrap();
            bytes[i] = u8::try_from(next() & 0xff).unwrap();
        }
        // Ok or a reason: either way it returned.
        let _ = counted_in(&bytes, 1 + usize::try_from(next() % 9000).unwrap());
    }
}

/// Builds archives field by field, as pg_dump writes them.
struct Craft {
    bytes: Vec<u8>,
}

fn int(v: i64) -> Vec<u8> {
    let mut b = vec![u8::from(v < 0)];
    b.extend_from_slice(&u32::try_from(v.unsigned_abs()).unwrap().to_le_bytes());
    b
}

impl Craft {
    fn new(minor: u8, zlib: bool) -> Self {
        let mut c = Self {
            bytes: b"PGDMP".to_vec(),
        };
        c.raw(&[1, minor, 0, 4, 8, 1]);
        if minor >= 15 {
            c.raw(&[u8::from(zlib)]);
        } else {
            c.int(if zlib { -1 } else { 0 });
        }
        for _ in 0..7 {
            c.int(1);
        }
        for s in ["db", "15.0", "15.0"] {
            c.str(Some(s));
        }
        c
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(b);
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.bytes.extend(int(v));
        self
    }
    fn str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.int(-1),
            Some(s) => self.int(i64::try_from(s.len()).unwrap()).raw(s.as_bytes()),
        }
    }
    /// One TOC entry.
    fn entry(&mut self, minor: u8, id: i64, desc: &str, table: &str, deps: &[i64]) -> &mut Self {
        let copy = format!("COPY public.{table} (a) FROM stdin;\n");
        self.int(id).int(1).str(Some("0")).str(Some("0"));
        self.str(Some(table)).str(Some(desc)).int(2);
        self.str(Some(""))
            .str(Some(""))
            .str(Some(&copy))
            .str(Some("public"));
        self.str(Some(""));
        if minor >= 14 {
            self.str(Some("heap"));
        }
        if minor >= 16 {
            self.int(114);
        }
        self.str(Some("postgres")).str(Some("false"));
        for d in deps {
            self.str(Some(&d.to_string()));
        }
        self.str(None).raw(&[1, 0, 0, 0, 0, 0, 0, 0, 0])
    }
    /// A TOC with table `t` (id 1) and its data (id 2).
    fn one_table(minor: u8, zlib: bool) -> Self {
        let mut c = Self::new(minor, zlib);
        c.int(2).entry(minor, 1, "TABLE", "t", &[]);
        c.entry(minor, 2, "TABLE DATA", "t", &[1]);
        c
    }
    fn block(&mut self, id: i64, chunks: &[&[u8]]) -> &mut Self {
        self.raw(&[BLK_DATA]).int(id);
        for ch in chunks {
            self.int(i64::try_from(ch.len()).unwrap()).raw(ch);
        }
        self.int(0)
    }
    fn counted(&self) -> Parse<RowCounts> {
        counted_in(&self.bytes, 3)
    }
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn t(rows: i64) -> RowCounts {
    [("public.t".to_string(), rows)].into()
}

#[test]
fn versions_14_to_16_with_and_without_zlib() {
    let data = b"1\n2\n3\n\\.\n\n\n";
    for minor in [13, 14, 15, 16] {
        let mut c = Craft::one_table(minor, false);
        c.block(2, &[&data[..5], &data[5..]]);
        assert_eq!(c.counted(), Ok(t(3)), "1.{minor} plain");
        let mut c = Craft::one_table(minor, true);
        let z = zlib(data);
        c.block(2, &[&z[..4], &z[4..]]);
        assert_eq!(c.counted(), Ok(t(3)), "1.{minor} zlib");
    }
}

#[test]
fn end_markers_and_blank_rows() {
    for (data, rows) in [
        (&b"\\.\n\n\n"[..], Ok(0)),
        (b"", Ok(0)),
        (b"\n\n\\.\n\n\n", Ok(2)),     // two rows of one empty string
        (b"a\\\\.\n\\.\n\n\n", Ok(1)), // a value ending in an escaped backslash
        (b"x\n\\.\n", Ok(1)),          // a marker without blank lines
        (b"x\ny\n", Ok(2)),            // no marker at all
        (b"x\ny", Err(())),            // a cut-off last line
        (b"x\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", Err(())), // cannot tell
    ] {
        let mut c = Craft::one_table(14, false);
        let chunks: &[&[u8]] = if data.is_empty() { &[] } else { &[data] };
        c.block(2, chunks);
        let got = c.counted().map(|m| m["public.t"]).map_err(drop);
        assert_eq!(got, rows, "{:?}", String::from_utf8_lossy(data));
    }
}

#[test]
fn crafted_archives_give_up_with_a_reason() {
    let why = |c: &Craft| c.counted().unwrap_err();
    let mut c = Craft::one_table(14, false);
    c.raw(&[BLK_DATA]).int(2).int(-5);
    assert!(why(&c).contains("negative chunk length"), "{}", why(&c));

    let mut c = Craft::one_table(14, false);
    c.raw(&[9]);
    assert!(why(&c).contains("unknown block type 9"));

    let mut c = Craft::one_table(14, false);
    c.block(2, &[b"1\n"]).block(2, &[b"1\n"]);
    assert!(why(&c).contains("two data blocks"));

    let c = Craft::one_table(14, false); // no data at all
    assert!(why(&c).contains("ended before the data of public.t"));

    let mut c = Craft::one_table(14, true);
    c.block(2, &[b"not zlib at all"]);
    assert!(why(&c).contains("does not inflate"), "{}", why(&c));

    let mut c = Craft::one_table(14, true);
    let z = zlib(b"1\n\\.\n\n\n");
    c.block(2, &[&z[..z.len() - 3]]);
    assert!(why(&c).contains("ended early"), "{}", why(&c));

    let mut c = Craft::one_table(14, true);
    let mut z = zlib(b"1\n\\.\n\n\n");
    z.extend_from_slice(b"trailing");
    c.block(2, &[&z]);
    assert!(why(&c).contains("after the end"), "{}", why(&c));

    assert!(
        why(&Craft {
            bytes: b"PGDMX".to_vec()
        })
        .contains("not a pg_dump")
    );
    let mut c = Craft::new(17, false);
    c.int(0);
    assert!(why(&c).contains("version 1.17"), "{}", why(&c));
    let mut c = Craft::new(16, false);
    c.bytes[5 + 6] = 3; // pg_dump's own zstd
    assert!(why(&c).contains("algorithm 3"), "{}", why(&c));

    // A data entry whose COPY names another table.
    let mut c = Craft::new(14, false);
    c.int(2).entry(14, 1, "TABLE", "t", &[]);
    c.int(2)
        .int(1)
        .str(Some("0"))
        .str(Some("0"))
        .str(Some("t"))
        .str(Some("TABLE DATA"));
    c.int(2)
        .str(Some(""))
        .str(Some(""))
        .str(Some("COPY public.u (a) FROM stdin;\n"));
    c.str(Some("public"))
        .str(Some(""))
        .str(Some("heap"))
        .str(Some("postgres"));
    c.str(Some("false")).str(Some("1")).str(None).raw(&[1; 9]);
    assert!(why(&c).contains("not a plain COPY"), "{}", why(&c));
}

#[test]
fn huge_lengths_are_streamed_past_not_allocated() {
    // A 2 GiB definition string in a 100-byte archive: truncated, at once.
    let mut c = Craft::new(14, false);
    c.int(1)
        .int(1)
        .int(1)
        .str(Some("0"))
        .str(Some("0"))
        .str(Some("t"));
    c.str(Some("TABLE"))
        .int(2)
        .int(i64::from(i32::MAX))
        .raw(b"abc");
    assert!(c.counted().unwrap_err().contains("truncated"));
    // A claimed 2^31 entries, then nothing.
    let mut c = Craft::new(14, false);
    c.int(i64::from(i32::MAX));
    assert!(c.counted().unwrap_err().contains("truncated"));
    // A 1 GiB chunk of a table that is not counted is skipped as it streams.
    let mut c = Craft::one_table(14, false);
    c.raw(&[BLK_DATA]).int(99).int(1 << 30);
    let head = Bytes::from(c.bytes.clone());
    let body = std::iter::repeat_n(Bytes::from(vec![b'x'; 1 << 20]), 1 << 10);
    let tail = [
        Bytes::from(int(0)),
        Bytes::from(Craft::block_bytes(2, b"1\n2\n")),
    ];
    let chunks = std::iter::once(head).chain(body).chain(tail);
    assert_eq!(count(chunks, &AtomicBool::new(false)), Ok(t(2)));
}

impl Craft {
    fn block_bytes(id: i64, data: &[u8]) -> Vec<u8> {
        let mut c = Craft { bytes: vec![] };
        c.block(id, &[data]);
        c.bytes
    }
}

#[test]
fn a_table_of_contents_past_the_memory_bound_gives_up() {
    // Millions of TABLE entries, generated as they are read: the counter
    // stops remembering at its bound instead of growing.
    let mut head = Craft::new(14, false);
    head.int(i64::from(i32::MAX));
    let entries = (1..).map(|id| {
        let mut one = Craft { bytes: vec![] };
        one.entry(14, id, "TABLE", "t", &[]);
        Bytes::from(one.bytes)
    });
    let chunks = std::iter::once(Bytes::from(head.bytes)).chain(entries);
    let why = count_within(chunks, &AtomicBool::new(false), 1 << 18).unwrap_err();
    assert!(why.contains("too large"), "{why}");
}

#[test]
fn a_compression_bomb_streams_and_can_be_stopped() {
    // 8 MiB of newlines in a few KiB: counted without holding it.
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    for _ in 0..8 {
        z.write_all(&vec![b'\n'; 1 << 20]).unwrap();
    }
    z.write_all(b"\\.\n\n\n").unwrap();
    let z = z.finish().unwrap();
    assert!(z.len() < 1 << 17, "{}", z.len());
    let mut c = Craft::one_table(14, true);
    c.block(2, &[&z]);
    assert_eq!(counted_in(&c.bytes, 1 << 16), Ok(t(1 << 23)));
    let chunks = vec![Bytes::from(c.bytes)];
    let why = count(chunks.into_iter(), &AtomicBool::new(true)).unwrap_err();
    assert!(why.contains("stopped"), "{why}");
}

#[test]
fn copy_targets_are_taken_as_quoted() {
    let t = |copy: &str, ns: &str, tag: &str| {
        copy_target(copy.as_bytes(), Some(ns.as_bytes()), Some(tag.as_bytes()))
    };
    assert_eq!(
        t("COPY public.people (id) FROM stdin;\n", "public", "people").as_deref(),
        Some("public.people")
    );
    assert_eq!(
        t(
            r#"COPY "My Schema"."t""q" (a) FROM stdin;"#,
            "My Schema",
            "t\"q"
        )
        .as_deref(),
        Some(r#""My Schema"."t""q""#)
    );
    assert_eq!(
        t("COPY public.a  FROM stdin;", "public", "a").as_deref(),
        Some("public.a")
    );
    assert_eq!(t("COPY public.a (x) FROM stdin;", "public", "b"), None);
    assert_eq!(t("COPY public.\"a (x) FROM stdin;", "public", "a"), None);
    assert_eq!(t("INSERT INTO public.a", "public", "a"), None);
    assert_eq!(t("COPY public.1a (x)", "public", "1a"), None);
}
