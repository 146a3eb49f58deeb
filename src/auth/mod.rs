//! Authentication (bearer JWTs) and the principal the service authorizes.

pub mod jwt;
mod principal;

pub use principal::{Principal, Scope, requested_tenant};

use crate::{Error, Result};

tokio::task_local! {
    /// The network peer of the request being served, set by the listeners
    /// (never by anything a caller sends): unauthenticated requests are
    /// audited per source.
    pub static PEER: std::net::IpAddr;
}

/// The peer of the current request, if a listener set one.
pub fn peer() -> Option<std::net::IpAddr> {
    PEER.try_with(|p| *p).ok()
}

/// What a caller presented.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// The token from `Authorization: Bearer …`.
    Bearer(String),
    #[default]
    None,
}

impl Credentials {
    /// From an `Authorization` header value.
    pub fn from_header(value: Option<&str>) -> Self {
        match value.and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) {
            Some(t) if !t.trim().is_empty() => Self::Bearer(t.trim().to_string()),
            _ => Self::None,
        }
    }
}

/// How the daemon establishes identity.
#[derive(Debug, Clone)]
pub enum Authenticator {
    Jwt(jwt::Keys),
    /// Dev mode: every caller is the operator. Only on loopback, only by flag.
    Disabled,
}

impl Authenticator {
    /// # Errors
    /// Unauthenticated when no valid token was presented.
    pub fn authenticate(&self, creds: &Credentials) -> Result<Principal> {
        match (self, creds) {
            (Self::Disabled, _) => Ok(Principal::operator("dev-mode")),
            (Self::Jwt(keys), Credentials::Bearer(t)) => keys.verify(t),
            (Self::Jwt(_), Credentials::None) => Err(Error::unauthenticated(
                "missing bearer token (Authorization: Bearer <JWT>)",
            )),
        }
    }
}
