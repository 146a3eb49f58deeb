//! The in-memory index of the sidecars: every record once, in the catalog's
//! one documented order (newest `created_at` first, then id descending), and
//! its key once more per tenant, so a tenant's page costs only that tenant's
//! records. Records are kept packed ([`compact`](super::compact)) and
//! unpacked only when handed out, so the index of 100 000 backups fits the
//! daemon's memory bar. Pages are keyset pages: a cursor names the last
//! record handed out, so records added or removed between pages never shift
//! the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::compact::{Codec, Packed};
use super::snapshot::{SavedRef, Stamp};
use super::{Problem, Record};
use crate::Result;

/// A record's place in the order. Sorting ascending by this key lists the
/// newest first; ties on `created_at` go by id, descending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(
    std::cmp::Reverse<DateTime<Utc>>,
    std::cmp::Reverse<Arc<str>>,
);

impl Key {
    pub fn new(created_at: DateTime<Utc>, id: &str) -> Self {
        Self::shared(created_at, id.into())
    }

    fn shared(created_at: DateTime<Utc>, id: Arc<str>) -> Self {
        Self(std::cmp::Reverse(created_at), std::cmp::Reverse(id))
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.0
    }

    pub fn id(&self) -> &str {
        &self.1.0
    }
}

/// One record: its tenant (shared with the tenant's key set), its bytes,
/// and what a start needs to know of it without unpacking it.
#[derive(Debug)]
struct Entry {
    tenant: Arc<str>,
    packed: Packed,
    /// Its sidecar as it was when read or written (`None`: unknown, so the
    /// snapshot leaves it out and the next start reads it).
    stamp: Option<Stamp>,
    dump: Dump,
}

/// Where a record's dump is, as far as the start's check that local dumps
/// exist goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dump {
    Bucket,
    /// `<backup-dir>/<id>.dump`: looked up in the directory's listing.
    Here,
    /// A local dump anywhere else.
    Elsewhere(Box<str>),
}

impl Dump {
    /// Where the dump of `record`, whose sidecar is in `dir`, is.
    pub fn of(record: &Record, dir: &Path) -> Self {
        if record.destination != super::Destination::Local {
            return Self::Bucket;
        }
        let here = dir.join(format!("{}.dump", record.id));
        if Path::new(&record.location) == here {
            Self::Here
        } else {
            Self::Elsewhere(record.location.as_str().into())
        }
    }
}

/// Every readable record, plus the sidecars that could not be read.
#[derive(Debug, Default)]
pub struct Index {
    codec: Arc<Codec>,
    all: BTreeMap<Key, Entry>,
    /// Each id's `created_at`: what finds its key. The id's one allocation
    /// is shared by this map and both key sets.
    by_id: HashMap<Arc<str>, DateTime<Utc>>,
    /// The same keys, one set per tenant (`Record::username`).
    tenants: HashMap<Arc<str>, BTreeSet<Key>>,
    /// Unreadable sidecars by id (the id their file name gives).
    problems: BTreeMap<String, Problem>,
}

/// A record ready to go into an index: packed by the index's codec (see
/// [`Index::codec`]), off the index's lock.
#[derive(Debug)]
pub struct Ready {
    pub id: String,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    pub packed: Packed,
    pub stamp: Option<Stamp>,
    pub dump: Dump,
}

