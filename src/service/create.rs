//! Create: pg_dump inside the tenant's container, streamed through SHA-256
//! into a staged store object, committed only after pg_dump exited 0 with a
//! non-empty archive, then indexed. Bucket destinations also get the sidecar
//! beside the dump. Any failure leaves no object and no record.

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;

use super::{BackupService, CreateRequest, Facts};
use crate::auth::{Credentials, Principal, Scope};
use crate::catalog::{
    self, Destination, DumpPlace, Engine, Intent, Kind, META, Record, validate_name,
};
use crate::engine::{self, PgConn};
use crate::fault::{self, Phase};
use crate::notify::Event;
use crate::runtime::{Finished, Target};
use crate::store::Store;
use crate::stream::Encoded;
use crate::{Error, Result};

/// What a create committed and what failed.
#[derive(Debug, Clone, Default)]
pub struct CreateOutcome {
    pub records: Vec<Record>,
    /// `"<database>: <reason>"` per database that failed.
    pub failures: Vec<String>,
    /// Whether one database was named (the wire's `record` field).
    pub single: bool,
}

impl CreateOutcome {
    pub fn message(&self) -> String {
        let ok = self.records.len();
        match (ok, self.failures.len()) {
            (1, 0) if self.single => format!("backup {} created", self.records[0].id),
            (n, 0) => format!("{n} backups created"),
            (n, f) => format!("{n} backups created, {f} databases failed"),
        }
    }
}

impl BackupService {
    /// # Errors
    /// InvalidArgument, PermissionDenied, NotFound (tenant), FailedPrecondition
    /// (pg_dump failed; its stderr is in the message), Unavailable.
    pub async fn create(&self, creds: &Credentials, req: CreateRequest) -> Result<CreateOutcome> {
        let svc = self.clone();
        self.run("create", creds, move |who, facts| async move {
            svc.create_inner(&who, req, &facts).await
        })
        .await
    }

    async fn create_inner(
        &self,
        who: &Principal,
        req: CreateRequest,
        facts: &Facts,
    ) -> Result<CreateOutcome> {
        who.require(Scope::Write)?;
        let named = req.connection.database()?.map(str::to_string);
        let tenants: Vec<String> = if req.all_tenants {
            if !who.admin {
                return Err(Error::denied(
                    "backing up every tenant needs an admin token",
                ));
            }
            if !req.tenant.is_empty() || named.is_some() {
                return Err(Error::invalid(
                    "all_tenants backs up every database of every tenant: name no tenant or database",
                ));
            }
            self.inner.tenants.names().map(str::to_string).collect()
        } else {
            validate_name("tenant", &req.tenant)?;
            if !who.may_act_on(&req.tenant) {
                return Err(Error::denied(format!(
                    "{} may only back up their own tenant",
                    who.subject
                )));
            }
            vec![req.tenant.clone()]
        };
        facts.target("", &tenants.join(","), named.as_deref().unwrap_or("*"));
        let destination = req
            .destination
            .ok_or_else(|| Error::invalid("a destination is required (local, gcs or s3)"))?;
        facts.destination(destination.name());
        let store = self
            .inner
            .stores
            .for_create(destination, req.bucket.as_deref())?;
        let conn = req.connection.pg()?;

        let mut out = CreateOutcome {
            single: named.is_some(),
            ..CreateOutcome::default()
        };
        if let Some(db) = named {
            let target = self.reach(&req.tenant, &conn)?;
            let r = self
                .dump_one(
                    &who.subject,
                    &target,
                    &req.tenant,
                    &conn,
                    Source {
                        database: &db,
                        kind: Kind::Database,
                        globals_id: None,
                    },
                    store.as_ref(),
                    destination,
                )
                .await?;
            facts.record(&r);
            out.records.push(r);
            return Ok(out);
        }
        // Tenants run side by side (up to max-concurrent), so one that never
        // finishes delays nobody; results are merged in tenant order.
        let (store, conn, all) = (store.as_ref(), &conn, req.all_tenants);
        let mut done: Vec<(String, Result<()>, CreateOutcome)> =
            futures::stream::iter(tenants.clone())
                .map(|tenant: String| async move {
                    // With several tenants, each failure names its tenant.
                    let prefix = if all {
                        format!("{tenant}/")
                    } else {
                        String::new()
                    };
                    let mut one = CreateOutcome::default();
                    let r = self
                        .dump_all(who, &tenant, conn, store, destination, &prefix, &mut one)
                        .await;
                    (tenant, r, one)
                })
                .buffer_unordered(self.inner.limits.max)
                .collect()
                .await;
        done.sort_by(|a, b| a.0.cmp(&b.0));
        for (tenant, result, one) in done {
            out.records.extend(one.records);
            out.failures.extend(one.failures);
            if let Err(e) = result {
                if !req.all_tenants {
                    return Err(e);
                }
                out.failures.push(format!("{tenant}: {}", e.message));
            }
        }
        let total: i64 = out.records.iter().map(|r| r.size_bytes).sum();
        facts.size(total);
        facts.id(&out
            .records
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(","));
        if !out.failures.is_empty() {
            // A partly failed create is audited as such, with every reason.
            facts.outcome("failed", &out.failures.join("; "));
        }
        if out.records.is_empty() && !out.failures.is_empty() {
            return Err(Error::precondition(format!(
                "nothing could be backed up: {}",
                out.failures.join("; ")
            )));
        }
        Ok(out)
    }

