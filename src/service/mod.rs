//! BackupService: the one place that decides. Every surface (gRPC, REST,
//! MCP, CLI through them) calls these methods with the caller's credentials;
//! authentication, validation, tenancy, limits and audit all happen here.

mod chain_head;
mod check;
mod create;
mod facts;
mod gate;
mod globals;
mod limits;
mod made;
mod manage;
mod operations;
mod prune;
mod rebuild;
mod recover;
mod refusals;
mod requests;
mod restore;
mod space;
mod spool;
mod stores;
mod unaudited;
mod verify;
mod watch;

pub use check::{CheckRequest, Freshness};
pub use create::CreateOutcome;
pub use gate::{Gate, gate};
pub use manage::Lister;
pub use operations::{Operation, RecentFailure};
pub use prune::{PruneOutcome, PruneRequest};
pub use rebuild::RebuildOutcome;
pub use recover::Recovery;
pub use requests::{Connection, CreateRequest, RestoreRequest};
pub use verify::VerifyRequest;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::audit::Audit;
use crate::auth::{Authenticator, Credentials, Principal, Scope};
use crate::catalog::{Catalog, Record};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::runtime::Tenants;
use crate::store::LocalStore;
use crate::stream::DumpPolicy;
use crate::{Error, Result};
use facts::Facts;
use limits::{IdLocks, Limits};
use operations::Operations;
use stores::Stores;
use unaudited::{note_message, unaudited};

/// Only Postgres dumps are restored; an unknown engine is never guessed.
fn require_postgres(record: &Record) -> Result<()> {
    if record.engine == Some(crate::catalog::Engine::Postgres) {
        Ok(())
    } else {
        Err(Error::precondition(format!(
            "backup {} has no known engine; refusing to guess it is Postgres",
            record.id
        )))
    }
}

/// Actions that change something: always audited. Reads are audited only
/// when denied.
const AUDITED: &[&str] = &[
    "create",
    "restore",
    "verify",
    "delete",
    "prune",
    "index_rebuild",
];

/// Actions that read the catalog: with `catalog-sync` they see the buckets.
const SYNCED: &[&str] = &[
    "list", "get", "restore", "verify", "delete", "prune", "check",
];

/// A cheap-to-clone handle on the service.
#[derive(Clone)]
pub struct BackupService {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Authenticator,
    tenants: Tenants,
    catalog: Catalog,
    /// The local directory and every configured bucket destination.
    stores: Stores,
    /// Whether reads first fold in the buckets' sidecars (`catalog-sync`).
    catalog_sync: bool,
    /// What each bucket held at the last sync, so the next reads only what changed.
    bucket_seen: rebuild::BucketSeen,
    spool_dir: PathBuf,
    /// How each tenant's dumps are encoded and bounded; the keys to decode.
    dump: DumpPolicy,
    /// The local destination's directory (for the free-space floor).
    backup_dir: PathBuf,
    audit: Audit,
    /// Whether finished days' chain heads go to the default bucket.
    chain_head: bool,
    limits: Limits,
    locks: IdLocks,
    /// Every running operation, so shutdown can wait for them.
    tasks: TaskTracker,
    metrics: Metrics,
    /// Running creates, restores and verifies with their bytes so far.
    operations: Arc<Operations>,
    /// The `[[notify]]` webhooks.
    notifier: Notifier,
    /// What the daemon's freshness check judges by.
    freshness: crate::config::FreshnessConfig,
    /// Which sources had an unauthenticated request audited lately.
    refusals: refusals::Refusals,
}