impl Index {
    /// An empty index whose records are packed with `codec`.
    pub fn with_codec(codec: Arc<Codec>) -> Self {
        Self {
            codec,
            ..Self::default()
        }
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether `id` has a record or a problem here.
    pub fn knows(&self, id: &str) -> bool {
        self.by_id.contains_key(id) || self.problems.contains_key(id)
    }

    /// The record of `id`, unpacked; `None` when it has none.
    pub fn get(&self, id: &str) -> Option<Result<Record>> {
        let at = self.by_id.get(id)?;
        let entry = self.all.get(&Key::new(*at, id))?;
        Some(
            self.codec
                .unpacker()
                .and_then(|mut u| u.unpack(&entry.packed)),
        )
    }

    pub fn problem(&self, id: &str) -> Option<&Problem> {
        self.problems.get(id)
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = self.problems.values().cloned().collect();
        out.sort_by(|a, b| a.file.cmp(&b.file));
        out
    }

    /// Adds or replaces the record of `record.id` (clearing any problem),
    /// whose sidecar was `stamp` and whose dump is at `dump`.
    ///
    /// # Errors
    /// Internal when it cannot be packed (nothing is changed).
    pub fn upsert(&mut self, record: &Record, stamp: Option<Stamp>, dump: Dump) -> Result<()> {
        let ready = Ready::new(record, &mut self.codec.packer()?, stamp, dump)?;
        self.insert(ready);
        Ok(())
    }

    /// Indexes `record`, read from or written to sidecar `file` (which was
    /// `stamp` then); a record that cannot be packed shows as a problem of
    /// that file.
    pub fn index(&mut self, record: &Record, file: PathBuf, stamp: Option<Stamp>) {
        let dump = Dump::of(record, file.parent().unwrap_or(Path::new("")));
        if let Err(e) = self.upsert(record, stamp, dump) {
            self.set_problem(&record.id, file, e.message);
        }
    }

    /// Every entry the next start can take without reading its sidecar,
    /// for [`snapshot::save`](super::snapshot::save).
    pub fn saved(&self) -> impl Iterator<Item = SavedRef<'_>> {
        self.all.iter().filter_map(|(key, e)| {
            Some(SavedRef {
                id: key.id(),
                tenant: &e.tenant,
                created_at: key.created_at(),
                stamp: e.stamp?,
                dump: &e.dump,
                packed: &e.packed,
            })
        })
    }

    /// Adds or replaces a record packed by this index's codec.
    pub fn insert(&mut self, r: Ready) {
        self.remove(&r.id);
        let tenant = match self.tenants.get_key_value(r.tenant.as_str()) {
            Some((t, _)) => t.clone(),
            None => Arc::from(r.tenant),
        };
        let id: Arc<str> = r.id.into();
        let key = Key::shared(r.created_at, id.clone());
        self.tenants
            .entry(tenant.clone())
            .or_default()
            .insert(key.clone());
        self.by_id.insert(id, r.created_at);
        self.all.insert(
            key,
            Entry {
                tenant,
                packed: r.packed,
                stamp: r.stamp,
                dump: r.dump,
            },
        );
    }

    /// Marks the sidecar of `id` unreadable (its record, if any, is gone).
    pub fn set_problem(&mut self, id: &str, file: PathBuf, error: String) {
        self.remove(id);
        self.problems
            .insert(id.to_string(), Problem { file, error });
    }

    /// Forgets `id` (record or problem); whether it had a record.
    pub fn remove(&mut self, id: &str) -> bool {
        self.problems.remove(id);
        let Some(at) = self.by_id.remove(id) else {
            return false;
        };
        let key = Key::new(at, id);
        if let Some(old) = self.all.remove(&key)
            && let Some(t) = self.tenants.get_mut(&old.tenant)
        {
            t.remove(&key);
            if t.is_empty() {
                self.tenants.remove(&old.tenant);
            }
        }
        true
    }