    /// Every database of one tenant; per-database failures go to `out`.
    #[allow(clippy::too_many_arguments)] // who asked, and one tenant's every coordinate
    async fn dump_all(
        &self,
        who: &Principal,
        tenant: &str,
        conn: &PgConn,
        store: &dyn Store,
        destination: Destination,
        prefix: &str,
        out: &mut CreateOutcome,
    ) -> Result<()> {
        let target = self.reach(tenant, conn)?;
        let databases = super::limits::within(
            self.inner.limits.deadlines.create,
            "listing the databases",
            engine::list_databases(&target, conn),
        )
        .await
        .map_err(|e| e.context(format!("listing the databases of tenant {tenant}")))
        .inspect_err(|e| self.failure(Event::CreateFailed, tenant, "", &e.message))?;
        // The roles the databases' objects belong to, first: a restore with
        // owners into a fresh server needs them (`restore --globals`).
        let globals = match self
            .dump_one(
                &who.subject,
                &target,
                tenant,
                conn,
                Source::GLOBALS,
                store,
                destination,
            )
            .await
        {
            Ok(r) => {
                let id = r.id.clone();
                out.records.push(r);
                Some(id)
            }
            Err(e) => {
                tracing::warn!(tenant, error = %e, "globals backup failed");
                out.failures.push(format!("{prefix}globals: {}", e.message));
                None
            }
        };
        for db in databases {
            let source = Source {
                database: &db,
                kind: Kind::Database,
                globals_id: globals.as_deref(),
            };
            let result = match validate_name("database", &db) {
                Ok(()) => {
                    self.dump_one(
                        &who.subject,
                        &target,
                        tenant,
                        conn,
                        source,
                        store,
                        destination,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => out.records.push(r),
                Err(e) => {
                    tracing::warn!(tenant, database = %db, error = %e, "database backup failed");
                    out.failures.push(format!("{prefix}{db}: {}", e.message));
                }
            }
        }
        Ok(())
    }

    /// One dump, announcing a failure (and a recovery) to the webhooks.
    #[allow(clippy::too_many_arguments)] // who asked, and one dump's every coordinate
    async fn dump_one(
        &self,
        subject: &str,
        target: &Target,
        tenant: &str,
        conn: &PgConn,
        source: Source<'_>,
        store: &dyn Store,
        destination: Destination,
    ) -> Result<Record> {
        let database = source.database;
        let r = self
            .dump(subject, target, tenant, conn, source, store, destination)
            .await;
        match &r {
            Ok(_) => self
                .inner
                .notifier
                .ok(Event::CreateFailed, tenant, database),
            Err(e) => self.failure(Event::CreateFailed, tenant, database, &e.message),
        }
        r
    }

    /// One database (or the globals): reserve an id, dump, commit, index.
    #[allow(clippy::too_many_arguments)] // who asked, and one dump's every coordinate
    async fn dump(
        &self,
        subject: &str,
        target: &Target,
        tenant: &str,
        conn: &PgConn,
        source: Source<'_>,
        store: &dyn Store,
        destination: Destination,
    ) -> Result<Record> {
        let database = source.database;
        let _slot = self.inner.limits.slot(tenant).await?;
        if destination == Destination::Local {
            self.require_free_space(tenant)?;
        }
        let created_at = Utc::now();
        let reservation = self
            .inner
            .catalog
            .reserve(tenant, source.id_name(), &created_at)
            .await?;
        let id = reservation.id.clone();
        let progress = self
            .inner
            .operations
            .start("create", tenant, database, &id, 0);
        let key = format!("{id}.dump");
        reservation.note(&Intent {
            action: "create".into(),
            subject: subject.to_string(),
            tenant: tenant.into(),
            database: database.into(),
            place: Some(DumpPlace {
                destination,
                location: store.location(&key),
            }),
            ..Intent::default()
        })?;
        let pipeline = self
            .inner
            .dump
            .pipeline(tenant)?
            .reporting_to(progress.counter());
        // One retention for the dump and its sidecar, recorded with them.
        let locked_until = store.lock_period().map(crate::store::retain_until);
        let writer = store.writer_locked(&key, locked_until).await?;
        let mut writer = fault::after_first_write(Phase::DuringDump, writer);
        // Everything that talks to the tenant runs under the deadline: a
        // tenant holding a lock stalls the manifest queries as well as
        // pg_dump. Cut off, the children are killed as the future drops.
        let dumped = super::limits::within(
            self.inner.limits.deadlines.create,
            format!("the backup of {tenant}/{database}"),
            async {
                if source.kind == Kind::Globals {
                    let passwords = self.inner.dump.role_passwords(tenant);
                    let mut child = engine::dump_globals(target, conn, passwords).await?;
                    let stdout = child.stdout.take().expect("stdout is piped");
                    let pumped = pipeline.run(stdout, writer.as_mut()).await;
                    let encoded = finished(pumped, child.finish().await, tenant, "globals", target)?;
                    return Ok((encoded, None, None));
                }
                // The relation count is a catalog query, run beside the dump
                // rather than before it; the row counts come from the
                // archive itself (exact, in the dump's snapshot).
                let relations = async {
                    engine::relation_count(target, conn, database)
                        .await
                        .inspect_err(|e| tracing::warn!(%id, error = %e, "relation count unavailable; the backup will have no manifest"))
                        .ok()
                };
                let dump = async {
                    let mut child =
                        engine::dump(target, conn, database, &pipeline.pg_dump_args()).await?;
                    let stdout = child.stdout.take().expect("stdout is piped");
                    let pumped = pipeline.run(stdout, writer.as_mut()).await;
                    finished(pumped, child.finish().await, tenant, database, target)
                };
                let (relation_count, encoded) = tokio::join!(relations, dump);
                let encoded = encoded?;
                let row_counts = match &encoded.row_counts {
                    Ok(m) => Some(m.clone()),
                    Err(why) => {
                        tracing::warn!(%id, reason = %why, "rows not counted; the backup will have no row manifest");
                        None
                    }
                };
                Ok((encoded, relation_count, row_counts))
            },
        )
        .await;
        let (encoded, relation_count, row_counts) = match dumped {
            Ok(d) => d,
            Err(e) => {
                // Nothing partial stays behind: the staged object goes.
                writer.abort().await;
                return Err(e);
            }
        };
        if encoded.raw_size == 0 {
            writer.abort().await;
            return Err(Error::internal(format!(
                "pg_dump of {tenant}/{database} exited 0 but produced an empty archive"
            )));
        }
        if destination != Destination::Local {
            fault::point(Phase::DuringBucketComplete).await;
        }
        writer
            .commit()
            .await
            .map_err(|e| e.context(format!("storing the dump of {tenant}/{database}")))?;
        fault::point(Phase::AfterDumpCommitBeforeSidecar).await;
        let mut encoding = encoded.encoding;
        if source.kind == Kind::Globals && encoding.compression.as_deref() == Some("zlib") {
            // pg_dump's zlib is inside its archive; pg_dumpall writes plain SQL.
            encoding.compression = Some("none".into());
        }
        let record = Record {
            id: id.clone(),
            username: tenant.into(),
            database: database.into(),
            created_at,
            size_bytes: i64::try_from(encoded.stored.size).unwrap_or(i64::MAX),
            sha256: encoded.stored.sha256,
            destination,
            location: store.location(&key),
            engine: Some(Engine::Postgres),
            last_verification: None,
            relation_count,
            row_counts,
            encoding,
            locked_until,
            kind: source.kind,
            globals_id: source.globals_id.map(str::to_string),
        };
        let remote = destination != Destination::Local;
        if remote {
            // Beside the dump, only once it is complete: what a daemon on
            // another host rebuilds its index from.
            let sidecar = Bytes::from(catalog::encode(&record)?);
            let written = store
                .put_locked(&format!("{id}{META}"), sidecar, locked_until)
                .await;
            if let Err(e) = written {
                let _ = store.delete(&key).await;
                return Err(e.context(format!("writing the sidecar of {id} beside its dump")));
            }
            fault::point(Phase::AfterSidecarBeforeRecord).await;
        }
        if let Err(e) = self.inner.catalog.put(&record).await {
            let e = e.context(format!("recording backup {id}"));
            if self.inner.catalog.has_sidecar(&id) {
                // Written but not provably durable (the directory fsync
                // failed): the record stands, so its dump must stay too.
                tracing::warn!(%id, error = %e, "the record of a failed create stays; its dump is kept");
                return Err(e);
            }
            // An object without a record is invisible; don't leave it behind.
            if remote {
                let _ = store.delete(&format!("{id}{META}")).await;
            }
            let _ = store.delete(&key).await;
            return Err(e);
        }
        drop(reservation);
        tracing::info!(%id, tenant, database, size = record.size_bytes, "backup committed");
        Ok(record)
    }
}

/// What one dump takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    /// The database; empty for the globals.
    pub database: &'a str,
    pub kind: Kind,
    /// The globals taken by the same create, recorded with a database.
    pub globals_id: Option<&'a str>,
}

impl Source<'_> {
    pub const GLOBALS: Source<'static> = Source {
        database: "",
        kind: Kind::Globals,
        globals_id: None,
    };

    /// The name the id is made of: a globals id cannot be a database's,
    /// since a database name never starts with '.'.
    fn id_name(&self) -> &str {
        match self.kind {
            Kind::Database => self.database,
            Kind::Globals => ".globals",
        }
    }
}

/// The dump's result once the pipeline and the tool are both done. A store
/// that failed mid-way (or a dump past max-dump-bytes) is the cause; the
/// tool then dies of SIGPIPE, which would only hide it.
fn finished(
    pumped: Result<Encoded>,
    done: Result<Finished>,
    tenant: &str,
    what: &str,
    target: &Target,
) -> Result<Encoded> {
    let tool = if what == "globals" {
        "pg_dumpall --globals-only"
    } else {
        "pg_dump"
    };
    match (pumped, done) {
        (Err(e), _) => Err(e.context(format!("backing up {tenant}/{what}"))),
        (Ok(_), Ok(f)) if !f.success() => Err(Error::precondition(format!(
            "{tool} of {tenant}/{what} in {} failed: {}",
            target.describe(),
            f.explain()
        ))),
        (Ok(d), Ok(_)) => Ok(d),
        (Ok(_), Err(e)) => Err(e),
    }
}
