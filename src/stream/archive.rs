//! Exact row counts read off pg_dump's custom archive as it streams past:
//! header, table of contents (dump id → `schema.table` of each TABLE DATA
//! entry), then each data block's COPY lines, inflated when pg_dump
//! compressed them. The counts come from the dump's own snapshot at no extra
//! scan of the database. The bytes are the tenant's: state stays bounded,
//! nothing panics, and anything not understood gives up on counting (a
//! reason, no manifest) rather than failing the backup. [`count`] is a plain
//! function over chunks; [`super::rows`] runs it beside the byte path.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes};
use flate2::{Decompress, FlushDecompress, Status};

/// Rows per table, keyed `schema.table` quoted the way `format('%I.%I')`
/// quotes (pg_dump's COPY statement uses the same rule).
pub type RowCounts = BTreeMap<String, i64>;

/// Why counting stopped; the backup goes on without a row manifest.
pub type GiveUp = String;

type Parse<T> = std::result::Result<T, GiveUp>;

/// Archive versions whose layout this parser knows (1.12 = PostgreSQL 9.5
/// … 1.16 = 17); a newer one is not guessed at.
const MINOR_VERSIONS: std::ops::RangeInclusive<u8> = 12..=16;
/// Bytes kept for a TOC string that is read (names, kinds): longer ones are
/// skipped unread. Identifiers are at most 63 bytes, 130 quoted.
const KEEP: usize = 512;
/// Upper bound on what the table of contents may make us remember.
const MEMORY: usize = 32 << 20;
/// Inflated bytes handled per step (also how often cancellation is seen).
const STEP: usize = 64 * 1024;
const BLK_DATA: u8 = 1;
const BLK_BLOBS: u8 = 3;

/// Counts the COPY rows of every table in the archive made of `chunks`.
/// `cancel` stops it between chunks (a caller that stopped waiting).
///
/// # Errors
/// Why the archive could not be counted.
pub fn count(chunks: impl Iterator<Item = Bytes>, cancel: &AtomicBool) -> Parse<RowCounts> {
    count_within(chunks, cancel, MEMORY)
}

/// [`count`] remembering at most `memory` bytes of table of contents.
fn count_within(
    chunks: impl Iterator<Item = Bytes>,
    cancel: &AtomicBool,
    memory: usize,
) -> Parse<RowCounts> {
    let mut a = Archive {
        src: Source {
            chunks,
            cur: Bytes::new(),
            cancel,
        },
        int_size: 4,
        off_size: 8,
        minor: 0,
        zlib: false,
        out: vec![0; STEP],
        memory,
    };
    a.header()?;
    let mut tables = a.toc()?;
    a.data(&mut tables)?;
    let mut counts = RowCounts::new();
    for t in tables.into_values() {
        let rows = t
            .rows
            .ok_or_else(|| format!("the archive ended before the data of {}", t.name))?;
        counts.insert(t.name, rows);
    }
    Ok(counts)
}

/// The chunks as one byte stream, without copying them.
struct Source<'a, I> {
    chunks: I,
    cur: Bytes,
    cancel: &'a AtomicBool,
}

