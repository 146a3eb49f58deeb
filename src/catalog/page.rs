//! Page sizes and page tokens of a listing. A token names the last record of
//! the page it ended (its `created_at` and id) and the listing it belongs to
//! (the tenant filter). It carries no authority: the filter is always taken
//! from the request and the caller, and a token issued for another listing
//! is refused, so a token can never widen what a caller sees.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::index::Key;
use crate::{Error, Result};

/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// What one listing request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Records per page; 0 = every record in one answer (the unpaged list).
    pub size: i32,
    /// The previous answer's `next_page_token`; empty = from the start.
    pub token: String,
}

/// A checked request: how many records, and after which one.
#[derive(Debug)]
pub(super) struct Cursor {
    pub limit: usize,
    pub after: Option<Key>,
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// The tenant filter the listing had (`None` = every tenant).
    u: Option<String>,
    t: DateTime<Utc>,
    i: String,
}

impl PageRequest {
    /// Checks the size and decodes the token for a listing with `filter`.
    ///
    /// # Errors
    /// InvalidArgument for a size outside 0..=[`MAX_PAGE_SIZE`], a token this
    /// daemon did not issue, or a token of a listing with another filter.
    pub(super) fn cursor(&self, filter: Option<&str>) -> Result<Cursor> {
        if !(0..=MAX_PAGE_SIZE).contains(&self.size) {
            return Err(Error::invalid(format!(
                "page_size {} is out of range: use 1 to {MAX_PAGE_SIZE}, or 0 for every record",
                self.size
            )));
        }
        let limit = usize::try_from(self.size)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(usize::MAX);
        if self.token.is_empty() {
            return Ok(Cursor { limit, after: None });
        }
        let token: Token = hex::decode(&self.token)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "page_token is not a token this daemon issued: pass the next_page_token of \
                     the previous page unchanged, or none to start over",
                )
            })?;
        if token.u.as_deref() != filter {
            return Err(Error::invalid(
                "page_token belongs to another listing (a different username filter or caller): \
                 start over without a token",
            ));
        }
        Ok(Cursor {
            limit,
            after: Some(Key::new(token.t, &token.i)),
        })
    }
}

/// The token that continues a listing with `filter` after `key`.
pub(super) fn token(filter: Option<&str>, key: &Key) -> String {
    let t = Token {
        u: filter.map(str::to_string),
        t: key.created_at(),
        i: key.id().to_string(),
    };
    hex::encode(serde_json::to_vec(&t).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    fn req(size: i32, token: &str) -> PageRequest {
        PageRequest {
            size,
            token: token.into(),
        }
    }

    #[test]
    fn sizes_out_of_range_are_refused_with_the_range() {
        for bad in [-1, MAX_PAGE_SIZE + 1, i32::MAX, i32::MIN] {
            let e = req(bad, "").cursor(None).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains("1 to 1000"), "{}", e.message);
        }
        assert_eq!(req(0, "").cursor(None).unwrap().limit, usize::MAX);
        assert_eq!(req(MAX_PAGE_SIZE, "").cursor(None).unwrap().limit, 1000);
    }

    #[test]
    fn tokens_round_trip_only_within_their_listing() {
        let key = Key::new("2026-01-01T00:00:00.5Z".parse().unwrap(), "a-b-1");
        let t = token(Some("alice"), &key);
        let c = req(10, &t).cursor(Some("alice")).unwrap();
        assert_eq!(c.after, Some(key.clone()));
        for other in [None, Some("bob")] {
            let e = req(10, &t).cursor(other).unwrap_err();
            assert!(e.message.contains("another listing"), "{}", e.message);
        }
        let all = token(None, &key);
        assert!(req(10, &all).cursor(Some("bob")).is_err());
        for junk in ["zz", "00", &hex::encode(b"{\"u\":null}")] {
            let e = req(10, junk).cursor(None).unwrap_err();
            assert!(e.message.contains("not a token"), "{}", e.message);
        }
    }
}
