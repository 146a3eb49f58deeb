//! What each RPC needs before its request is even read: the audit action it
//! is recorded under, the scope, and whether only an admin may call it. A
//! request that cannot be parsed or converted is refused here, after
//! authentication and authorization, so a caller without credentials learns
//! nothing about the validation rules.

use super::BackupService;
use crate::auth::{Credentials, Scope};
use crate::{Error, Result};

/// The gate of one RPC.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub action: &'static str,
    pub scope: Scope,
    pub admin_only: bool,
}

/// The gate of `rpc` (its proto name). An unknown name gets the strictest.
pub fn gate(rpc: &str) -> Gate {
    let g = |action, scope, admin_only| Gate {
        action,
        scope,
        admin_only,
    };
    match rpc {
        "CreateBackup" => g("create", Scope::Write, false),
        "ListBackups" => g("list", Scope::Read, false),
        "GetBackup" => g("get", Scope::Read, false),
        "RestoreBackup" => g("restore", Scope::Write, false),
        "VerifyBackup" => g("verify", Scope::Write, false),
        "DeleteBackup" => g("delete", Scope::Write, false),
        "PruneBackups" => g("prune", Scope::Write, false),
        "CheckBackups" => g("check", Scope::Read, false),
        "ListOperations" => g("operations", Scope::Read, false),
        _ => g("index_rebuild", Scope::Write, true),
    }
}

impl BackupService {
    /// Refuses a request to `rpc` that could not be read, with `invalid`
    /// (audited like any refused request) — unless the caller is not
    /// authenticated or may not call `rpc` at all, which is answered first.
    pub async fn reject(&self, creds: &Credentials, rpc: &str, invalid: Error) -> Error {
        let g = gate(rpc);
        let r: Result<()> = self
            .run(g.action, creds, move |who, _| async move {
                who.require(g.scope)?;
                if g.admin_only && !who.admin {
                    return Err(Error::denied(format!(
                        "{} may not call {}: it is an admin operation",
                        who.subject, g.action
                    )));
                }
                Err(invalid)
            })
            .await;
        r.err()
            .unwrap_or_else(|| Error::internal("a refused request was not refused"))
    }

    /// Whether `creds` may call `rpc` at all, before its request is read:
    /// an unauthenticated caller is counted and audited as [`Self::admit`]
    /// does, a denied one as [`Self::reject`] does; an allowed call costs
    /// one token check and writes nothing (the call itself is audited).
    ///
    /// # Errors
    /// Unauthenticated, PermissionDenied.
    pub async fn gate_rpc(&self, creds: &Credentials, rpc: &str) -> Result<()> {
        let g = gate(rpc);
        let who = self.admit(g.action, creds)?;
        if who.require(g.scope).is_ok() && (who.admin || !g.admin_only) {
            return Ok(());
        }
        Err(self
            .reject(creds, rpc, Error::internal("a denied call was allowed"))
            .await)
    }

    /// Converts a request with `convert`; when that fails, answers as
    /// [`reject`](Self::reject) does.
    pub(crate) async fn convert<T>(
        &self,
        creds: &Credentials,
        rpc: &str,
        r: Result<T>,
    ) -> Result<T> {
        match r {
            Ok(t) => Ok(t),
            Err(e) => Err(self.reject(creds, rpc, e).await),
        }
    }
}