impl<I: Iterator<Item = Bytes>> Source<'_, I> {
    /// Whether a byte is available (fetching chunks as needed).
    fn fill(&mut self) -> Parse<bool> {
        while self.cur.is_empty() {
            if self.cancel.load(Ordering::Relaxed) {
                return Err("counting was stopped".into());
            }
            match self.chunks.next() {
                Some(b) => self.cur = b,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn byte(&mut self) -> Parse<u8> {
        if !self.fill()? {
            return Err("the archive is truncated".into());
        }
        Ok(self.cur.get_u8())
    }

    /// Hands the next `n` bytes to `f`, slice by slice as they arrived.
    fn each(&mut self, mut n: u64, mut f: impl FnMut(&[u8]) -> Parse<()>) -> Parse<()> {
        while n > 0 {
            if !self.fill()? {
                return Err("the archive is truncated".into());
            }
            let k = usize::try_from(n).map_or(self.cur.len(), |n| n.min(self.cur.len()));
            f(&self.cur[..k])?;
            self.cur.advance(k);
            n -= k as u64;
        }
        Ok(())
    }
}

/// A TABLE DATA entry of the table of contents.
struct DataEntry {
    id: i64,
    tag: Option<Vec<u8>>,
    namespace: Option<Vec<u8>>,
    copy: Vec<u8>,
    deps: Vec<i64>,
}

/// A table whose rows are counted.
struct Counted {
    name: String,
    rows: Option<i64>,
}

struct Archive<'a, I> {
    src: Source<'a, I>,
    int_size: u8,
    off_size: u8,
    minor: u8,
    /// Whether pg_dump compressed the data blocks (zlib).
    zlib: bool,
    out: Vec<u8>,
    /// Upper bound on what the table of contents may make us remember.
    memory: usize,
}

impl<I: Iterator<Item = Bytes>> Archive<'_, I> {
    /// pg_dump's `ReadInt`: a sign byte, then `int_size` bytes, low first.
    fn int(&mut self) -> Parse<i64> {
        let negative = self.src.byte()? != 0;
        let mut v: u64 = 0;
        for i in 0..self.int_size {
            v |= u64::from(self.src.byte()?) << (8 * u32::from(i));
        }
        let v = i64::try_from(v).map_err(|_| format!("an integer out of range ({v})"))?;
        Ok(if negative { -v } else { v })
    }

    /// A string's length; `None` for pg_dump's NULL string (negative length).
    fn len(&mut self) -> Parse<Option<u64>> {
        Ok(u64::try_from(self.int()?).ok())
    }

    fn skip_str(&mut self) -> Parse<()> {
        if let Some(n) = self.len()? {
            self.src.each(n, |_| Ok(()))?;
        }
        Ok(())
    }

    /// A string of at most `KEEP` bytes; `None` when NULL or longer.
    fn str(&mut self) -> Parse<Option<Vec<u8>>> {
        let Some(n) = self.len()? else {
            return Ok(None);
        };
        if n > KEEP as u64 {
            self.src.each(n, |_| Ok(()))?;
            return Ok(None);
        }
        let mut s = Vec::with_capacity(KEEP.min(usize::try_from(n).unwrap_or(KEEP)));
        self.src.each(n, |b| {
            s.extend_from_slice(b);
            Ok(())
        })?;
        Ok(Some(s))
    }

    /// The first `KEEP` bytes of a string (a COPY statement's column list
    /// may be long; only the table name at its start matters).
    fn prefix(&mut self) -> Parse<Vec<u8>> {
        let mut s = Vec::new();
        if let Some(n) = self.len()? {
            self.src.each(n, |b| {
                let room = KEEP.saturating_sub(s.len());
                s.extend_from_slice(&b[..room.min(b.len())]);
                Ok(())
            })?;
        }
        Ok(s)
    }

    fn header(&mut self) -> Parse<()> {
        let mut magic = [0u8; 5];
        for b in &mut magic {
            *b = self.src.byte()?;
        }
        if &magic != b"PGDMP" {
            return Err("not a pg_dump custom-format archive".into());
        }
        let (major, minor, _rev) = (self.src.byte()?, self.src.byte()?, self.src.byte()?);
        if major != 1 || !MINOR_VERSIONS.contains(&minor) {
            return Err(format!(
                "archive version {major}.{minor} is not one this daemon reads"
            ));
        }
        self.minor = minor;
        self.int_size = self.src.byte()?;
        self.off_size = self.src.byte()?;
        if !(1..=8).contains(&self.int_size) || !(1..=8).contains(&self.off_size) {
            return Err("implausible integer sizes in the archive header".into());
        }
        if self.src.byte()? != 1 {
            return Err("the archive is not in the custom format".into());
        }
        self.zlib = if minor >= 15 {
            match self.src.byte()? {
                0 => false,
                1 => true,
                other => {
                    return Err(format!(
                        "pg_dump compressed with algorithm {other}, not zlib"
                    ));
                }
            }
        } else {
            self.int()? != 0
        };
        for _ in 0..7 {
            self.int()?; // creation time
        }
        for _ in 0..3 {
            self.skip_str()?; // database name, server and pg_dump versions
        }
        Ok(())
    }

    /// Reads the table of contents; returns the tables to count by dump id.
    fn toc(&mut self) -> Parse<HashMap<i64, Counted>> {
        let entries = self.int()?;
        let mut tables = HashSet::new();
        let mut data = Vec::new();
        let mut remembered = 0usize;
        for _ in 0..entries {
            let id = self.int()?;
            self.int()?; // had a dumper
            self.skip_str()?; // catalog table oid
            self.skip_str()?; // oid
            let tag = self.str()?;
            let desc = self.str()?;
            self.int()?; // section
            self.skip_str()?; // definition
            self.skip_str()?; // drop statement
            let copy = self.prefix()?;
            let namespace = self.str()?;
            self.skip_str()?; // tablespace
            if self.minor >= 14 {
                self.skip_str()?; // table access method
            }
            if self.minor >= 16 {
                self.int()?; // relkind
            }
            self.skip_str()?; // owner
            self.skip_str()?; // "with oids"
            let is_data = desc.as_deref() == Some(b"TABLE DATA");
            let mut deps = Vec::new();
            while let Some(n) = self.len()? {
                let mut text = Vec::new();
                let keep = is_data && n <= 20;
                self.src.each(n, |b| {
                    if keep {
                        text.extend_from_slice(b);
                    }
                    Ok(())
                })?;
                if let Some(d) = std::str::from_utf8(&text).ok().and_then(|t| t.parse().ok()) {
                    deps.push(d);
                    remembered += 8;
                }
            }
            // The custom format's own extra: a flag byte and a data offset.
            self.src.each(1 + u64::from(self.off_size), |_| Ok(()))?;
            match desc.as_deref() {
                Some(b"TABLE") => {
                    tables.insert(id);
                    remembered += 16;
                }
                Some(b"TABLE DATA") => {
                    remembered += 64 + copy.len() + tag.as_ref().map_or(0, Vec::len);
                    data.push(DataEntry {
                        id,
                        tag,
                        namespace,
                        copy,
                        deps,
                    });
                }
                _ => {}
            }
            if remembered > self.memory {
                return Err("the table of contents is too large to count".into());
            }
        }
        let mut counted = HashMap::new();
        let mut names = HashSet::new();
        for e in data {
            // Data whose table pg_dump does not create (an extension's
            // configuration table, filled by the extension's script as
            // well) cannot be compared with a restored count: left out.
            if !e.deps.iter().any(|d| tables.contains(d)) {
                continue;
            }
            let name = copy_target(&e.copy, e.namespace.as_deref(), e.tag.as_deref()).ok_or_else(
                || {
                    format!(
                        "the data of entry {} is not a plain COPY of its table",
                        e.id
                    )
                },
            )?;
            if !names.insert(name.clone())
                || counted.insert(e.id, Counted { name, rows: None }).is_some()
            {
                return Err(format!("entry {} appears twice", e.id));
            }
        }
        Ok(counted)
    }

    /// Reads the data blocks to the end, counting the rows of `tables`.
    fn data(&mut self, tables: &mut HashMap<i64, Counted>) -> Parse<()> {
        while self.src.fill()? {
            match self.src.byte()? {
                BLK_DATA => {
                    let id = self.int()?;
                    match tables.get_mut(&id) {
                        Some(t) if t.rows.is_some() => {
                            return Err(format!("two data blocks for {}", t.name));
                        }
                        Some(t) => t.rows = Some(self.rows()?),
                        None => self.skip_chunks()?,
                    }
                }
                BLK_BLOBS => {
                    self.int()?;
                    while self.int()? != 0 {
                        self.skip_chunks()?; // one large object
                    }
                }
                other => return Err(format!("an unknown block type {other}")),
            }
        }
        Ok(())
    }

    /// The next chunk's length; `None` after the last one.
    fn chunk(&mut self) -> Parse<Option<u64>> {
        match self.int()? {
            0 => Ok(None),
            n => u64::try_from(n)
                .map(Some)
                .map_err(|_| format!("a negative chunk length {n}")),
        }
    }

    fn skip_chunks(&mut self) -> Parse<()> {
        while let Some(n) = self.chunk()? {
            self.src.each(n, |_| Ok(()))?;
        }
        Ok(())
    }

    /// The rows of one table's data block.
    fn rows(&mut self) -> Parse<i64> {
        let mut lines = Lines::default();
        let mut z = self.zlib.then(|| (Decompress::new(true), false));
        while let Some(n) = self.chunk()? {
            let (src, out) = (&mut self.src, &mut self.out);
            let cancel = src.cancel;
            src.each(n, |b| match z.as_mut() {
                None => {
                    lines.feed(b);
                    Ok(())
                }
                Some((z, ended)) => inflate(z, ended, b, out, &mut lines, cancel),
            })?;
        }
        if let Some((_, false)) = z {
            return Err("a compressed data block ended early".into());
        }
        lines.rows()
    }
}