impl BackupService {
    /// Opens the backup directory (creating it 0700) and the audit log, and
    /// sets up the configured bucket destinations (no request is made yet).
    ///
    /// # Errors
    /// Internal when the directories or the audit log cannot be opened;
    /// InvalidArgument for a malformed `[gcs]` or `[s3]` table.
    pub fn new(config: &Config, auth: Authenticator) -> Result<Self> {
        let catalog = Catalog::open(&config.backup_dir)?;
        let local = Arc::new(LocalStore::open(&config.backup_dir)?);
        let stores = Stores::new(config, local)?;
        let spool_dir = config.spool_dir();
        crate::store::local::ensure_private_dir(&spool_dir)?;
        let audit = Audit::open(Some(&config.audit_log()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                auth,
                tenants: config.tenants(),
                catalog,
                stores,
                catalog_sync: config.catalog_sync,
                bucket_seen: rebuild::BucketSeen::default(),
                spool_dir,
                dump: config.dump_policy()?,
                backup_dir: config.backup_dir.clone(),
                audit,
                chain_head: config.audit.bucket_chain_head,
                limits: Limits::new(config),
                locks: IdLocks::default(),
                tasks: TaskTracker::new(),
                metrics: Metrics::default(),
                operations: Arc::default(),
                notifier: Notifier::new(config.notify.clone()),
                freshness: config.freshness.clone(),
                refusals: refusals::Refusals::default(),
            }),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn tenants(&self) -> &Tenants {
        &self.inner.tenants
    }

    /// The threshold the daemon judges staleness by.
    pub fn freshness_config(&self) -> &crate::config::FreshnessConfig {
        &self.inner.freshness
    }

    /// Whether callers must present a token (false only in dev mode).
    pub fn auth_required(&self) -> bool {
        !matches!(self.inner.auth, Authenticator::Disabled)
    }

    /// Who `creds` belong to (no accounting: for deciding what to show).
    ///
    /// # Errors
    /// Unauthenticated.
    pub fn authenticate(&self, creds: &Credentials) -> Result<Principal> {
        self.inner.auth.authenticate(creds)
    }

    /// Who `creds` belong to, for a surface that gates whole requests (MCP):
    /// a refusal is counted and audited like any other `action`.
    ///
    /// # Errors
    /// Unauthenticated.
    pub fn admit(&self, action: &str, creds: &Credentials) -> Result<Principal> {
        let facts = Facts::new(action, "");
        let result = self.inner.auth.authenticate(creds);
        if let Err(e) = &result {
            let event = facts.finish(&Err::<(), _>(e.clone()));
            self.refused(event, crate::auth::peer())?;
        }
        result
    }

    /// Counts an unauthenticated request; audits it if its source had none
    /// audited within the minute.
    fn refused(&self, mut event: crate::audit::Event, source: Option<IpAddr>) -> Result<()> {
        self.inner.metrics.observe(&event);
        self.inner.metrics.unauthenticated();
        if self.inner.refusals.audit_now(source) {
            event.source = source.map(|s| s.to_string()).unwrap_or_default();
            self.inner.audit.write(&event)?;
        }
        Ok(())
    }

    /// The Prometheus exposition. Tenant and database names are visible, so
    /// only an admin token may scrape.
    ///
    /// # Errors
    /// Unauthenticated, PermissionDenied.
    pub async fn metrics(&self, creds: &Credentials) -> Result<String> {
        let svc = self.clone();
        self.run("metrics", creds, move |who, _| async move {
            who.require(Scope::Read)?;
            if !who.admin {
                return Err(Error::denied(
                    "metrics cover every tenant: an admin token is required",
                ));
            }
            let mut groups = crate::metrics::Groups::default();
            svc.inner.catalog.scan(None, |r| groups.add(&r))?;
            Ok(svc.inner.metrics.render(&groups))
        })
        .await
    }

    /// Stops taking new operations and waits for the running ones.
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Authenticates, runs `op` in a tracked task (so a caller that goes
    /// away cannot cancel a half-done write), and audits the outcome of every
    /// change and of every denied request. The audit line is fdatasynced
    /// before this returns; when it cannot be written, see [`unaudited`].
    async fn run<T, F, Fut>(&self, action: &'static str, creds: &Credentials, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Principal, Facts) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.run_noted(action, creds, op, |_, _| false).await
    }

    /// [`run`](Self::run) for an operation whose result can carry a warning
    /// (`note` adds it and returns true): a change that happened but whose
    /// outcome line could not be written is answered as done, with the
    /// warning, instead of as a failure.
    async fn run_noted<T, F, Fut>(
        &self,
        action: &'static str,
        creds: &Credentials,
        op: F,
        note: fn(&mut T, String) -> bool,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Principal, Facts) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let principal = self.inner.auth.authenticate(creds);
        let subject = principal
            .as_ref()
            .map(|p| p.subject.clone())
            .unwrap_or_default();
        let facts = Facts::new(action, &subject);
        let unauthenticated = principal.is_err();
        let source = crate::auth::peer();
        if self.inner.tasks.is_closed() {
            return Err(Error::unavailable("the daemon is shutting down"));
        }
        let work = match principal {
            Ok(p) => Some(op(p, facts.clone())),
            Err(e) => {
                facts.fail_early(e);
                None
            }
        };
        let svc = self.clone();
        let audited = AUDITED.contains(&action);
        let task = self.inner.tasks.spawn(async move {
            let result = match work {
                Some(w) => {
                    svc.inner.catalog.catch_up().await;
                    if svc.inner.catalog_sync && SYNCED.contains(&action) {
                        svc.sync_from_buckets().await;
                    }
                    w.await
                }
                None => Err(facts.early_error()),
            };
            let denied = result.as_ref().is_err_and(|e| {
                matches!(
                    e.code,
                    crate::Code::PermissionDenied | crate::Code::Unauthenticated
                )
            });
            let event = facts.finish(&result);
            if unauthenticated {
                svc.refused(event, source)?;
            } else {
                svc.inner.metrics.observe(&event);
                if (audited || denied)
                    && let Err(e) = svc.inner.audit.write(&event)
                {
                    return unaudited(result, &e, note);
                }
            }
            result
        });
        task.await
            .map_err(|e| Error::internal(format!("the operation's task failed: {e}")))?
    }

    /// Writes the intent line of a destructive operation before it changes
    /// anything.
    ///
    /// # Errors
    /// Unavailable naming the audit log (full disk, I/O error): the
    /// operation must not go on unaudited.
    fn intent(&self, facts: &Facts) -> Result<()> {
        self.inner.audit.intent(&facts.snapshot())
    }

    /// Where `tenant`'s commands run, refusing a connection that would leave
    /// the tenant (see [`requests::check_reach`]).
    ///
    /// # Errors
    /// NotFound (undeclared tenant), PermissionDenied (host not allowed).
    fn reach(&self, tenant: &str, conn: &crate::engine::PgConn) -> Result<crate::runtime::Target> {
        let target = self.inner.tenants.resolve(tenant)?;
        requests::check_reach(tenant, &target, conn)?;
        Ok(target)
    }

    /// The record of `id` if `who` may see it. Another tenant's id answers
    /// exactly like a missing one.
    fn visible(&self, who: &Principal, id: &str) -> Result<Record> {
        crate::catalog::validate_id(id)?;
        // Only an admin learns that an unreadable sidecar exists.
        match self.inner.catalog.get(id) {
            Ok(r) if who.may_act_on(&r.username) => Ok(r),
            Err(e) if e.code == crate::Code::NotFound || who.admin => Err(e),
            _ => Err(Error::not_found(format!("backup {id} not found"))),
        }
    }
}
