//! Who is asking, as established by a verified token (or by the operator's
//! explicit dev mode). The service asks this type every authorization
//! question; adapters never do.

use crate::{Error, Result};

/// What an action needs from a token's `scopes` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn claim(self) -> &'static str {
        match self {
            Self::Read => "backups:read",
            Self::Write => "backups:write",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `username`: the tenant a non-admin may act on.
    pub subject: String,
    pub admin: bool,
    /// `None` = the token had no scopes claim: nothing for a tenant (scopes
    /// fail closed), everything for an admin (tokens minted before scopes
    /// existed keep working for the operators who hold them).
    pub scopes: Option<Vec<String>>,
}

impl Principal {
    /// The operator acting with full rights (dev mode, in-process callers).
    pub fn operator(subject: &str) -> Self {
        Self {
            subject: subject.into(),
            admin: true,
            scopes: None,
        }
    }

    /// # Errors
    /// PermissionDenied naming the missing scope (or the missing claim).
    pub fn require(&self, scope: Scope) -> Result<()> {
        match &self.scopes {
            None if self.admin => Ok(()),
            None => Err(Error::denied(format!(
                "this token has no scopes claim, which grants nothing to a non-admin: \
                 mint one with --scopes {} (or *)",
                scope.claim()
            ))),
            Some(s) if s.iter().any(|c| c == "*" || c == scope.claim()) => Ok(()),
            Some(_) => Err(Error::denied(format!(
                "this token lacks the {} scope",
                scope.claim()
            ))),
        }
    }

    /// The tenant filter this caller may use: an admin any tenant (or all,
    /// `None`); anyone else only their own, which is also their default.
    ///
    /// # Errors
    /// InvalidArgument for a name no tenant can have; PermissionDenied for
    /// another tenant.
    pub fn tenant_scope(&self, tenant: Option<String>) -> Result<Option<String>> {
        match requested_tenant(tenant)? {
            Some(t) if self.may_act_on(&t) => Ok(Some(t)),
            Some(t) => Err(Error::denied(format!(
                "{} may not act on tenant {t}",
                self.subject
            ))),
            None if self.admin => Ok(None),
            None => Ok(Some(self.subject.clone())),
        }
    }

    /// Whether this caller may act on `tenant`'s backups.
    pub fn may_act_on(&self, tenant: &str) -> bool {
        self.admin || self.subject == tenant
    }
}

/// The tenant a request names (its `username` filter): empty is none, and a
/// name no tenant can have is refused, whoever asks, before any rule of
/// scope applies to it.
///
/// # Errors
/// InvalidArgument naming the rule.
pub fn requested_tenant(tenant: Option<String>) -> Result<Option<String>> {
    let tenant = tenant.filter(|t| !t.is_empty());
    if let Some(t) = &tenant {
        crate::catalog::validate_name("username", t)?;
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scopes: Option<&[&str]>) -> Principal {
        Principal {
            subject: "alice".into(),
            admin: false,
            scopes: scopes.map(|s| s.iter().map(|x| (*x).to_string()).collect()),
        }
    }

    #[test]
    fn scopes_follow_the_contract() {
        let e = p(None).require(Scope::Read).unwrap_err();
        assert_eq!(e.code, crate::Code::PermissionDenied, "no claim = nothing");
        assert!(e.message.contains("no scopes claim"), "{}", e.message);
        assert!(Principal::operator("root").require(Scope::Write).is_ok());
        assert!(p(Some(&["*"])).require(Scope::Write).is_ok());
        assert!(p(Some(&["backups:read"])).require(Scope::Read).is_ok());
        let e = p(Some(&["backups:read"]))
            .require(Scope::Write)
            .unwrap_err();
        assert_eq!(e.code, crate::Code::PermissionDenied);
        assert!(p(Some(&[])).require(Scope::Read).is_err());
        assert!(p(None).may_act_on("alice") && !p(None).may_act_on("bob"));
        assert!(Principal::operator("root").may_act_on("bob"));
    }
}