/// Inflates `input`, counting the lines that come out.
fn inflate(
    z: &mut Decompress,
    ended: &mut bool,
    mut input: &[u8],
    out: &mut [u8],
    lines: &mut Lines,
    cancel: &AtomicBool,
) -> Parse<()> {
    loop {
        if *ended {
            return if input.is_empty() {
                Ok(())
            } else {
                Err("data after the end of a compressed block".into())
            };
        }
        if cancel.load(Ordering::Relaxed) {
            return Err("counting was stopped".into());
        }
        let (was_in, was_out) = (z.total_in(), z.total_out());
        let status = z
            .decompress(input, out, FlushDecompress::None)
            .map_err(|e| format!("a compressed data block does not inflate: {e}"))?;
        let used = usize::try_from(z.total_in() - was_in).unwrap_or(usize::MAX);
        let made = usize::try_from(z.total_out() - was_out).unwrap_or(usize::MAX);
        let (Some(rest), Some(produced)) = (input.get(used..), out.get(..made)) else {
            return Err("the inflater misreported its progress".into());
        };
        lines.feed(produced);
        input = rest;
        *ended = status == Status::StreamEnd;
        if *ended {
            continue;
        }
        if input.is_empty() && made < out.len() {
            return Ok(());
        }
        if used == 0 && made == 0 {
            return Err("a compressed data block makes no progress".into());
        }
    }
}

