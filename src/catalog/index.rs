//! The in-memory index of the sidecars: every record once, in the catalog's
//! one documented order (newest `created_at` first, then id descending), and
//! once more per tenant, so a tenant's page costs only that tenant's records.
//! Pages are keyset pages: a cursor names the last record handed out, so
//! records added or removed between pages never shift the others.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Problem, Record};

/// A record's place in the order. Sorting ascending by this key lists the
/// newest first; ties on `created_at` go by id, descending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(
    std::cmp::Reverse<DateTime<Utc>>,
    std::cmp::Reverse<Arc<str>>,
);

impl Key {
    pub fn new(created_at: DateTime<Utc>, id: &str) -> Self {
        Self(std::cmp::Reverse(created_at), std::cmp::Reverse(id.into()))
    }

    fn of(r: &Record) -> Self {
        Self::new(r.created_at, &r.id)
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.0
    }

    pub fn id(&self) -> &str {
        &self.1.0
    }
}

type Ordered = BTreeMap<Key, Arc<Record>>;

/// Every readable record, plus the sidecars that could not be read.
#[derive(Debug, Default)]
pub struct Index {
    by_id: HashMap<String, Arc<Record>>,
    all: Ordered,
    /// The same records, one map per tenant (`Record::username`).
    tenants: HashMap<String, Ordered>,
    /// Unreadable sidecars by id (the id their file name gives).
    problems: BTreeMap<String, Problem>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Record>> {
        self.by_id.get(id)
    }

    pub fn problem(&self, id: &str) -> Option<&Problem> {
        self.problems.get(id)
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = self.problems.values().cloned().collect();
        out.sort_by(|a, b| a.file.cmp(&b.file));
        out
    }

    /// Adds or replaces the record of `record.id` (clearing any problem).
    pub fn upsert(&mut self, record: Record) {
        self.remove(&record.id);
        let record = Arc::new(record);
        let key = Key::of(&record);
        self.all.insert(key.clone(), record.clone());
        self.tenants
            .entry(record.username.clone())
            .or_default()
            .insert(key, record.clone());
        self.by_id.insert(record.id.clone(), record);
    }

    /// Marks the sidecar of `id` unreadable (its record, if any, is gone).
    pub fn set_problem(&mut self, id: &str, file: PathBuf, error: String) {
        self.remove(id);
        self.problems
            .insert(id.to_string(), Problem { file, error });
    }

    /// Forgets `id` (record or problem); returns the record it had.
    pub fn remove(&mut self, id: &str) -> Option<Arc<Record>> {
        self.problems.remove(id);
        let old = self.by_id.remove(id)?;
        let key = Key::of(&old);
        self.all.remove(&key);
        if let Some(t) = self.tenants.get_mut(&old.username) {
            t.remove(&key);
            if t.is_empty() {
                self.tenants.remove(&old.username);
            }
        }
        Some(old)
    }

    /// Up to `limit` records after `after` (exclusive) in the catalog's
    /// order, of one tenant or of all; plus the key to continue from when
    /// more remain.
    pub fn page(
        &self,
        tenant: Option<&str>,
        after: Option<&Key>,
        limit: usize,
    ) -> (Vec<Arc<Record>>, Option<Key>) {
        static EMPTY: Ordered = BTreeMap::new();
        let set = match tenant {
            Some(t) => self.tenants.get(t).unwrap_or(&EMPTY),
            None => &self.all,
        };
        let range = match after {
            Some(k) => set.range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)),
            None => set.range::<Key, _>(..),
        };
        let mut records = Vec::with_capacity(limit.min(set.len()));
        let mut last = None;
        for (key, r) in range {
            if records.len() == limit {
                return (records, last);
            }
            records.push(r.clone());
            last = Some(key.clone());
        }
        (records, None)
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

    fn ids(rs: &[Arc<Record>]) -> Vec<&str> {
        rs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn pages_follow_created_at_then_id_newest_first() {
        let mut ix = Index::default();
        ix.upsert(record("a1", "a", "2026-01-01T00:00:00Z"));
        ix.upsert(record("b1", "b", "2026-01-02T00:00:00Z"));
        ix.upsert(record("a3", "a", "2026-01-03T00:00:00Z"));
        ix.upsert(record("a2", "a", "2026-01-03T00:00:00Z"));
        let (p1, next) = ix.page(None, None, 2);
        assert_eq!(ids(&p1), ["a3", "a2"], "same second: id descending");
        let (p2, end) = ix.page(None, next.as_ref(), 2);
        assert_eq!(ids(&p2), ["b1", "a1"]);
        assert!(end.is_none(), "nothing left: no cursor");
        let (a, _) = ix.page(Some("a"), None, 10);
        assert_eq!(ids(&a), ["a3", "a2", "a1"]);
        assert!(ix.page(Some("nobody"), None, 10).0.is_empty());
    }

    #[test]
    fn a_cursor_survives_the_removal_of_its_record_and_replacements_move() {
        let mut ix = Index::default();
        for (i, day) in ["01", "02", "03", "04"].iter().enumerate() {
            ix.upsert(record(
                &format!("r{i}"),
                "a",
                &format!("2026-01-{day}T00:00:00Z"),
            ));
        }
        let (p1, next) = ix.page(Some("a"), None, 2);
        assert_eq!(ids(&p1), ["r3", "r2"]);
        ix.remove("r2");
        ix.upsert(record("new", "a", "2026-02-01T00:00:00Z"));
        let (p2, _) = ix.page(Some("a"), next.as_ref(), 10);
        assert_eq!(ids(&p2), ["r1", "r0"]);
        // A replaced record with another tenant moves between tenant maps.
        ix.upsert(record("r1", "b", "2026-01-02T00:00:00Z"));
        assert_eq!(ids(&ix.page(Some("b"), None, 10).0), ["r1"]);
        assert_eq!(ids(&ix.page(Some("a"), None, 10).0), ["new", "r3", "r0"]);
        ix.set_problem("r0", "/x/r0.meta.json".into(), "corrupt".into());
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.problems().len(), 1);
        ix.upsert(record("r0", "a", "2026-01-01T00:00:00Z"));
        assert!(
            ix.problems().is_empty(),
            "a fixed sidecar clears its problem"
        );
    }
}
