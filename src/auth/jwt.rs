//! HS256 bearer tokens in the claim layout existing Containarium deployments
//! mint. Only HS256 is accepted (no `none`, no other algorithm), only access
//! tokens, only our issuer and audience, and `exp` is required.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Principal;
use crate::{Error, Result};

pub const ISSUER: &str = "containarium";
pub const AUDIENCE: &str = "containarium-api";
pub const MIN_SECRET: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub username: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Token type: `access` or `refresh`.
    pub tt: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub jti: String,
}

/// Verifies and mints tokens with one shared secret.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// # Errors
    /// InvalidArgument for a secret shorter than 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self> {
        if secret.len() < MIN_SECRET {
            return Err(Error::invalid(format!(
                "the JWT secret must be at least {MIN_SECRET} bytes (it is {})",
                secret.len()
            )));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// # Errors
    /// Unauthenticated with a reason that names no secret.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = true;
        v.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|e| Error::unauthenticated(format!("invalid token: {e}")))?;
        let c = data.claims;
        if c.tt != "access" {
            return Err(Error::unauthenticated(format!(
                "a {:?} token cannot call the API; use an access token",
                c.tt
            )));
        }
        if c.username.is_empty() {
            return Err(Error::unauthenticated("the token has no username"));
        }
        Ok(Principal {
            admin: c.roles.iter().any(|r| r == "admin"),
            subject: c.username,
            scopes: c.scopes,
        })
    }

    /// # Errors
    /// Internal if signing fails.
    pub fn mint(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::internal(format!("signing a token: {e}")))
    }
}

/// Access-token claims for `username`, valid `ttl_secs` from now.
pub fn access_claims(
    username: &str,
    roles: Vec<String>,
    scopes: Option<Vec<String>>,
    ttl_secs: i64,
) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        username: username.into(),
        roles,
        scopes,
        tt: "access".into(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now.saturating_add(ttl_secs),
        nbf: now,
        iat: now,
        jti: format!("{:032x}", rand::random::<u128>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_refusals() {
        let k = Keys::new(SECRET).unwrap();
        let t = k.mint(&access_claims("alice", vec![], None, 60)).unwrap();
        let p = k.verify(&t).unwrap();
        assert_eq!(
            (p.subject.as_str(), p.admin, p.scopes),
            ("alice", false, None)
        );

        let mut refresh = access_claims("alice", vec![], None, 60);
        refresh.tt = "refresh".into();
        assert!(k.verify(&k.mint(&refresh).unwrap()).is_err());

        let mut expired = access_claims("alice", vec![], None, -3600);
        expired.nbf -= 7200;
        assert!(k.verify(&k.mint(&expired).unwrap()).is_err());

        let mut aud = access_claims("alice", vec![], None, 60);
        aud.aud = "other".into();
        assert!(k.verify(&k.mint(&aud).unwrap()).is_err());

        let other = Keys::new(b"another-secret-of-32-bytes-or-more!!").unwrap();
        assert!(other.verify(&t).is_err());
        assert!(Keys::new(b"short").is_err());
    }
}