/// Line counting over one table's COPY text, keeping the last bytes to find
/// the `\.` end marker (a data line can never be `\.`: COPY escapes `\`).
#[derive(Default)]
struct Lines {
    newlines: u64,
    len: u64,
    tail: [u8; 16],
}

impl Lines {
    fn feed(&mut self, b: &[u8]) {
        self.newlines += memchr::memchr_iter(b'\n', b).count() as u64;
        self.len += b.len() as u64;
        let n = self.tail.len();
        if b.len() >= n {
            self.tail.copy_from_slice(&b[b.len() - n..]);
        } else {
            self.tail.copy_within(b.len().., 0);
            self.tail[n - b.len()..].copy_from_slice(b);
        }
    }

    /// Rows = lines before the end marker (pg_dump ≤ 17 writes `\.` and two
    /// blank lines), or all lines when there is no marker.
    fn rows(&self) -> Parse<i64> {
        if self.len == 0 {
            return Ok(0);
        }
        let seen = usize::try_from(self.len).map_or(self.tail.len(), |l| l.min(self.tail.len()));
        let tail = &self.tail[self.tail.len() - seen..];
        let trailing = tail.iter().rev().take_while(|&&c| c == b'\n').count();
        if trailing == 0 {
            return Err("a table's data does not end with a complete line".into());
        }
        let body = &tail[..tail.len() - trailing];
        let whole = seen as u64 == self.len;
        if body.len() < 3 && !whole {
            return Err("a table's data ends in more blank lines than can be told apart".into());
        }
        let marker = body.ends_with(b"\\.")
            && match body.len().checked_sub(3) {
                Some(i) => body[i] == b'\n',
                None => whole,
            };
        let rows = if marker {
            self.newlines - trailing as u64
        } else {
            self.newlines
        };
        i64::try_from(rows).map_err(|_| "a row count out of range".into())
    }
}

/// `schema.table` as quoted in `COPY schema.table (…) FROM stdin;`, when it
/// names exactly the entry's namespace and tag.
fn copy_target(copy: &[u8], namespace: Option<&[u8]>, tag: Option<&[u8]>) -> Option<String> {
    let rest = copy.strip_prefix(b"COPY ")?;
    let (schema, rest_s) = ident(rest)?;
    let rest_t = rest_s.strip_prefix(b".")?;
    let (table, after) = ident(rest_t)?;
    if !after.starts_with(b" ")
        || Some(schema.as_slice()) != namespace
        || Some(table.as_slice()) != tag
    {
        return None;
    }
    let quoted = &rest[..rest.len() - after.len()];
    String::from_utf8(quoted.to_vec()).ok()
}

/// One identifier, quoted (`"a""b"`) or plain lowercase; its value and the rest.
fn ident(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if let Some(mut rest) = s.strip_prefix(b"\"") {
        let mut value = Vec::new();
        loop {
            let i = rest.iter().position(|&c| c == b'"')?;
            value.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            match rest.strip_prefix(b"\"") {
                Some(r) => {
                    value.push(b'"');
                    rest = r;
                }
                None => return (!value.is_empty()).then_some((value, rest)),
            }
        }
    }
    let n = s
        .iter()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || **c == b'_')
        .count();
    (n > 0 && !s[0].is_ascii_digit()).then(|| (s[..n].to_vec(), &s[n..]))
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
