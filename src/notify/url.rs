//! A webhook URL is a secret: Slack and Mattermost put the key in the path,
//! others in the query or the userinfo. It is shown only as
//! `scheme://host[:port]/…`, in `--print-config`, `Debug` and every log line.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `http(s)://` URL printed only in its redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(reqwest::Url);

impl SecretUrl {
    /// # Errors
    /// A message for anything but an absolute http(s) URL with a host.
    pub fn parse(s: &str) -> Result<Self, String> {
        // The parser's own message could quote the URL: say nothing of it.
        let url =
            reqwest::Url::parse(s).map_err(|_| "a notify url is not a valid URL".to_string())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "a notify url must be http(s)://host/…, not {}://",
                url.scheme()
            ));
        }
        Ok(Self(url))
    }

    /// The whole URL, for the request itself only.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    fn redacted(&self) -> String {
        let u = &self.0;
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        let hidden = !u.username().is_empty()
            || u.password().is_some()
            || u.query().is_some()
            || u.path() != "/";
        format!(
            "{}://{}{port}/{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            if hidden { "…" } else { "" }
        )
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A transport error with its causes, but never the URL it was sent to.
pub(super) fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut next = std::error::Error::source(&e);
    while let Some(cause) = next {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        next = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_any_part_are_hidden() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0/B0/sekrit",
                "https://hooks.slack.com/…",
            ),
            ("http://u:sekrit@h:8080/", "http://h:8080/…"),
            ("https://h/?token=sekrit", "https://h/…"),
            ("https://h", "https://h/"),
        ] {
            let u = SecretUrl::parse(url).unwrap();
            assert_eq!(u.to_string(), shown);
            assert_eq!(format!("{u:?}"), shown);
            assert_eq!(serde_json::to_value(&u).unwrap(), shown);
            assert!(!format!("{u} {u:?}").contains("sekrit"));
        }
        assert!(SecretUrl::parse("ftp://h/x").is_err());
        let e = SecretUrl::parse("not a url sekrit").unwrap_err();
        assert!(!e.contains("sekrit"), "{e}");
    }
}