    /// Up to `limit` records after `after` (exclusive) in the catalog's
    /// order, of one tenant or of all, unpacked; plus the key to continue
    /// from when more remain.
    ///
    /// # Errors
    /// Internal when a record cannot be unpacked (a bug, not a state).
    pub fn page(
        &self,
        tenant: Option<&str>,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<(Vec<Record>, Option<Key>)> {
        let from = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let range = (from, std::ops::Bound::Unbounded);
        let entries: Box<dyn Iterator<Item = (&Key, &Entry)>> = match tenant {
            Some(t) => match self.tenants.get(t) {
                Some(keys) => Box::new(
                    keys.range::<Key, _>(range)
                        .filter_map(|k| self.all.get_key_value(k)),
                ),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.all.range::<Key, _>(range)),
        };
        let mut unpacker = self.codec.unpacker()?;
        let mut records = Vec::with_capacity(limit.min(1000));
        let mut last: Option<&Key> = None;
        for (key, entry) in entries {
            if records.len() == limit {
                return Ok((records, last.cloned()));
            }
            records.push(unpacker.unpack(&entry.packed)?);
            last = Some(key);
        }
        Ok((records, None))
    }
}

impl Ready {
    /// `record`, packed with `packer` (of the index it is meant for).
    ///
    /// # Errors
    /// Internal when it cannot be packed.
    pub fn new(
        record: &Record,
        packer: &mut super::compact::Packer,
        stamp: Option<Stamp>,
        dump: Dump,
    ) -> Result<Self> {
        Ok(Self {
            id: record.id.clone(),
            tenant: record.username.clone(),
            created_at: record.created_at,
            packed: packer.pack(record)?,
            stamp,
            dump,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, tenant: &str, at: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "id": id, "username": tenant, "database": "app", "created_at": at,
            "size_bytes": 1, "sha256": "00", "destination": "local", "location": "x"
        }))
        .unwrap()
    }

    /// Indexes a record of a bucket (no sidecar stamp, no local dump).
    fn add(ix: &mut Index, id: &str, tenant: &str, at: &str) {
        ix.upsert(&record(id, tenant, at), None, Dump::Bucket)
            .unwrap();
    }

    fn ids(rs: &[Record]) -> Vec<&str> {
        rs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn pages_follow_created_at_then_id_newest_first() {
        let mut ix = Index::default();
        add(&mut ix, "a1", "a", "2026-01-01T00:00:00Z");
        add(&mut ix, "b1", "b", "2026-01-02T00:00:00Z");
        add(&mut ix, "a3", "a", "2026-01-03T00:00:00Z");
        add(&mut ix, "a2", "a", "2026-01-03T00:00:00Z");
        let (p1, next) = ix.page(None, None, 2).unwrap();
        assert_eq!(ids(&p1), ["a3", "a2"], "same second: id descending");
        let (p2, end) = ix.page(None, next.as_ref(), 2).unwrap();
        assert_eq!(ids(&p2), ["b1", "a1"]);
        assert!(end.is_none(), "nothing left: no cursor");
        let (a, _) = ix.page(Some("a"), None, 10).unwrap();
        assert_eq!(ids(&a), ["a3", "a2", "a1"]);
        assert!(ix.page(Some("nobody"), None, 10).unwrap().0.is_empty());
    }

    #[test]
    fn a_cursor_survives_the_removal_of_its_record_and_replacements_move() {
        let mut ix = Index::default();
        for (i, day) in ["01", "02", "03", "04"].iter().enumerate() {
            add(
                &mut ix,
                &format!("r{i}"),
                "a",
                &format!("2026-01-{day}T00:00:00Z"),
            );
        }
        let (p1, next) = ix.page(Some("a"), None, 2).unwrap();
        assert_eq!(ids(&p1), ["r3", "r2"]);
        ix.remove("r2");
        add(&mut ix, "new", "a", "2026-02-01T00:00:00Z");
        let (p2, _) = ix.page(Some("a"), next.as_ref(), 10).unwrap();
        assert_eq!(ids(&p2), ["r1", "r0"]);
        // A replaced record with another tenant moves between tenant maps.
        add(&mut ix, "r1", "b", "2026-01-02T00:00:00Z");
        assert_eq!(ids(&ix.page(Some("b"), None, 10).unwrap().0), ["r1"]);
        assert_eq!(
            ids(&ix.page(Some("a"), None, 10).unwrap().0),
            ["new", "r3", "r0"]
        );
        ix.set_problem("r0", "/x/r0.meta.json".into(), "corrupt".into());
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.problems().len(), 1);
        add(&mut ix, "r0", "a", "2026-01-01T00:00:00Z");
        assert!(
            ix.problems().is_empty(),
            "a fixed sidecar clears its problem"
        );
    }
}
