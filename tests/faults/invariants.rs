//! The one check every fault case ends with, on the restarted daemon:
//! every listed record restores and matches its SHA-256; no dump without a
//! record survives start-up; no record without its dump is listed as good;
//! no database is left half-restored (nor one an interrupted restore
//! created), no restore-test scratch is left in the scratch tenant; no temp
//! file, reservation, marker or unfinished multipart upload survives; the
//! audit log names the attempt and its outcome.

use std::collections::BTreeSet;

use containarium::proto::{self, VerificationResult};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::emulators::Moto;
use crate::support::fingerprint;
use crate::world::{Daemon, World, files};

/// A restore's target database in alice's cluster: its name, its
/// fingerprint before (`None`: it did not exist) and the backup's contents.
pub type RestoreTarget<'a> = (&'a str, Option<Vec<String>>, Vec<String>);

/// What a case expects beyond the common invariants.
pub struct Expect<'a> {
    /// The audited action that was interrupted (`create`, `restore` …).
    pub action: &'static str,
    /// Audit lines written before the attempt (see [`audit_len`]): only
    /// later lines can name it.
    pub audit_since: usize,
    /// A restore's target, to prove it is not half-restored.
    pub restore_target: Option<RestoreTarget<'a>>,
    /// The bucket the backups went to: emulator, bucket, key prefix.
    pub bucket: Option<(&'a Moto, &'a str, &'a str)>,
    /// Databases an interrupted restore made that start-up could not reach
    /// and kept on purpose (the case proves the audit line names them).
    pub kept: Vec<&'a str>,
}

impl Expect<'_> {
    pub fn new(action: &'static str, audit_since: usize) -> Self {
        Self {
            action,
            audit_since,
            restore_target: None,
            bucket: None,
            kept: Vec::new(),
        }
    }
}

/// What the restarted daemon lists.
#[derive(Debug)]
pub struct Listed {
    pub records: Vec<proto::BackupRecord>,
    /// The problems it reports (sidecars it cannot stand behind).
    pub problems: Vec<String>,
}

/// The audit log's lines, parsed.
pub fn audit(w: &World) -> Vec<Value> {
    std::fs::read_to_string(w.backup_dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect()
}

/// How many audit lines there are now.
pub fn audit_len(w: &World) -> usize {
    audit(w).len()
}

fn id_of(file: &str) -> Option<&str> {
    file.strip_suffix(".dump")
        .or_else(|| file.strip_suffix(".meta.json"))
}

/// Checks every invariant (see the module docs) and returns the listing.
pub async fn check(w: &World, d: &Daemon, e: &Expect<'_>) -> Listed {
    // The audit log first: the restore tests below add lines of their own.
    let lines = audit(w);
    let named: Vec<&Value> = lines[e.audit_since..]
        .iter()
        .filter(|l| l["action"] == e.action && l["tenant"] == "alice")
        .collect();
    assert!(
        named
            .iter()
            .any(|l| l["outcome"] == "ok" || l["outcome"] == "failed"),
        "the audit log names the interrupted {} and its outcome: {lines:#?}",
        e.action
    );
    for l in &named {
        if l["outcome"] == "failed" {
            assert!(
                !l["error"].as_str().unwrap_or("").is_empty(),
                "a failure says why: {l}"
            );
        }
    }

    let (records, problems) = d.list().await;
    let ids: BTreeSet<&str> = records.iter().map(|r| r.id.as_str()).collect();

    // Nothing half-written, reserved or marked survives start-up.
    let on_disk = files(&w.backup_dir);
    for f in &on_disk {
        // The index's snapshot is a cache of the sidecars, kept on purpose.
        if f == "audit.jsonl" || f == ".spool" || f == ".index" {
            continue;
        }
        assert!(
            !f.starts_with('.'),
            "no temp file, reservation or marker survives start-up: {f} in {on_disk:?}"
        );
        let id = id_of(f).unwrap_or_else(|| panic!("an unexpected file {f}"));
        assert!(
            ids.contains(id) || problems.iter().any(|p| p.contains(id)),
            "{f} belongs to a listed record or is reported as a problem: {records:#?} {problems:?}"
        );
    }
    let spool = files(&w.backup_dir.join(".spool"));
    assert!(spool.is_empty(), "the spool is empty: {spool:?}");

    // Bucket: every dump has its sidecar and a listed record, and back.
    if let Some((moto, bucket, prefix)) = e.bucket {
        // moto dates every upload 2010-11-10, so start-up finds any left
        // one stale: none may survive it.
        let pending: Vec<String> = moto
            .pending_uploads(bucket)
            .into_iter()
            .filter(|k| k.starts_with(&format!("{prefix}/")))
            .collect();
        assert!(
            pending.is_empty(),
            "no unfinished multipart upload survives start-up: {pending:?}"
        );
        let objects = moto.objects(bucket);
        for key in &objects {
            let Some(name) = key.strip_prefix(&format!("{prefix}/")) else {
                continue;
            };
            if let Some(id) = name.strip_suffix(".dump") {
                assert!(
                    ids.contains(id),
                    "no dump without a record survives: {key} in {objects:?}"
                );
                assert!(
                    objects.contains(&format!("{prefix}/{id}.meta.json")),
                    "{key} has its sidecar: {objects:?}"
                );
            }
            if let Some(id) = name.strip_suffix(".meta.json") {
                assert!(
                    objects.contains(&format!("{prefix}/{id}.dump")),
                    "no sidecar without its dump: {objects:?}"
                );
            }
        }
    }

    // Every listed record has its dump, restores, and matches its SHA-256.
    for r in &records {
        if r.destination == proto::BackupDestination::Local as i32 {
            let bytes = std::fs::read(&r.location).unwrap_or_else(|err| {
                panic!(
                    "record {} is listed as good but its dump is gone: {err}",
                    r.id
                )
            });
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                r.sha256,
                "the dump of {} matches its SHA-256",
                r.id
            );
        } else if let Some((moto, bucket, _)) = e.bucket {
            let key = r.location.split_once(&format!("{bucket}/")).unwrap().1;
            assert!(
                moto.objects(bucket).iter().any(|k| k == key),
                "record {} is listed as good: its dump {key} is there",
                r.id
            );
        }
        let v = d
            .verify(&r.id)
            .await
            .unwrap_or_else(|s| panic!("record {} restores: {}", r.id, s.message()));
        let v = v.verification.unwrap();
        assert_eq!(
            v.result,
            VerificationResult::Passed as i32,
            "record {} restores and matches: {v:#?}",
            r.id
        );
    }

    // Nothing a restore or verify made survives its interruption: no
    // database a restore marker noted creating, no restore-test scratch.
    for m in w.markers_seen() {
        let made = &m["made"];
        if made.is_null()
            || (made["oid"].is_null() && made["sandbox"] != true)
            || e.kept.iter().any(|k| made["database"] == *k)
        {
            continue;
        }
        let (tenant, db) = (
            made["tenant"].as_str().unwrap(),
            made["database"].as_str().unwrap(),
        );
        // By OID: a database created later under the same name is not it.
        let now = w.tenant(tenant).psql(
            "postgres",
            &format!("SELECT oid FROM pg_database WHERE datname = '{db}'"),
        );
        assert!(
            now.is_empty() || (made["sandbox"] != true && made["oid"].as_u64() != now.parse().ok()),
            "{tenant}/{db}, made by an interrupted {} (marker {made}), is gone after start-up \
             (OID now {now:?})",
            m["action"]
        );
    }
    let scratch = w.scratch.psql(
        "postgres",
        "SELECT 'database ' || datname FROM pg_database \
           WHERE starts_with(datname, 'containarium_verify_') \
         UNION ALL SELECT 'role ' || rolname FROM pg_roles \
           WHERE starts_with(rolname, 'containarium_verify_')",
    );
    assert!(
        scratch.is_empty(),
        "no restore-test database or role is left in the scratch tenant: {scratch}"
    );

    // No database half-restored: untouched, or exactly the backup.
    if let Some((db, before, backup)) = &e.restore_target {
        let exists = w.alice.databases().iter().any(|d| d == db);
        match (before, exists) {
            (None, false) => {}
            (_, true) => {
                let now = fingerprint(&w.alice, db);
                assert!(
                    Some(&now) == before.as_ref() || &now == backup,
                    "{db} is either untouched or fully restored: {now:#?}"
                );
            }
            (Some(_), false) => panic!("the restore target {db} was dropped"),
        }
    }
    Listed { records, problems }
}
